"""The ensemble driver: many members, one compiled program.

:func:`evolve` advances ``B`` members of any *system* under any
:class:`~ensemble.learning.LearningMap` for ``n_iterations`` learning
iterations. The hot loop is one ``lax.scan`` over iterations whose body is the
``vmap`` of one member's step (scan of vmap), compiled once per call.

A *system* is any object with

* ``init_state(params, key) -> state``: the carried system state of one
  member (e.g. Kuramoto phases; ``()`` for a feed-forward network);
* ``measure(params, state, key) -> (signals, state)``: one processing
  interval with fixed ``params``; ``signals`` maps names (``"E"``, ``"R"``,
  ...) to scalars. Every signal is recorded in the traces.
* optionally ``validate(params)``: raise ValueError on unsuitable parameters.
* optionally ``measure_ensemble(params, state, keys) -> (signals, state)``: the same
  for all members at once (leading axis ``B`` everywhere, signals ``(B,)``), used instead of
  ``vmap(measure)``. It must give the numbers of ``vmap(measure)``; it exists so that a system
  can choose a faster layout (``kuramoto.Oscillators`` runs its window member-minor).

Keys: member ``i`` draws everything from ``fold_in(key, i)``; iteration
``n`` from ``fold_in(member_key, n)``. A member's trajectory therefore does
not depend on the ensemble it runs in, on chunking, or on devices.

Divergence: a member whose new parameters or signals are not finite is frozen
at its last finite parameters and flagged in ``diverged``; its later trace
entries are NaN. Other members are unaffected (everything is per member).
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _describe
from . import layout as _layout
from ._files import deferred_sigint
from ._member_blocks import in_member_blocks
from .learning import LearningMap

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
        best: ``None``, or with ``evolve(..., track_best=True)`` a dict: ``"E"`` ``(B,)`` the
            lowest E recorded so far (``inf`` before any), ``"iteration"`` ``(B,)`` int32 the
            iteration that recorded it (-1 before any), ``"params"`` the parameters it was
            measured on (leading axis ``B``).
    """

    params: PyTree
    learning: PyTree
    system: PyTree
    diverged: jax.Array
    diverged_at: jax.Array
    member_keys: jax.Array
    n: jax.Array
    best: PyTree = None


class Run(NamedTuple):
    """Result of :func:`evolve`.

    Attributes:
        traces: dict of ``(n_records, B)`` numpy arrays, one per signal
            (NaN after a member diverged).
        iterations: ``(n_records,)`` the iteration index of each record: iteration 0 (a run
            from the start records its initial signals), then the last iteration of every
            ``record_every`` (``record_every - 1, 2 * record_every - 1, ...``). A record is the
            signal measured at that iteration, before its update.
        params: final parameters, leading axis ``B``.
        diverged: ``(B,)`` bool. diverged_at: ``(B,)`` iteration or -1.
        state: the final :class:`EnsembleState` (pass to ``evolve(..., state=)`` to continue).
        wall_time: seconds spent in :func:`evolve`, compile included.
        hyper: the hyperparameters as given, every field broadcast to ``(B,)`` (numpy).
        system: the system that was run.
        identity: the system's identity then (see :mod:`ensemble._describe`); ``run.final``
            refuses to measure a system that has changed since.

    ``run.final`` (computed when asked, one compiled measurement) is a dict of ``(B,)`` arrays:
    the signals measured on the **final** ``params`` (what the next iteration would record; NaN
    for diverged members). The last record of ``traces`` is measured *before* the last update,
    so it belongs to other weights.

    ``run.best_so_far`` (with ``evolve(..., track_best=True)``, else None) is a dict: ``"E"``
    ``(B,)`` the lowest E each member recorded (NaN if it recorded none before diverging),
    ``"iteration"`` ``(B,)`` when (-1 if none), ``"params"`` the parameters E was measured on.
    """

    traces: dict
    iterations: np.ndarray
    params: PyTree
    diverged: np.ndarray
    diverged_at: np.ndarray
    state: EnsembleState
    wall_time: float
    hyper: Any = None
    system: Any = None
    identity: str | None = None

    @property
    def final(self) -> dict:
        if self.system is None:
            raise ValueError("this Run has no system to measure its final params with")
        if self.identity is not None and _describe.identify(self.system, "system").digest != self.identity:
            raise ValueError("the system changed since this run (its attributes, its code or a global its code reads): "
                             "run.final would measure another problem; evolve again to measure the new one")
        return {k: np.asarray(v) for k, v in _final_for(self.system)(self.state).items()}

    @property
    def best_so_far(self) -> dict | None:
        b = self.state.best
        if b is None:
            return None
        E = np.asarray(b["E"], float)
        return {"E": np.where(np.isfinite(E), E, np.nan), "iteration": np.asarray(b["iteration"]),
                "params": jax.tree_util.tree_map(np.asarray, b["params"])}

    def best(self, k: int = 1, signal: str = "E") -> np.ndarray:
        """Indices of the ``k`` members with the lowest final ``signal`` (diverged and NaN members
        never count; fewer than ``k`` if fewer are finite)."""
        return self._best(self.final, k, signal)

    def _best(self, final: dict, k: int, signal: str) -> np.ndarray:
        _checks.integer_at_least("k", k, 1)
        values = final.get(signal)
        if values is None:
            raise ValueError(f"signal must be one of the measured signals {sorted(final)}, got {signal!r}")
        values = np.where(self.diverged, np.nan, np.asarray(values, float))
        finite = np.flatnonzero(np.isfinite(values))
        return finite[np.argsort(values[finite], kind="stable")[: int(k)]]

    def summary(self) -> dict:
        """The run in a few numbers: members, diverged, final signals (median, 10-90%), best member."""
        out = {"members": int(self.diverged.size), "diverged": int(self.diverged.sum()),
               "iterations": int(self.state.n), "wall_time_s": round(float(self.wall_time), 3)}
        final = self.final if self.system is not None else {}
        for name, v in final.items():
            v = np.asarray(v, float)[~self.diverged]
            v = v[np.isfinite(v)]
            if v.size:
                p10, p50, p90 = np.percentile(v, [10, 50, 90])
                out[f"final_{name}"] = {"median": float(p50), "p10": float(p10), "p90": float(p90), "min": float(v.min())}
        if "E" in final:
            best = self._best(final, 1, "E")
            out["best_member"] = int(best[0]) if best.size else None
        return out


