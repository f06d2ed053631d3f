"""Kuramoto oscillator networks (Sec. III.B, SPEC §3) as a system for :func:`ensemble.evolve`.

The model [prose; 1/N is our choice]::

    dphi_i/dt = omega_i + (1/N) sum_j w_ij sin(phi_j - phi_i),   w_ij = w_ji,

integrated by Euler steps of ``dt``. The coupling uses the exact identity
``sum_j w_ij sin(phi_j - phi_i) = cos(phi_i) (W sin phi)_i - sin(phi_i) (W cos phi)_i``:
one sine and one cosine per oscillator per step and two mat-vecs instead of
``N^2`` sines. Every sum over oscillators is a fixed-order chain of
multiply-adds (:mod:`ensemble.ordered`), so a member's numbers are bitwise the
same alone or inside an ensemble of any size.

Order parameter ``r(t) = |(1/N) sum_j exp(i phi_j)|``; ``R`` is the time mean
of ``r`` over one learning iteration's window of length ``T`` (``round(T/dt)``
Euler steps, ``r`` sampled after each step). Phases are carried from one
iteration to the next and never reset [prose]; the carried phases are wrapped to
``[-pi, pi]`` (:func:`wrap_phases`) after every window, which leaves ``r`` and the
coupling unchanged but keeps float32 able to resolve an Euler step: unwrapped, an
oscillator that drifts at 1.6 rad per time unit reaches 1e5 rad within 30,000 windows
of T = 20, where float32 spacing (0.008-0.06) is as large as the step itself and the
oscillator slows down or stops (``tests/test_kuramoto.py``). Within one window the phases
are not wrapped: they move by at most ``T`` times their fastest rate, which should stay well
below 1e4 rad (float32 spacing 0.001 there) for the Euler steps to be resolved.

Learned parameters are the ``N(N-1)/2`` weights ``w_ij`` with ``i < j``, as
a vector in the row-major order of ``triu_indices(N, 1)``
(``params = {"w": (N(N-1)/2,)}``); :func:`to_matrix` and :func:`upper`
convert to and from the symmetric matrix with zero diagonal.

Reconstruction choices (SPEC §3), kept here:

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

Example:
    >>> import jax, jax.numpy as jnp
    >>> from ensemble import evolve, learning, kuramoto as ku
    >>> system = ku.Oscillators(omega=ku.default_omega(10), dt=0.01, T=5.0, R0=0.8)
    >>> params = {"w": jnp.full((4, 45), 0.5, jnp.float32)}          # 4 members
    >>> lmap = ku.weight_control(learning.discrete(1))
    >>> hyper = ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.1, 1), gamma=0.1, M0=0.5)
    >>> run = evolve(system, lmap, params, hyper, key=jax.random.key(0), n_iterations=10)
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _trig
from . import layout as _layout
from .ordered import matvec, mean_last
from .learning import LearningMap

# ------------------------------------------------------------------ defaults

DEFAULT_N = 10
"""Number of oscillators [choice]."""
DEFAULT_DT = 0.01
"""Euler step [choice]."""
OMEGA_SPREAD = 0.5
"""Natural frequencies are evenly spaced in ``[-OMEGA_SPREAD, OMEGA_SPREAD]`` [choice]."""
ERROR_FORMS = ("squared", "absolute")
"""The two candidate forms of eq. (12)."""
KERNELS = ("vectorized", "fused")
"""How a window is computed: ``"vectorized"`` (a ``lax.scan`` of Euler steps over the ensemble's
arrays; the default) or ``"fused"`` (one Pallas kernel per block of members, the Euler steps in
registers: :mod:`ensemble.kuramoto_fused`, for GPUs)."""
WINDOW_BLOCK = _layout.CPU.window_block
"""Members per block in :meth:`Oscillators.measure_ensemble` on a CPU (:mod:`ensemble.layout`): a
window runs block by block so that a block's weights (``N^2`` floats per member) stay in cache
over its ``round(T/dt)`` steps (1.4-1.9x at 1024 members on the 2-core CPU,
benchmarks/README.md). A GPU runs the whole ensemble in one window. Results do not depend on it.
A multiple of :data:`LANES`."""
LANES = 64
"""Every compiled window of :data:`LANES` members or more runs on a member axis that is a
multiple of this many members (the ensemble is padded with inert members up to it; smaller ones
to a power of two of at least :data:`MIN_LANES`, see :func:`padded_members`). The member axis is the vectorized (minor)
one, so with no remainder every member goes through the same full-width SIMD loop body, whatever
the ensemble size and whatever the CPU's vector width (8 float32 lanes with AVX2, 16 with
AVX-512, times LLVM's interleave of up to 4). A remainder loop is compiled separately and LLVM
may contract its multiply-adds into FMAs differently, which rounded a member differently
depending on where it fell. 64 member-lanes cover 16 lanes x 4."""
MIN_LANES = 16
"""Fewest members a window computes (a member alone is padded to 16: 2 x 8 AVX2 lanes, 16
AVX-512 lanes)."""


def padded_members(B: int) -> int:
    """Members a window of ``B`` members computes: the next power of two from
    :data:`MIN_LANES` up to :data:`LANES`, then whole multiples of :data:`LANES`. Any power-of-two
    SIMD loop (vector width x interleave <= 64 float32) then covers the member axis with no
    remainder, so every member is computed by the same full-width loop body."""
    _checks.integer_at_least("B", B, 1)
    B = int(B)
    if B >= LANES:
        return -(-B // LANES) * LANES
    return max(MIN_LANES, 1 << max(B - 1, 0).bit_length())


FREQUENCIES = ("even", "lorentzian", "gaussian", "random")
"""Kinds of natural frequencies (:func:`frequencies`); the paper's are unknown [reconstruction]."""


