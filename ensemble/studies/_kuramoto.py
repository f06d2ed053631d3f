"""What the Kuramoto studies (Figs. 5-7, cmp) share: settings, the system, initial ensembles.

Every value here is a reconstruction: the paper's M0, R0, tau, S, gamma, m and T
were lost. The defaults are chosen by calibration sweeps (recorded on the documentation's
'Evidence: Kuramoto' page); change them here, in one place.

The regime they pick, ``"graded"`` (the default since version 0.3.0):
``N = 10`` natural frequencies at the quantiles of a Lorentzian of half-width 0.25, whose
synchrony grows gradually with the coupling (uniform ``w_ij = K``: R 0.44 / 0.60 / 0.71 at K 0.6
/ 0.8 / 0.9). The initial network (all ``w_ij = M0 = 0.8``) has a low, fluctuating R of about 0.6;
learning must raise it to ``R0 = 0.7`` while eq. (13) keeps the mean ``|w|`` at ``M0``, the
paper's story. ``E = (R - R0)^2`` (squared form), ``tau = 0.1``, ``S = 3``, ``gamma = 0.1``,
``m = 1``, windows of ``T = 20`` (window-to-window sd of R 0.05 at K 0.8), no warm-up (the
first window from random phases is part of the run). ``dt = 0.05``.

Version 0.2's regimes stay reproducible by name (:data:`REGIMES`): ``"locked"`` (evenly spaced
frequencies; the uniform network is phase-locked with R 0.887 and pushed to R0 0.97, absolute E,
tau 0.005, S 0.2, gamma 0.001, T 10, a warm-up of 100 time units) for Figs. 5-7, and ``"below"``
(the same frequencies, M0 0.7, R0 0.5) for cmp. Which paper claims each regime satisfies: the
documentation's 'Claims table' page.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import kuramoto as ku
from .. import learning
from .._checks import integer_at_least, nonnegative, positive
from ..driver import evolve
from ..options import Record
from ._common import RunOptions


@dataclasses.dataclass(frozen=True)
class KuramotoConfig:
    """Settings every Kuramoto study shares (fig5, fig6, fig7, cmp, kmap; reconstructions: the
    documentation's 'Evidence: Kuramoto' page). The defaults are the ``"graded"`` regime
    (:data:`REGIMES`).

    Attributes:
        members: ensemble size (per grid point where there is a grid).
        seed: root seed of the initial phases and the learning noise.
        N: oscillators (>= 2).
        omega_spread: the scale of the natural frequencies (per time unit).
        frequencies: the kind of natural frequencies (:func:`ensemble.kuramoto_model.frequencies`:
            "even" in [-omega_spread, omega_spread], "lorentzian" or "gaussian" quantiles of scale
            omega_spread, "random" draws from omega_seed).
        omega_seed: the seed of "random" frequencies.
        dt: Euler step (time units).
        T: window of one learning iteration (time units).
        R0: target mean order parameter, in [0, 1].
        M0: target mean absolute weight (eq. 14); the initial weights are all M0.
        error: eq. (12) form, "squared" (E = (R - R0)^2) or "absolute" (|R - R0|).
        tau: eq. (4) drift time scale.
        S: eq. (4) noise intensity.
        m: eq. (4) delay (iterations).
        gamma: weight-control strength of eq. (13).
        clip: None for the literal eq. (4); else the stabilized variant with the drift gain
            clipped to [-clip, clip] (``learning.discrete(m, clip=...)``, not the paper's).
        normalize: the other stabilized variant, the gain G normalized to G / (1 + |G|)
            (``learning.discrete(m, normalize=True)``, not the paper's); not with ``clip``.
        n_iterations: learning iterations.
        record_every: iterations between records (a divisor of ``n_iterations``).
        tolerance: success means |R - R0| <= tolerance for the final weights, frozen,
            over ``check_windows`` windows from the final phases (:func:`frozen_R`).
        check_windows: windows of the frozen success check.
        warmup_time: before learning, the initial network runs this long (time units,
            rounded up to whole windows) from its random phases, so that learning starts
            from its stationary regime (:class:`WarmedUp`).
    """

    members: int = 100
    seed: int = 0
    N: int = 10
    omega_spread: float = 0.25
    frequencies: str = "lorentzian"
    omega_seed: int = 0
    dt: float = 0.05
    T: float = 20.0
    R0: float = 0.7
    M0: float = 0.8
    error: str = "squared"
    tau: float = 0.1
    S: float = 3.0
    m: int = 1
    gamma: float = 0.1
    clip: float | None = None
    normalize: bool = False
    n_iterations: int = 3000
    record_every: int = 10
    tolerance: float = 0.03
    check_windows: int = 10
    warmup_time: float = 0.0

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        integer_at_least("members", self.members, 1)
        integer_at_least("seed", self.seed, 0)
        integer_at_least("N", self.N, 2)
        nonnegative("omega_spread", self.omega_spread)
        if self.frequencies not in ku.FREQUENCIES:
            raise ValueError(f"frequencies must be one of {ku.FREQUENCIES}, got {self.frequencies!r}")
        integer_at_least("omega_seed", self.omega_seed, 0)
        positive("dt", self.dt)
        positive("T", self.T)
        if not (math.isfinite(self.R0) and 0 <= self.R0 <= 1):
            raise ValueError(f"R0 must be in [0, 1], got {self.R0!r}")
        nonnegative("M0", self.M0)
        if self.error not in ku.ERROR_FORMS:
            raise ValueError(f"error must be one of {ku.ERROR_FORMS}, got {self.error!r}")
        positive("tau", self.tau)
        nonnegative("S", self.S)
        integer_at_least("m", self.m, 1)
        nonnegative("gamma", self.gamma)
        if self.clip is not None:
            positive("clip", self.clip)
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be True or False, got {self.normalize!r}")
        if self.clip is not None and self.normalize:
            raise ValueError("clip and normalize are two variants of eq. (4); give one of them")
        integer_at_least("n_iterations", self.n_iterations, 1)
        integer_at_least("record_every", self.record_every, 1)
        if self.n_iterations % self.record_every:
            raise ValueError(f"n_iterations ({self.n_iterations}) must be a multiple of record_every ({self.record_every})")
        positive("tolerance", self.tolerance)
        integer_at_least("check_windows", self.check_windows, 1)
        nonnegative("warmup_time", self.warmup_time)
        if round(self.T / self.dt) < 1:
            raise ValueError(f"T must be at least dt / 2 so that round(T/dt) >= 1, got T = {self.T}, dt = {self.dt}")

    def omega(self) -> np.ndarray:
        """The natural frequencies ``(N,)`` (:func:`ensemble.kuramoto.frequencies`)."""
        return ku.frequencies(self.N, self.frequencies, self.omega_spread, self.omega_seed)

    def oscillators(self, T: float | None = None) -> ku.Oscillators:
        """The system of one learning iteration.

        Args:
            T: the window (time units; default ``self.T``).

        Returns:
            An :class:`~ensemble.kuramoto.Oscillators` with this config's frequencies, ``dt``,
                ``R0`` and error form.
        """
        return ku.Oscillators(self.omega(), self.dt,
                              self.T if T is None else T, self.R0, self.error)

    def warmup_windows(self, T: float | None = None) -> int:
        """The windows of the warm-up.

        Args:
            T: the window (time units; default ``self.T``).

        Returns:
            The number of whole windows of length ``T`` that cover ``warmup_time`` (0: none).
        """
        T = self.T if T is None else T
        return int(math.ceil(self.warmup_time / T - 1e-9))

    def system(self, T: float | None = None) -> "WarmedUp":
        """The system the studies evolve: :meth:`oscillators` started after ``warmup_time``.

        Args:
            T: the window (time units; default ``self.T``).

        Returns:
            A :class:`WarmedUp` of :meth:`oscillators` and :meth:`warmup_windows`.
        """
        return WarmedUp(self.oscillators(T), self.warmup_windows(T))

    def base_map(self):
        """Eq. (4) (``learning.discrete(m)``), or its clipped or normalized variant (``clip``, ``normalize``)."""
        return learning.discrete(self.m, clip=self.clip, normalize=bool(self.normalize))

    def hyper(self, gamma=None) -> ku.ControlledHyper:
        """Eq. (13) hyperparameters: ``tau``, ``S``, ``m``, ``gamma`` and ``M0``.

        Args:
            gamma: the control strength, a scalar or ``(members,)`` (default ``self.gamma``).

        Returns:
            A :class:`~ensemble.kuramoto.ControlledHyper` (the driver broadcasts its scalars over
                the members).
        """
        return ku.ControlledHyper(learning.DiscreteHyper(self.tau, self.S, self.m),
                                  self.gamma if gamma is None else gamma, self.M0)

    def initial_weights(self, n_members: int | None = None, dtype=jnp.float32):
        """The initial ensemble: every member starts at ``w_ij = M0``.

        Args:
            n_members: networks (default ``members``).
            dtype: the weights' dtype.

        Returns:
            ``(params, run_key)``: ``{"w": (n_members, N(N-1)/2)}`` and the key of the run (the
                members' initial phases and noise come from it).
        """
        B = self.members if n_members is None else n_members
        params = {"w": jnp.tile(ku.uniform_weights(self.N, self.M0, dtype)[None], (B, 1))}
        return params, jax.random.key(self.seed)

    def frozen_R(self, w, phases, T: float | None = None, windows: int | None = None) -> np.ndarray:
        """:func:`frozen_R` with this config's system (without the warm-up).

        Args:
            w: ``(B, N(N-1)/2)`` final weights.
            phases: ``(B, N)`` final phases.
            T: the window (time units; default ``self.T``).
            windows: windows to run (default ``check_windows``).

        Returns:
            ``(B, windows)`` window means of ``r``.
        """
        return frozen_R(self.oscillators(T), w, phases, self.check_windows if windows is None else windows)

    def success(self, R) -> np.ndarray:
        """The success test of frozen-check values.

        Args:
            R: frozen-check order parameters (any shape; NaN for a diverged member).

        Returns:
            ``|R - R0| <= tolerance``, bool, the shape of ``R`` (NaN counts as failure).
        """
        R = np.asarray(R, float)
        with np.errstate(invalid="ignore"):
            return np.abs(R - self.R0) <= self.tolerance


REGIMES: dict[str, dict] = {
    "graded": {},
    "locked": dict(frequencies="even", omega_spread=0.5, T=10.0, R0=0.97, M0=0.8, error="absolute",
                   tau=0.005, S=0.2, gamma=0.001, m=1, warmup_time=100.0),
    "below": dict(frequencies="even", omega_spread=0.5, T=20.0, R0=0.5, M0=0.7, error="squared",
                  tau=0.1, S=3.0, gamma=0.1, m=1, warmup_time=0.0, tau_factor=1.0),
}
"""Named settings of the Kuramoto studies, applied before a run's own overrides; all
three are reconstructions (the documentation's 'Evidence: Kuramoto' page).

- ``"graded"``, the defaults since version 0.3.0: Lorentzian frequencies (half-width 0.25),
  whose synchrony grows gradually with the coupling; the uniform network at M0 0.8 has a low,
  fluctuating R of 0.60, and learning raises it to R0 0.7.
- ``"locked"``, the Fig. 5-7 defaults of version 0.2: evenly spaced frequencies in
  [-0.5, 0.5]; the uniform network is already phase-locked (R 0.89) and is pushed to R0 0.97.
- ``"below"``, the cmp defaults of version 0.2: the same frequencies, M0 0.7, the target R0 0.5
  below the uniform network's synchrony (R 0.65), the continuous law at the matched constants.

A setting applies where the study's ``Config`` has the field (``tau_factor`` only to cmp).
"""


class WarmedUp(NamedTuple):
    """A Kuramoto system whose initial phases are relaxed first: uniform random phases, then
    ``windows`` windows with the member's initial weights frozen (no learning, nothing recorded).

    Learning then starts from the initial network's own stationary regime, so the first
    differences ``E(n) - E(n-m)`` are not the relaxation from random phases: with
    ``tau = 0.003`` that relaxation alone (``dE ~ 0.1``) amplifies the first noise step
    30-fold and blows the weights up. A reconstruction choice of the studies; the paper's
    start-up was lost. Everything else is delegated to ``system``.

    Attributes:
        system: the :class:`~ensemble.kuramoto.Oscillators`.
        windows: windows of the warm-up (0: none).
    """

    system: ku.Oscillators
    windows: int = 0

    @property
    def N(self) -> int:
        return self.system.N

    def check(self) -> None:
        self.system.check()
        integer_at_least("windows", self.windows, 0)

    def validate(self, params) -> None:
        """Check the settings and one member's ``params`` (:class:`ValueError`)."""
        self.check()
        self.system.validate(params)

    def init_state(self, params, key):
        phases = self.system.init_state(params, key)
        if int(self.windows) == 0:
            return phases

        def window(ph, _):
            return self.system.measure(params, ph, None)[1], None

        return jax.lax.scan(window, phases, None, length=int(self.windows))[0]

    def measure(self, params, phases, key):
        return self.system.measure(params, phases, key)

    def measure_ensemble(self, params, phases, keys):
        return self.system.measure_ensemble(params, phases, keys)


def frozen_R(system: ku.Oscillators, w, phases, windows: int) -> np.ndarray:
    """The success test's order parameter: run each member's weights **frozen** for ``windows``
    windows of the system (``round(T/dt)`` Euler steps each) from its phases and return
    ``R (B, windows)``, the mean of ``r`` over each window.

    The studies' success test uses the mean over the windows, i.e. the time mean of ``r``
    over ``windows * T`` with no learning: success is ``|mean - R0| <= tolerance``.

    Args:
        system: the :class:`ensemble.kuramoto.Oscillators` of the run.
        w: ``(B, N(N-1)/2)`` final weights.
        phases: ``(B, N)`` final phases (the run's carried state).
        windows: number of windows (>= 1).

    Returns:
        ``R (B, windows)``.
    """
    integer_at_least("windows", windows, 1)
    system.check()
    w = jnp.asarray(w)
    phases = jnp.asarray(phases)
    if w.ndim != 2 or w.shape[1] != ku.n_pairs(system.N):
        raise ValueError(f"w must have shape (B, {ku.n_pairs(system.N)}), got {w.shape}")
    if phases.shape != (w.shape[0], system.N):
        raise ValueError(f"phases must have shape ({w.shape[0]}, {system.N}), got {phases.shape}")
    windows = int(windows)

    def member(w1, ph):
        def window(ph, _):
            sig, ph = system.measure({"w": w1}, ph, None)
            return ph, sig["R"]

        return jax.lax.scan(window, ph, None, length=windows)[1]

    return np.asarray(jax.jit(jax.vmap(member))(w, phases.astype(w.dtype)))


class Ensemble(NamedTuple):
    """One batched eq. (13) run and its frozen success check (:func:`run_ensemble`)."""

    run: object  # ensemble.driver.Run
    R_check: np.ndarray  # (B,) frozen-check R (mean over check_windows windows), NaN for diverged members
    success: np.ndarray  # (B,) bool
    final_M: np.ndarray  # (B,) eq. (14) of the final weights, NaN for diverged members


def run_ensemble(config: KuramotoConfig, *, gamma=None, T: float | None = None, n_members: int | None = None,
                 tau=None, S=None, tag: str = "kuramoto", options: RunOptions = RunOptions()) -> Ensemble:
    """One :func:`ensemble.evolve` call of eq. (13) on ``n_members`` networks (default ``members``)
    with window ``T`` and control strength ``gamma``, ``tau`` and ``S`` (each None for the
    config's value, a scalar, or one per member), then the frozen success check of every member."""
    B = config.members if n_members is None else n_members
    params, key = config.initial_weights(B)
    hyper = config.hyper(gamma)
    hyper = hyper._replace(base=hyper.base._replace(**{k: v for k, v in (("tau", tau), ("S", S)) if v is not None}))
    run = evolve(
        config.system(T),
        ku.weight_control(config.base_map()),
        params,
        hyper,
        key=key,
        n_iterations=config.n_iterations,
        record=Record(every=config.record_every),
        **options.evolve(tag, {"study": tag, "T": T, "config": dataclasses.asdict(config)}),
    )
    R = config.frozen_R(run.params["w"], run.state.system, T).mean(axis=1)
    M = np.asarray(ku.mean_abs_upper(run.params["w"]), float)
    R = np.where(run.diverged, np.nan, R)
    M = np.where(run.diverged, np.nan, M)
    return Ensemble(run, R, config.success(R), M)


__all__ = ["KuramotoConfig", "WarmedUp", "Ensemble", "frozen_R", "run_ensemble"]
