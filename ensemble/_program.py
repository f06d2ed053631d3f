"""The compiled chunk: ``n_records * record_every`` learning iterations of a whole ensemble as one
XLA program, and the compiled measurement of the final parameters.

The hot loop is one ``lax.scan`` over iterations whose body is the ``vmap`` of one member's step
(scan of vmap). Divergence: a member whose new parameters or signals are not finite is frozen at
its last finite parameters and flagged in ``diverged``; its later signals are NaN. Other members
are unaffected (everything is per member).

:class:`CompiledChunk` is the same program as a thing you can call and time (the benchmarks do).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _threefry
from . import layout as _layout
from . import placement
from ._cache import cached, identities, measure_all, reuse_key
from ._inputs import broadcast_hyper, check_system
from .learning import LearningMap
from .state import EnsembleState, init_state, n_members

PyTree = Any


def iteration_keys(mkeys: jax.Array, n) -> jax.Array:
    """``(B, 2)`` keys of iteration ``n``: ``[:, 0]`` for the system, ``[:, 1]`` for the map.

    They are ``split(fold_in(member_key, n))``; for threefry keys computed by
    :mod:`ensemble._threefry` (the same keys as jax's, which on CPU runs each hash as a loop of
    its own)."""
    if not jnp.issubdtype(mkeys.dtype, jax.dtypes.prng_key) or str(jax.random.key_impl(mkeys)) != "threefry2x32":
        return jax.vmap(lambda mk: jax.random.split(jax.random.fold_in(mk, n)))(mkeys)
    data = _threefry.split(_threefry.fold_in(jax.random.key_data(mkeys), n))
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(mkeys))


def nan_where(dead: jax.Array, signals: dict) -> dict:
    """Signals with NaN for dead (diverged) members, at least float32."""
    return {k: jnp.where(dead, jnp.nan, v).astype(jnp.result_type(v, jnp.float32)) for k, v in signals.items()}


def all_finite(tree: PyTree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.array(True)


def select(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a, b)


def select_members(pred: jax.Array, a: PyTree, b: PyTree) -> PyTree:
    """Per member (``pred`` of shape ``(B,)``): ``a``'s rows where true, ``b``'s elsewhere."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred.reshape(pred.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def track_best(best: dict, params: PyTree, E: jax.Array, n) -> dict:
    """Keep, per member, the lowest recorded ``E`` (NaN never counts) and the ``params`` it was
    measured on (the parameters before iteration ``n``'s update)."""
    better = E < best["E"]
    return {
        "E": jnp.where(better, E.astype(best["E"].dtype), best["E"]),
        "iteration": jnp.where(better, n, best["iteration"]),
        "params": select_members(better, params, best["params"]),
    }



RECORDS_MIN = 16
"""Fewest records a chunk's program holds: a chunk of ``n`` records runs in the program of
:func:`capacity` ``(n)`` records, so runs of different lengths, chunk sizes and record spacing
share one compiled program."""


def capacity(n_records: int) -> int:
    """The records a chunk of ``n_records`` runs in: :data:`RECORDS_MIN`, or the next power of two."""
    return max(RECORDS_MIN, 1 << max(int(n_records) - 1, 0).bit_length())


class ChunkFunction:
    """A compiled chunk at a given ``record_every``: ``(state, hyper, n_records) -> (state,
    (records, first))``, records a dict of ``(n_records, B)`` numpy arrays (copied to the host),
    ``first`` of ``(B,)`` ones (see :func:`make_chunk`). The program takes the number of records
    and ``record_every`` as values, not as part of its shape, so it compiles once per
    :func:`capacity`; ``trace`` and ``lower`` give that program for ``n_records`` records."""

    def __init__(self, program: Callable, record_every: int):
        self.program, self.record_every = program, int(record_every)

    def _args(self, state, hyper, n_records: int):
        return state, hyper, np.int32(n_records), np.int32(self.record_every), capacity(n_records)

    def __call__(self, state, hyper, n_records: int):
        state, (records, first) = self.program(*self._args(state, hyper, n_records))
        n = int(n_records)
        return state, ({k: np.asarray(v)[:n] for k, v in records.items()}, {k: np.asarray(v) for k, v in first.items()})

    def trace(self, state, hyper, n_records: int):
        return self.program.trace(*self._args(state, hyper, n_records))

    def lower(self, state, hyper, n_records: int):
        return self.program.lower(*self._args(state, hyper, n_records))


