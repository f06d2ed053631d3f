"""The ensemble driver: many members, one compiled program. :func:`evolve` is its one door.

:func:`evolve` advances ``B`` members of any *system* under any
:class:`~ensemble.learning.LearningMap` for ``n_iterations`` learning iterations. The hot loop
is one ``lax.scan`` over iterations whose body is the ``vmap`` of one member's step (scan of
vmap), compiled once and reused by later calls with an equal system.

A *system* is any object with the methods of :class:`ensemble.System`, written for one member:

* ``init_state(params, key) -> state``: the carried system state of one
  member (e.g. Kuramoto phases; ``()`` for a feed-forward network);
* ``measure(params, state, key) -> (signals, state)``: one processing
  interval with fixed ``params``; ``signals`` maps names (``"E"``, ``"R"``,
  ...) to scalars. Every signal is recorded in the traces.
* optionally ``validate(params)``: raise :class:`ValueError` on unsuitable parameters.
* optionally ``measure_ensemble(params, state, keys) -> (signals, state)``: the same
  for all members at once (leading axis ``B`` everywhere, signals ``(B,)``), used instead of
  ``vmap(measure)``. It must give the numbers of ``vmap(measure)``; it exists so that a system
  can choose a faster layout (:class:`ensemble.kuramoto.Oscillators` runs its window
  member-minor).

Keys: member ``i`` draws everything from ``fold_in(key, i)``; iteration ``n`` from
``fold_in(member_key, n)``. A member's trajectory therefore does not depend on the ensemble it
runs in, on chunking, or on devices.

Divergence: a member whose new parameters or signals are not finite is frozen at its last
finite parameters and flagged in ``diverged``; its later trace entries are NaN. Other members
are unaffected (everything is per member).

Where the parts live: the options in :mod:`ensemble.options`, the state and keys in
:mod:`ensemble.state`, the results in :mod:`ensemble.results`, devices, cache blocks and member
groups in :mod:`ensemble.placement`, several hosts in :mod:`ensemble.hosts`, checkpoints in
:mod:`ensemble.checkpoint`. Their public names are also importable from here.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _describe
from . import checkpoint as ckpt
from . import placement as _placement
from ._cache import CHUNK_CACHE_SIZE, identities as _identities, shape_work  # noqa: F401 (importable from here)
from ._files import deferred_sigint
from ._inputs import broadcast_hyper  # noqa: F401 (importable from here)
from ._inputs import (broadcast_hyper_host, check_system, hyper_as_given, member_count, refuse_copies, require_named_tuple,
                      warn_unused_delay)
from ._program import RECORDS_MIN, CompiledChunk, chunk_for, chunk_program  # noqa: F401 (importable from here)
from ._progress import progress_bar
from .hosts import process_members  # noqa: F401 (importable from here)
from .learning import LearningMap
from .options import Checkpointing, Chunks, Placement, Record, resolve
from .placement import n_devices_for
from .placement import (BLOCK_FROM, BLOCK_MEMBERS, MEMORY_FRACTION, bytes_per_member,  # noqa: F401 (importable from here)
                        state_bytes_per_member)
from .results import ChunkInfo, Interrupted, Run, record_iterations
from .state import EnsembleState, init_state, member_keys, n_members, start_best  # noqa: F401 (importable from here)
from .state import start_placed as _start_placed

PyTree = Any

FINGERPRINT = ckpt.PARTS
"""What a checkpoint's fingerprint holds, each part named in a refusal to resume."""
DIVERGENCE_WARNING = 0.5
"""Fraction of diverged members above which :func:`evolve` warns."""


