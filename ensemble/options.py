"""The options of :func:`ensemble.evolve`, grouped by concern.

Each group is a small frozen object with defaults, so a call names only what it changes::

    run = ensemble.evolve(system, lmap, params, hyper, key=0, n_iterations=1000,
                          record=Record(every=10, best=True),
                          placement=Placement(member_batch=4096),
                          checkpoint=Checkpointing("out/run", resume=True),
                          chunks=Chunks(size=100, on_chunk=print_progress))

- :class:`Record`: which iterations are recorded, and whether the best parameters are kept;
- :class:`Placement`: which members, on how many devices, in groups of how many;
- :class:`Checkpointing`: where the run is saved after every chunk, and whether it resumes;
- :class:`Chunks`: how many iterations each compiled call runs, and what is called between them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable

import numpy as np

from . import _checks


@dataclasses.dataclass(frozen=True)
class Record:
    """What a run records.

    Attributes:
        every: record the signals of the last of every ``every`` iterations (iterations
            ``every - 1``, ``2 * every - 1``, ...), and of iteration 0 when the run starts there.
            ``n_iterations`` and the chunk size must be multiples of it.
        best: keep, inside the scan, each member's lowest ``E`` of any iteration and the parameters it
            was measured on (``run.best_so_far``; every iteration counts, not only the recorded
            ones). A ``state`` that already tracks keeps tracking.

    Raises:
        ValueError: ``every`` is not an integer >= 1, or ``best`` not a bool.

    Examples:
        >>> from ensemble import Record
        >>> Record(every=10, best=True)
        Record(every=10, best=True)
        >>> Record(every=0)
        Traceback (most recent call last):
        ...
        ValueError: Record.every must be an integer >= 1, got 0
    """

    every: int = 1
    best: bool = False

    def __post_init__(self):
        object.__setattr__(self, "every", _count("Record.every", self.every))
        object.__setattr__(self, "best", _flag("Record.best", self.best))


@dataclasses.dataclass(frozen=True, eq=False)  # members may be an array: no elementwise ==
class Placement:
    """Which members run, and where.

    ``members`` names them (and so gives them their keys); the rest (how many devices, groups of
    how many) never changes a member's numbers.

    Attributes:
        members: member ids (default ``range(B)``): run a slice of a larger ensemble with the
            ids it has there and get bit-identical members.
        n_members: the ensemble size, checked against the leading axis of ``params``. Needed
            only when ``params`` could also be one member's parameters (the system accepts
            both readings) and nothing else says which.
        devices: shard the member axis over this many local devices (default: the most that
            divide ``B``).
        member_batch: run the ensemble in groups of at most this many members, one after the
            other (each group a complete run with its own checkpoint
            ``<path>.members-<lo>-<hi>``). Default: one group, unless the state and traces of
            all members would take more than :data:`ensemble.placement.MEMORY_FRACTION` of the
            device's memory; then the largest group that fits.

    Raises:
        ValueError: ids that are not a non-empty 1-d array of integers in ``[0, 2**32)``, or a
            count that is not an integer >= 1.

    Examples:
        >>> from ensemble import Placement
        >>> Placement(members=[4, 5, 6, 7], devices=1).devices
        1
        >>> Placement(member_batch=0)
        Traceback (most recent call last):
        ...
        ValueError: Placement.member_batch must be an integer >= 1, got 0
    """

    members: Any = None
    n_members: int | None = None
    devices: int | None = None
    member_batch: int | None = None

    def __post_init__(self):
        if self.members is not None:
            ids = np.asarray(self.members)
            if ids.ndim != 1 or ids.size == 0:
                raise ValueError(f"Placement.members must be a non-empty 1-d array of member ids, got shape {ids.shape}")
            _checks.integer_at_least("Placement.members", ids, 0, 2**32 - 1)
        for name in ("n_members", "devices", "member_batch"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _count(f"Placement.{name}", getattr(self, name)))


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Save the run after every chunk, and resume it.

    Attributes:
        path: file prefix, e.g. ``"out/checkpoints/fig2a"``: ``PREFIX.npz`` and ``PREFIX.json``
            are written atomically after every chunk (:mod:`ensemble.checkpoint`). ``~`` is expanded.
        resume: continue from the checkpoint if it exists, bitwise identical to an uninterrupted
            run; a checkpoint of another run is refused, naming what differs.
        meta: JSON-serialisable settings stored in (and required to match) the checkpoint.

    Raises:
        ValueError: ``path`` is not a file prefix (a folder, or not a path), ``resume`` not a
            bool, or ``meta`` not a JSON-serialisable dict.
    """

    path: str
    resume: bool = False
    meta: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", checkpoint_prefix(self.path))
        object.__setattr__(self, "resume", _flag("Checkpointing.resume", self.resume))
        if self.meta is not None:
            try:
                if not isinstance(self.meta, dict):
                    raise TypeError(type(self.meta).__name__)
                json.dumps(self.meta)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Checkpointing.meta must be a dict of JSON-serialisable settings: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Chunks:
    """How a run is cut into compiled calls; between two calls progress is shown, the checkpoint
    written and ``on_chunk`` called.

    Attributes:
        size: iterations per compiled call, a multiple of ``Record.every`` (default: about
            10 chunks per run, and a run of up to 16 records in one chunk). Another size
            compiles nothing while a chunk holds at most 16 records (then 32, 64, ...).
        on_chunk: called as ``on_chunk(state, traces_so_far, info)`` after each chunk, with
            ``traces_so_far`` a dict of ``(n_records_so_far, B)`` arrays and ``info`` a
            :class:`~ensemble.results.ChunkInfo` (with member groups: once per group, with the
            group's members).

    Raises:
        ValueError: ``size`` is not an integer >= 1, or ``on_chunk`` not callable.
    """

    size: int | None = None
    on_chunk: Callable | None = None

    def __post_init__(self):
        if self.size is not None:
            object.__setattr__(self, "size", _count("Chunks.size", self.size))
        if self.on_chunk is not None and not callable(self.on_chunk):
            raise ValueError(f"on_chunk must be callable as on_chunk(state, traces, info), got {self.on_chunk!r}")


