"""Kuramoto oscillator networks (Sec. III.B) as systems for :func:`ensemble.evolve`.

The model itself (frequencies, weights as pairs, the order parameter, eq. (14), Euler
integration) is :mod:`ensemble.kuramoto_model`, and the member-minor window that runs it for a
whole ensemble is :mod:`ensemble.kuramoto_window`; their public names are importable from here
too (``ku.simulate``, ``ku.order_parameter``, ``ku.LANES``, ...).

``R`` is the time mean of ``r`` over one learning iteration's window of length ``T``
(``round(T/dt)`` Euler steps, ``r`` sampled after each step). Phases are carried from one
iteration to the next and never reset [prose]; the carried phases are wrapped to
``[-pi, pi]`` (:func:`~ensemble.kuramoto_model.wrap_phases`) after every window, which leaves ``r`` and the
coupling unchanged but keeps float32 able to resolve an Euler step: unwrapped, an
oscillator that drifts at 1.6 rad per time unit reaches 1e5 rad within 30,000 windows
of T = 20, where float32 spacing (0.008-0.06) is as large as the step itself and the
oscillator slows down or stops. Within one window the phases
are not wrapped: they move by at most ``T`` times their fastest rate, which should stay well
below 1e4 rad (float32 spacing 0.001 there) for the Euler steps to be resolved.

Learned parameters: ``params = {"w": (N(N-1)/2,)}``, the weights ``w_ij``, ``i < j``.
Reconstruction choices (ours), kept here:

* error, eq. (12): ``E = (R - R0)^2`` (``error="squared"``, default) or
  ``E = |R - R0|`` (``error="absolute"``);
* mean absolute weight, eq. (14): ``M = mean_{i<j} |w_ij|``;
* weight map, eq. (13): any base map (eq. 4) on the ``w_ij`` plus the control
  term ``- gamma (M(w(n)) - M0) w_ij(n)``, see :func:`weight_control`;
* defaults: ``N = 10``, ``omega`` evenly spaced in ``[-0.5, 0.5]``,
  ``dt = 0.01``, initial ``w_ij = M0``, initial phases uniform in ``[0, 2 pi)``.
  ``M0``, ``R0``, ``tau``, ``S``, ``gamma``, ``m`` and ``T`` are not known.

Continuous-time learning, eq. (3): :class:`ContinuousOscillators` is the same
network with one Euler step per driver iteration and ``E(t)`` from the running
window mean of ``r``; pair it with :func:`continuous_weight_control` (eq. 3 plus
the control term as a rate ``gamma``, i.e. ``gamma dt`` per step).

Examples:
    >>> import jax, jax.numpy as jnp
    >>> from ensemble import evolve, learning, kuramoto as ku
    >>> system = ku.Oscillators(omega=ku.default_omega(10), dt=0.01, T=5.0, R0=0.8)
    >>> params = {"w": jnp.full((4, 45), 0.5, jnp.float32)}          # 4 members
    >>> lmap = ku.weight_control(learning.discrete(1))
    >>> hyper = ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.1, 1), gamma=0.1, M0=0.5)
    >>> run = evolve(system, lmap, params, hyper, key=jax.random.key(0), n_iterations=10)
    >>> run.traces["R"].shape                                          # (records, members)
    (10, 4)
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from . import kuramoto_window as _window
# the model's and the window's public names are also importable from here (ku.simulate, ku.LANES, ...)
from .kuramoto_model import (DEFAULT_DT, DEFAULT_N, FREQUENCIES, OMEGA_SPREAD, ROLLED_FROM, WRAP_STEPS,  # noqa: F401
                             default_omega,  # noqa: F401
                             frequencies, integrate, mean_abs_upper, mean_abs_weight, n_oscillators,  # noqa: F401
                             n_pairs, order_parameter, pair_index, simulate, to_matrix, uniform_weights,  # noqa: F401
                             upper, wrap_phases)  # noqa: F401
from .kuramoto_window import LANES, MIN_LANES, WINDOW_BLOCK, padded_members, window_block  # noqa: F401
from .learning import LearningMap, continuous

ERROR_FORMS = ("squared", "absolute")
"""The two candidate forms of eq. (12), the error: ``"squared"``, ``E = (R - R0)^2``, and
``"absolute"``, ``E = |R - R0|`` [reconstruction]."""
KERNELS = ("vectorized", "fused")
"""How a window is computed: ``"vectorized"`` (a ``lax.scan`` of Euler steps over the ensemble's
arrays; the default, :func:`ensemble.kuramoto_window.vectorized`) or ``"fused"`` (one Pallas
kernel per block of members, the Euler steps in registers: :mod:`ensemble.kuramoto_fused`, for
GPUs)."""


class _Network:
    """What :class:`Oscillators` and :class:`ContinuousOscillators` share, read from their fields
    ``omega``, ``dt``, ``T``, ``R0`` and ``error``."""

    @property
    def N(self) -> int:
        return int(np.shape(self.omega)[0])

    @property
    def n_steps(self) -> int:
        """Euler steps per window, ``round(T/dt)``."""
        return int(round(float(self.T) / float(self.dt)))

    def check(self) -> None:
        """Validate the network's settings (ValueError naming the field)."""
        omega = np.asarray(self.omega)
        if omega.ndim != 1 or omega.shape[0] < 2:
            raise ValueError(f"omega must have shape (N,) with N >= 2, got {omega.shape}")
        _checks.finite("omega", omega)
        _checks.positive("dt", self.dt)
        _checks.positive("T", self.T)
        if self.n_steps < 1:
            raise ValueError(f"T must be at least dt / 2 so that round(T/dt) >= 1, got T = {self.T}, dt = {self.dt}")
        _checks.finite("R0", self.R0)
        if not 0 <= float(self.R0) <= 1:
            raise ValueError(f"R0 must be in [0, 1], got {float(self.R0)!r}")
        if self.error not in ERROR_FORMS:
            raise ValueError(f"error must be one of {ERROR_FORMS}, got {self.error!r}")

    def validate(self, params: Mapping[str, Any]) -> None:
        self.check()
        if not isinstance(params, Mapping) or set(params) != {"w"}:
            raise ValueError('params must be a dict with the single key "w"')
        _checks.shape('params["w"]', params["w"], (n_pairs(self.N),), f" (N(N-1)/2,) for N = {self.N}")
        _checks.finite('params["w"]', params["w"])

    def error_of(self, R) -> jax.Array:
        """Eq. (12) for a mean order parameter ``R``."""
        if self.error not in ERROR_FORMS:
            raise ValueError(f"error must be one of {ERROR_FORMS}, got {self.error!r}")
        R = jnp.asarray(R)
        d = R - jnp.asarray(self.R0, R.dtype)
        return d * d if self.error == "squared" else jnp.abs(d)


