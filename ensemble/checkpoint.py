"""Checkpoints of a running ensemble: npz + JSON, written atomically, never pickle.

A checkpoint holds the full :class:`~ensemble.state.EnsembleState` (parameters,
delay buffers, carried system state, divergence flags, member keys, iteration
count), the traces recorded so far and a ``meta`` dict (the run's settings and
the package version). ``PATH.npz`` is the checkpoint: it is written to a
temporary file and renamed into place, so a crash at any moment leaves either
the previous checkpoint or the new one, never a torn file. ``PATH.json`` is a
human-readable copy of ``meta`` and the progress, written the same way.

Before a new checkpoint replaces the old one, the old one is kept as ``PATH.prev.npz`` (a
hard link, or a copy where links are not possible). A checkpoint that was damaged after it was
written (a partial copy, a truncated file: every array is read back and its CRC checked) is
never resumed from: :func:`load` falls back to ``PATH.prev.npz`` with a warning, or raises
:class:`~ensemble.errors.DamagedCheckpoint` naming the file when that is damaged or missing too.

:func:`ensemble.evolve` writes and resumes checkpoints itself (``checkpoint=``); these functions
are for reading one directly. Loading needs a *template* state of the same run
(:func:`ensemble.state.init_state` of the same config): its tree structure, shapes and dtypes are checked against
the file, and ``meta`` must equal the one stored, so a checkpoint from another
config or package version is refused, not silently mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
import zipfile
from typing import Any

import jax
import numpy as np

from . import __version__
from ._files import atomic_write
from .errors import DamagedCheckpoint, WriteError  # noqa: F401 (public in ensemble.errors)

FORMAT = 2
"""Version of the file layout and of the fingerprint it holds (2: the fingerprint part by part)."""


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keep_previous(path: str) -> None:
    """``path.npz`` -> ``path.prev.npz`` without ever leaving ``path.npz`` missing."""
    src, dst = path + ".npz", path + ".prev.npz"
    if not os.path.exists(src):
        return
    tmp = f"{dst}.tmp{os.getpid()}"
    try:
        if os.path.exists(tmp):
            os.remove(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError:  # best effort: the new checkpoint matters more than the old one
        if os.path.exists(tmp):
            os.remove(tmp)


def save(path: str, state: Any, traces: dict, iterations: np.ndarray, meta: dict) -> None:
    """Write ``path + ".npz"`` (and ``.json``) atomically.

    Args:
        path: file prefix, e.g. ``DIR/checkpoints/fig2a``; folders are created.
        state: the ensemble state (any pytree of arrays; PRNG key arrays allowed).
        traces: dict of ``(n_records, B)`` arrays recorded so far.
        iterations: ``(n_records,)`` iteration index of each record.
        meta: JSON-serialisable settings that identify the run.

    Raises:
        ensemble.errors.WriteError: a file could not be written (the previous checkpoint is intact).
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror or str(exc), path + ".npz") from exc
    leaves = jax.tree_util.tree_leaves(state)
    arrays = {}
    for i, leaf in enumerate(leaves):
        arrays[f"state_{i}"] = np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
    for name, value in traces.items():
        arrays[f"trace_{name}"] = np.asarray(value)
    arrays["iterations"] = np.asarray(iterations)
    header = {"format": FORMAT, "version": __version__, "meta": meta, "n_leaves": len(leaves), "traces": sorted(traces)}
    arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    _keep_previous(path)
    atomic_write(path + ".npz", lambda f: np.savez(f, **arrays))
    done = int(np.asarray(iterations)[-1]) + 1 if len(iterations) else 0
    info = {**header, "iterations_done": done}
    atomic_write(path + ".json", lambda f: f.write((json.dumps(info, indent=1, sort_keys=True) + "\n").encode()))


def exists(path: str) -> bool:
    """Whether a checkpoint is there: ``path + ".npz"``, or the previous ``path + ".prev.npz"``.

    Args:
        path: the checkpoint's file prefix.
    """
    return os.path.exists(path + ".npz") or os.path.exists(path + ".prev.npz")


def _read(file: str) -> tuple[dict, dict]:
    """``(header, arrays)`` of a checkpoint file, every array read (CRC-checked);
    :class:`DamagedCheckpoint` when the file is missing, truncated or corrupt."""
    try:
        with np.load(file) as data:
            stored = {k: data[k] for k in data.files}
        header = json.loads(bytes(stored.pop("header")).decode())
        if not isinstance(header, dict) or "meta" not in header:
            raise ValueError("no header")
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise DamagedCheckpoint(f"checkpoint {file} is damaged or unreadable ({why})") from None
    return header, stored


def _differences(want: Any, got: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (into nested dicts; a list or value as a whole)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got), key=str):
            if want.get(k) != got.get(k):
                out += _differences(want.get(k), got.get(k), f"{prefix}{k}.") if k in want and k in got else [f"{prefix}{k}"]
        return out
    return [prefix.rstrip(".")] if want != got else []