def frequencies(N: int = DEFAULT_N, kind: str = "even", spread: float = OMEGA_SPREAD, seed: int = 0) -> np.ndarray:
    """``N`` natural frequencies, float64, mean zero (the rotating frame) [reconstruction].

    Args:
        kind: ``"even"``: evenly spaced in ``[-spread, spread]`` (:func:`default_omega`; ten
            oscillators lock all at once, no partial synchrony); ``"lorentzian"``: the quantiles
            ``spread * tan(pi ((i - 1/2)/N - 1/2))``, ``i = 1..N``, of a Lorentzian of half-width
            ``spread`` (graded synchrony over a wide range of coupling, as in Kuramoto's
            theory); ``"gaussian"``: the quantiles ``(i - 1/2)/N`` of a normal of standard
            deviation ``spread``; ``"random"``: ``N`` normal draws of that standard deviation
            from ``seed``, shifted to mean zero.
        spread: the scale, >= 0. seed: for ``"random"`` only.
    """
    _checks.integer_at_least("N", N, 1)
    _checks.nonnegative("spread", spread)
    N, spread = int(N), float(spread)
    q = (np.arange(1, N + 1) - 0.5) / N
    if kind == "even":
        return default_omega(N, spread)
    if kind == "lorentzian":
        omega = spread * np.tan(np.pi * (q - 0.5))
    elif kind == "gaussian":
        from statistics import NormalDist

        omega = spread * np.array([NormalDist().inv_cdf(x) for x in q])
    elif kind == "random":
        _checks.integer_at_least("seed", seed, 0)
        omega = np.random.default_rng(int(seed)).normal(0.0, spread, N)
    else:
        raise ValueError(f"kind must be one of {FREQUENCIES}, got {kind!r}")
    return omega - omega.mean()


def default_omega(N: int = DEFAULT_N, spread: float = OMEGA_SPREAD) -> np.ndarray:
    """Natural frequencies evenly spaced in ``[-spread, spread]``, shape ``(N,)`` (float64)."""
    _checks.integer_at_least("N", N, 2)
    _checks.nonnegative("spread", spread)
    return np.linspace(-spread, spread, int(N))


def n_pairs(N: int) -> int:
    """``N (N - 1) / 2``, the number of learned weights ``w_ij``, ``i < j``."""
    return int(N) * (int(N) - 1) // 2


def n_oscillators(n_weights: int) -> int:
    """The ``N`` with ``N (N - 1) / 2 == n_weights``; ValueError when there is none."""
    N = int(round((1 + math.sqrt(1 + 8 * int(n_weights))) / 2))
    if N < 2 or n_pairs(N) != n_weights:
        raise ValueError(f"w must hold N(N-1)/2 weights for some N >= 2, got {n_weights}")
    return N