class ChunkInfo(NamedTuple):
    """The third argument of ``evolve(..., on_chunk=)``.

    Attributes:
        done: iterations finished so far in this run (resumed ones included).
        total: the run's ``n_iterations``.
        iterations: ``(n_records_so_far,)`` the iteration index of each record in the traces.
    """

    done: int
    total: int
    iterations: np.ndarray


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`evolve`. ``done`` of ``total`` iterations are safe in ``checkpoint``
    (the last finished chunk; 0 without a checkpoint): ``resume=True`` continues from there,
    bitwise as if never interrupted."""

    def __init__(self, done: int, total: int, checkpoint: str | None):
        super().__init__(f"interrupted after {done} of {total} iterations")
        self.done, self.total, self.checkpoint = int(done), int(total), checkpoint


def member_keys(key: jax.Array, members) -> jax.Array:
    """``fold_in(key, i)`` for every member id ``i`` in ``members`` (an int ``B`` means ``range(B)``)."""
    key = _checks.prng_key("key", key)
    if np.ndim(members) == 0:
        _checks.integer_at_least("members", members, 1)
        ids = np.arange(int(members))
    else:
        ids = np.asarray(members)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(f"members must be a positive count or a non-empty 1-d array of ids, got shape {ids.shape}")
        _checks.integer_at_least("members", ids, 0, 2**32 - 1)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(ids, jnp.uint32))


def _checkpoint_prefix(path) -> str:
    """``path`` as a checkpoint's file prefix (``~`` expanded); ValueError for a folder."""
    import os

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"checkpoint must be a file prefix such as 'out/checkpoints/run', got {path!r}")
    path = os.path.expanduser(os.fspath(path))
    if not os.path.basename(path) or os.path.isdir(path):
        raise ValueError(f"checkpoint must be a file prefix such as 'out/checkpoints/run' (PREFIX.npz and PREFIX.json "
                         f"are written), not a folder: {path!r}")
    return path


def _require_named_tuple(hyper: Any, name: str = "hyper") -> None:
    if not (isinstance(hyper, tuple) and hasattr(hyper, "_fields")):
        raise ValueError(
            f"{name} must be the learning map's NamedTuple of hyperparameters (e.g. learning.DiscreteHyper(tau, S, m)), "
            f"got {type(hyper).__name__}"
        )


def _hyper_as_given(hyper: Any, n_members: int) -> Any:
    """Every field of ``hyper`` broadcast to ``(n_members,)`` as numpy, in the dtype it was given
    (a Python float stays float64)."""
    fields = [_hyper_as_given(v, n_members) if isinstance(v, tuple) and hasattr(v, "_fields")
              else np.broadcast_to(np.asarray(v), (n_members,)) for v in hyper]
    return type(hyper)(*fields)


def broadcast_hyper(hyper: Any, n_members: int, _prefix: str = "hyper") -> Any:
    """Broadcast every field of a hyperparameter NamedTuple to shape ``(n_members,)``.

    A field that is itself a NamedTuple (e.g. the base map's hyperparameters
    inside :class:`ensemble.kuramoto.ControlledHyper`) is broadcast recursively.
    """
    _require_named_tuple(hyper, _prefix)
    fields = []
    for name, value in zip(hyper._fields, hyper):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            fields.append(broadcast_hyper(value, n_members, f"{_prefix}.{name}"))
            continue
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{_prefix}.{name} must be a number or an array of numbers, got {value!r}")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n_members):
            raise ValueError(f"{_prefix}.{name} must be a scalar or have shape ({n_members},), got {arr.shape}")
        fields.append(jnp.asarray(np.broadcast_to(arr, (n_members,))))
    return type(hyper)(*fields)


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.array(True)


def _select(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a, b)


def _select_members(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    """Per member (``pred`` of shape ``(B,)``): ``a``'s rows where true, ``b``'s elsewhere."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred.reshape(pred.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def _track_best(best: dict, params: PyTree, E: jax.Array, n) -> dict:
    """Keep, per member, the lowest recorded ``E`` (NaN never counts) and the ``params`` it was
    measured on (the parameters before iteration ``n``'s update)."""
    better = E < best["E"]
    return {
        "E": jnp.where(better, E.astype(best["E"].dtype), best["E"]),
        "iteration": jnp.where(better, n, best["iteration"]),
        "params": _select_members(better, params, best["params"]),
    }


def _start_best(params: PyTree, B: int) -> dict:
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params), jnp.float32)
    return {"E": jnp.full(B, jnp.inf, dtype), "iteration": jnp.full(B, -1, jnp.int32),
            "params": jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), params)}


BLOCK_MEMBERS = _layout.CPU.block_members
"""Target members per cache block on a CPU (see :mod:`ensemble.layout`): an ensemble with at
least :data:`BLOCK_FROM` members per device runs each chunk block by block (all iterations of
the chunk for members 0-255, then 256-511, ...; on several devices each device does so with its
own members), so the block's parameters and delay buffers stay in cache. The block is the
divisor of the members per device closest to this, between half and twice it (4,900 members:
blocks of 245). Members are independent, so the results are the same bit for bit; on the 2-core
CPU this is 1.7x faster at 65,536 members (``benchmarks/README.md``). A GPU runs one program
over all members instead."""
BLOCK_FROM = _layout.CPU.block_from
"""Fewest members per device that are run in cache blocks on a CPU (fewer fit in cache as a whole)."""


def _block_size(n_members: int, n_devices: int) -> int | None:
    """Cache-block size of the layout in force (:func:`ensemble.layout.block_size`)."""
    return _layout.block_size(n_members, n_devices)


CHUNK_CACHE_SIZE = 32
"""Compiled chunks kept for reuse by later :func:`evolve` calls (least recently used dropped)."""
_CHUNKS: "OrderedDict[tuple, Callable]" = OrderedDict()


def _cached(key: tuple, build: Callable[[], Callable]) -> Callable:
    """The compiled function stored under ``key``, built on first use (least recently used dropped)."""
    fn = _CHUNKS.get(key)
    if fn is None:
        fn = _CHUNKS[key] = build()
        while len(_CHUNKS) > CHUNK_CACHE_SIZE:
            _CHUNKS.popitem(last=False)
    _CHUNKS.move_to_end(key)
    return fn


def _identities(system, lmap: LearningMap | None = None) -> tuple:
    """``(system, lmap)`` :class:`~ensemble._describe.Identity` pair (``lmap`` None: only the system's)."""
    return (_describe.identify(system, "system"), None if lmap is None else _describe.identify(lmap, "lmap"))


def _reuse_key(key: tuple, identities, warn: bool = True) -> tuple | None:
    """``key`` when every identity could be read by content; else None (compile again, and warn
    unless ``warn`` is False: one warning per ``evolve``, from its chunk)."""
    problems = [p for i in identities if i is not None for p in i.problems]
    if not problems:
        return key
    if not warn:
        return None
    import warnings

    warnings.warn(
        f"{problems[0]}{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}. What the computation reads "
        f"cannot be fingerprinted, so evolve compiles it again on every call and resumes no checkpoint for it; "
        f"give that object (or the system) an attribute {_describe.HOOK} = '<a name for this version>' to declare "
        "its identity",
        RuntimeWarning, stacklevel=4,
    )
    return None


