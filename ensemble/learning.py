"""The autonomous-learning maps, eqs. (3), (4) and (8), as pure functions over any parameter pytree.

A map follows optax's shape: a :class:`LearningMap` is a pair of pure
functions, ``init(params) -> state`` and
``step(params, state, signals, hyper, key) -> (params, state)``, for one member. All memory
lives in the state (a ring buffer of past parameters and past error signals),
all randomness comes from the explicit ``key``, and the hyperparameters are a
NamedTuple of arrays, so a ``vmap`` over members can give every member its own
``tau``, ``S`` and delay ``m`` without recompiling.

Reconstruction note: the paper's equation bodies were lost; the forms below are
our reconstruction. The choices kept here, in one place:

* eq. (4): ``w(n+1) = w(n) - (1/tau) [E(n) - E(n-m)] [w(n) - w(n-m)] + S E(n) xi(n)``;
* ``xi`` is one independent standard normal per parameter per iteration;
* start-up: the history before iteration 0 equals ``w(0)`` and ``E(0)``, so
  the first ``m`` moves are pure noise;
* eq. (8) is eq. (4) applied to ``E`` plus eq. (4) applied to ``1 - R`` (the
  "error" of robustness): ``- (1/tau_E) dE dw + (1/tau_R) dR dw + S_E E xi + S_R (1-R) eta``;
* eq. (3), the continuous-time law, is integrated by Euler-Maruyama:
  ``w(t+dt) = w(t) - (dt/tau) dE dw + S E sqrt(dt) xi`` with a delay of
  ``m = T/dt`` steps. It is the same ring-buffer machinery as eq. (4) with the
  drift scaled by ``dt`` and the noise by ``sqrt(dt)``.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> from ensemble import learning
    >>> lmap = learning.discrete(max_delay=1)
    >>> hyper = learning.DiscreteHyper(tau=1.0, S=0.1, m=1)
    >>> w = {"a": jnp.zeros(3)}
    >>> state = lmap.init(w)
    >>> w, state = lmap.step(w, state, {"E": jnp.float32(0.5)}, hyper, jax.random.key(0))
    >>> w["a"].shape, int(state.n)
    ((3,), 1)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from . import _checks, _threefry

PyTree = Any
Array = jax.Array


# --------------------------------------------------------------------------- noise


def normal_like(key: Array, tree: PyTree) -> PyTree:
    """Independent standard normals with the structure, shapes and dtypes of ``tree``.

    This is the ``xi(n)`` of eq. (4): the maps draw it from the member's key of the iteration,
    so it can be drawn again to check a step exactly. All leaves are drawn as one flat vector
    from ``key`` (in ``tree_leaves`` order) and cut into the leaves' shapes: one generator call
    per iteration rather than one per leaf. Leaves of mixed dtypes get one call per leaf from
    ``split(key, n_leaves)``.

    Args:
        key: a PRNG key.
        tree: any pytree of float arrays (only the shapes and dtypes are read).

    Returns:
        A pytree like ``tree`` of standard normal draws.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    dtypes = {jnp.result_type(x) for x in leaves}
    if len(dtypes) == 1:
        sizes = [int(np.prod(jnp.shape(x), dtype=np.int64)) for x in leaves]
        flat = _standard_normal(key, (sum(sizes),), dtypes.pop())
        cuts = np.cumsum(sizes)[:-1]
        noise = [part.reshape(jnp.shape(x)) for part, x in zip(jnp.split(flat, cuts), leaves)]
    else:
        keys = _split(key, len(leaves))
        noise = [_standard_normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)]
    return jax.tree_util.tree_unflatten(treedef, noise)


