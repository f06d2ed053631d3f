"""The Kuramoto model (Sec. III.B): natural frequencies, weights as a vector of pairs, the order
parameter, eq. (14), and Euler integration with fixed weights.

The model [prose; 1/N is our choice]::

    dphi_i/dt = omega_i + (1/N) sum_j w_ij sin(phi_j - phi_i),   w_ij = w_ji,

integrated by Euler steps of ``dt``. The coupling uses the exact identity
``sum_j w_ij sin(phi_j - phi_i) = cos(phi_i) (W sin phi)_i - sin(phi_i) (W cos phi)_i``:
one sine and one cosine per oscillator per step and two mat-vecs instead of
``N^2`` sines. Every sum over oscillators is a fixed-order chain of
multiply-adds (:mod:`ensemble.ordered`), so a member's numbers are bitwise the
same alone or inside an ensemble of any size.

Order parameter ``r(t) = |(1/N) sum_j exp(i phi_j)|``. Learned parameters are the
``N(N-1)/2`` weights ``w_ij`` with ``i < j``, as a vector in the row-major order of
``triu_indices(N, 1)``; :func:`to_matrix` and :func:`upper` convert to and from the symmetric
matrix with zero diagonal. Every name here is also importable from :mod:`ensemble.kuramoto`,
which holds the systems built on the model.

Examples:
    >>> import jax.numpy as jnp
    >>> from ensemble import kuramoto_model as km
    >>> km.n_pairs(10)
    45
    >>> km.to_matrix(jnp.array([1.0, 2.0, 3.0]), 3).tolist()
    [[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]]
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _trig
from .ordered import combine_rows, matvec, mean_last, sum_first

# ------------------------------------------------------------------ defaults

DEFAULT_N = 10
"""Default number of oscillators ``N`` [our choice]."""
DEFAULT_DT = 0.01
"""Default Euler step ``dt`` (time units) [our choice]."""
OMEGA_SPREAD = 0.5
"""Default scale of the natural frequencies: evenly spaced in ``[-OMEGA_SPREAD, OMEGA_SPREAD]``
(rad per time unit) [our choice]."""

FREQUENCIES = ("even", "lorentzian", "gaussian", "random")
"""Kinds of natural frequencies (:func:`frequencies`); the paper's are unknown [reconstruction]."""