class _Settled(NamedTuple):
    """What one :func:`evolve` call has settled before anything runs."""

    system: Any
    lmap: LearningMap
    params: PyTree  # None when continuing from a state
    state: EnsembleState | None
    hyper: Any  # every field (B,), as the chunk reads it
    given: Any  # every field (B,), as given (run.hyper)
    ids: np.ndarray | None  # member ids (None when continuing from a state)
    B: int
    key: jax.Array
    n_iterations: int
    record: Record
    chunk: int
    identities: tuple


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
    state: EnsembleState | None = None,
    record: Record = Record(),
    placement: Placement = Placement(),
    checkpoint: Checkpointing | str | None = None,
    chunks: Chunks = Chunks(),
    progress: bool = False,
    **deprecated,
) -> Run:
    """Advance an ensemble of ``B`` members for ``n_iterations`` learning iterations.

    Every member runs the system with its own parameters, hyperparameters and noise; the
    learning map updates its parameters after every iteration. The four options are small
    objects of :mod:`ensemble.options`; their defaults are given in brackets.

    Args:
        system: the system (:class:`ensemble.System`), e.g. :class:`ensemble.feedforward.Task`.
        lmap: the learning map, e.g. ``learning.discrete(max_delay=5)``.
        params: stacked initial parameters (leading axis ``B``), ignored when ``state`` is given.
        hyper: the map's hyperparameter NamedTuple; each field a scalar or ``(B,)``.
        key: root PRNG key (``jax.random.key(seed)``) or an int seed. Member ``i`` uses
            ``fold_in(key, members[i])``.
        n_iterations: iterations to run (a multiple of ``record.every``).
        state: continue from a previous :class:`EnsembleState` instead of ``params`` (its
            members and ids are the state's: ``Placement.members``/``n_members`` do not apply).
        record: :class:`Record` [every iteration, no best-so-far]: which iterations are
            recorded, and whether each member's best parameters are kept.
        placement: :class:`Placement` [ids ``range(B)``, all devices that divide ``B``, one
            group if it fits in memory]: which members (their ids give their keys), on how many
            devices, in groups of how many (neither changes a number).
        checkpoint: :class:`Checkpointing`, or just its path [none]: the full state and
            traces written atomically after every chunk, and resumed bitwise.
        chunks: :class:`Chunks` [about 10 chunks, no callback]: iterations per compiled
            call, and ``on_chunk`` called between calls.
        progress: show a progress bar (iterations, member-iterations/s, time left).
        **deprecated: the keywords of the earlier flat signature (``record_every``,
            ``track_best``, ``members``, ``n_members``, ``devices``, ``member_batch``, ``chunk``,
            ``on_chunk``, ``resume``, ``meta``); they still work and warn
            (``DeprecationWarning``) with the new spelling.

    Returns:
        A :class:`Run`: the traces, final parameters and state, divergence flags.

    Raises:
        ValueError: any unsuitable input, named, before anything is compiled (the system
            contract, shapes, hyperparameters, a checkpoint of another run).
        ensemble.errors.DamagedCheckpoint: resuming from a checkpoint that cannot be read back
            (and no readable previous one).
        ensemble.errors.WriteError: a checkpoint could not be written.
        ensemble.errors.Interrupted: Ctrl-C; says how far the run got and where it was saved.
    """
    t0 = time.perf_counter()
    record, placement, checkpoint, chunks = resolve(record, placement, checkpoint, chunks, deprecated)
    s = _settle(system, lmap, params, hyper, state, key, n_iterations, record, placement, chunks)
    size = _placement.group_size(placement.member_batch, s.B, system, lmap,
                                 s.params if s.state is None else s.state.params, s.n_iterations // record.every,
                                 s.identities)
    spans = _placement.groups(s.B, size)
    runs = []
    for lo, hi in spans:
        whole = len(spans) == 1
        path = None if checkpoint is None else (
            checkpoint if whole else Checkpointing(f"{checkpoint.path}.members-{lo}-{hi}", checkpoint.resume, checkpoint.meta))
        devices = placement.devices if whole or placement.devices is None or (hi - lo) % placement.devices == 0 else None
        runs.append(_run_members(s, lo, hi, devices, path, chunks, progress))
    run = runs[0] if len(runs) == 1 else _join(runs, s)
    run = run._replace(wall_time=time.perf_counter() - t0)
    _warn_divergence(run)
    return run