def _chunk_for(system, lmap: LearningMap, record_every: int, block: int | None, n_devices: int, identities=None) -> Callable:
    """:func:`_make_chunk`, reused across calls: a second ``evolve`` with an equal system and map
    (same type, attributes, code and the globals it reads, see :mod:`ensemble._describe`) and the
    same layout does not compile again. A system or map that cannot be fingerprinted is compiled
    anew on each call."""
    ids = _identities(system, lmap) if identities is None else identities
    key = _reuse_key(("chunk", ids[0].digest, ids[1].digest, int(record_every), block, int(n_devices),
                      _layout.current()), ids)  # the layout also shapes code inside the system (the Kuramoto window)
    build = lambda: _make_chunk(system, lmap, record_every, block, n_devices)  # noqa: E731
    return build() if key is None else _cached(key, build)


def _iteration_keys(mkeys: jax.Array, n) -> jax.Array:
    """``(B, 2)`` keys of iteration ``n``: ``[:, 0]`` for the system, ``[:, 1]`` for the map."""
    return jax.vmap(lambda mk: jax.random.split(jax.random.fold_in(mk, n)))(mkeys)


def _own_layout(system) -> bool:
    """True for a system that lays out its members itself (``measure_ensemble``)."""
    return callable(getattr(system, "measure_ensemble", None))


def _measure_all(system) -> Callable:
    """``(params, state, keys) -> (signals, state)`` for all members: the system's own
    ``measure_ensemble``, else ``vmap(measure)`` in the layout's member blocks."""
    if _own_layout(system):
        return system.measure_ensemble
    block = _layout.current().member_block
    return jax.vmap(system.measure) if block is None else in_member_blocks(system.measure, block)


def _init_all(system, identity=None) -> Callable:
    """Compiled ``(params, keys) -> state`` of all members (``init_state`` in member blocks)."""

    def build():
        block = _layout.current().member_block
        init = jax.vmap(system.init_state) if block is None else in_member_blocks(system.init_state, block)
        return jax.jit(init)

    ids = (_describe.identify(system, "system"),) if identity is None else (identity,)
    key = _reuse_key(("init", ids[0].digest, _layout.current()), ids, warn=False)
    return build() if key is None else _cached(key, build)


def _nan_where(dead: jax.Array, signals: dict) -> dict:
    """Signals with NaN for dead (diverged) members, at least float32."""
    return {k: jnp.where(dead, jnp.nan, v).astype(jnp.result_type(v, jnp.float32)) for k, v in signals.items()}


def _make_chunk(system, lmap: LearningMap, record_every: int, block: int | None = None, n_devices: int = 1) -> Callable:
    """Compile-ready function: advance the ensemble by ``n_records * record_every`` iterations.

    On ``n_devices`` devices the chunk is a ``shard_map``: each device runs the one-device
    program on its own contiguous ``B / n_devices`` members, so a member's numbers cannot depend
    on how many devices there are. With ``block``, each device's members are split into blocks
    of ``block`` and each block runs the whole chunk before the next one starts (``lax.map``).
    """

    measure = _measure_all(system)

    def check_reads(signals):
        missing = [s for s in lmap.reads if s not in signals]
        if missing:
            raise ValueError(f"system must measure the signals {lmap.reads} for the {lmap.name} map; missing {missing}")

    def ens_step(params, lstate, sstate, dead, dead_at, mkeys, hyper, n):
        ks = _iteration_keys(mkeys, n)
        k_sys, k_map = ks[:, 0], ks[:, 1]

        def update(params, lstate, sstate, sstate_new, signals, dead, dead_at, k_map, hyper):
            """One member's learning step and divergence check, after its measurement."""
            params_new, lstate_new = lmap.step(params, lstate, signals, hyper, k_map)
            ok = _all_finite(params_new) & _all_finite(signals)
            now_dead = dead | ~ok
            params_out = _select(now_dead, params, params_new)
            # A dead member's delay buffers are never used again (its weights stay frozen and its
            # signals are recorded as NaN), so they are not selected: that would copy the whole
            # ring buffer every iteration.
            sstate_out = _select(now_dead, sstate, sstate_new)
            dead_at = jnp.where(now_dead & ~dead, n, dead_at)
            return params_out, lstate_new, sstate_out, now_dead, dead_at, _nan_where(now_dead, signals)

        # A system that lays out its members itself answers for their independence; any other is
        # measured in the layout's member blocks, every block the same compiled program whatever the
        # ensemble. The learning step is per member (the library's maps are elementwise).
        signals, sstate_new = measure(params, sstate, k_sys)
        check_reads(signals)
        return jax.vmap(update)(params, lstate, sstate, sstate_new, signals, dead, dead_at, k_map, hyper)

    def iterate(state: EnsembleState, hyper):
        p, l, s, d, da, sig = ens_step(
            state.params, state.learning, state.system, state.diverged, state.diverged_at, state.member_keys, hyper, state.n
        )
        best = None if state.best is None else _track_best(state.best, state.params, sig["E"], state.n)
        return EnsembleState(p, l, s, d, da, state.member_keys, state.n + 1, best), sig

    def chunk(state: EnsembleState, hyper, n_records: int):
        """``n_records * record_every`` iterations -> ``(state, (records, first))``: the records
        (the signals of the last iteration of every ``record_every``, ``(n_records, B)``) and, for
        ``record_every > 1``, the signals of the chunk's first iteration (``(B,)``; the run's
        initial record)."""

        def record(carry, j):
            state, first = carry

            def inner(carry, i):
                st, first, _ = carry
                st, sig = iterate(st, hyper)
                keep = (i == 0) & (j == 0)  # the chunk's first iteration
                return (st, jax.tree_util.tree_map(lambda f, s: jnp.where(keep, s, f), first, sig), sig), None

            if record_every == 1:  # every iteration is a record (the first one included): ``first`` stays unused
                state, sig = iterate(state, hyper)
                return (state, first), sig
            (state, first, last), _ = jax.lax.scan(inner, (state, first, first), jnp.arange(record_every))
            return (state, first), last

        _, sig0 = jax.eval_shape(iterate, state, hyper)
        zeros = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), sig0)
        (state, first), last = jax.lax.scan(record, (state, zeros), jnp.arange(n_records))
        return state, (last, first)

    def blocked_chunk(state: EnsembleState, hyper, n_records: int):
        B = state.diverged.shape[0]  # the members of one device
        if B == 1:  # XLA drops an axis of length 1 and compiles other code (other rounding): run two
            two = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), (state._replace(n=None), hyper))
            out, (last, first) = chunk(two[0]._replace(n=state.n), two[1], n_records)
            return (jax.tree_util.tree_map(lambda x: x[:1], out._replace(n=None))._replace(n=out.n),
                    ({k: v[:, :1] for k, v in last.items()}, {k: v[:1] for k, v in first.items()}))
        if block is None or B <= block or B % block:
            return chunk(state, hyper, n_records)
        nb = B // block
        split = jax.tree_util.tree_map(lambda x: x.reshape((nb, block) + x.shape[1:]), (state._replace(n=None), hyper))

        def one(args):
            st, hy = args
            st, sig = chunk(st._replace(n=state.n), hy, n_records)
            return st._replace(n=None), sig

        out, (last, first) = jax.lax.map(one, split)
        out = jax.tree_util.tree_map(lambda x: x.reshape((B,) + x.shape[2:]), out)
        out = out._replace(n=state.n + n_records * record_every)
        # last: (nb, n_records, block) -> (n_records, B); first: (nb, block) -> (B,)
        last = {k: jnp.swapaxes(v, 0, 1).reshape(v.shape[1], B) for k, v in last.items()}
        return out, (last, {k: v.reshape(B) for k, v in first.items()})

    if n_devices == 1:
        return jax.jit(blocked_chunk, static_argnums=2, donate_argnums=0)

    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("members",))

    def sharded_chunk(state: EnsembleState, hyper, n_records: int):
        B = state.diverged.shape[0]

        def specs(tree):
            member = lambda x: jnp.ndim(x) >= 1 and jnp.shape(x)[0] == B  # noqa: E731
            return jax.tree_util.tree_map(lambda x: PartitionSpec("members") if member(x) else PartitionSpec(), tree)

        local = jax.shard_map(
            lambda st, hy: blocked_chunk(st, hy, n_records),
            mesh=mesh,
            in_specs=(specs(state), specs(hyper)),
            out_specs=(specs(state), (PartitionSpec(None, "members"), PartitionSpec("members"))),
            check_vma=False,  # the members are independent; n (replicated) is the same everywhere
        )
        return local(state, hyper)

    return jax.jit(sharded_chunk, static_argnums=2, donate_argnums=0)