def frequencies(N: int = DEFAULT_N, kind: str = "even", spread: float = OMEGA_SPREAD, seed: int = 0) -> np.ndarray:
    """``N`` natural frequencies, float64, mean zero (the rotating frame) [reconstruction].

    Args:
        N: number of oscillators (>= 1).
        kind: ``"even"``: evenly spaced in ``[-spread, spread]`` (:func:`default_omega`; ten
            oscillators lock all at once, no partial synchrony); ``"lorentzian"``: the quantiles
            ``spread * tan(pi ((i - 1/2)/N - 1/2))``, ``i = 1..N``, of a Lorentzian of half-width
            ``spread`` (graded synchrony over a wide range of coupling, as in Kuramoto's
            theory); ``"gaussian"``: the quantiles ``(i - 1/2)/N`` of a normal of standard
            deviation ``spread``; ``"random"``: ``N`` normal draws of that standard deviation
            from ``seed``, shifted to mean zero.
        spread: the scale (rad per time unit), >= 0.
        seed: the seed of ``"random"`` (unused otherwise).

    Returns:
        ``(N,)`` float64 frequencies.

    Raises:
        ValueError: an unknown ``kind``, ``N < 1``, or ``spread < 0``.
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
    """Natural frequencies evenly spaced in ``[-spread, spread]``.

    Args:
        N: number of oscillators (>= 2).
        spread: half-width (rad per time unit), >= 0.

    Returns:
        ``(N,)`` float64.
    """
    _checks.integer_at_least("N", N, 2)
    _checks.nonnegative("spread", spread)
    return np.linspace(-spread, spread, int(N))


def n_pairs(N: int) -> int:
    """``N (N - 1) / 2``, the number of learned weights ``w_ij``, ``i < j``, of ``N`` oscillators.

    Args:
        N: number of oscillators.
    """
    return int(N) * (int(N) - 1) // 2


def n_oscillators(n_weights: int) -> int:
    """The number of oscillators ``N`` with ``N (N - 1) / 2 == n_weights``.

    Args:
        n_weights: the length of a weight vector.

    Raises:
        ValueError: no ``N >= 2`` has that many weights.
    """
    N = int(round((1 + math.sqrt(1 + 8 * int(n_weights))) / 2))
    if N < 2 or n_pairs(N) != n_weights:
        raise ValueError(f"w must hold N(N-1)/2 weights for some N >= 2, got {n_weights}")
    return N


def uniform_weights(N: int, M0, dtype=jnp.float32) -> jax.Array:
    """The default initial weights: every ``w_ij = M0``.

    Args:
        N: number of oscillators (>= 2).
        M0: the weight (>= 0).
        dtype: the weights' dtype.

    Returns:
        ``(N(N-1)/2,)``.
    """
    _checks.integer_at_least("N", N, 2)
    _checks.nonnegative("M0", M0)
    return jnp.full((n_pairs(N),), M0, dtype)


# ------------------------------------------------------- weights: vector <-> matrix


def pair_index(N: int) -> np.ndarray:
    """Where each ``w_ij`` sits in the weight vector.

    Args:
        N: number of oscillators.

    Returns:
        ``(N, N)`` int32: entry ``(i, j)`` is the position of ``w_ij`` (or ``w_ji``) in the
        upper vector, and ``N(N-1)/2`` (one past its end, a zero pad) on the diagonal.
    """
    iu, ju = np.triu_indices(N, 1)
    idx = np.full((N, N), n_pairs(N), np.int32)
    k = np.arange(iu.size, dtype=np.int32)
    idx[iu, ju] = k
    idx[ju, iu] = k
    return idx


def to_matrix(w_upper, N: int) -> jax.Array:
    """The symmetric matrix with zero diagonal of a weight vector.

    Args:
        w_upper: ``(..., N(N-1)/2)``, the ``w_ij``, ``i < j``, in the row-major order of
            ``triu_indices(N, 1)``.
        N: number of oscillators (>= 2).

    Returns:
        ``(..., N, N)``.

    Raises:
        ValueError: the last axis of ``w_upper`` is not ``N(N-1)/2`` long.
    """
    _checks.integer_at_least("N", N, 2)
    N = int(N)
    w_upper = jnp.asarray(w_upper)
    if w_upper.ndim < 1 or w_upper.shape[-1] != n_pairs(N):
        raise ValueError(f"w_upper must have shape (..., {n_pairs(N)}) for N = {N}, got {w_upper.shape}")
    padded = jnp.concatenate([w_upper, jnp.zeros(w_upper.shape[:-1] + (1,), w_upper.dtype)], axis=-1)
    return padded[..., pair_index(N)]


def upper(w) -> jax.Array:
    """The weight vector of a matrix: its ``w_ij``, ``i < j`` (the inverse of :func:`to_matrix`).

    Args:
        w: ``(..., N, N)``.

    Returns:
        ``(..., N(N-1)/2)``.
    """
    w = jnp.asarray(w)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"w must be a square matrix (..., N, N), got shape {w.shape}")
    iu, ju = np.triu_indices(w.shape[-1], 1)
    return w[..., iu, ju]


# ------------------------------------------------------------ observables


def _order(c: jax.Array, s: jax.Array, rolled: bool = False) -> jax.Array:
    """``|mean_j (c_j + i s_j)|`` over the first (oscillator) axis, with the sums in index
    order (``rolled``: by halving, :func:`ensemble.ordered.sum_first`): ``(N, ...) -> (...)``."""
    if rolled:
        C, S = sum_first(c), sum_first(s)
    else:
        C, S = c[0], s[0]
        for j in range(1, c.shape[0]):
            C, S = C + c[j], S + s[j]
    return jnp.sqrt(C * C + S * S) / c.shape[0]


def order_parameter(phases) -> jax.Array:
    """The order parameter ``r = |(1/N) sum_j exp(i phi_j)|``, in ``[0, 1]``: 1 when all phases
    agree, near 0 when they spread evenly.

    Args:
        phases: ``(..., N)`` phases (rad), finite.

    Returns:
        ``(...)``, over the last axis.

    Examples:
        >>> import jax.numpy as jnp
        >>> from ensemble import kuramoto_model as km
        >>> r = km.order_parameter(jnp.array([[0.0, 0.0, 0.0, 0.0],
        ...                                   [0.0, jnp.pi / 2, jnp.pi, 3 * jnp.pi / 2]]))
        >>> [round(x, 6) for x in r.tolist()]
        [1.0, 0.0]
    """
    phases = jnp.asarray(phases)
    if phases.ndim < 1 or phases.shape[-1] < 1:
        raise ValueError(f"phases must have shape (..., N) with N >= 1, got {phases.shape}")
    _checks.finite("phases", phases)
    phases = jnp.moveaxis(phases, -1, 0)
    return _order(jnp.cos(phases), jnp.sin(phases), phases.shape[0] >= ROLLED_FROM)


def mean_abs_upper(w_upper) -> jax.Array:
    """Eq. (14) from the learned vector: ``M = mean |w_ij|`` over its entries.

    Args:
        w_upper: ``(..., P)`` weight vectors, ``P >= 1``.

    Returns:
        ``(...)``.
    """
    w_upper = jnp.asarray(w_upper)
    if w_upper.ndim < 1 or w_upper.shape[-1] < 1:
        raise ValueError(f"w_upper must have shape (..., P) with P >= 1, got {w_upper.shape}")
    return mean_last(jnp.abs(w_upper))


def mean_abs_weight(w) -> jax.Array:
    """Eq. (14) of a full matrix: ``M = mean over i < j of |w_ij|``.

    Args:
        w: ``(..., N, N)`` with ``N >= 2``.

    Returns:
        ``(...)``.
    """
    w = jnp.asarray(w)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2] or w.shape[-1] < 2:
        raise ValueError(f"w must be a square matrix (..., N, N) with N >= 2, got shape {w.shape}")
    return mean_abs_upper(upper(w))


# ------------------------------------------------------------- integration


def wrap_phases(phases) -> jax.Array:
    """Phases shifted by whole turns into ``[-pi, pi]`` (either end where a phase is an odd
    multiple of ``pi``), in their own dtype.

    ``phi - 2 pi k`` with ``k = round(phi / 2 pi)``, ``2 pi k`` subtracted in three exact parts
    (Cody-Waite), so the result is within a few roundings of the exact remainder while
    ``|phi| < 4e5`` (float32; ``8e8`` float64). ``sin`` and ``cos`` of the result equal those of
    ``phi`` to that rounding; phases already in ``(-pi, pi)`` are returned unchanged.

    Args:
        phases: any array of phases (rad).

    Returns:
        The wrapped phases, same shape and dtype.
    """
    phases = jnp.asarray(phases)
    dtype = phases.dtype
    c1, c2, c3 = _trig.two_pi_parts(dtype)
    k = jnp.round(phases * np.asarray(1 / (2 * np.pi), dtype))
    return ((phases - k * c1) - k * c2) - k * c3


ROLLED_FROM = 32
""":func:`integrate` sums over oscillators in compiled loops from this many oscillators on (the
coupling by :func:`ensemble.ordered.combine_rows`, the order parameter by
:func:`ensemble.ordered.sum_first`), and as unrolled chains (:func:`ensemble.ordered.matvec`)
below: the chains are a little faster for few oscillators, but their compile time grows with
``N^2`` (minutes at ``N = 300``), the loops' does not (timings in ``benchmarks/``)."""