def uniform_weights(N: int, M0, dtype=jnp.float32) -> jax.Array:
    """The default initial weights: every ``w_ij = M0``, shape ``(N(N-1)/2,)``."""
    _checks.integer_at_least("N", N, 2)
    _checks.nonnegative("M0", M0)
    return jnp.full((n_pairs(N),), M0, dtype)


# ------------------------------------------------------- weights: vector <-> matrix


def _pair_index(N: int) -> np.ndarray:
    """``(N, N)`` int: entry ``(i, j)`` is the position of ``w_ij`` (or ``w_ji``) in the
    upper vector, and ``N(N-1)/2`` (a zero pad) on the diagonal."""
    iu, ju = np.triu_indices(N, 1)
    idx = np.full((N, N), n_pairs(N), np.int32)
    k = np.arange(iu.size, dtype=np.int32)
    idx[iu, ju] = k
    idx[ju, iu] = k
    return idx


def to_matrix(w_upper, N: int) -> jax.Array:
    """The symmetric ``(..., N, N)`` matrix with zero diagonal from the ``(..., N(N-1)/2)`` vector
    of ``w_ij``, ``i < j`` (row-major order of ``triu_indices(N, 1)``)."""
    _checks.integer_at_least("N", N, 2)
    N = int(N)
    w_upper = jnp.asarray(w_upper)
    if w_upper.ndim < 1 or w_upper.shape[-1] != n_pairs(N):
        raise ValueError(f"w_upper must have shape (..., {n_pairs(N)}) for N = {N}, got {w_upper.shape}")
    padded = jnp.concatenate([w_upper, jnp.zeros(w_upper.shape[:-1] + (1,), w_upper.dtype)], axis=-1)
    return padded[..., _pair_index(N)]


def upper(w) -> jax.Array:
    """The ``(..., N(N-1)/2)`` vector of ``w_ij``, ``i < j``, of a ``(..., N, N)`` matrix."""
    w = jnp.asarray(w)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"w must be a square matrix (..., N, N), got shape {w.shape}")
    iu, ju = np.triu_indices(w.shape[-1], 1)
    return w[..., iu, ju]


# ------------------------------------------------------------ observables


def _order(c: jax.Array, s: jax.Array) -> jax.Array:
    """``|mean_j (c_j + i s_j)|`` over the first (oscillator) axis, with the sums in index
    order: ``(N, ...) -> (...)``."""
    C, S = c[0], s[0]
    for j in range(1, c.shape[0]):
        C, S = C + c[j], S + s[j]
    return jnp.sqrt(C * C + S * S) / c.shape[0]


def order_parameter(phases) -> jax.Array:
    """``r = |(1/N) sum_j exp(i phi_j)|`` over the last axis: ``(..., N) -> (...)``."""
    phases = jnp.asarray(phases)
    if phases.ndim < 1 or phases.shape[-1] < 1:
        raise ValueError(f"phases must have shape (..., N) with N >= 1, got {phases.shape}")
    _checks.finite("phases", phases)
    phases = jnp.moveaxis(phases, -1, 0)
    return _order(jnp.cos(phases), jnp.sin(phases))


def mean_abs_upper(w_upper) -> jax.Array:
    """Eq. (14) from the learned vector: ``M = mean |w_ij|`` over its entries ``(..., P) -> (...)``."""
    w_upper = jnp.asarray(w_upper)
    if w_upper.ndim < 1 or w_upper.shape[-1] < 1:
        raise ValueError(f"w_upper must have shape (..., P) with P >= 1, got {w_upper.shape}")
    return mean_last(jnp.abs(w_upper))


def mean_abs_weight(w) -> jax.Array:
    """Eq. (14): ``M = mean over i < j of |w_ij|`` of a full ``(..., N, N)`` matrix (N >= 2)."""
    w = jnp.asarray(w)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2] or w.shape[-1] < 2:
        raise ValueError(f"w must be a square matrix (..., N, N) with N >= 2, got shape {w.shape}")
    return mean_abs_upper(upper(w))