def init_state(system, lmap: LearningMap, params: PyTree, key: jax.Array, members=None,
               track_best: bool = False) -> EnsembleState:
    """The state of an ensemble before iteration 0.

    Args:
        params: stacked parameters, leading axis ``B``.
        key: root key. members: ``B`` member ids (default ``range(B)``).
        track_best: carry the best-so-far record (:attr:`EnsembleState.best`).
    """
    B = _n_members(params)
    ids = np.arange(B) if members is None else np.asarray(members)
    _checks.shape("members", ids, (B,), " (one id per member)")
    params = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), params)  # chunks donate their input
    mkeys = member_keys(key, ids)
    sys_keys = jax.vmap(lambda k: jax.random.fold_in(k, -1 & 0xFFFFFFFF))(mkeys)
    sstate = (jax.vmap(system.init_state) if _own_layout(system) else _init_all(system))(params, sys_keys)
    lstate = jax.vmap(lmap.init)(params)
    return EnsembleState(
        params, lstate, sstate, jnp.zeros(B, bool), jnp.full(B, -1, jnp.int32), mkeys, jnp.zeros((), jnp.int32),
        _start_best(params, B) if track_best else None,
    )


def process_members(n_members: int, process_index: int | None = None, process_count: int | None = None) -> np.ndarray:
    """The member ids this process runs when an ensemble of ``n_members`` is split over hosts.

    Process ``p`` of ``P`` (default: ``jax.process_index()`` of ``jax.process_count()``,
    i.e. after ``jax.distributed.initialize()``) gets the contiguous block
    ``[p * B // P, (p + 1) * B // P)``. Since member ``i`` depends only on ``fold_in(key, i)``,
    the blocks joined in process order are bitwise the single-host ensemble
    (see ``docs/distributed.md``).
    """
    _checks.integer_at_least("n_members", n_members, 1)
    P = jax.process_count() if process_count is None else process_count
    p = jax.process_index() if process_index is None else process_index
    _checks.integer_at_least("process_count", P, 1)
    _checks.integer_at_least("process_index", p, 0, int(P) - 1)
    B, P, p = int(n_members), int(P), int(p)
    return np.arange(p * B // P, (p + 1) * B // P)


def check_system(system, lmap: LearningMap, member_params: PyTree) -> dict:
    """Check the system contract on one member's parameters (shapes only, ``jax.eval_shape``, no
    compilation); ValueError naming what is wrong instead of an error deep inside the scan.
    Returns the signals' shapes (``jax.ShapeDtypeStruct`` by name)."""
    missing = [m for m in ("init_state", "measure") if not callable(getattr(system, m, None))]
    if missing:
        raise ValueError(
            f"system must have init_state(params, key) -> state and measure(params, state, key) -> (signals, state); "
            f"{type(system).__name__} lacks {', '.join(missing)}"
        )
    key = jax.random.key(0)
    try:
        state = jax.eval_shape(system.init_state, member_params, key)
    except Exception as exc:
        raise ValueError(f"system.init_state(params, key) failed on one member's params: {type(exc).__name__}: {exc}") from exc
    try:
        out = jax.eval_shape(system.measure, member_params, state, key)
    except Exception as exc:
        raise ValueError(f"system.measure(params, state, key) failed on one member's params: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Mapping)):
        raise ValueError(
            "system.measure must return (signals, state) with signals a dict of scalars such as {'E': E}; "
            f"got {type(out).__name__}{'' if not isinstance(out, tuple) else f' of length {len(out)}'}"
        )
    signals, new_state = out
    bad = {k: v.shape for k, v in signals.items() if getattr(v, "shape", None) != ()}
    if bad:
        raise ValueError(f"system.measure's signals must be scalars for one member, got shapes {bad}")
    bad = {k: str(v.dtype) for k, v in signals.items() if not jnp.issubdtype(v.dtype, jnp.floating)
           and not jnp.issubdtype(v.dtype, jnp.integer) and v.dtype != bool}
    if bad:
        raise ValueError(f"system.measure's signals must be real numbers, got dtypes {bad} (take abs or the real part)")
    missing = [s for s in lmap.reads if s not in signals]
    if missing:
        raise ValueError(f"system must measure the signals {lmap.reads} for the {lmap.name} map; missing {missing}")
    if jax.tree_util.tree_structure(new_state) != jax.tree_util.tree_structure(state) or any(
        (a.shape, a.dtype) != (b.shape, b.dtype) for a, b in zip(jax.tree_util.tree_leaves(new_state), jax.tree_util.tree_leaves(state))
    ):
        shapes = lambda t: jax.tree_util.tree_map(lambda a: f"{a.dtype}{list(a.shape)}", t)  # noqa: E731
        raise ValueError("system.measure must return a state with the structure, shapes and dtypes of init_state's: "
                         f"init_state gives {shapes(state)}, measure returns {shapes(new_state)}")
    return dict(signals)


def _n_members(params: PyTree) -> int:
    """The leading (member) axis shared by every leaf of ``params``; ValueError naming the leaf
    that has none (a Python number, a list: JAX reads a list as a pytree of numbers) or another."""
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


def _refuse_copies(ids: np.ndarray, hyper: Any, params: PyTree) -> None:
    """ValueError when two members are copies: one id (so one noise stream), the same
    hyperparameters and the same initial parameters. An id may repeat with other
    hyperparameters or parameters: the same noise at another sweep point."""
    import hashlib

    ids = np.asarray(ids)
    if np.unique(ids).size == ids.size:
        return
    rows = [np.ascontiguousarray(np.asarray(x).reshape(len(ids), -1)) for x in jax.tree_util.tree_leaves((tuple(hyper), params))]
    first: dict = {}
    for i, member_id in enumerate(ids.tolist()):
        h = hashlib.sha256(repr(member_id).encode())
        for r in rows:
            h.update(r[i].tobytes())
        j = first.setdefault(h.digest(), i)
        if j != i:
            raise ValueError(
                f"members {j} and {i} are copies: the same id {member_id} (so the same noise), the same "
                "hyperparameters and initial parameters. Give each member its own id (e.g. range(B)); an id "
                "may repeat only with other hyperparameters or parameters (the same noise at another sweep point)"
            )


def _hyper_per_member(hyper: Any) -> bool:
    """True when some field of ``hyper`` (recursively) is given per member (an array, not a scalar)."""
    return any(np.ndim(x) >= 1 for x in jax.tree_util.tree_leaves(tuple(hyper)))


def _one_member_reading(system, params: PyTree) -> bool:
    """True when the system also accepts the whole of ``params`` as one member's parameters
    (validate, init_state and measure with scalar signals, shapes only)."""
    try:
        if hasattr(system, "validate"):
            system.validate(params)
        key = jax.random.key(0)
        state = jax.eval_shape(system.init_state, params, key)
        signals, _ = jax.eval_shape(system.measure, params, state, key)
        return all(getattr(v, "shape", None) == () for v in signals.values())
    except Exception:  # noqa: BLE001 - any failure means the reading does not work
        return False


def _member_count(system, params: PyTree, hyper: Any, n_members, members=None) -> int:
    """The ensemble size ``B``: the leading axis of ``params``, when nothing else can be meant.

    It is settled by ``n_members``, by member ids or hyperparameters given per member, by
    parameters made with :func:`ensemble.replicate`, or by the system refusing the other reading
    (the whole of ``params`` as one member's parameters); when both readings work, ValueError
    shows them."""
    from . import helpers

    B = _n_members(params)
    if n_members is not None:
        _checks.integer_at_least("n_members", n_members, 1)
        if int(n_members) != B:
            raise ValueError(f"n_members ({n_members}) must equal the leading (member) axis of params ({B})")
        return B
    if (members is not None or _hyper_per_member(hyper) or helpers.stacked_members(params) == B
            or not _one_member_reading(system, params)):
        return B
    whole = jax.tree_util.tree_map(lambda x: tuple(jnp.shape(x)), params)
    each = jax.tree_util.tree_map(lambda x: tuple(jnp.shape(x)[1:]), params)
    raise ValueError(
        f"params can be read two ways and the system accepts both: {B} member{'s' if B > 1 else ''} with shapes "
        f"{each}, or one member with shapes {whole}. Say which: n_members={B} for the first reading, or "
        "ensemble.replicate(params, B) to run one member's parameters B times (hyperparameters given per member "
        "also settle it)"
    )


def _identity_walked_once(fn: Callable) -> Callable:
    """Run ``fn`` inside :func:`ensemble._describe.once`: one walk of the system's identity per call."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with _describe.once():
            return fn(*args, **kwargs)

    return call


@_identity_walked_once
def evolve(
    system,
    lmap: LearningMap,
    params: PyTree,
    hyper: Any,
    *,
    key: jax.Array,
    n_iterations: int,
    record_every: int = 1,
    members=None,
    chunk: int | None = None,
    state: EnsembleState | None = None,
    progress: bool = False,
    on_chunk: Callable[[EnsembleState, dict, ChunkInfo], None] | None = None,
    checkpoint: str | None = None,
    resume: bool = False,
    meta: dict | None = None,
    devices: int | None = None,
    member_batch: int | None = None,
    n_members: int | None = None,
    track_best: bool = False,
) -> Run:
    """Advance an ensemble of ``B`` members for ``n_iterations`` learning iterations.

    Args:
        system: the system (see module docstring), e.g. :class:`ensemble.feedforward.Task`.
        lmap: the learning map, e.g. ``learning.discrete(max_delay=5)``.
        params: stacked initial parameters (leading axis ``B``), ignored when ``state`` is given.
        hyper: the map's hyperparameter NamedTuple; each field a scalar or ``(B,)``.
        key: root PRNG key (``jax.random.key(seed)``) or an int seed. Member ``i`` uses
            ``fold_in(key, members[i])``.
        n_iterations: iterations to run (a multiple of ``record_every``).
        record_every: record the signals of the last of every this many iterations
            (iterations ``record_every - 1``, ``2 * record_every - 1``, ...), and of iteration 0
            when the run starts there. ``run.final`` measures the final parameters.
        members: member ids (default ``range(B)``): run a slice of a larger
            ensemble with the ids it has there and get bit-identical members.
        chunk: iterations per compiled call (a multiple of ``record_every``);
            progress, checkpoints and ``on_chunk`` happen between chunks.
            Default: about 10 chunks.
        state: continue from a previous :class:`EnsembleState` instead of ``params``.
        progress: show a tqdm progress bar (iterations, member-iterations/s, time left).
        on_chunk: called as ``on_chunk(state, traces_so_far, info)`` after each chunk, with
            ``traces_so_far`` a dict of ``(n_records_so_far, B)`` arrays and ``info`` a
            :class:`ChunkInfo` (``info.done`` of ``info.total`` iterations, ``info.iterations``).
        checkpoint: file prefix (e.g. ``"out/checkpoints/fig2a"``): after every
            chunk the full state and traces are written there atomically
            (see :mod:`ensemble.checkpoint`).
        resume: continue from the checkpoint if it exists (bitwise identical to
            an uninterrupted run); a checkpoint of a different run is refused.
        meta: JSON-serialisable settings stored in (and required to match) the checkpoint.
        devices: shard the member axis over this many local devices (default:
            the most that divide ``B``). Results do not depend on it.
        member_batch: run the ensemble in groups of at most this many members,
            one after the other (each group a complete run, with its own
            checkpoint ``<checkpoint>.members-<lo>-<hi>``). Default: one group,
            unless the state and traces of all members would take more than
            :data:`MEMORY_FRACTION` of the device's memory, in which case the
            largest group that fits is used. Results do not depend on it.
        n_members: the ensemble size, checked against the leading axis of ``params``. Needed
            only when ``params`` could also be one member's parameters (the system accepts
            both readings) and nothing else says which: ``members``, hyperparameters given per
            member, or ``params`` made by :func:`ensemble.replicate` settle it too.
        track_best: keep, inside the scan, each member's lowest recorded ``E`` and the
            parameters it was measured on (``run.best_so_far``; every iteration counts, not
            only the recorded ones). A ``state`` that already tracks keeps tracking.

    Returns:
        A :class:`Run`.
    """
    t0 = time.perf_counter()
    key = _checks.prng_key("key", key)
    _checks.integer_at_least("n_iterations", n_iterations, 1)
    _checks.integer_at_least("record_every", record_every, 1)
    n_iterations, record_every = int(n_iterations), int(record_every)
    if n_iterations % record_every:
        raise ValueError(f"n_iterations ({n_iterations}) must be a multiple of record_every ({record_every})")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    if checkpoint is not None:
        checkpoint = _checkpoint_prefix(checkpoint)
    if member_batch is not None:
        _checks.integer_at_least("member_batch", member_batch, 1)
    _require_named_tuple(hyper)
    if state is None:
        B = _n_members(params)
        _checks.finite("params", params, members=True)
        for leaf in jax.tree_util.tree_leaves(params):
            if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
                raise ValueError(f"params must be floating point arrays, got dtype {jnp.result_type(leaf)}")
        if hasattr(system, "validate"):
            system.validate(jax.tree_util.tree_map(lambda x: x[0], params))
    else:
        B = _n_members(state.params)
        state = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), state)  # chunks donate their input
    signals = check_system(system, lmap, jax.tree_util.tree_map(lambda x: x[0], params if state is None else state.params))
    if state is None:
        _member_count(system, params, hyper, n_members, members)
        ids = np.arange(B) if members is None else np.asarray(members)
        _checks.shape("members", ids, (B,), " (one id per member)")
    if track_best and "E" not in signals:
        raise ValueError(f"track_best=True needs a signal 'E' to rank by; the system measures {sorted(signals)}")
    given = hyper
    hyper = broadcast_hyper(hyper, B)
    given = _hyper_as_given(given, B)  # what run.hyper shows: the values as given (not cast to float32)
    if state is None:
        _refuse_copies(ids, given, params)
    if not _GROUP_DEPTH:  # once, for the whole ensemble
        _warn_unused_delay(lmap, hyper)
    try:
        lmap.check(hyper)
    except AttributeError as exc:  # another map's NamedTuple
        raise ValueError(f"hyper must be the {lmap.name} map's hyperparameters; {type(hyper).__name__} has no field "
                         f"{getattr(exc, 'name', None) or exc}") from None
    batch = _member_batch(member_batch, B, system, lmap, params if state is None else state.params, n_iterations // record_every)
    if batch < B:
        return _evolve_in_groups(
            system, lmap, params, given, batch, key=key, ids=None if state is not None else ids, state=state,
            n_iterations=n_iterations, record_every=record_every, chunk=chunk, progress=progress,
            on_chunk=on_chunk, checkpoint=checkpoint, resume=resume, meta=meta, devices=devices, t0=t0,
            track_best=track_best,
        )
    if state is None:
        state = init_state(system, lmap, params, key, ids, track_best)
    elif track_best and state.best is None:
        state = state._replace(best=_start_best(state.params, B))
    if chunk is None:
        chunk = record_every * max(1, math.ceil(n_iterations / record_every / 10))
    _checks.integer_at_least("chunk", chunk, 1)
    if chunk % record_every:
        raise ValueError(f"chunk ({chunk}) must be a multiple of record_every ({record_every})")
    state, hyper = _shard((state, hyper), B, devices)
    n_dev = n_devices_for(B, devices)
    identities = _identities(system, lmap)
    run_chunk = _chunk_for(system, lmap, record_every, _block_size(B, n_dev), n_dev, identities)

    start = int(state.n)
    traces: dict[str, list] = {}
    done = 0
    if checkpoint is not None:
        from . import checkpoint as ckpt

        fingerprint = _fingerprint(state, hyper, identities, meta, record_every)
        if resume and ckpt.exists(checkpoint):
            problems = [p for i in identities for p in i.problems]
            if problems:
                raise ValueError(
                    f"cannot resume {checkpoint}.npz: {problems[0]}, so the checkpoint cannot be matched to this run. "
                    f"Declare that object's identity with an attribute {_describe.HOOK} (your promise that it is "
                    "unchanged), or run without resume"
                )
            loaded_state, loaded, _ = ckpt.load(checkpoint, state, fingerprint, FINGERPRINT)
            if int(loaded_state.n) - start > n_iterations:
                raise ValueError(
                    f"checkpoint {checkpoint}.npz holds {int(loaded_state.n) - start} iterations, more than the "
                    f"n_iterations ({n_iterations}) asked for: resume with n_iterations >= {int(loaded_state.n) - start}"
                )
            state = _shard(loaded_state, B, devices)
            traces = {k: [v] for k, v in loaded.items()}
            done = int(state.n) - start
    bar = _progress_bar(n_iterations, B, done) if progress else None
    saved = done  # iterations safe in the checkpoint
    try:
        while done < n_iterations:
            n_it = min(chunk, n_iterations - done)
            state, (sig, first) = run_chunk(state, hyper, n_it // record_every)
            if start == 0 and done == 0 and record_every > 1:  # the initial record, iteration 0
                for k, v in first.items():
                    traces.setdefault(k, []).append(np.asarray(v)[None])
            for k, v in sig.items():
                traces.setdefault(k, []).append(np.asarray(v))
            done += n_it
            if bar is not None:
                bar.update(n_it)
            if checkpoint is not None or on_chunk is not None:
                so_far = {k: np.concatenate(v) for k, v in traces.items()}
                traces = {k: [v] for k, v in so_far.items()}
                its = _iterations(start, done, record_every)
                if checkpoint is not None:
                    with deferred_sigint():  # a Ctrl-C waits for the whole checkpoint (npz and JSON)
                        ckpt.save(checkpoint, state, so_far, its, fingerprint)
                        saved = done
                if on_chunk is not None:
                    on_chunk(state, so_far, ChunkInfo(done, n_iterations, its))
    except KeyboardInterrupt:
        raise Interrupted(saved if checkpoint is not None else 0, n_iterations, checkpoint) from None
    finally:
        if bar is not None:
            bar.close()
    traces_np = {k: np.concatenate(v) for k, v in traces.items()}
    run = Run(
        traces_np,
        _iterations(start, n_iterations, record_every),
        state.params,
        np.asarray(state.diverged),
        np.asarray(state.diverged_at),
        state,
        time.perf_counter() - t0,
        given,
        system,
        identities[0].digest,
    )
    if not _GROUP_DEPTH:
        _warn_divergence(run)
    return run


DIVERGENCE_WARNING = 0.5
"""Fraction of diverged members above which :func:`evolve` warns."""
_GROUP_DEPTH: list = []


def _warn_unused_delay(lmap: LearningMap, hyper: Any) -> None:
    """Warn when no member uses the longest delay the map keeps (usually ``m`` left at its default of 1)."""
    def delays(h):
        for name, value in zip(h._fields, h):
            if isinstance(value, tuple) and hasattr(value, "_fields"):
                yield from delays(value)
            elif name == "m":
                yield value

    for m in delays(hyper):
        values = _checks._values("m", m)
        if values is not None and values.size and np.all(np.mod(values, 1) == 0) and 1 <= int(values.max()) < lmap.max_delay:
            import warnings

            warnings.warn(
                f"every member's delay m is at most {int(values.max())}, but the map keeps {lmap.max_delay} past "
                f"iterations ({lmap.name}, max_delay={lmap.max_delay}): if m was left at its default of 1, pass m; else "
                f"build the map with max_delay={int(values.max())}",
                RuntimeWarning, stacklevel=5,
            )


def _warn_divergence(run: Run) -> None:
    n, d = run.diverged.size, int(run.diverged.sum())
    at_start = int(np.sum(run.diverged_at == 0))
    if n and d / n > DIVERGENCE_WARNING and at_start > d / 2:
        import warnings

        warnings.warn(
            f"{d} of {n} members diverged, {at_start} of them at iteration 0: their signals or their first update were "
            "not finite at the initial parameters (a log of 0, a division by 0, inf in the data?): check the system "
            "on those parameters before tuning tau or S",
            RuntimeWarning, stacklevel=3,
        )
    elif n and d / n > DIVERGENCE_WARNING:
        import warnings

        warnings.warn(
            f"{d} of {n} members diverged. The drift of eq. (4) multiplies the last step by -dE/tau, so it "
            "amplifies once |dE|/tau exceeds about 1: raise tau (or scale E down) until |dE|/tau stays below 1; "
            "the noise S E xi grows with E too (README: 'Choosing tau and S').",
            RuntimeWarning, stacklevel=3,
        )


def _final_for(system) -> Callable:
    """Compiled ``state -> signals`` on the final parameters (the keys of the next iteration),
    cached like the chunks."""

    def build():
        measure = _measure_all(system)

        def final(state: EnsembleState):
            signals, _ = measure(state.params, state.system, _iteration_keys(state.member_keys, state.n)[:, 0])
            return _nan_where(state.diverged, signals)

        return jax.jit(final)

    ids = _identities(system)
    key = _reuse_key(("final", ids[0].digest, _layout.current()), ids, warn=False)
    return build() if key is None else _cached(key, build)


MEMORY_FRACTION = 0.5
"""Share of a device's memory (host RAM for the CPU) that one group of members may fill."""


def _memory_budget() -> int:
    """Bytes available to one group of members on the first local device."""
    dev = jax.local_devices()[0]
    stats = None
    try:
        stats = dev.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = None
    if stats and stats.get("bytes_limit"):
        total = int(stats["bytes_limit"]) * len(jax.local_devices())
    else:
        import os

        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = 8 << 30
    return int(total * MEMORY_FRACTION)


def state_bytes_per_member(system, lmap: LearningMap, params: PyTree) -> int:
    """Bytes of one member's carried state (params, delay buffers, system state; keys not
    counted), from shapes only (``params`` stacked, leading axis ``B``)."""
    one = jax.tree_util.tree_map(lambda x: x[:1], params)
    shapes = jax.eval_shape(lambda p: init_state(system, lmap, p, jax.random.key(0)), one)
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes)
               if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key))