def chunk_for(system, lmap: LearningMap, record_every: int, block: int | None, n_devices: int, ids=None) -> ChunkFunction:
    """:func:`make_chunk`, reused across calls: a second ``evolve`` with an equal system and map
    (same type, attributes, code and the globals it reads, see :mod:`ensemble._describe`) and the
    same layout does not compile again, whatever its length, chunk size or ``record_every``
    (within a :func:`capacity`). A system or map that cannot be fingerprinted is compiled anew
    on each call."""
    ids = identities(system, lmap) if ids is None else ids
    key = reuse_key(("chunk", ids[0].digest, ids[1].digest, block, int(n_devices), _layout.current()),
                    ids)  # the layout also shapes code inside the system (the Kuramoto window)
    build = lambda: _program(system, lmap, block, n_devices)  # noqa: E731
    return ChunkFunction(build() if key is None else cached(key, build), record_every)


def make_chunk(system, lmap: LearningMap, record_every: int, block: int | None = None, n_devices: int = 1) -> ChunkFunction:
    """Compile-ready function: advance the ensemble by ``n_records * record_every`` iterations.

    ``(state, hyper, n_records) -> (state, (records, first))``: the records are the signals of
    the last iteration of every ``record_every`` (``(n_records, B)`` each) and ``first`` the
    signals of the chunk's first iteration (``(B,)``; the run's initial record where
    ``record_every > 1``).

    On ``n_devices`` devices the chunk is a ``shard_map``: each device runs the one-device
    program on its own contiguous ``B / n_devices`` members, so a member's numbers cannot depend
    on how many devices there are. With ``block``, each device's members are split into blocks
    of ``block`` and each block runs the whole chunk before the next one starts (``lax.map``).
    """
    return ChunkFunction(_program(system, lmap, block, n_devices), record_every)