def _standard_normal(key: Array, shape: tuple, dtype) -> Array:
    """Standard normals by inverse CDF of 23-bit uniforms (float32); float64 falls back to
    ``jax.random.normal``. The bits are :func:`_random_bits`'s. For threefry keys the transform
    runs on their two halves, ``(2, ceil(n/2))``, in the program that hashes them
    (:func:`ensemble._threefry.counter_bits_apart`), and the normals are laid end to end only
    then: XLA vectorizes it, and the consumer of the normals gets exactly these numbers (fused
    with it, XLA folded the transform's ``sqrt(2)`` into the consumer's scale factor, another
    rounding)."""
    if jnp.dtype(dtype) != jnp.float32:
        return jax.random.normal(key, shape, dtype)
    n = int(np.prod(shape, dtype=np.int64))
    data = _threefry_data(key)
    if data is None:
        return _inverse_cdf(jax.random.bits(key, (n,), jnp.uint32)).reshape(shape)
    z = _threefry.counter_bits_apart(data[0], data[1], n, then=_inverse_cdf)
    return z.reshape(-1)[:n].reshape(shape)


def _inverse_cdf(bits: Array) -> Array:
    """``sqrt(2) erf_inv(2u - 1 + 2^-24)``, ``u`` the top 23 bits of each word in ``[0, 1)``: float32."""
    u = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0  # [0, 1)
    v = 2.0 * u - 1.0 + 2.0**-24  # in (-1, 1), symmetric to within 2**-24
    return jnp.float32(np.sqrt(2.0)) * jax.lax.erf_inv(v)


