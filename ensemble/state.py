"""The state of an ensemble: what a run carries from one iteration to the next, and its keys.

Keys: member ``i`` draws everything from ``fold_in(key, i)``; iteration ``n`` from
``fold_in(member_key, n)``. A member's trajectory therefore does not depend on the ensemble it
runs in, on chunking, or on devices.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._cache import identities, init_members, start_for, structure

PyTree = Any


class EnsembleState(NamedTuple):
    """Everything needed to continue a run (all leaves have a leading member axis ``B``).

    Attributes:
        params: the members' parameters.
        learning: the learning map's :class:`~ensemble.learning.DelayState`.
        system: the systems' carried state.
        diverged: ``(B,)`` bool, frozen members.
        diverged_at: ``(B,)`` int32, iteration of divergence (-1 if none).
        member_keys: ``(B,)`` PRNG keys, ``fold_in(key, member_id)``.
        n: int32 scalar, the number of iterations done.
        best: ``None``, or with ``Record(best=True)`` a dict: ``"E"`` ``(B,)`` the lowest E
            recorded so far (``inf`` before any), ``"iteration"`` ``(B,)`` int32 the iteration
            that recorded it (-1 before any), ``"params"`` the parameters it was measured on
            (leading axis ``B``).
    """

    params: PyTree
    learning: PyTree
    system: PyTree
    diverged: jax.Array
    diverged_at: jax.Array
    member_keys: jax.Array
    n: jax.Array
    best: PyTree = None


_fold_in_all = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(None, 0)))  # integer arithmetic: the bits of eager code


def member_keys(key: jax.Array, members) -> jax.Array:
    """The members' PRNG keys: ``fold_in(key, i)`` for every member id ``i``.

    A member's key depends on its id only, so member ``i`` draws the same noise alone, in any
    ensemble, chunking or placement.

    Args:
        key: the root PRNG key (or an int seed).
        members: member ids, a non-empty 1-d array of integers in ``[0, 2**32)``; an int ``B``
            means ``range(B)``.

    Returns:
        ``(B,)`` typed PRNG keys.

    Raises:
        ValueError: a bad key, a count below 1, or ids that are not a non-empty 1-d array of
            integers in range.

    Examples:
        >>> import jax, numpy as np
        >>> import ensemble
        >>> keys = ensemble.member_keys(jax.random.key(0), 4)
        >>> keys.shape
        (4,)
        >>> same = ensemble.member_keys(jax.random.key(0), [2, 3])   # members 2 and 3 alone
        >>> bool(np.array_equal(jax.random.key_data(keys[2:]), jax.random.key_data(same)))
        True
    """
    key = _checks.prng_key("key", key)
    if np.ndim(members) == 0:
        _checks.integer_at_least("members", members, 1)
        ids = np.arange(int(members))
    else:
        ids = np.asarray(members)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(f"members must be a positive count or a non-empty 1-d array of ids, got shape {ids.shape}")
        _checks.integer_at_least("members", ids, 0, 2**32 - 1)
    return _fold_in_all(key, jnp.asarray(ids, jnp.uint32))


def n_members(params: PyTree) -> int:
    """The leading (member) axis ``B`` shared by every leaf of ``params``.

    Args:
        params: stacked parameters, any pytree of arrays with a leading member axis.

    Returns:
        ``B``.

    Raises:
        ValueError: a leaf without a member axis (a Python number, a scalar, a list: JAX reads a
            list as a pytree of numbers) or leaves of different lengths; the message names them.
    """
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    if not leaves:
        raise ValueError("params must hold at least one array")
    sizes = {}
    for path, x in leaves:
        where = f"params{jax.tree_util.keystr(path)}"
        if isinstance(x, (bool, int, float, complex)):
            raise ValueError(
                f"params must hold arrays with a leading member axis; {where} is a Python {type(x).__name__} (a list is "
                "a pytree of Python numbers to JAX): use jnp.asarray, or ensemble.replicate(params, B) for one member's"
            )
        if not jnp.ndim(x):
            raise ValueError(f"params leaves need a leading member axis; {where} is a scalar (shape ()): stack one "
                             "member's params with ensemble.replicate(params, B)")
        sizes.setdefault(jnp.shape(x)[0], where)
    if len(sizes) != 1:
        raise ValueError("params leaves must share a leading member axis, got "
                         + ", ".join(f"{n} for {where}" for n, where in sizes.items()))
    return next(iter(sizes))


def start_best(params: PyTree, B: int) -> dict:
    """The best-so-far record before any iteration: E ``inf``, iteration -1, a copy of ``params``."""
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params), jnp.float32)
    return {"E": jnp.full(B, jnp.inf, dtype), "iteration": jnp.full(B, -1, jnp.int32),
            "params": jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), params)}


def init_state(system, lmap, params: PyTree, key: jax.Array, members=None, track_best: bool = False) -> EnsembleState:
    """The state of an ensemble before iteration 0, as :func:`ensemble.evolve` builds it.

    One compiled program, kept for later calls with an equal system and map (as the chunks are).

    Args:
        system: the system (:class:`ensemble.System`).
        lmap: the :class:`~ensemble.learning.LearningMap`.
        params: stacked parameters, leading axis ``B``.
        key: root PRNG key.
        members: ``B`` member ids (default ``range(B)``).
        track_best: carry the best-so-far record (:attr:`EnsembleState.best`).

    Returns:
        An :class:`EnsembleState` with ``n = 0``.
    """
    return start(system, lmap, params, key, members, track_best)


def start(system, lmap, params: PyTree, key, members=None, track_best: bool = False, ids: tuple | None = None):
    """:func:`init_state`, with the identities of ``system`` and ``lmap`` if already read."""
    key, members = _checked(params, key, members)
    if isinstance(key, jax.core.Tracer) or any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(params)):
        return _start(system, lmap, track_best, init_members(system))(params, key, members)  # inside a trace
    ids = identities(system, lmap) if ids is None else ids
    program = start_for(system, lmap, track_best, ids, lambda init: jax.jit(_start(system, lmap, track_best, init)))
    return program(params, key, members)


def start_placed(system, lmap, params: PyTree, key, members, track_best: bool, ids: tuple, hyper, n_devices: int):
    """``(state, hyper)``: :func:`start` and the per-member ``hyper``, both placed as
    :func:`ensemble.placement.shard` places them on ``n_devices`` local devices, by one compiled
    call (kept per identities, device count and the shapes of ``params`` and ``hyper``)."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    key, members = _checked(params, key, members)
    B = members.shape[0]
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("members",))
    split, whole = NamedSharding(mesh, PartitionSpec("members")), NamedSharding(mesh, PartitionSpec())

    def build(init):
        run = _start(system, lmap, track_best, init)

        def both(params, key, ids, hyper):
            return run(params, key, ids), jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), hyper)

        shapes = jax.eval_shape(both, params, key, members, hyper)
        where = jax.tree_util.tree_map(lambda x: split if len(x.shape) >= 1 and x.shape[0] == B else whole, shapes)
        return jax.jit(both, out_shardings=where)

    program = start_for(system, lmap, track_best, ids, build, (int(n_devices), structure(params), structure(hyper)))
    if n_devices > 1:
        from .placement import host_view

        params, hyper = host_view((params, hyper))
    return program(params, key, members, hyper)


def _checked(params: PyTree, key, members) -> tuple:
    """``(key, member ids (B,) uint32)``, checked as :func:`member_keys` checks them."""
    B = n_members(params)
    ids = np.arange(B) if members is None else np.asarray(members)
    _checks.shape("members", ids, (B,), " (one id per member)")
    _checks.integer_at_least("members", ids, 0, 2**32 - 1)
    return _checks.prng_key("key", key), np.asarray(ids, np.uint32)


def _start(system, lmap, track_best: bool, init_members_fn):
    """``(params, key, member ids (B,) uint32) -> EnsembleState`` (traceable), the systems'
    states from ``init_members_fn(params, keys)``."""

    def run(params, key, ids):
        B = ids.shape[0]
        params = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), params)  # chunks donate their input
        mkeys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, ids)
        sys_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(mkeys, jnp.uint32(0xFFFFFFFF))
        return EnsembleState(
            params, jax.vmap(lmap.init)(params), init_members_fn(params, sys_keys), jnp.zeros(B, bool),
            jnp.full(B, -1, jnp.int32), mkeys, jnp.zeros((), jnp.int32), start_best(params, B) if track_best else None,
        )

    return run


__all__ = ["EnsembleState", "member_keys", "init_state", "n_members"]