# ------------------------------------------------------------- integration


def wrap_phases(phases) -> jax.Array:
    """Phases shifted by whole turns into ``[-pi, pi]`` (either end where a phase is an odd
    multiple of ``pi``), in their own dtype: ``phi - 2 pi k`` with ``k = round(phi / 2 pi)``,
    ``2 pi k`` subtracted in three exact parts (Cody-Waite), so the result is within a few
    roundings of the exact remainder while ``|phi| < 4e5`` (float32; ``8e8`` float64). ``sin``
    and ``cos`` of the result equal those of ``phi`` to that rounding; phases already in
    ``(-pi, pi)`` are returned unchanged."""
    phases = jnp.asarray(phases)
    dtype = phases.dtype
    c1, c2, c3 = _trig.two_pi_parts(dtype)
    k = jnp.round(phases * np.asarray(1 / (2 * np.pi), dtype))
    return ((phases - k * c1) - k * c2) - k * c3


WRAP_STEPS = 1000
""":func:`simulate` wraps the phases (:func:`wrap_phases`) after every ``WRAP_STEPS`` Euler steps."""


def _integrate(W, omega, phases, dt, n_steps: int, keep_r: bool):
    """Euler steps of the model. Returns ``(phases_end, sum of r over the steps, r or None)``.

    The oscillator axis comes first: ``phases (N, ...)``, ``W (N, N, ...)``, ``omega (N, ...)``
    (broadcast); trailing axes, if any, are members (the member-minor layout of
    :meth:`Oscillators.measure_ensemble`). The carry holds ``sin`` and ``cos`` of the
    current phases, which serve both the order parameter and the coupling of the next step; in
    float32 both come from one shared range reduction (:func:`ensemble._trig.sincos`, within
    1e-7 of the exact values; a Kuramoto iteration 1.6-2.5x faster on a 2-core CPU than with
    ``jnp.sin``/``jnp.cos``).

    ``r`` after step ``k`` is computed at the top of step ``k + 1`` (and after the last step),
    from the carried ``sin``/``cos``: computed in the same step as the phase update, XLA fused
    the order parameter with the update and evaluated every ``sin`` and ``cos`` twice (1.5x
    slower). The sum is still ``((0 + r_1) + r_2) + ... + r_n``.
    """
    N = phases.shape[0]
    dtype = phases.dtype
    dt = jnp.asarray(dt, dtype)
    inv_n = jnp.asarray(1.0 / N, dtype)

    def body(carry, k):
        phi, s, c, rsum = carry
        r = _order(c, s)  # r after step k (k = 0: the initial phases, not summed)
        rsum = jnp.where(k > 0, rsum + r, rsum)
        coupling = c * matvec(W, s) - s * matvec(W, c)
        phi = phi + dt * (omega + coupling * inv_n)
        return (phi, *_trig.sin_cos(phi), rsum), (r if keep_r else None)

    init = (phases, *_trig.sin_cos(phases), jnp.zeros(phases.shape[1:], dtype))
    (phi, s, c, rsum), r = jax.lax.scan(body, init, jnp.arange(int(n_steps)))
    r_last = _order(c, s)
    rsum = rsum + r_last
    if keep_r:
        r = jnp.concatenate([r[1:], r_last[None]])
    return phi, rsum, r


@functools.partial(jax.jit, static_argnums=4)
def _simulate_jit(w, omega, phases, dt, n_steps: int):
    seg = min(int(n_steps), WRAP_STEPS)
    n_seg, rest = divmod(int(n_steps), seg)

    def segment(ph, _):
        phi, _, r = _integrate(w, omega, ph, dt, seg, True)
        return wrap_phases(phi), r

    phases, r = jax.lax.scan(segment, phases, None, length=n_seg)
    r = r.reshape(-1)
    if rest:
        phi, _, r_rest = _integrate(w, omega, phases, dt, rest, True)
        phases, r = wrap_phases(phi), jnp.concatenate([r, r_rest])
    return phases, None, r