def _threefry_data(key: Array) -> Array | None:
    """The ``uint32[2]`` data of a threefry key (typed or raw), or None for other implementations."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key) if str(jax.random.key_impl(key)) == "threefry2x32" else None
    return key  # a raw uint32[2] threefry key (jax.random.PRNGKey)


def _split(key: Array, num: int) -> Array:
    """``jax.random.split(key, num)``, the same keys; for threefry keys computed by
    :func:`ensemble._threefry.split` (jax's own is a loop on CPU that XLA cannot fuse)."""
    data = _threefry_data(key)
    if data is None or not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.split(key, num)
    return jax.random.wrap_key_data(_threefry.split(data, num), impl=jax.random.key_impl(key))


def _random_bits(key: Array, n: int) -> Array:
    """``n`` random 32-bit words from ``key``, shape ``(n,)`` uint32.

    For threefry keys (the default) this is one threefry-2x32 call per *two* words on
    the counters ``0..n-1``, i.e. jax's classic ``random_bits``
    (``jax.extend.random.threefry_2x32(key, iota(n))``, ``jax_threefry_partitionable=False``),
    whatever that global flag says. The partitionable scheme (jax's default now) spends a full
    call per word, which made noise generation the largest cost of a network iteration. Each
    member's noise is drawn from its own key, so nothing here needs to be partitioned across
    devices. The hash is :mod:`ensemble._threefry`'s (jax's numbers, written out so that XLA
    compiles it into vector code). Other key implementations use ``jax.random.bits``.

    Args:
        key: a PRNG key (typed, or a raw ``uint32[2]`` threefry key).
        n: how many words.
    """
    data = _threefry_data(key)
    if data is None:
        return jax.random.bits(key, (n,), jnp.uint32)
    return _threefry.counter_bits_apart(data[0], data[1], n).reshape(-1)[:n]


random_bits = _random_bits  # public name; the maps call _random_bits (a checkpoint's map identity names it)
"""``random_bits(key, n)``: ``n`` random 32-bit words from ``key``, shape ``(n,)`` uint32, the bits
behind :func:`normal_like`. For threefry keys (the default) these are jax's classic
``random_bits`` (one threefry-2x32 call per two words), whatever ``jax_threefry_partitionable``
says; other key implementations use ``jax.random.bits``."""


def _move(w: PyTree, w_delayed: PyTree, drift: Array, noise_scales: tuple, key: Array) -> PyTree:
    """``w + drift * (w - w_delayed) + sum_k noise_scales[k] * xi_k``.

    With one noise scale, ``xi`` is ``normal_like(key, w)``; with K > 1 the key
    is split into K keys, one independent normal field per term.
    """
    if len(noise_scales) == 1:
        noises = [normal_like(key, w)]
    else:
        noises = [normal_like(k, w) for k in _split(key, len(noise_scales))]

    def leaf(x, xd, *xis):
        dtype = jnp.result_type(x)
        out = x + drift.astype(dtype) * (x - xd)
        for s, xi in zip(noise_scales, xis):
            out = out + s.astype(dtype) * xi
        return out

    return jax.tree_util.tree_map(leaf, w, w_delayed, *noises)


# ------------------------------------------------------------------ single steps


def discrete_step(w: PyTree, w_delayed: PyTree, E, E_delayed, tau, S, key: Array) -> PyTree:
    """One step of eq. (4) for one member: ``w - (1/tau)(E - E_delayed)(w - w_delayed) + S E xi``.

    Args:
        w: parameters ``w(n)``, any pytree of float arrays.
        w_delayed: ``w(n-m)``, same structure.
        E: error ``E(n) >= 0`` (scalar).
        E_delayed: ``E(n-m)`` (scalar).
        tau: drift time scale (> 0, in iterations).
        S: noise intensity (>= 0).
        key: PRNG key for ``xi = normal_like(key, w)``.

    Returns:
        ``w(n+1)``, same structure as ``w``. With ``S = 0`` it is deterministic.

    Raises:
        ValueError: a non-finite ``w``, a negative ``E``, ``tau <= 0``, ``S < 0``, or ``w_delayed``
            of another structure or shape.
    """
    _checks.finite("w", w)
    _checks.finite("w_delayed", w_delayed)
    _checks.nonnegative("E", E)
    _checks.nonnegative("E_delayed", E_delayed)
    _checks.positive("tau", tau)
    _checks.nonnegative("S", S)
    if jax.tree_util.tree_structure(w) != jax.tree_util.tree_structure(w_delayed):
        raise ValueError("w_delayed must have the same pytree structure as w")
    for a, b in zip(jax.tree_util.tree_leaves(w), jax.tree_util.tree_leaves(w_delayed)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(f"w_delayed must match the shapes of w, got {jnp.shape(b)} for {jnp.shape(a)}")
    E, E_delayed, tau, S = (jnp.asarray(v) for v in (E, E_delayed, tau, S))
    return _move(w, w_delayed, -(E - E_delayed) / tau, (S * E,), key)


def continuous_step(w: PyTree, w_delayed: PyTree, E, E_delayed, tau, S, dt, key: Array) -> PyTree:
    """One Euler-Maruyama step of eq. (3) over ``dt`` for one member.

    ``w(t+dt) = w(t) - (dt/tau) [E(t) - E(t-T)] [w(t) - w(t-T)] + S E(t) sqrt(dt) xi``,
    ``xi = normal_like(key, w)`` (white noise of unit intensity): :func:`discrete_step` with
    ``tau / dt`` and ``S sqrt(dt)``.

    Args:
        w: parameters ``w(t)``, any pytree of float arrays.
        w_delayed: ``w(t-T)``, same structure.
        E: error ``E(t) >= 0`` (scalar).
        E_delayed: ``E(t-T)`` (scalar).
        tau: drift time scale (> 0, time units).
        S: noise intensity (>= 0).
        dt: integration step (> 0, time units).
        key: PRNG key for ``xi``.

    Returns:
        ``w(t+dt)``, same structure as ``w``.
    """
    _checks.positive("dt", dt)
    _checks.positive("tau", tau)
    dt = jnp.asarray(dt)
    return discrete_step(w, w_delayed, E, E_delayed, jnp.asarray(tau) / dt, jnp.asarray(S) * jnp.sqrt(dt), key)


# ------------------------------------------------------------- hyperparameters


class DiscreteHyper(NamedTuple):
    """Hyperparameters of eq. (4), for :func:`discrete`. Each field is a scalar or a ``(B,)`` array
    (one value per member).

    Attributes:
        tau: drift time scale, > 0 (iterations).
        S: noise intensity, >= 0.
        m: integer delay in iterations, 1 <= m <= the map's ``max_delay`` (default 1).

    Examples:
        A (tau, S) sweep in one call gives every member its own value:

        >>> import numpy as np
        >>> from ensemble import learning
        >>> hyper = learning.DiscreteHyper(tau=np.array([0.1, 1.0, 10.0]), S=0.01, m=2)
        >>> hyper.tau.shape, hyper.S, hyper.m
        ((3,), 0.01, 2)
    """

    tau: Any
    S: Any
    m: Any = 1


class BiparametricHyper(NamedTuple):
    """Hyperparameters of eq. (8), for :func:`biparametric`: drift scales and noise intensities for
    the error ``E`` and for the robustness ``R``. Each field is a scalar or a ``(B,)`` array.

    Attributes:
        tau_E: drift time scale of the ``E`` term, > 0 (iterations).
        S_E: noise intensity of the ``E`` term, >= 0.
        tau_R: drift time scale of the ``1 - R`` term, > 0 (iterations).
        S_R: noise intensity of the ``1 - R`` term, >= 0.
        m: integer delay in iterations, 1 <= m <= the map's ``max_delay`` (default 1).
    """

    tau_E: Any
    S_E: Any
    tau_R: Any
    S_R: Any
    m: Any = 1


class ContinuousHyper(NamedTuple):
    """Hyperparameters of eq. (3), for :func:`continuous`. Each field is a scalar or a ``(B,)`` array.

    Attributes:
        tau: drift time scale, > 0 (time units).
        S: noise intensity, >= 0.
        dt: integration step, > 0 (time units).
        m: the delay ``T`` in steps, ``m = T/dt``, 1 <= m <= the map's ``max_delay`` (default 1).
    """

    tau: Any
    S: Any
    dt: Any
    m: Any = 1


# ----------------------------------------------------------------- delay state


class DelayState(NamedTuple):
    """Ring buffers of one member's past.

    Attributes:
        history: pytree like ``params`` with a leading axis ``L = max_delay + 1``;
            slot ``k mod L`` holds ``w(k)`` for the last ``L`` iterations (one
            slot more than any delay needs, so the slot written is never the slot read).
        signals: ``(L, K)`` past objective values (``E``, or ``E`` and ``1-R``).
        n: int32 iteration counter (the index of the next step).
    """

    history: PyTree
    signals: Array
    n: Array


class LearningMap(NamedTuple):
    """A learning map: pure ``init`` and ``step`` for one member, plus what it reads.

    Made by :func:`discrete`, :func:`biparametric`, :func:`continuous`, :func:`masked` or
    :func:`ensemble.kuramoto.weight_control`; :func:`ensemble.evolve` runs ``step`` for every
    member and iteration.

    Attributes:
        init: ``params -> DelayState``.
        step: ``(params, state, signals, hyper, key) -> (params, state)`` for
            one member; ``signals`` maps names (``"E"``, ``"R"``) to scalars.
        check: ``hyper -> None``; raises :class:`ValueError` on invalid hyperparameters.
        reads: names of the signals the map needs from the system.
        max_delay: length of the ring buffers (static).
        name: short name used in results.
    """

    init: Callable[[PyTree], DelayState]
    step: Callable[..., tuple[PyTree, DelayState]]
    check: Callable[[Any], None]
    reads: tuple[str, ...]
    max_delay: int
    name: str


def _delay_init(max_delay: int, n_objectives: int) -> Callable[[PyTree], DelayState]:
    L = max_delay + 1  # the slot written is never the slot read (see _delay_step)

    def init(params: PyTree) -> DelayState:
        history = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (L,) + jnp.shape(x)).astype(jnp.result_type(x)), params)
        dtype = jnp.result_type(*jax.tree_util.tree_leaves(params)) if jax.tree_util.tree_leaves(params) else jnp.float32
        return DelayState(history, jnp.zeros((L, n_objectives), dtype), jnp.zeros((), jnp.int32))

    return init