def _program(system, lmap: LearningMap, block: int | None, n_devices: int) -> Callable:
    """The jitted chunk ``(state, hyper, n_records, record_every, capacity) -> (state, (records,
    first))``: ``n_records`` (<= ``capacity``, static) and ``record_every`` are traced int32
    scalars, and the records come in a ``(capacity, B)`` buffer per signal, the first
    ``n_records`` rows written."""

    measure = measure_all(system)

    def check_reads(signals):
        missing = [s for s in lmap.reads if s not in signals]
        if missing:
            raise ValueError(f"system must measure the signals {lmap.reads} for the {lmap.name} map; missing {missing}")

    def ens_step(params, lstate, sstate, dead, dead_at, mkeys, hyper, n):
        ks = iteration_keys(mkeys, n)
        k_sys, k_map = ks[:, 0], ks[:, 1]

        def update(params, lstate, sstate, sstate_new, signals, dead, dead_at, k_map, hyper):
            """One member's learning step and divergence check, after its measurement."""
            params_new, lstate_new = lmap.step(params, lstate, signals, hyper, k_map)
            ok = all_finite(params_new) & all_finite(signals)
            now_dead = dead | ~ok
            params_out = select(now_dead, params, params_new)
            # A dead member's delay buffers are never used again (its weights stay frozen and its
            # signals are recorded as NaN), so they are not selected: that would copy the whole
            # ring buffer every iteration.
            sstate_out = select(now_dead, sstate, sstate_new)
            dead_at = jnp.where(now_dead & ~dead, n, dead_at)
            return params_out, lstate_new, sstate_out, now_dead, dead_at, nan_where(now_dead, signals)

        # A system that lays out its members itself answers for their independence; any other is
        # measured in the layout's member blocks, every block the same compiled program whatever the
        # ensemble. The learning step is per member (the library's maps are elementwise).
        signals, sstate_new = measure(params, sstate, k_sys)
        check_reads(signals)
        return jax.vmap(update)(params, lstate, sstate, sstate_new, signals, dead, dead_at, k_map, hyper)

    def iterate(state: EnsembleState, hyper):
        p, lrn, s, d, da, sig = ens_step(
            state.params, state.learning, state.system, state.diverged, state.diverged_at, state.member_keys, hyper, state.n
        )
        best = None if state.best is None else track_best(state.best, state.params, sig["E"], state.n)
        return state._replace(params=p, learning=lrn, system=s, diverged=d, diverged_at=da, n=state.n + 1, best=best), sig

    def chunk(state: EnsembleState, hyper, n_records, record_every, cap: int):
        """``n_records * record_every`` iterations -> ``(state, (records, first))``: the records
        (the signals of the last iteration of every ``record_every``, the first ``n_records``
        rows of ``(cap, B)``) and the signals of the chunk's first iteration (``(B,)``)."""
        _, sig0 = jax.eval_shape(iterate, state, hyper)
        zeros = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), sig0)
        records = jax.tree_util.tree_map(lambda a: jnp.zeros((cap,) + a.shape, a.dtype), sig0)

        def record(j, carry):
            state, first, records = carry

            def inner(i, carry):
                st, first, _ = carry
                st, sig = iterate(st, hyper)
                keep = (i == 0) & (j == 0)  # the chunk's first iteration
                return st, jax.tree_util.tree_map(lambda f, s: jnp.where(keep, s, f), first, sig), sig

            state, first, last = jax.lax.fori_loop(0, record_every, inner, (state, first, zeros))
            records = jax.tree_util.tree_map(lambda r, x: jax.lax.dynamic_update_index_in_dim(r, x, j, 0), records, last)
            return state, first, records

        state, first, records = jax.lax.fori_loop(0, n_records, record, (state, zeros, records))
        return state, (records, first)

    def blocked_chunk(state: EnsembleState, hyper, n_records, record_every, cap: int):
        B = state.diverged.shape[0]  # the members of one device
        if B == 1:  # XLA drops an axis of length 1 and compiles other code (other rounding): run two
            two = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), (state._replace(n=None), hyper))
            out, (last, first) = chunk(two[0]._replace(n=state.n), two[1], n_records, record_every, cap)
            return (jax.tree_util.tree_map(lambda x: x[:1], out._replace(n=None))._replace(n=out.n),
                    ({k: v[:, :1] for k, v in last.items()}, {k: v[:1] for k, v in first.items()}))
        if block is None or B <= block or B % block:
            return chunk(state, hyper, n_records, record_every, cap)
        nb = B // block
        split = jax.tree_util.tree_map(lambda x: x.reshape((nb, block) + x.shape[1:]), (state._replace(n=None), hyper))

        def one(args):
            st, hy = args
            st, sig = chunk(st._replace(n=state.n), hy, n_records, record_every, cap)
            return st._replace(n=None), sig

        out, (last, first) = jax.lax.map(one, split)
        out = jax.tree_util.tree_map(lambda x: x.reshape((B,) + x.shape[2:]), out)
        out = out._replace(n=state.n + n_records * record_every)
        # last: (nb, cap, block) -> (cap, B); first: (nb, block) -> (B,)
        last = {k: jnp.swapaxes(v, 0, 1).reshape(v.shape[1], B) for k, v in last.items()}
        return out, (last, {k: v.reshape(B) for k, v in first.items()})

    if n_devices == 1:
        return jax.jit(blocked_chunk, static_argnums=4, donate_argnums=0)

    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("members",))

    def sharded_chunk(state: EnsembleState, hyper, n_records, record_every, cap: int):
        B = state.diverged.shape[0]

        def specs(tree):
            member = lambda x: jnp.ndim(x) >= 1 and jnp.shape(x)[0] == B  # noqa: E731
            return jax.tree_util.tree_map(lambda x: PartitionSpec("members") if member(x) else PartitionSpec(), tree)

        local = jax.shard_map(
            lambda st, hy, nr, ev: blocked_chunk(st, hy, nr, ev, cap),
            mesh=mesh,
            in_specs=(specs(state), specs(hyper), PartitionSpec(), PartitionSpec()),
            out_specs=(specs(state), (PartitionSpec(None, "members"), PartitionSpec("members"))),
            check_vma=False,  # the members are independent; n (replicated) is the same everywhere
        )
        return local(state, hyper, n_records, record_every)

    return jax.jit(sharded_chunk, static_argnums=4, donate_argnums=0)


def final_for(system) -> Callable:
    """Compiled ``state -> signals`` on the final parameters (the keys of the next iteration),
    cached like the chunks."""

    def build():
        measure = measure_all(system)

        def final(state: EnsembleState):
            signals, _ = measure(state.params, state.system, iteration_keys(state.member_keys, state.n)[:, 0])
            return nan_where(state.diverged, signals)

        return jax.jit(final)

    ids = identities(system)
    key = reuse_key(("final", ids[0].digest, _layout.current()), ids, warn=False)
    return build() if key is None else cached(key, build)


