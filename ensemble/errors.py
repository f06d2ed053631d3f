"""Every exception a user of :mod:`ensemble` may want to catch, in one place.

Bad arguments raise the built-in :class:`ValueError` (its message names the argument) or
:class:`TypeError`. The classes here are the library's own:

- :class:`WriteError`: a checkpoint, result or figure could not be written (disk full,
  permission denied); the last complete checkpoint is intact.
- :class:`LockedError`: another run already writes to the same checkpoint folder.
- :class:`DamagedCheckpoint`: a checkpoint file cannot be read back.
- :class:`Interrupted`: Ctrl-C during :func:`ensemble.evolve`; says how far the run got and
  where it was saved.

Examples:
    >>> from ensemble.errors import WriteError
    >>> str(WriteError(28, "No space left on device", "out/run.npz"))
    'cannot write out/run.npz: No space left on device'
"""

from __future__ import annotations

__all__ = ["WriteError", "LockedError", "DamagedCheckpoint", "Interrupted"]


class WriteError(OSError):
    """A file of the run could not be written.

    An :class:`OSError`: ``filename`` is the file, ``strerror`` says why. The previous
    checkpoint, if any, is intact.
    """

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class LockedError(RuntimeError):
    """Another live process holds the run lock of the same study and folder.

    Raised at once (no waiting); the message names the process that holds the lock.
    """


class DamagedCheckpoint(ValueError):
    """A checkpoint file that cannot be read back whole, and no good previous one to fall back on."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`ensemble.evolve`.

    ``done`` of ``total`` iterations are safe in ``checkpoint`` (the last finished chunk; 0
    without a checkpoint): the same call with ``Checkpointing(path, resume=True)`` continues
    from there, bitwise as if never interrupted. With member groups, ``checkpoint``, ``done``
    and ``total`` are the interrupted group's (the groups before it are complete in their own
    checkpoints).

    Attributes:
        done: iterations finished and saved.
        total: iterations the call asked for.
        checkpoint: the checkpoint path, or ``None`` when the run had none.
    """

    def __init__(self, done: int, total: int, checkpoint: str | None):
        where = (f"; the finished part is in {checkpoint}: the same call with Checkpointing({checkpoint!r}, "
                 "resume=True) continues it" if checkpoint and done else "")
        super().__init__(f"interrupted after {done} of {total} iterations{where}")
        self.done, self.total, self.checkpoint = int(done), int(total), checkpoint

    def __reduce__(self):  # picklable (a process pool re-raises it in the parent)
        return type(self), (self.done, self.total, self.checkpoint)