def _delay_step(params: PyTree, state: DelayState, g: Array, taus: Array, noise: Array, m, key: Array, clip=None,
                normalize=False):
    """Shared eq. (4)/(8)/(3) step. ``g`` (K,) objectives to lower, ``taus`` (K,), ``noise`` (K,) intensities;
    the drift gain ``G = -sum_k dg_k / tau_k`` is clipped to ``[-clip, clip]`` (``clip`` not None) or
    normalized to ``G / (1 + |G|)`` (``normalize``); both off: the literal map."""
    L = state.signals.shape[0]
    g = g.astype(state.signals.dtype)
    # Start-up: the history before iteration 0 is w(0), E(0) (w(0) is filled by init).
    signals = jnp.where(state.n == 0, jnp.broadcast_to(g, state.signals.shape), state.signals)
    read = jnp.mod(state.n - jnp.asarray(m, jnp.int32), L)
    write = jnp.mod(state.n, L)
    # Write w(n) first, then read w(n-m) from the updated buffers. With L = max_delay + 1
    # slots and 1 <= m <= max_delay the two slots differ, so the values are those of
    # read-then-write; but a read of the old buffer next to an in-place write of it made
    # XLA copy the whole ring buffer every iteration inside the scan (80% of the 35-10-5
    # network's step on CPU), while write-then-read is a pure chain it updates in place.
    history = jax.tree_util.tree_map(lambda h, x: h.at[write].set(x), state.history, params)
    signals = signals.at[write].set(g)
    w_delayed = jax.tree_util.tree_map(lambda h: h[read], history)
    g_delayed = signals[read]
    drift = -jnp.sum((g - g_delayed) / taus)
    if clip is not None:
        drift = jnp.clip(drift, -clip, clip)
    if normalize:
        drift = drift / (1 + jnp.abs(drift))
    new = _move(params, w_delayed, drift, tuple(noise[k] * g[k] for k in range(g.shape[0])), key)
    return new, DelayState(history, signals, state.n + 1)