def chunk_program(system, lmap: LearningMap, n_members: int, *, devices: int | None = None,
                  record_every: int = 1) -> ChunkFunction:
    """A fresh compiled chunk as :func:`evolve` runs it, for timing or compiling ahead of time.

    The function is ``(state, hyper, n_records) -> (state, (records, first))`` with ``state``
    donated and ``records`` a dict of ``(n_records, B)`` numpy arrays, in the cache blocks of
    the layout in force. It is not taken from evolve's cache, so compiling it measures a
    compilation (``.trace(state, hyper, n_records).lower().compile()`` compiles ahead of time).
    :class:`CompiledChunk` wraps it with a state.

    Args:
        system: the system.
        lmap: the :class:`~ensemble.learning.LearningMap`.
        n_members: the ensemble size ``B``.
        devices: local devices the members are sharded over (default: the most that divide
            ``n_members``).
        record_every: iterations per record.

    Returns:
        The chunk function (a :class:`ChunkFunction`).
    """
    _checks.integer_at_least("n_members", n_members, 1)
    _checks.integer_at_least("record_every", record_every, 1)
    n_dev = placement.n_devices_for(int(n_members), devices)
    return make_chunk(system, lmap, int(record_every), placement.block_size(int(n_members), n_dev), n_dev)


class CompiledChunk:
    """The program :func:`ensemble.evolve` runs, as a thing you can call and time.

    A fresh compiled chunk (:func:`chunk_program`) of one system, map and ensemble, with the
    ensemble's state carried (and donated) from call to call, placed and blocked as ``evolve``
    places and blocks it. The records are evolve's traces, bit for bit.

    Args:
        system: the system (checked like ``evolve`` checks it).
        lmap: the :class:`~ensemble.learning.LearningMap`.
        params: stacked initial parameters, leading axis ``B``.
        hyper: the map's hyperparameters (each field a scalar or ``(B,)``).
        key: root PRNG key or int seed.
        devices: local devices to shard the members over (default, as in ``evolve``: the most
            that divide ``B``).
        record_every: iterations per record.

    Attributes:
        B: the ensemble size.
        state: the current :class:`~ensemble.state.EnsembleState` (advanced by each call).
        n_devices: local devices the members are sharded over.
        block: the cache-block size of the layout in force, or None.

    Example::

        chunk = CompiledChunk(system, lmap, params, hyper)
        chunk.compile_seconds(100)          # compile for 100 records
        signals = chunk(100)                # run them: dict of (100, B) arrays; chunk.state advances
    """

    def __init__(self, system, lmap: LearningMap, params: PyTree, hyper: Any, *, key=0, devices: int | None = None,
                 record_every: int = 1):
        _checks.integer_at_least("record_every", record_every, 1)
        self.B = n_members(params)
        check_system(system, lmap, jax.tree_util.tree_map(lambda x: x[0], params))
        hyper = broadcast_hyper(hyper, self.B)
        lmap.check(hyper)
        self.n_devices = placement.n_devices_for(self.B, devices)
        self.record_every = int(record_every)
        self._start = (system, lmap, params, _checks.prng_key("key", key))
        self.hyper = placement.shard(hyper, self.B, self.n_devices)
        self.block = placement.block_size(self.B, self.n_devices)
        self.state = self.fresh_state()
        self.fn = chunk_program(system, lmap, self.B, devices=self.n_devices, record_every=self.record_every)

    def fresh_state(self) -> EnsembleState:
        """The ensemble's state before iteration 0, placed like the chunk's."""
        system, lmap, params, key = self._start
        return placement.shard(init_state(system, lmap, params, key), self.B, self.n_devices)

    def __call__(self, n_records: int) -> dict:
        """Advance :attr:`state` by ``n_records * record_every`` iterations (blocking).

        Args:
            n_records: records to run (>= 1).

        Returns:
            The records, a dict of ``(n_records, B)`` numpy arrays, one per signal.
        """
        _checks.integer_at_least("n_records", n_records, 1)
        self.state, (records, _) = self.fn(self.state, self.hyper, int(n_records))  # records: on the host
        jax.block_until_ready(self.state)
        return records

    def compile_seconds(self, n_records: int) -> float:
        """Seconds to lower and compile the chunk for ``n_records`` records (nothing is run).

        Args:
            n_records: records per call to compile for (>= 1).
        """
        _checks.integer_at_least("n_records", n_records, 1)
        t0 = time.perf_counter()
        self.fn.lower(self.state, self.hyper, int(n_records)).compile()
        return time.perf_counter() - t0
