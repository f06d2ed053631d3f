"""Compiled programs kept for reuse, keyed by what they compute.

A program is stored under the identities of the system and the learning map (their type,
attributes, code and the globals the code reads: :mod:`ensemble._describe`) and the layout in
force, so a second :func:`ensemble.evolve` with an equal system reuses it and a changed one
compiles again. A system whose identity cannot be read by content is compiled anew every time.

Also here: how all members are measured and initialised at once (the system's own
``measure_ensemble``, else ``vmap`` in the layout's member blocks).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import jax

from . import _checks, _describe
from . import layout as _layout
from ._member_blocks import in_member_blocks

CHUNK_CACHE_SIZE = 32
"""Compiled programs kept for reuse by later :func:`ensemble.evolve` calls (least recently used dropped)."""
_PROGRAMS: "OrderedDict[tuple, Callable]" = OrderedDict()


def cached(key: tuple, build: Callable[[], Callable]) -> Callable:
    """The compiled function stored under ``key``, built on first use (least recently used dropped)."""
    fn = _PROGRAMS.get(key)
    if fn is None:
        fn = _PROGRAMS[key] = build()
        while len(_PROGRAMS) > CHUNK_CACHE_SIZE:
            _PROGRAMS.popitem(last=False)
    _PROGRAMS.move_to_end(key)
    return fn


SHAPE_CACHE_SIZE = 256
"""Results of shape work (contract checks, memory estimates) kept for reuse (least recently used dropped)."""
_SHAPES: "OrderedDict[tuple, object]" = OrderedDict()


def structure(tree) -> tuple:
    """What shape work on ``tree`` depends on: its tree structure and every leaf's shape and dtype."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(jax.numpy.shape(x)), jax.numpy.result_type(x)) for x in leaves)


def shape_work(kind: str, ids: tuple, tree, compute: Callable[[], object]):
    """``compute()`` (shapes only: ``jax.eval_shape`` of a system's methods), done once per
    ``kind``, identities, :func:`structure` of ``tree``, layout and precision, and reused by later
    :func:`ensemble.evolve` calls; done every time for a system whose identity cannot be read by
    content. A ``compute`` that raises is not stored."""
    digests = tuple(None if i is None else i.digest for i in ids)
    key = reuse_key((kind, digests, structure(tree), _layout.current(), jax.config.jax_enable_x64), ids, warn=False)
    if key is None:
        return compute()
    if key not in _SHAPES:
        _SHAPES[key] = compute()
        while len(_SHAPES) > SHAPE_CACHE_SIZE:
            _SHAPES.popitem(last=False)
    _SHAPES.move_to_end(key)
    return _SHAPES[key]


def identities(system, lmap=None) -> tuple:
    """``(system, lmap)`` :class:`~ensemble._describe.Identity` pair (``lmap`` None: only the system's)."""
    return (_describe.identify(system, "system"), None if lmap is None else _describe.identify(lmap, "lmap"))


def reuse_key(key: tuple, ids, warn: bool = True) -> tuple | None:
    """``key`` when every identity in ``ids`` could be read by content; else None (compile again,
    and warn unless ``warn`` is False: one warning per ``evolve``, from its chunk)."""
    problems = [p for i in ids if i is not None for p in i.problems]
    if not problems:
        return key
    if warn:
        _checks.warn(
            f"{problems[0]}{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}. What the computation "
            f"reads cannot be fingerprinted, so evolve compiles it again on every call and resumes no checkpoint for "
            f"it; give that object (or the system) an attribute {_describe.HOOK} = '<a name for this version>' to "
            "declare its identity"
        )
    return None


def own_layout(system) -> bool:
    """True for a system that lays out its members itself (``measure_ensemble``)."""
    return callable(getattr(system, "measure_ensemble", None))


def measure_all(system) -> Callable:
    """``(params, state, keys) -> (signals, state)`` for all members: the system's own
    ``measure_ensemble``, else ``vmap(measure)`` in the layout's member blocks."""
    if own_layout(system):
        return system.measure_ensemble
    block = _layout.current().member_block
    return jax.vmap(system.measure) if block is None else in_member_blocks(system.measure, block)


def init_members(system) -> Callable:
    """``(params, keys) -> state`` of all members: ``vmap`` of ``init_state`` for a system that
    lays out its members itself, else in the layout's member blocks."""
    block = _layout.current().member_block
    if own_layout(system) or block is None:
        return jax.vmap(system.init_state)
    return in_member_blocks(system.init_state, block)


def start_for(system, lmap, track_best: bool, ids: tuple, build: Callable[[Callable], Callable], extra: tuple = ()) -> Callable:
    """The compiled start of a run, ``build(init_members)``, kept per identities of ``system``
    and ``lmap``, ``track_best``, layout and ``extra`` (built anew where an identity cannot be read)."""
    key = reuse_key(("start", ids[0].digest, ids[1].digest, bool(track_best), _layout.current()) + tuple(extra), ids,
                    warn=False)
    make = lambda: build(init_members(system))  # noqa: E731
    return make() if key is None else cached(key, make)