def _check_delay(m, max_delay: int, built: str) -> None:
    """``1 <= m <= max_delay`` for every member; the message names the map."""
    try:
        _checks.integer_at_least("m", m, 1, max_delay)
    except ValueError as exc:
        raise ValueError(f"{exc}: m is the delay in iterations, at most the max_delay of the map ({built})") from None


def _check_max_delay(max_delay) -> int:
    _checks.integer_at_least("max_delay", max_delay, 1)
    return int(max_delay)


def discrete(max_delay: int = 1, *, clip: float | None = None, normalize: bool = False) -> LearningMap:
    """Eq. (4), the discrete-time map, reading the signal ``"E"``.

    ``w(n+1) = w(n) - (1/tau) [E(n) - E(n-m)] [w(n) - w(n-m)] + S E(n) xi(n)``, with the
    hyperparameters in a :class:`DiscreteHyper`.

    Args:
        max_delay: length of the ring buffers; every member's delay ``m`` must
            be <= this (members may have different ``m``).
        clip: a stabilized variant (not the paper's): the drift's gain ``-(E(n) - E(n-m))/tau``,
            which multiplies the last step ``w(n) - w(n-m)``, is clipped to ``[-clip, clip]``.
            The literal map amplifies its own steps once ``|dE|/tau > 1`` (the divergence of a
            too small ``tau``, :mod:`ensemble.stability`); with ``clip < 1`` the drift never
            makes a step larger than the last one. None (default): the literal eq. (4).
        normalize: the other stabilized variant (not the paper's, no constant to choose): the gain
            ``G = -(E(n) - E(n-m))/tau`` becomes ``G / (1 + |G|)``, the literal gain where
            ``|G| << 1`` (where eq. (4) is stable) and below 1 in size everywhere, so the drift
            is always smaller than the step it echoes. Not combined with ``clip``.

    Returns:
        A :class:`LearningMap` named ``"discrete"`` (``"discrete(clip=...)"``,
        ``"discrete(normalized)"`` for the variants).

    Raises:
        ValueError: ``max_delay < 1``, ``clip <= 0``, or both ``clip`` and ``normalize``.

    Examples:
        Without noise (``S = 0``) only the drift acts. The first step sees no past (the history
        before iteration 0 is ``w(0)``, ``E(0)``); the second repeats the last step, scaled by
        ``-(E(1) - E(0)) / tau = 0.5`` because ``E`` fell:

        >>> import jax, jax.numpy as jnp
        >>> from ensemble import learning
        >>> lmap = learning.discrete(max_delay=1)
        >>> hyper = learning.DiscreteHyper(tau=1.0, S=0.0, m=1)
        >>> state = lmap.init(jnp.zeros(2))
        >>> w1, state = lmap.step(jnp.zeros(2), state, {"E": 1.0}, hyper, jax.random.key(0))
        >>> w1.tolist()
        [0.0, 0.0]
        >>> w2, state = lmap.step(jnp.ones(2), state, {"E": 0.5}, hyper, jax.random.key(1))
        >>> w2.tolist()
        [1.5, 1.5]

        A map without a past is refused (and so is a delay ``m`` longer than ``max_delay``, when
        the map checks the hyperparameters):

        >>> learning.discrete(max_delay=0)
        Traceback (most recent call last):
        ...
        ValueError: max_delay must be an integer >= 1, got 0
    """
    L = _check_max_delay(max_delay)
    if not isinstance(normalize, (bool, np.bool_)):
        raise ValueError(f"normalize must be True or False, got {normalize!r}")
    if clip is not None:
        if normalize:
            raise ValueError("clip and normalize are two variants; give one of them")
        _checks.positive("clip", clip)
        clip = float(clip)
    normalize = bool(normalize)

    def step(params, state, signals: Mapping[str, Array], hyper: DiscreteHyper, key):
        E = jnp.asarray(signals["E"])
        g = E[None]
        return _delay_step(params, state, g, jnp.asarray(hyper.tau)[None], jnp.asarray(hyper.S)[None], hyper.m, key, clip,
                           normalize)

    def check(hyper: DiscreteHyper) -> None:
        _checks.positive("tau", hyper.tau)
        _checks.nonnegative("S", hyper.S)
        _check_delay(hyper.m, L, f"learning.discrete(max_delay={L})")

    name = "discrete(normalized)" if normalize else "discrete" if clip is None else f"discrete(clip={clip:g})"
    return LearningMap(_delay_init(L, 1), step, check, ("E",), L, name)