def bytes_per_member(system, lmap: LearningMap, params: PyTree, n_records: int) -> int:
    """Estimated device bytes of one member: its state (:func:`state_bytes_per_member`) held
    three times (input, output, temporaries) plus its traces."""
    n_signals = max(1, len(lmap.reads)) + 2
    return 3 * state_bytes_per_member(system, lmap, params) + 4 * n_signals * int(n_records)


def _member_batch(member_batch, B: int, system, lmap: LearningMap, params: PyTree, n_records: int) -> int:
    if member_batch is not None:
        return min(int(member_batch), B)
    per = bytes_per_member(system, lmap, params, n_records)
    fits = max(1, _memory_budget() // max(per, 1))
    return B if fits >= B else int(fits)


def _slice(tree: PyTree, lo: int, hi: int, B: int) -> PyTree:
    return jax.tree_util.tree_map(lambda x: x[lo:hi] if jnp.ndim(x) >= 1 and jnp.shape(x)[0] == B else x, tree)


def _evolve_in_groups(system, lmap, params, hyper, batch, *, key, ids, state, n_iterations, record_every, chunk,
                      progress, on_chunk, checkpoint, resume, meta, devices, t0, track_best) -> Run:
    """Run members ``[lo, lo + batch)`` one group after the other and join the groups' results."""
    B = _n_members(params if state is None else state.params)
    runs = []
    _GROUP_DEPTH.append(1)
    try:
        runs = _run_groups(system, lmap, params, hyper, batch, B, key=key, ids=ids, state=state, n_iterations=n_iterations,
                           record_every=record_every, chunk=chunk, progress=progress, on_chunk=on_chunk,
                           checkpoint=checkpoint, resume=resume, meta=meta, devices=devices, track_best=track_best)
    finally:
        _GROUP_DEPTH.pop()
    join = lambda *xs: np.concatenate([np.asarray(x) for x in xs])  # noqa: E731
    home = jax.local_devices()[0]
    cat = lambda *xs: jnp.concatenate([jax.device_put(x, home) for x in xs])  # noqa: E731 - groups may sit on different devices
    st = [r.state for r in runs]
    state = jax.tree_util.tree_map(cat, *[s._replace(n=None) for s in st])._replace(n=jax.device_put(st[0].n, home))
    traces = {k: np.concatenate([r.traces[k] for r in runs], axis=1) for k in runs[0].traces}
    run = Run(traces, runs[0].iterations, state.params, join(*[r.diverged for r in runs]),
              join(*[r.diverged_at for r in runs]), state, time.perf_counter() - t0,
              jax.tree_util.tree_map(join, *[r.hyper for r in runs]), system, runs[0].identity)
    if not _GROUP_DEPTH:
        _warn_divergence(run)
    return run


def _run_groups(system, lmap, params, hyper, batch, B, *, key, ids, state, n_iterations, record_every, chunk, progress,
                on_chunk, checkpoint, resume, meta, devices, track_best) -> list:
    runs = []
    for lo in range(0, B, batch):
        hi = min(B, lo + batch)
        group_devices = devices if devices is None or (hi - lo) % int(devices) == 0 else None
        runs.append(evolve(
            system, lmap,
            None if state is not None else _slice(params, lo, hi, B),
            _slice(hyper, lo, hi, B),
            key=key, n_iterations=n_iterations, record_every=record_every,
            members=None if ids is None else ids[lo:hi], chunk=chunk,
            state=None if state is None else _slice(state, lo, hi, B), progress=progress, on_chunk=on_chunk,
            checkpoint=None if checkpoint is None else f"{checkpoint}.members-{lo}-{hi}",
            resume=resume, meta=meta, devices=group_devices, member_batch=hi - lo, n_members=hi - lo,
            track_best=track_best,
        ))
    return runs


FINGERPRINT = {
    "system": "the system (its attributes, code, or the globals its code reads)",
    "lmap": "the learning map",
    "hyper": "the hyperparameters",
    "member_keys": "the key or the member ids",
    "params": "the initial parameters",
    "initial_state": "the initial state (delay buffers, system state, divergence flags)",
    "members": "the number of members",
    "start": "the iteration the run starts from",
    "record_every": "record_every",
    "meta": "meta",
}
"""What a checkpoint's fingerprint holds, each part named in a refusal to resume."""


def _sha256(tree: PyTree) -> str:
    import hashlib

    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        arr = np.asarray(leaf)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _fingerprint(state: EnsembleState, hyper: Any, identities: tuple, meta: dict | None, record_every: int) -> dict:
    """Everything a run starts from, part by part (:data:`FINGERPRINT`): sha256 of the initial
    state (keys included) and hyperparameters, and the identities of the system and the map
    (:func:`ensemble._describe.identify`: attributes, arrays by content, code and the globals it
    reads). Not ``n_iterations``: a finished run resumes to a larger one, equal to one longer run."""
    return {
        "meta": meta or {},
        "members": int(state.diverged.shape[0]),
        "start": int(state.n),
        "record_every": int(record_every),
        "system": identities[0].digest,
        "lmap": identities[1].digest,
        "hyper": _sha256(hyper),
        "member_keys": _sha256(state.member_keys),
        "params": _sha256(state.params),
        "initial_state": _sha256((state.learning, state.system, state.diverged, state.diverged_at, state.best)),
    }


def n_devices_for(n_members: int, devices: int | None = None) -> int:
    """How many local devices the member axis is sharded over: ``devices``, or the most that divide ``n_members``."""
    available = len(jax.local_devices())
    if devices is not None:
        _checks.integer_at_least("devices", devices, 1, available)
        if n_members % int(devices):
            raise ValueError(f"devices ({devices}) must divide the number of members ({n_members})")
        return int(devices)
    return max(d for d in range(1, available + 1) if n_members % d == 0)


def _shard(tree: PyTree, n_members: int, devices: int | None) -> PyTree:
    """Place every leaf with a leading member axis on a 1-d mesh of devices; replicate the rest."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    n = n_devices_for(n_members, devices)
    mesh = Mesh(np.array(jax.local_devices()[:n]), ("members",))
    split, whole = NamedSharding(mesh, PartitionSpec("members")), NamedSharding(mesh, PartitionSpec())

    def place(x):
        return jax.device_put(x, split if jnp.ndim(x) >= 1 and jnp.shape(x)[0] == n_members else whole)

    return jax.tree_util.tree_map(place, tree)


def _iterations(start: int, done: int, record_every: int) -> np.ndarray:
    """The iterations recorded in ``done`` iterations from ``start``: the last of every
    ``record_every``, after iteration 0 when the run starts there (it is always recorded)."""
    its = start + np.arange(record_every - 1, done, record_every)
    return np.concatenate([[0], its]) if start == 0 and record_every > 1 and done > 0 else its


def _progress_bar(total: int, n_members: int, initial: int = 0):
    """A tqdm bar on a terminal; one plain line per chunk otherwise (logs, CI, files). Both show
    member-iterations/s and the time left from the chunks after the first (whose time includes
    compilation)."""
    import sys

    if not getattr(sys.stderr, "isatty", lambda: False)():
        return _PlainProgress(total, n_members, initial)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit="it", desc=f"evolve {n_members} members", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    return _TqdmProgress(bar, _Rate(total, n_members, initial))


class _Rate:
    """Member-iterations/s and time left, from run time only: the first chunk (compilation
    included) starts the clock."""

    def __init__(self, total: int, n_members: int, initial: int = 0):
        self.total, self.B, self.done = int(total), int(n_members), int(initial)
        self.t0, self.t_first, self.done_first = time.perf_counter(), None, int(initial)

    def update(self, n: int) -> str:
        self.done += int(n)
        now = time.perf_counter()
        if self.t_first is None:
            rate = (self.done - self.done_first) / max(now - self.t0, 1e-9)  # compilation included
            self.t_first, self.done_first = now, self.done
            left = "compiled" if self.done < self.total else "done"
        else:
            rate = (self.done - self.done_first) / max(now - self.t_first, 1e-9)
            left = f"time left {max(self.total - self.done, 0) / rate:.0f} s" if rate > 0 else ""
        return f"{rate * self.B:.3g} member-it/s, {left}"


class _TqdmProgress:
    def __init__(self, bar, rate: _Rate):
        self.bar, self.rate = bar, rate

    def update(self, n: int) -> None:
        self.bar.set_postfix_str(self.rate.update(n), refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _PlainProgress:
    """Progress as one line per chunk on stderr, no carriage returns."""

    def __init__(self, total: int, n_members: int, initial: int = 0):
        self.rate = _Rate(total, n_members, initial)

    def update(self, n: int) -> None:
        import sys

        text = self.rate.update(n)
        print(f"evolve {self.rate.B} members: {self.rate.done}/{self.rate.total} iterations, {text}",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        pass