def simulate(w, omega, phases, dt, n_steps: int):
    """Euler integration of the Kuramoto model with fixed weights.

    Args:
        w: ``(N, N)`` symmetric coupling matrix (any sign; the diagonal does not matter).
        omega: ``(N,)`` natural frequencies. phases: ``(N,)`` initial phases.
        dt: Euler step, > 0. n_steps: number of steps, integer >= 1.

    Returns:
        ``(phases_end, r)``: the phases after ``n_steps`` steps, wrapped to ``[-pi, pi]``
        (:func:`wrap_phases`; also after every :data:`WRAP_STEPS` steps on the way, so that
        float32 keeps resolving the steps of a long run), and ``r (n_steps,)``, the order
        parameter after each step.
    """
    w, omega, phases = jnp.asarray(w), jnp.asarray(omega), jnp.asarray(phases)
    if phases.ndim != 1 or phases.shape[0] < 1:
        raise ValueError(f"phases must have shape (N,), got {phases.shape}")
    N = phases.shape[0]
    _checks.shape("w", w, (N, N), " (N, N) for N = len(phases)")
    _checks.shape("omega", omega, (N,), " (N,) for N = len(phases)")
    _checks.finite("w", w)
    _checks.finite("omega", omega)
    _checks.finite("phases", phases)
    _checks.positive("dt", dt)
    _checks.integer_at_least("n_steps", n_steps, 1)
    if not isinstance(w, jax.core.Tracer):
        wn = np.asarray(w)
        if not np.allclose(wn, wn.T, rtol=1e-6, atol=1e-12 * max(1.0, float(np.max(np.abs(wn), initial=0.0)))):
            raise ValueError("w must be symmetric (w_ij == w_ji)")
    dtype = jnp.result_type(w, omega, phases, jnp.float32)
    w, omega, phases = w.astype(dtype), omega.astype(dtype), phases.astype(dtype)
    phi, _, r = _simulate_jit(w, omega, phases, jnp.asarray(dt, dtype), int(n_steps))
    return phi, r


