"""Files of a long run: atomic writes that name the file when they fail, and a run lock.

Every file a run writes (checkpoints, JSON, PNG) goes through :func:`atomic_write`: the
content is written to a temporary name in the same folder, flushed to disk and renamed over
the target, so a crash, a full disk or a Ctrl-C leaves either the old file or the new one,
never a torn one. A failure raises :class:`WriteError` (an ``OSError``) naming the file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from typing import Callable, IO

from .errors import LockedError, WriteError  # noqa: F401 (raised here; public in ensemble.errors)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


@contextlib.contextmanager
def deferred_sigint():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until the block has finished, then
    deliver it as before (``KeyboardInterrupt`` under Python's default handler): a write is never
    cut in half, where a library's own cleanup (zipfile's, for an npz) could turn the interrupt
    into another error. Outside the main thread, or where signals cannot be set, a plain block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    except (ValueError, OSError):  # pragma: no cover - no signal handling here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        if callable(previous):
            previous(signal.SIGINT, held[0])
        elif previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(f)`` on a temporary file, then rename it into place.

    Raises:
        WriteError: anything the operating system refused (disk full, permission, ...);
            the temporary file is removed and ``path`` is left as it was.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with deferred_sigint():
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise WriteError(exc.errno, exc.strerror or str(exc), path) from exc
    except BaseException:  # Ctrl-C mid-write: no stray temporary file
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def writable_folder(name: str, path: str) -> str:
    """Create folder ``path`` if needed and check that a file can be written there.

    Returns the path. Raises ValueError naming the argument ``name`` when the folder cannot be
    created or written (checked *before* a run, so no long run is lost at its end).
    """
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "wb") as f:
            f.write(b"ok")
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to folder {path!r} ({exc.strerror or exc})") from None
    return path


class RunLock:
    """An exclusive lock on ``path`` (a small file holding the owner's pid and host).

    Taken with ``fcntl.flock``, so the operating system releases it when the owner exits or is
    killed: a lock is never stale. Use as a context manager; a second holder gets
    :class:`LockedError` at once (no waiting).
    """

    def __init__(self, path: str, what: str = "run"):
        self.path, self.what, self._fd = path, what, None

    def __enter__(self) -> "RunLock":
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise LockedError(
                    f"another {self.what} is writing to the same folder (lock {self.path}, held by {owner}); "
                    "wait for it to finish or use another --out"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock; the file stays (removing it would race)
            self._fd = None