WRAP_STEPS = 1000
""":func:`simulate` wraps the phases (:func:`wrap_phases`) after every ``WRAP_STEPS`` Euler steps."""


def integrate(W, omega, phases, dt, n_steps: int, keep_r: bool, rolled: bool | None = None):
    """Euler steps of the model with fixed weights, for use inside compiled code (no checks).

    The oscillator axis comes first; trailing axes, if any, are members (the member-minor layout
    of :mod:`ensemble.kuramoto_window`). The carry holds ``sin`` and ``cos`` of the
    current phases, which serve both the order parameter and the coupling of the next step; in
    float32 both come from one shared range reduction (within 1e-7 of the exact values, faster
    than ``jnp.sin`` and ``jnp.cos`` on a CPU). ``r`` after step ``k`` is computed at the top of
    step ``k + 1`` (and after the last step) from the carried ``sin``/``cos``, so that XLA does
    not evaluate them twice; the sum is ``((0 + r_1) + r_2) + ... + r_n``.

    Args:
        W: ``(N, N, ...)`` symmetric coupling matrices.
        omega: ``(N, ...)`` natural frequencies (broadcast).
        phases: ``(N, ...)`` initial phases; their dtype is the computation's.
        dt: Euler step.
        n_steps: number of steps (static).
        keep_r: also return ``r`` after every step.
        rolled: sum over oscillators in compiled loops rather than unrolled chains (None:
            from :data:`ROLLED_FROM` oscillators on). The loops read the rows of ``W``, which
            are its columns since ``W`` is symmetric.

    Returns:
        ``(phases_end, rsum, r)``: the phases after the steps (not wrapped), the sum of ``r``
        over the steps, and ``r (n_steps, ...)`` (None without ``keep_r``).
    """
    N = phases.shape[0]
    dtype = phases.dtype
    dt = jnp.asarray(dt, dtype)
    inv_n = jnp.asarray(1.0 / N, dtype)
    rolled = N >= ROLLED_FROM if rolled is None else bool(rolled)

    def body(carry, k):
        phi, s, c, rsum = carry
        r = _order(c, s, rolled)  # r after step k (k = 0: the initial phases, not summed)
        rsum = jnp.where(k > 0, rsum + r, rsum)
        if rolled:
            ws, wc = combine_rows(W, (s, c))
        else:
            ws, wc = matvec(W, s), matvec(W, c)
        coupling = c * ws - s * wc
        phi = phi + dt * (omega + coupling * inv_n)
        return (phi, *_trig.sin_cos(phi), rsum), (r if keep_r else None)

    init = (phases, *_trig.sin_cos(phases), jnp.zeros(phases.shape[1:], dtype))
    (phi, s, c, rsum), r = jax.lax.scan(body, init, jnp.arange(int(n_steps)))
    r_last = _order(c, s, rolled)
    rsum = rsum + r_last
    if keep_r:
        r = jnp.concatenate([r[1:], r_last[None]])
    return phi, rsum, r