def _settle(system, lmap, params, hyper, state, key, n_iterations, record: Record, placement: Placement,
            chunks: Chunks) -> _Settled:
    """Check every input (one ValueError naming what is wrong, before anything compiles) and
    settle the ensemble: its size, member ids, hyperparameters and chunk length."""
    if isinstance(system, type):
        raise ValueError(f"system must be an instance, got the class {system.__name__}: pass {system.__name__}(...)")
    if not isinstance(lmap, LearningMap):
        called = " (call it: e.g. learning.discrete(1))" if callable(lmap) else ""
        raise ValueError(f"lmap must be a LearningMap, e.g. learning.discrete(1), got {type(lmap).__name__}{called}")
    key = _checks.prng_key("key", key)
    _checks.integer_at_least("n_iterations", n_iterations, 1)
    n_iterations = int(n_iterations)
    if n_iterations % record.every:
        raise ValueError(f"n_iterations ({n_iterations}) must be a multiple of record_every (Record.every = {record.every})")
    require_named_tuple(hyper)
    ids = None
    if state is None:
        B = n_members(params)
        _checks.finite("params", params, members=True)
        for leaf in jax.tree_util.tree_leaves(params):
            if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
                raise ValueError(f"params must be floating point arrays, got dtype {jnp.result_type(leaf)}")
        if hasattr(system, "validate"):
            system.validate(jax.tree_util.tree_map(lambda x: x[0], _placement.host_view(params)))
    else:
        B = n_members(state.params)
        params = None
    identities = _identities(system, lmap)
    member_params = jax.tree_util.tree_map(  # one member's shapes: the contract check reads nothing else
        lambda x: jax.ShapeDtypeStruct(jnp.shape(x)[1:], jnp.result_type(x)), params if state is None else state.params)
    signals = dict(shape_work("contract", identities, member_params, lambda: check_system(system, lmap, member_params)))
    if state is None:
        member_count(system, params, hyper, placement.n_members, placement.members)
        ids = np.arange(B) if placement.members is None else np.asarray(placement.members)
        _checks.shape("members", ids, (B,), " (one id per member)")
    if record.best and "E" not in signals:
        raise ValueError(f"Record(best=True) needs a signal 'E' to rank by; the system measures {sorted(signals)}")
    given = hyper
    hyper = broadcast_hyper_host(hyper, B)
    given = hyper_as_given(given, B)  # what run.hyper shows: the values as given (not cast to float32)
    if state is None:
        refuse_copies(ids, given, params)
    warn_unused_delay(lmap, hyper)
    try:
        lmap.check(hyper)
    except AttributeError as exc:  # another map's NamedTuple
        raise ValueError(f"hyper must be the {lmap.name} map's hyperparameters; {type(hyper).__name__} has no field "
                         f"{getattr(exc, 'name', None) or exc}") from None
    n_records = n_iterations // record.every  # default: about 10 chunks, or one of up to RECORDS_MIN records
    chunk = chunks.size if chunks.size is not None else record.every * max(
        math.ceil(n_records / 10), min(n_records, RECORDS_MIN))
    if chunk % record.every:
        raise ValueError(f"chunk ({chunk}) must be a multiple of record_every (Record.every = {record.every})")
    return _Settled(system, lmap, params, state, hyper, given, ids, B, key, n_iterations, record, chunk, identities)