def load(path: str, template: Any, meta: dict, names: dict | None = None) -> tuple[Any, dict, np.ndarray]:
    """Read a checkpoint written by :func:`save` for the run described by ``meta``.

    Args:
        path: the file prefix given to :func:`save`.
        template: a state of the same run (its structure, shapes and dtypes are checked).
        meta: the settings of this run; they must equal the stored ones.
        names: optional words for the top-level keys of ``meta``, used in the refusal.

    Returns:
        ``(state, traces, iterations)`` with ``state`` shaped like ``template``.

    A damaged ``path.npz`` is replaced by the previous checkpoint ``path.prev.npz`` (with a
    warning) when that one reads back whole.

    Raises:
        ensemble.errors.DamagedCheckpoint: neither file reads back whole (the message names them).
        ValueError: the file is from another config, package version or format,
            or its arrays do not match the template; the message names what differs.
    """
    try:
        header, stored = _read(path + ".npz")
    except DamagedCheckpoint as exc:
        if not os.path.exists(path + ".prev.npz"):
            raise DamagedCheckpoint(f"{exc}; no previous checkpoint to fall back on: delete it to start the run over") from None
        try:
            header, stored = _read(path + ".prev.npz")
        except DamagedCheckpoint as exc2:
            raise DamagedCheckpoint(f"{exc}, and so is the previous one ({exc2}): delete both to start the run over") from None
        warnings.warn(f"{exc}; resuming from the previous checkpoint {path}.prev.npz", RuntimeWarning, stacklevel=2)
    if header.get("format") != FORMAT or header.get("version") != __version__:
        raise ValueError(
            f"checkpoint {path}.npz was written by ensemble {header.get('version')} (format {header.get('format')}); "
            f"this is {__version__} (format {FORMAT}): delete it or write to another --out"
        )
    want = json.loads(json.dumps(meta, sort_keys=True))
    if header["meta"] != want:
        words = names or {}
        diff = [words.get(d, d) for d in _differences(want, header["meta"])]
        raise ValueError(
            f"checkpoint {path}.npz belongs to a different run (what differs: {'; '.join(diff)}): delete it, "
            "or resume with what it was written with"
        )
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if header["n_leaves"] != len(t_leaves):
        raise ValueError(f"checkpoint {path}.npz does not match this run's state structure")
    leaves = []
    for i, t in enumerate(t_leaves):
        arr = stored[f"state_{i}"]
        if _is_key(t):
            data = jax.random.key_data(t)
            if arr.shape != data.shape or arr.dtype != data.dtype:
                raise ValueError(f"checkpoint {path}.npz: key array {i} has shape {arr.shape}, expected {data.shape}")
            leaves.append(jax.random.wrap_key_data(arr, impl=jax.random.key_impl(t)))
        else:
            if arr.shape != np.shape(t) or arr.dtype != np.asarray(t).dtype:
                raise ValueError(
                    f"checkpoint {path}.npz: array {i} has shape {arr.shape} {arr.dtype}, "
                    f"expected {np.shape(t)} {np.asarray(t).dtype}"
                )
            leaves.append(jax.numpy.asarray(arr))
    traces = {name: stored[f"trace_{name}"] for name in header["traces"]}
    return jax.tree_util.tree_unflatten(treedef, leaves), traces, stored["iterations"]


PARTS = {
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
"""What a checkpoint's fingerprint holds: ``{part: words}``, the words naming the part in a
refusal to resume."""


def sha256(tree: Any) -> str:
    """Hex sha256 of every leaf of ``tree`` (dtype, shape and bytes; PRNG keys by their data).

    Args:
        tree: any pytree of arrays.

    Returns:
        64 hex digits.
    """
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        arr = np.asarray(leaf)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def fingerprint(state: Any, hyper: Any, identities: tuple, meta: dict | None, record_every: int) -> dict:
    """Everything a run starts from, part by part (:data:`PARTS`).

    sha256 of the initial state (keys included) and hyperparameters, and the identities of the
    system and the map (attributes, arrays by content, code and the globals it reads). Not
    ``n_iterations``: a finished run resumes to a larger one, equal to one longer run.

    Args:
        state: the initial :class:`~ensemble.state.EnsembleState`.
        hyper: the hyperparameters, broadcast per member.
        identities: the identities of the system and the map, in that order.
        meta: the run's settings (``Checkpointing.meta``), or None.
        record_every: iterations per record.

    Returns:
        ``{part: value}`` for every part of :data:`PARTS`.
    """
    return {
        "meta": meta or {},
        "members": int(state.diverged.shape[0]),
        "start": int(state.n),
        "record_every": int(record_every),
        "system": identities[0].digest,
        "lmap": identities[1].digest,
        "hyper": sha256(hyper),
        "member_keys": sha256(state.member_keys),
        "params": sha256(state.params),
        "initial_state": sha256((state.learning, state.system, state.diverged, state.diverged_at, state.best)),
    }


__all__ = ["FORMAT", "PARTS", "save", "exists", "load", "sha256", "fingerprint"]