@functools.partial(jax.jit, static_argnums=4)
def _simulate_jit(w, omega, phases, dt, n_steps: int):
    seg = min(int(n_steps), WRAP_STEPS)
    n_seg, rest = divmod(int(n_steps), seg)

    def segment(ph, _):
        phi, _, r = integrate(w, omega, ph, dt, seg, True)
        return wrap_phases(phi), r

    phases, r = jax.lax.scan(segment, phases, None, length=n_seg)
    r = r.reshape(-1)
    if rest:
        phi, _, r_rest = integrate(w, omega, phases, dt, rest, True)
        phases, r = wrap_phases(phi), jnp.concatenate([r, r_rest])
    return phases, None, r


def simulate(w, omega, phases, dt, n_steps: int):
    """Euler integration of the Kuramoto model with fixed weights.

    Args:
        w: ``(N, N)`` symmetric coupling matrix (any sign; the diagonal does not matter).
        omega: ``(N,)`` natural frequencies.
        phases: ``(N,)`` initial phases.
        dt: Euler step, > 0.
        n_steps: number of steps, integer >= 1.

    Returns:
        ``(phases_end, r)``: the phases after ``n_steps`` steps, wrapped to ``[-pi, pi]``
        (:func:`wrap_phases`; also after every :data:`WRAP_STEPS` steps on the way, so that
        float32 keeps resolving the steps of a long run), and ``r (n_steps,)``, the order
        parameter after each step.

    Raises:
        ValueError: shapes that do not match, non-finite inputs, ``dt <= 0``, ``n_steps < 1``, or
            a ``w`` that is not symmetric.
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


__all__ = ["DEFAULT_N", "DEFAULT_DT", "OMEGA_SPREAD", "FREQUENCIES", "WRAP_STEPS", "frequencies", "default_omega",
           "n_pairs", "n_oscillators", "uniform_weights", "pair_index", "to_matrix", "upper", "order_parameter",
           "mean_abs_upper", "mean_abs_weight", "wrap_phases", "ROLLED_FROM", "integrate", "simulate"]