def _run_members(s: _Settled, lo: int, hi: int, devices: int | None, checkpoint: Checkpointing | None, chunks: Chunks,
                 progress: bool) -> Run:
    """Members ``[lo, hi)`` from iteration ``state.n`` to the end, chunk by chunk: each chunk one
    compiled call, then progress, the checkpoint and ``on_chunk``."""
    B = hi - lo
    part = (lambda tree: tree) if B == s.B else (lambda tree: _placement.member_slice(tree, lo, hi, s.B))  # noqa: E731
    n_dev = n_devices_for(B, devices)
    if s.state is None:  # built and placed by one compiled call
        state, hyper = _start_placed(s.system, s.lmap, part(s.params), s.key, s.ids[lo:hi], s.record.best, s.identities,
                                     part(s.hyper), n_dev)
    else:
        state = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), part(s.state))  # chunks donate their input
        if s.record.best and state.best is None:
            state = state._replace(best=start_best(state.params, B))
        state, hyper = _placement.shard((state, part(s.hyper)), B, devices)
    run_chunk = chunk_for(s.system, s.lmap, s.record.every, _placement.block_size(B, n_dev), n_dev, s.identities)

    every, total = s.record.every, s.n_iterations
    start = int(state.n)
    traces: dict[str, list] = {}
    done = 0
    if checkpoint is not None:
        fingerprint = ckpt.fingerprint(state, hyper, s.identities, checkpoint.meta, every)
        if checkpoint.resume and ckpt.exists(checkpoint.path):
            state, traces = _resume(checkpoint.path, state, fingerprint, s.identities, start, total)
            state = _placement.shard(state, B, devices)
            done = int(state.n) - start
        elif ckpt.exists(checkpoint.path):
            _checks.warn(f"a checkpoint is at {checkpoint.path}.npz; this run starts afresh and overwrites it "
                         "after its first chunk (Checkpointing(path, resume=True) would continue it)")
    bar = progress_bar(total, B, done) if progress else None
    saved = done  # iterations safe in the checkpoint
    try:
        while done < total:
            n_it = min(s.chunk, total - done)
            state, (sig, first) = run_chunk(state, hyper, n_it // every)
            if start == 0 and done == 0 and every > 1:  # the initial record, iteration 0
                for k, v in first.items():
                    traces.setdefault(k, []).append(np.asarray(v)[None])
            for k, v in sig.items():
                traces.setdefault(k, []).append(np.asarray(v))
            done += n_it
            if bar is not None:
                bar.update(n_it)
            if checkpoint is not None or chunks.on_chunk is not None:
                so_far = {k: np.concatenate(v) for k, v in traces.items()}
                traces = {k: [v] for k, v in so_far.items()}
                its = record_iterations(start, done, every)
                if checkpoint is not None:
                    with deferred_sigint():  # a Ctrl-C waits for the whole checkpoint (npz and JSON)
                        ckpt.save(checkpoint.path, state, so_far, its, fingerprint)
                        saved = done
                if chunks.on_chunk is not None:
                    chunks.on_chunk(state, so_far, ChunkInfo(done, total, its))
    except KeyboardInterrupt:
        path = None if checkpoint is None else checkpoint.path
        raise Interrupted(saved if checkpoint is not None else 0, total, path) from None
    finally:
        if bar is not None:
            bar.close()
    return Run({k: np.concatenate(v) for k, v in traces.items()}, record_iterations(start, total, every), state.params,
               np.asarray(state.diverged), np.asarray(state.diverged_at), state, 0.0, part(s.given), s.system,
               s.identities[0].digest)


def _resume(path: str, state: EnsembleState, fingerprint: dict, identities: tuple, start: int, total: int):
    """The checkpoint's state and traces (``{signal: [records]}``), after checking it is of this run."""
    problems = [p for i in identities for p in i.problems]
    if problems:
        raise ValueError(
            f"cannot resume {path}.npz: {problems[0]}, so the checkpoint cannot be matched to this run. "
            f"Declare that object's identity with an attribute {_describe.HOOK} (your promise that it is "
            "unchanged), or run without resume"
        )
    loaded_state, loaded, _ = ckpt.load(path, state, fingerprint, FINGERPRINT)
    if int(loaded_state.n) - start > total:
        raise ValueError(
            f"checkpoint {path}.npz holds {int(loaded_state.n) - start} iterations, more than the "
            f"n_iterations ({total}) asked for: resume with n_iterations >= {int(loaded_state.n) - start}"
        )
    return loaded_state, {k: [v] for k, v in loaded.items()}


def _join(runs: list[Run], s: _Settled) -> Run:
    """One :class:`Run` of the groups' runs, in member order (states gathered on the first device)."""
    join = lambda *xs: np.concatenate([np.asarray(x) for x in xs])  # noqa: E731
    home = jax.local_devices()[0]
    cat = lambda *xs: jnp.concatenate([jax.device_put(x, home) for x in xs])  # noqa: E731 - groups may sit on different devices
    st = [r.state for r in runs]
    state = jax.tree_util.tree_map(cat, *[x._replace(n=None) for x in st])._replace(n=jax.device_put(st[0].n, home))
    traces = {k: np.concatenate([r.traces[k] for r in runs], axis=1) for k in runs[0].traces}
    return Run(traces, runs[0].iterations, state.params, join(*[r.diverged for r in runs]),
               join(*[r.diverged_at for r in runs]), state, 0.0, s.given, s.system, runs[0].identity)


def _warn_divergence(run: Run) -> None:
    n, d = run.diverged.size, int(run.diverged.sum())
    at_start = int(np.sum(run.diverged_at == 0))
    if n and d / n > DIVERGENCE_WARNING and at_start > d / 2:
        _checks.warn(
            f"{d} of {n} members diverged, {at_start} of them at iteration 0: their signals or their first update were "
            "not finite at the initial parameters (a log of 0, a division by 0, inf in the data?): check the system "
            "on those parameters before tuning tau or S"
        )
    elif n and d / n > DIVERGENCE_WARNING:
        _checks.warn(
            f"{d} of {n} members diverged. The drift of eq. (4) multiplies the last step by -dE/tau, so it "
            "amplifies once |dE|/tau exceeds about 1: raise tau (or scale E down) until |dE|/tau stays below 1; "
            "the noise S E xi grows with E too (see the documentation page 'Choosing tau and S')."
        )


# The driver's own public name. The names it imports from the modules where they live (options,
# state, results, placement, hosts, _program, _inputs) stay importable from here, as before.
__all__ = ["evolve"]