class Oscillators(NamedTuple):
    """A Kuramoto network as a system for :func:`ensemble.evolve`.

    One learning iteration integrates a window of ``n_steps = round(T/dt)``
    Euler steps with fixed weights from the carried phases and measures

    * ``R``: the time mean of ``r`` over the window (``r`` after each step),
    * ``E``: eq. (12), ``(R - R0)^2`` or ``|R - R0|``,
    * ``M``: eq. (14) of the weights used in the window.

    Params: ``{"w": (N(N-1)/2,)}``. Carried state: the phases ``(N,)``, wrapped to
    ``[-pi, pi]`` after every window.

    Attributes:
        omega: ``(N,)`` natural frequencies (e.g. :func:`~ensemble.kuramoto_model.default_omega`).
        dt: Euler step (> 0, time units).
        T: window length in time units (``round(T/dt) >= 1``).
        R0: target mean order parameter, in ``[0, 1]``.
        error: ``"squared"`` (default) or ``"absolute"``.
        kernel: ``"vectorized"`` (default) or ``"fused"`` (:data:`KERNELS`): the same window, to
            float32 rounding; ``"fused"`` is for GPUs (on a CPU it runs in Pallas' slow
            interpret mode).
    """

    omega: Any
    dt: Any = DEFAULT_DT
    T: Any = 20.0
    R0: Any = 0.8
    error: str = "squared"
    kernel: str = "vectorized"

    N = _Network.N
    """Number of oscillators, ``len(omega)``."""
    n_steps = _Network.n_steps
    """Euler steps per window, ``round(T/dt)``."""
    validate = _Network.validate
    """``validate(params)``: check the settings and one member's ``params["w"]`` (:class:`ValueError`)."""
    error_of = _Network.error_of
    """``error_of(R)``: eq. (12) for a mean order parameter ``R``."""

    def check(self) -> None:
        """Validate the system's own settings (ValueError naming the field)."""
        _Network.check(self)
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")

    def init_state(self, params: Mapping[str, Any], key: jax.Array) -> jax.Array:
        """Initial phases, uniform in ``[0, 2 pi)``, in the dtype of the weights."""
        self.check()
        dtype = jnp.result_type(params["w"])
        return jax.random.uniform(key, (self.N,), dtype, 0.0, 2 * np.pi)

    def measure(self, params: Mapping[str, Any], phases: jax.Array, key: jax.Array):
        """One window with fixed weights: ``({"E", "R", "M"}, phases_end)`` (``key`` is unused;
        ``phases_end`` wrapped to ``[-pi, pi]``, :func:`~ensemble.kuramoto_model.wrap_phases`).

        Runs the window of :meth:`measure_ensemble` on this one member, and ``vmap(measure)``
        *is* :meth:`measure_ensemble` (a ``custom_vmap`` rule), so a member's numbers are the
        same bit for bit whichever of the two computes them, on any CPU.
        """
        self.check()
        w = jnp.asarray(params["w"])
        _checks.shape('params["w"]', w, (n_pairs(self.N),), f" (N(N-1)/2,) for N = {self.N}")
        phases = jnp.asarray(phases)
        _checks.shape("phases", phases, (self.N,), f" (N,) for N = {self.N}")

        @jax.custom_batching.custom_vmap
        def one(w, phases):
            sig, ph = self._measure_minor(w[None], phases[None])
            return jax.tree_util.tree_map(lambda x: x[0], sig), ph[0]

        @one.def_vmap
        def _batched(axis_size, in_batched, w, phases):
            w, phases = (x if b else jnp.broadcast_to(x, (axis_size,) + x.shape) for x, b in zip((w, phases), in_batched))
            out = self._measure_minor(w, phases)
            return out, jax.tree_util.tree_map(lambda _: True, out)

        return one(w, phases.astype(w.dtype))

    def measure_ensemble(self, params: Mapping[str, Any], phases: jax.Array, keys: jax.Array):
        """:meth:`measure` for a whole ensemble at once (``evolve`` uses it instead of ``vmap``).

        ``params["w"] (B, N(N-1)/2)``, ``phases (B, N)``, ``keys (B,)`` (unused) -> signals
        ``(B,)`` each and phases ``(B, N)``. The window runs with the member axis minor
        (``(N, B)`` phases, ``(N, N, B)`` weights), so every operation of a step is one
        contiguous vector over the members, on a CPU in blocks of
        :func:`~ensemble.kuramoto_window.window_block` ``(N)`` members (fewer as ``N`` grows;
        from a few hundred oscillators one member at a time, vectorized over its oscillators).
        The member axis is padded to :func:`~ensemble.kuramoto_window.padded_members` ``(B)``, so
        no member is ever computed in a vector remainder: its numbers do not depend on the
        ensemble size, its position or the block.
        """
        self.check()
        w = jnp.asarray(params["w"])
        _checks.shape('params["w"]', w, (None, n_pairs(self.N)), f" (B, N(N-1)/2) for N = {self.N}")
        B = w.shape[0]
        _checks.shape("phases", phases, (B, self.N), f" (B, N) for B = {B}, N = {self.N}")
        return self._measure_minor(w, phases)

    def _measure_minor(self, w: jax.Array, phases: jax.Array):
        """The window of ``B`` members, member axis minor (:mod:`ensemble.kuramoto_window`)."""
        window = _window.fused if self.kernel == "fused" else _window.vectorized
        phases_end, rsum = window(w, phases, self.omega, self.dt, self.n_steps)
        R = rsum / jnp.asarray(self.n_steps, w.dtype)
        return {"E": self.error_of(R), "R": R, "M": mean_abs_upper(w)}, wrap_phases(phases_end).T