def biparametric(max_delay: int = 1) -> LearningMap:
    """Eq. (8), functionality and robustness together, reading ``"E"`` and ``"R"``.

    Eq. (4) applied to ``E`` plus eq. (4) applied to ``1 - R`` (the "error" of robustness,
    ``R`` in ``[0, 1]``): ``w(n+1) = w(n) - (1/tau_E) dE dw + (1/tau_R) dR dw + S_E E xi +
    S_R (1 - R) eta`` with ``dw = w(n) - w(n-m)``, ``dE``, ``dR`` over the same delay and ``xi``,
    ``eta`` independent standard normals. The hyperparameters are a :class:`BiparametricHyper`.

    Args:
        max_delay: length of the ring buffers; every member's delay ``m`` must be <= this.

    Returns:
        A :class:`LearningMap` named ``"biparametric"``.
    """
    L = _check_max_delay(max_delay)

    def step(params, state, signals: Mapping[str, Array], hyper: BiparametricHyper, key):
        E = jnp.asarray(signals["E"])
        R = jnp.asarray(signals["R"]).astype(E.dtype)
        g = jnp.stack([E, 1 - R])
        taus = jnp.stack([jnp.asarray(hyper.tau_E), jnp.asarray(hyper.tau_R)])
        noise = jnp.stack([jnp.asarray(hyper.S_E), jnp.asarray(hyper.S_R)])
        return _delay_step(params, state, g, taus, noise, hyper.m, key)

    def check(hyper: BiparametricHyper) -> None:
        _checks.positive("tau_E", hyper.tau_E)
        _checks.positive("tau_R", hyper.tau_R)
        _checks.nonnegative("S_E", hyper.S_E)
        _checks.nonnegative("S_R", hyper.S_R)
        _check_delay(hyper.m, L, f"learning.biparametric(max_delay={L})")

    return LearningMap(_delay_init(L, 2), step, check, ("E", "R"), L, "biparametric")


