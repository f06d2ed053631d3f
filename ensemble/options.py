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
import os
from typing import Any, Callable

from . import _checks


@dataclasses.dataclass(frozen=True)
class Record:
    """What a run records.

    Attributes:
        every: record the signals of the last of every ``every`` iterations (iterations
            ``every - 1``, ``2 * every - 1``, ...), and of iteration 0 when the run starts there.
            ``n_iterations`` and the chunk size must be multiples of it.
        best: keep, inside the scan, each member's lowest recorded ``E`` and the parameters it
            was measured on (``run.best_so_far``; every iteration counts, not only the recorded
            ones). A ``state`` that already tracks keeps tracking.
    """

    every: int = 1
    best: bool = False

    def __post_init__(self):
        _checks.integer_at_least("Record.every", self.every, 1)
        object.__setattr__(self, "every", int(self.every))
        if not isinstance(self.best, bool):
            raise ValueError(f"Record.best must be True or False, got {self.best!r}")


@dataclasses.dataclass(frozen=True, eq=False)  # members may be an array: no elementwise ==
class Placement:
    """Which members run, and where. None of it changes a member's numbers.

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
    """

    members: Any = None
    n_members: int | None = None
    devices: int | None = None
    member_batch: int | None = None

    def __post_init__(self):
        for name in ("n_members", "devices", "member_batch"):
            value = getattr(self, name)
            if value is not None:
                _checks.integer_at_least(name, value, 1)
                object.__setattr__(self, name, int(value))


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Save the run after every chunk, and resume it.

    Attributes:
        path: file prefix, e.g. ``"out/checkpoints/fig2a"``: ``PREFIX.npz`` and ``PREFIX.json``
            are written atomically after every chunk (:mod:`ensemble.checkpoint`). ``~`` is expanded.
        resume: continue from the checkpoint if it exists, bitwise identical to an uninterrupted
            run; a checkpoint of another run is refused, naming what differs.
        meta: JSON-serialisable settings stored in (and required to match) the checkpoint.
    """

    path: str
    resume: bool = False
    meta: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", checkpoint_prefix(self.path))
        if not isinstance(self.resume, bool):
            raise ValueError(f"Checkpointing.resume must be True or False, got {self.resume!r}")
        if self.meta is not None and not isinstance(self.meta, dict):
            raise ValueError(f"Checkpointing.meta must be a dict of JSON-serialisable settings, got {type(self.meta).__name__}")


@dataclasses.dataclass(frozen=True)
class Chunks:
    """How a run is cut into compiled calls; between two calls progress is shown, the checkpoint
    written and ``on_chunk`` called.

    Attributes:
        size: iterations per compiled call (a multiple of ``Record.every``). Default: about
            10 chunks.
        on_chunk: called as ``on_chunk(state, traces_so_far, info)`` after each chunk, with
            ``traces_so_far`` a dict of ``(n_records_so_far, B)`` arrays and ``info`` a
            :class:`~ensemble.results.ChunkInfo`.
    """

    size: int | None = None
    on_chunk: Callable | None = None

    def __post_init__(self):
        if self.size is not None:
            _checks.integer_at_least("chunk", self.size, 1)
            object.__setattr__(self, "size", int(self.size))
        if self.on_chunk is not None and not callable(self.on_chunk):
            raise ValueError(f"on_chunk must be callable as on_chunk(state, traces, info), got {self.on_chunk!r}")


def checkpoint_prefix(path) -> str:
    """``path`` as a checkpoint's file prefix (``~`` expanded); ValueError for a folder."""
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


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 and "\n" not in text else "..."


def _is_default(options, skip: str = "") -> bool:
    """True when every field of ``options`` (but ``skip``) holds its default (None, False or 1)."""
    def same(value, default):
        return value is default or (type(value) in (bool, int) and value == default)

    return all(same(getattr(options, f.name), f.default) for f in dataclasses.fields(options) if f.name != skip)


def resolve(record, placement, checkpoint, chunks, old: dict) -> tuple[Record, Placement, Checkpointing | None, Chunks]:
    """The option objects of one :func:`ensemble.evolve` call: each checked, a checkpoint path
    made a :class:`Checkpointing`, and the keywords of the flat signature (``record_every=``,
    ``members=``, ``resume=``, ...) moved into their group with a ``DeprecationWarning``."""
    unknown = sorted(set(old) - set(_OLD_KEYWORDS))
    if unknown:
        raise TypeError(f"evolve() got an unexpected keyword argument {unknown[0]!r}")
    if checkpoint is not None and not isinstance(checkpoint, Checkpointing):
        checkpoint = Checkpointing(checkpoint)
    given = {"record": record, "placement": placement, "chunks": chunks, "checkpoint": checkpoint}
    for name, value in given.items():
        if value is not None and not isinstance(value, _CLASSES[name]):
            raise ValueError(f"{name} must be an ensemble.{_CLASSES[name].__name__}, got {type(value).__name__}")
    moved: dict[str, dict] = {}
    for keyword, value in old.items():
        group, field = _OLD_KEYWORDS[keyword]
        if keyword in ("resume", "meta") and not value:
            continue  # the old defaults (resume=False, meta=None) say nothing
        moved.setdefault(group, {})[field] = value
    for group, fields in moved.items():
        cls = _CLASSES[group]
        spelled = ", ".join(f"{k}={_short(v)}" for k, v in fields.items())
        if group == "checkpoint":
            if checkpoint is None:
                if fields.get("resume"):
                    raise ValueError("resume=True needs a checkpoint path: checkpoint=Checkpointing(path, resume=True)")
                continue  # meta without a checkpoint was never used
            if not _is_default(checkpoint, skip="path"):
                raise ValueError(f"give {', '.join(fields)} inside checkpoint=Checkpointing(...), not as keywords as well")
            _checks.warn(f"evolve({', '.join(f'{k}=' for k in old if _OLD_KEYWORDS[k][0] == group)}...) is deprecated: "
                         f"use checkpoint=ensemble.Checkpointing({checkpoint.path!r}, {spelled})", DeprecationWarning)
            given[group] = dataclasses.replace(checkpoint, **fields)
            continue
        if not _is_default(given[group]):
            raise ValueError(f"give {', '.join(fields)} inside {group}={cls.__name__}(...), not as keywords as well")
        old_names = ", ".join(f"{k}=" for k in old if _OLD_KEYWORDS[k][0] == group)
        _checks.warn(f"evolve({old_names}...) is deprecated: use {group}=ensemble.{cls.__name__}({spelled})",
                     DeprecationWarning)
        given[group] = cls(**fields)
    return given["record"], given["placement"], given["checkpoint"], given["chunks"]