# ------------------------------------------------------------ weight control


class ControlledHyper(NamedTuple):
    """Hyperparameters of eq. (13): the base map's NamedTuple plus the control term.

    Attributes:
        base: the base map's hyperparameters (e.g. :class:`ensemble.learning.DiscreteHyper`).
        gamma: control strength, >= 0.
        M0: target mean absolute weight, >= 0.
    """

    base: Any
    gamma: Any
    M0: Any


def weight_control(base: LearningMap, leaf: str = "w", *, rate: bool = False) -> LearningMap:
    """Eq. (13): ``base`` followed by ``- gamma (M(w(n)) - M0) w(n)`` on ``params[leaf]``.

    ``M(w(n))`` is eq. (14) of the weights *before* the step (the vector of
    ``w_ij``, ``i < j``). Other leaves get the base step only. The hyperparameters
    are a :class:`ControlledHyper`.

    Args:
        base: the base map (eq. 4: :func:`ensemble.learning.discrete`).
        leaf: the key of the weight vector in ``params``.
        rate: the continuous-time form, for a base map stepping by ``dt`` (``hyper.base.dt``,
            e.g. :func:`ensemble.learning.continuous`): ``gamma`` is then a rate per time unit
            and each step applies ``- gamma dt (M - M0) w``, the Euler step of
            ``dw/dt = ... - gamma (M - M0) w``. False (default): the discrete map, one
            ``gamma`` per iteration.

    Returns:
        A :class:`~ensemble.learning.LearningMap` named ``"<base name>+control"``.
    """

    def step(params, state, signals, hyper: ControlledHyper, key):
        new, state = base.step(params, state, signals, hyper.base, key)
        w = params[leaf]
        dtype = jnp.result_type(w)
        gamma = jnp.asarray(hyper.gamma).astype(dtype)
        if rate:
            gamma = gamma * jnp.asarray(hyper.base.dt).astype(dtype)
        control = gamma * (mean_abs_upper(w) - jnp.asarray(hyper.M0).astype(dtype))
        return {**new, leaf: new[leaf] - control * w}, state

    def check(hyper: ControlledHyper) -> None:
        if not isinstance(hyper, ControlledHyper):
            raise ValueError(f"hyper must be a ControlledHyper(base, gamma, M0), got {type(hyper).__name__}")
        _checks.nonnegative("gamma", hyper.gamma)
        _checks.nonnegative("M0", hyper.M0)
        base.check(hyper.base)
        if rate and not hasattr(hyper.base, "dt"):
            raise ValueError("rate=True needs a base map whose hyperparameters have a step dt (e.g. ContinuousHyper)")

    return LearningMap(base.init, step, check, base.reads, base.max_delay, f"{base.name}+control")