def continuous(max_delay: int = 1) -> LearningMap:
    """Eq. (3), the continuous-time law, as one Euler-Maruyama step of ``dt`` per call.

    For a system whose one driver iteration is one integration step ``dt`` (e.g.
    :class:`ensemble.kuramoto.ContinuousOscillators`): each ``step`` advances the weights by
    :func:`continuous_step`. The hyperparameters are a :class:`ContinuousHyper`.

    Args:
        max_delay: buffer length in integration steps; every member's delay ``m = T/dt`` must
            be <= this.

    Returns:
        A :class:`LearningMap` named ``"continuous"``.
    """
    L = _check_max_delay(max_delay)

    def step(params, state, signals: Mapping[str, Array], hyper: ContinuousHyper, key):
        E = jnp.asarray(signals["E"])
        dt = jnp.asarray(hyper.dt, E.dtype)
        tau = jnp.asarray(hyper.tau, E.dtype) / dt
        S = jnp.asarray(hyper.S, E.dtype) * jnp.sqrt(dt)
        return _delay_step(params, state, E[None], tau[None], S[None], hyper.m, key)

    def check(hyper: ContinuousHyper) -> None:
        _checks.positive("tau", hyper.tau)
        _checks.nonnegative("S", hyper.S)
        _checks.positive("dt", hyper.dt)
        _check_delay(hyper.m, L, f"learning.continuous(max_delay={L})")

    return LearningMap(_delay_init(L, 1), step, check, ("E",), L, "continuous")


def masked(base: LearningMap, mask: PyTree | Callable[[PyTree], PyTree]) -> LearningMap:
    """``base`` on the leaves of ``params`` where ``mask`` is True; the others are held fixed.

    For per-member constants of a system (a sign, a target, a frequency) that must live in
    ``params`` to differ between members but must not be learned (cf. ``optax.masked``).
    The base map runs unchanged (it draws the same noise), and the fixed leaves are put back
    afterwards, so a fixed leaf keeps its initial value bit for bit.

    Args:
        base: any learning map.
        mask: a pytree of Python bools with the structure of one member's ``params`` (or a
            prefix of it), or a function ``params -> mask``. True: learned; False: fixed.

    Returns:
        A :class:`LearningMap` named ``"masked(<base name>)"``, with the base map's hyperparameters.

    Raises:
        ValueError: (when the map first steps) a mask entry that is not a Python bool, or a
            mask whose structure is not that of ``params`` (or a prefix of it).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from ensemble import learning
        >>> lmap = learning.masked(learning.discrete(), {"w": True, "sign": False})
        >>> params = {"w": jnp.zeros(3), "sign": jnp.ones(1)}
        >>> state = lmap.init(params)
        >>> new, state = lmap.step(params, state, {"E": 1.0}, learning.DiscreteHyper(tau=1.0, S=0.1),
        ...                        jax.random.key(0))
        >>> new["sign"].tolist()          # fixed: its initial value
        [1.0]
        >>> bool((new["w"] != 0).all())   # learned: moved by the noise S E xi
        True
        >>> lmap.name
        'masked(discrete)'
    """

    def leaf_mask(params: PyTree) -> list:
        m = mask(params) if callable(mask) else mask
        bools = jax.tree_util.tree_leaves(m)
        if not all(isinstance(b, (bool, np.bool_)) for b in bools):
            raise ValueError(f"mask entries must be Python bools (True: learned, False: fixed), got {m!r}")
        try:
            subtrees = jax.tree_util.tree_structure(m).flatten_up_to(params)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"mask must have the structure of params (or a prefix of it): {exc}") from None
        return [bool(b) for b, sub in zip(bools, subtrees) for _ in jax.tree_util.tree_leaves(sub)]

    def step(params, state, signals, hyper, key):
        new, state = base.step(params, state, signals, hyper, key)
        keep = leaf_mask(params)
        p_leaves, treedef = jax.tree_util.tree_flatten(params)
        n_leaves = jax.tree_util.tree_leaves(new)
        return jax.tree_util.tree_unflatten(treedef, [n if k else p for k, n, p in zip(keep, n_leaves, p_leaves)]), state

    return LearningMap(base.init, step, base.check, base.reads, base.max_delay, f"masked({base.name})")


__all__ = ["normal_like", "random_bits", "discrete_step", "continuous_step", "DiscreteHyper", "BiparametricHyper",
           "ContinuousHyper", "DelayState", "LearningMap", "discrete", "biparametric", "continuous", "masked"]