# ------------------------------------------------------------------ system


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
        omega: ``(N,)`` natural frequencies (e.g. :func:`default_omega`).
        dt: Euler step (> 0). T: window length in time units (``round(T/dt) >= 1``).
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

    @property
    def N(self) -> int:
        return int(np.shape(self.omega)[0])

    @property
    def n_steps(self) -> int:
        """Euler steps per window, ``round(T/dt)``."""
        return int(round(float(self.T) / float(self.dt)))

    def check(self) -> None:
        """Validate the system's own settings (ValueError naming the field)."""
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
        kernel = getattr(self, "kernel", "vectorized")  # ContinuousOscillators shares this check
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")

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

    def init_state(self, params: Mapping[str, Any], key: jax.Array) -> jax.Array:
        """Initial phases, uniform in ``[0, 2 pi)``, in the dtype of the weights."""
        self.check()
        dtype = jnp.result_type(params["w"])
        return jax.random.uniform(key, (self.N,), dtype, 0.0, 2 * np.pi)

    def measure(self, params: Mapping[str, Any], phases: jax.Array, key: jax.Array):
        """One window with fixed weights: ``({"E", "R", "M"}, phases_end)`` (``key`` is unused;
        ``phases_end`` wrapped to ``[-pi, pi]``, :func:`wrap_phases`).

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
        contiguous vector over the members, on a CPU in blocks of :data:`WINDOW_BLOCK` members. The
        member axis is padded to :func:`padded_members` ``(B)``, so no member is ever computed in
        a vector remainder: its numbers do not depend on the ensemble size or its position.
        """
        self.check()
        w = jnp.asarray(params["w"])
        _checks.shape('params["w"]', w, (None, n_pairs(self.N)), f" (B, N(N-1)/2) for N = {self.N}")
        B = w.shape[0]
        _checks.shape("phases", phases, (B, self.N), f" (B, N) for B = {B}, N = {self.N}")
        return self._measure_minor(w, phases)

    def _measure_minor(self, w: jax.Array, phases: jax.Array):
        """The window of ``B`` members, member axis minor, padded to :func:`padded_members` ``(B)``."""
        B = w.shape[0]
        dtype = w.dtype
        omega = jnp.asarray(self.omega, dtype)[:, None]
        n = self.n_steps
        index = _pair_index(self.N)

        def window(w, phases):  # (b, P), (b, N) -> (N, b), (b,); b whole lanes (padded_members)
            padded = jnp.concatenate([w, jnp.zeros((w.shape[0], 1), dtype)], axis=-1)
            phi, rsum, _ = _integrate(padded.T[index], omega, phases.T, self.dt, n, False)
            return phi, rsum

        if self.kernel == "fused":
            return self._measure_fused(w, phases)
        Bp = padded_members(B)
        wp, php = _pad_members(w, phases.astype(dtype), Bp)
        bs = _layout.current().window_block or Bp  # None: the whole ensemble in one window
        nb = Bp // bs if Bp > bs else 0
        parts = []
        if nb:  # whole blocks, one after the other (lax.map), then the rest (a multiple of LANES)
            blocks = (wp[: nb * bs].reshape(nb, bs, -1), php[: nb * bs].reshape(nb, bs, -1))
            phi, rsum = jax.lax.map(lambda a: window(*a), blocks)
            parts.append((jnp.moveaxis(phi, 0, 1).reshape(self.N, nb * bs), rsum.reshape(nb * bs)))
        if nb * bs < Bp:
            parts.append(window(wp[nb * bs :], php[nb * bs :]))
        phases_end = jnp.concatenate([p[0] for p in parts], axis=1)[:, :B]
        rsum = jnp.concatenate([p[1] for p in parts])[:B]
        R = rsum / jnp.asarray(n, dtype)
        return {"E": self.error_of(R), "R": R, "M": mean_abs_upper(w)}, wrap_phases(phases_end).T

    def _measure_fused(self, w: jax.Array, phases: jax.Array):
        """The window of ``B`` members as one Pallas kernel per block (:mod:`ensemble.kuramoto_fused`),
        padded with inert members to whole blocks; compiled for a GPU, interpreted elsewhere
        (chosen per platform when lowered)."""
        from . import kuramoto_fused as kf

        B, dtype = w.shape[0], w.dtype
        wp, php = _pad_members(w, phases.astype(dtype), kf.padded_members(B))
        phi, rsum = kf.window_on_platform(wp.T, php.T, omega=tuple(float(o) for o in np.asarray(self.omega)),
                                          dt=float(self.dt), n_steps=self.n_steps)
        R = rsum[:B] / jnp.asarray(self.n_steps, dtype)
        return {"E": self.error_of(R), "R": R, "M": mean_abs_upper(w)}, wrap_phases(phi[:, :B]).T


def _pad_members(w: jax.Array, phases: jax.Array, Bp: int):
    """``(w (B, P), phases (B, N))`` padded to ``Bp`` members with inert ones (zero weights and
    phases: computed, then dropped)."""
    B = w.shape[0]
    if Bp == B:
        return w, phases
    pad = lambda x: jnp.concatenate([x, jnp.zeros((Bp - B, x.shape[1]), x.dtype)])  # noqa: E731
    return pad(w), pad(phases)


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

    ``rate=True`` is the continuous-time form for a base map stepping by ``dt``
    (``hyper.base.dt``, e.g. :func:`ensemble.learning.continuous`): ``gamma`` is
    then a rate per time unit and each step applies ``- gamma dt (M - M0) w``,
    the Euler step of ``dw/dt = ... - gamma (M - M0) w``. The default
    (``rate=False``) is the discrete map, one ``gamma`` per iteration.
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
    """A Kuramoto network whose weights learn *during* the integration (eq. 3, SPEC §1).

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
    Attributes as in :class:`Oscillators`; ``dt`` must equal the map's ``dt``.
    The initial phases are drawn exactly as :meth:`Oscillators.init_state`
    draws them, so the same key gives both schemes the same start.
    """

    omega: Any
    dt: Any = DEFAULT_DT
    T: Any = 20.0
    R0: Any = 0.8
    error: str = "squared"

    N = Oscillators.N
    n_steps = Oscillators.n_steps
    check = Oscillators.check
    validate = Oscillators.validate
    error_of = Oscillators.error_of

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
        phi, _, r_step = _integrate(W, omega, state.phases.astype(dtype), self.dt, 1, True)
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
    """
    from .learning import continuous

    return weight_control(continuous(max_delay), leaf, rate=True)