# ------------------------------------------------- continuous-time learning (eq. 3)


class RunningState(NamedTuple):
    """Carried state of :class:`ContinuousOscillators` (one member).

    Attributes:
        phases: ``(N,)`` current phases, wrapped to ``[-pi, pi]`` after every step.
        r: ``(n,)`` ring buffer of the last ``n = round(T/dt)`` values of ``r``;
            slot ``k mod n`` holds ``r`` after step ``k`` (zeros before they exist).
        rsum: running sum of the buffer, kept by compensated (Kahan) summation.
        comp: the Kahan compensation of ``rsum``.
        k: int32 number of Euler steps done.
    """

    phases: Any
    r: Any
    rsum: Any
    comp: Any
    k: Any


class ContinuousOscillators(NamedTuple):
    """A Kuramoto network whose weights learn *during* the integration (eq. 3).

    One driver iteration is **one Euler step** ``dt`` of the phases with the
    current weights; the learning map then moves the weights by one
    Euler-Maruyama step of ``dt``. ``measure`` returns

    * ``R``: the running window mean of ``r`` over the last ``T`` (the last
      ``n = round(T/dt)`` values of ``r``, ``r`` sampled after each step).
      Start of the window [choice]: before ``n`` steps exist, ``R`` is the mean
      over the steps so far (``k`` values after ``k < n`` steps), so ``R`` is
      defined from the first step on;
    * ``E``: eq. (12) of that ``R`` (the ``E(t)`` of eq. 3);
    * ``M``: eq. (14) of the weights used in the step; ``r``: the instantaneous ``r``.

    The window sum is kept by an exact-in-spirit running scheme: add the new
    ``r``, subtract the one that leaves the window, with Kahan compensation so
    rounding does not drift over millions of steps.

    Paired with ``weight_control(learning.continuous(max_delay=n), rate=True)``
    (or :func:`continuous_weight_control`) and
    ``ControlledHyper(ContinuousHyper(tau, S, dt, m=n), gamma, M0)`` this is
    eq. (3) with delay ``T`` plus the control term as a rate::

        dw/dt = -(1/tau) [E(t) - E(t-T)] [w(t) - w(t-T)] + S E(t) xi(t) - gamma (M - M0) w.

    Params: ``{"w": (N(N-1)/2,)}``. Carried state: a :class:`RunningState`.
    The initial phases are drawn exactly as :meth:`Oscillators.init_state`
    draws them, so the same key gives both schemes the same start.

    Attributes:
        omega: ``(N,)`` natural frequencies.
        dt: Euler step (> 0, time units); must equal the map's ``dt``.
        T: window of the running mean and delay of eq. (3), in time units.
        R0: target mean order parameter, in ``[0, 1]``.
        error: ``"squared"`` (default) or ``"absolute"``.
    """

    omega: Any
    dt: Any = DEFAULT_DT
    T: Any = 20.0
    R0: Any = 0.8
    error: str = "squared"

    N = _Network.N
    """Number of oscillators, ``len(omega)``."""
    n_steps = _Network.n_steps
    """Steps in the window ``T``, ``round(T/dt)``."""
    check = _Network.check
    """``check()``: validate the system's own settings (:class:`ValueError` naming the field)."""
    validate = _Network.validate
    """``validate(params)``: check the settings and one member's ``params["w"]`` (:class:`ValueError`)."""
    error_of = _Network.error_of
    """``error_of(R)``: eq. (12) for a mean order parameter ``R``."""

    def _window(self) -> Oscillators:
        return Oscillators(self.omega, self.dt, self.T, self.R0, self.error)

    def init_state(self, params: Mapping[str, Any], key: jax.Array) -> RunningState:
        """Phases uniform in ``[0, 2 pi)`` (as :class:`Oscillators`), an empty window."""
        phases = self._window().init_state(params, key)
        dtype = phases.dtype
        zero = jnp.zeros((), dtype)
        return RunningState(phases, jnp.zeros((self.n_steps,), dtype), zero, zero, jnp.zeros((), jnp.int32))

    def measure(self, params: Mapping[str, Any], state: RunningState, key: jax.Array):
        """One Euler step with the current weights: ``({"E", "R", "M", "r"}, new state)``."""
        self.check()
        w = jnp.asarray(params["w"])
        dtype = w.dtype
        n = self.n_steps
        W = to_matrix(w, self.N)
        omega = jnp.asarray(self.omega, dtype)
        phi, _, r_step = integrate(W, omega, state.phases.astype(dtype), self.dt, 1, True)
        r = r_step[0]
        slot = jnp.mod(state.k, n)
        leaving = state.r[slot]  # zero while the window is not yet full
        # Kahan: rsum + comp tracks the exact sum of the buffer
        y = (r - leaving) - state.comp
        t = state.rsum + y
        comp = (t - state.rsum) - y
        buf = state.r.at[slot].set(r)
        k = state.k + 1
        count = jnp.minimum(k, n).astype(dtype)
        R = t / count
        signals = {"E": self.error_of(R), "R": R, "M": mean_abs_upper(w), "r": r}
        return signals, RunningState(wrap_phases(phi), buf, t, comp, k)

    def measure_ensemble(self, params: Mapping[str, Any], state: RunningState, keys: jax.Array):
        """All members at once: ``vmap(measure)``, whose sums run in a fixed order, so a member's
        numbers do not depend on the ensemble size without the driver's member blocks."""
        return jax.vmap(self.measure)(params, state, keys)


def continuous_weight_control(max_delay: int, leaf: str = "w") -> LearningMap:
    """Eq. (3) plus the control term as a rate: ``weight_control(learning.continuous(max_delay), rate=True)``.

    Use with :class:`ContinuousOscillators` and
    ``ControlledHyper(ContinuousHyper(tau, S, dt, m=round(T/dt)), gamma, M0)``.

    Args:
        max_delay: the buffer length in Euler steps (at least the delay ``round(T/dt)``).
        leaf: the key of the weight vector in ``params``.

    Returns:
        A :class:`~ensemble.learning.LearningMap`.
    """
    return weight_control(continuous(max_delay), leaf, rate=True)


# The model's names (ensemble.kuramoto_model) and the window's (ensemble.kuramoto_window), imported above,
# are documented and listed in their own modules.
__all__ = [
    "Oscillators", "ContinuousOscillators", "RunningState", "ControlledHyper", "weight_control",
    "continuous_weight_control", "ERROR_FORMS", "KERNELS",
]