def _count(name: str, value) -> int:
    """``value`` as an int >= 1; ValueError naming ``name`` for anything else (a bool, an array)."""
    if isinstance(value, (bool, np.bool_)) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    _checks.integer_at_least(name, value, 1)
    return int(value)


def _flag(name: str, value) -> bool:
    """``value`` as a bool (True, False, a numpy bool, 0 or 1); ValueError naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def checkpoint_prefix(path) -> str:
    """``path`` as a checkpoint's file prefix (``~`` expanded); :class:`ValueError` for a folder."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"checkpoint must be a file prefix such as 'out/checkpoints/run', got {path!r}")
    path = os.path.expanduser(os.fspath(path))
    if not os.path.basename(path) or os.path.isdir(path):
        raise ValueError(f"checkpoint must be a file prefix such as 'out/checkpoints/run' (PREFIX.npz and PREFIX.json "
                         f"are written), not a folder: {path!r}")
    return path


_OLD_KEYWORDS = {
    "record_every": ("record", "every"),
    "track_best": ("record", "best"),
    "members": ("placement", "members"),
    "n_members": ("placement", "n_members"),
    "devices": ("placement", "devices"),
    "member_batch": ("placement", "member_batch"),
    "chunk": ("chunks", "size"),
    "on_chunk": ("chunks", "on_chunk"),
    "resume": ("checkpoint", "resume"),
    "meta": ("checkpoint", "meta"),
}
_CLASSES = {"record": Record, "placement": Placement, "chunks": Chunks, "checkpoint": Checkpointing}


def _same(value, default) -> bool:
    """``value`` is the field's default (None, False or 1), not an array that compares equal to it."""
    return value is default or (isinstance(value, (bool, int, np.bool_)) and value == default)


def _is_default(options, skip: str = "") -> bool:
    """True when every field of ``options`` (but ``skip``) holds its default."""
    return all(_same(getattr(options, f.name), f.default) for f in dataclasses.fields(options) if f.name != skip)


def _spelled(options, fields: dict) -> str:
    def short(value):
        text = repr(value)
        return text if len(text) <= 40 and "\n" not in text else "..."

    path = f"{options.path!r}, " if isinstance(options, Checkpointing) else ""
    return f"{type(options).__name__}({path}{', '.join(f'{k}={short(v)}' for k, v in fields.items())})"


def resolve(record, placement, checkpoint, chunks, old: dict) -> tuple[Record, Placement, Checkpointing | None, Chunks]:
    """The option objects of one :func:`ensemble.evolve` call: each checked, a checkpoint path
    made a :class:`Checkpointing`, and the keywords of the flat signature (``record_every=``,
    ``members=``, ``resume=``, ...) moved into their group with a ``DeprecationWarning``; a flat
    keyword at its old default says nothing and is dropped."""
    unknown = sorted(set(old) - set(_OLD_KEYWORDS))
    if unknown:
        raise TypeError(f"evolve() got an unexpected keyword argument {unknown[0]!r}")
    for name, value in (("record", record), ("placement", placement), ("chunks", chunks)):
        if not isinstance(value, _CLASSES[name]):
            raise ValueError(f"{name} must be an ensemble.{_CLASSES[name].__name__}, got {type(value).__name__}")
    if checkpoint is not None and not isinstance(checkpoint, Checkpointing):
        checkpoint = Checkpointing(checkpoint)
    given = {"record": record, "placement": placement, "chunks": chunks, "checkpoint": checkpoint}
    moved: dict[str, dict] = {}
    for keyword, value in old.items():
        group, field = _OLD_KEYWORDS[keyword]
        if not _same(value, _CLASSES[group].__dataclass_fields__[field].default):
            moved.setdefault(group, {})[keyword] = value
    for group, by_keyword in moved.items():
        typed = ", ".join(f"{k}=" for k in by_keyword)
        fields = {_OLD_KEYWORDS[k][1]: v for k, v in by_keyword.items()}
        current = given[group]
        if current is None:  # resume= or meta= without a checkpoint
            if fields.get("resume"):
                raise ValueError("resume=True needs a checkpoint path: checkpoint=Checkpointing(path, resume=True)")
            continue  # meta without a checkpoint was never used
        if not _is_default(current, skip="path"):
            raise ValueError(f"give {typed} inside {group}={type(current).__name__}(...), not as keywords as well")
        given[group] = dataclasses.replace(current, **fields)
        _checks.warn(f"evolve({typed}...) is deprecated: use {group}=ensemble.{_spelled(current, fields)}",
                     DeprecationWarning)
    return given["record"], given["placement"], given["checkpoint"], given["chunks"]


__all__ = ["Record", "Placement", "Checkpointing", "Chunks"]
