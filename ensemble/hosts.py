"""Several processes or hosts: each runs its own block of member ids and saves its part; the parts
are joined in member order afterwards.

Members never talk to each other, so no collective is needed: process ``p`` of ``P`` runs the
member ids :func:`process_members` gives it (on all of its local devices, in groups if need be),
:func:`save_part` writes ``FOLDER/part-<p>.npz``, and :func:`join_parts` joins them. Since member
``i`` depends only on ``fold_in(key, i)``, the joined ensemble is bitwise the ensemble one
process computes; :func:`differences` checks that against a single-process run.

Example (one script, started once per process; ``jax.distributed.initialize()`` reads the
coordinator from the environment under SLURM)::

    jax.distributed.initialize()
    ids = hosts.process_members(B)
    run = evolve(system, lmap, make_params(ids), hyper, key=key, n_iterations=n,
                 placement=Placement(members=ids))
    hosts.save_part("out/parts", run, ids)
    # afterwards, in any one process:
    joined = hosts.join_parts("out/parts")
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, NamedTuple

import jax
import numpy as np

from . import _checks
from ._files import atomic_write, writable_folder

PyTree = Any


def process_members(n_members: int, process_index: int | None = None, process_count: int | None = None) -> np.ndarray:
    """The member ids this process runs when an ensemble of ``n_members`` is split over hosts.

    Process ``p`` of ``P`` gets the contiguous block ``[p * B // P, (p + 1) * B // P)``. Since
    member ``i`` depends only on ``fold_in(key, i)``, the blocks joined in process order are
    bitwise the single-host ensemble (:func:`save_part` and :func:`join_parts`).

    Args:
        n_members: the whole ensemble's size ``B``.
        process_index: ``p`` (default ``jax.process_index()``, i.e. after
            ``jax.distributed.initialize()``).
        process_count: ``P`` (default ``jax.process_count()``), at most ``B``.

    Returns:
        The ids, a ``(b,)`` int array (pass it as ``Placement(members=ids)``).

    Raises:
        ValueError: ``n_members < 1``, ``p`` not in ``[0, P)``, or ``P > B``.

    Examples:
        >>> from ensemble import hosts
        >>> hosts.process_members(10, process_index=1, process_count=3).tolist()
        [3, 4, 5]
    """
    _checks.integer_at_least("n_members", n_members, 1)
    P = jax.process_count() if process_count is None else process_count
    p = jax.process_index() if process_index is None else process_index
    _checks.integer_at_least("process_count", P, 1)
    _checks.integer_at_least("process_index", p, 0, int(P) - 1)
    B, P, p = int(n_members), int(P), int(p)
    if P > B:
        raise ValueError(f"process_count ({P}) must be at most n_members ({B}): every process needs a member")
    return np.arange(p * B // P, (p + 1) * B // P)


class Joined(NamedTuple):
    """The parts of an ensemble joined in member order.

    Attributes:
        ids: ``(B,)`` member ids, ``0 .. B-1``.
        iterations: ``(n_records,)`` the recorded iterations (the same in every part).
        traces: dict of ``(n_records, B)`` arrays, one per signal.
        params: the final parameters, a dict from each leaf's path (``"['w']"``) to ``(B, ...)``.
        diverged: ``(B,)`` bool.
        diverged_at: ``(B,)`` iteration of divergence or -1.
        parts: how many parts were joined.
    """

    ids: np.ndarray
    iterations: np.ndarray
    traces: dict
    params: dict
    diverged: np.ndarray
    diverged_at: np.ndarray
    parts: int


def _leaves(params: PyTree) -> dict:
    return {jax.tree_util.keystr(path): np.asarray(x) for path, x in jax.tree_util.tree_flatten_with_path(params)[0]}


def save_part(folder: str, run, ids, process_index: int | None = None) -> str:
    """Write one process's part of an ensemble to ``folder/part-<p>.npz`` (atomically; npz, no pickle).

    Args:
        folder: the folder all processes write to (created if needed).
        run: the process's :class:`~ensemble.results.Run`.
        ids: ``(b,)`` the member ids it ran (:func:`process_members`).
        process_index: ``p`` in the file name (default ``jax.process_index()``).

    Returns:
        The path written.

    Raises:
        ValueError: ``ids`` not one non-negative id per member of ``run``, or a folder that
            cannot be written.
        ensemble.errors.WriteError: the file could not be written.
    """
    folder = writable_folder("folder", folder)
    ids = np.asarray(ids)
    _checks.shape("ids", ids, (run.diverged.size,), " (one id per member of the run)")
    _checks.integer_at_least("ids", ids, 0)
    p = jax.process_index() if process_index is None else process_index
    _checks.integer_at_least("process_index", p, 0)
    arrays = {"ids": ids, "iterations": np.asarray(run.iterations), "diverged": np.asarray(run.diverged),
              "diverged_at": np.asarray(run.diverged_at), "system": np.asarray(run.identity or "")}
    arrays.update({f"trace:{k}": np.asarray(v) for k, v in run.traces.items()})
    arrays.update({f"param:{k}": v for k, v in _leaves(run.params).items()})
    path = os.path.join(folder, f"part-{int(p)}.npz")

    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def join_parts(folder: str) -> Joined:
    """Join the ``part-<p>.npz`` files of ``folder`` in member order.

    Args:
        folder: the folder the parts were saved to (:func:`save_part`).

    Returns:
        A :class:`Joined`.

    Raises:
        ValueError: there are no parts, their member ids overlap or leave a gap (a part is
            missing), or they ran another system (its identity: attributes, code, the globals it
            reads) or recorded other iterations or other signals.
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise ValueError(f"folder must be the path of the folder the parts were saved to, got {folder!r}")
    files = glob.glob(os.path.join(folder, "part-*.npz"))
    files = [f for f in files if re.fullmatch(r"part-\d+\.npz", os.path.basename(f))]
    if not files:
        raise ValueError(f"folder {folder!r} holds no part-<p>.npz files")
    parts = []
    for f in files:
        with np.load(f, allow_pickle=False) as z:
            parts.append((f, {k: z[k] for k in z.files}))
    parts.sort(key=lambda fp: int(fp[1]["ids"][0]) if fp[1]["ids"].size else -1)
    ids = np.concatenate([p["ids"] for _, p in parts])
    if not np.array_equal(ids, np.arange(ids.size)):
        have = ", ".join(f"{os.path.basename(f)}: {p['ids'][0]}-{p['ids'][-1]}" for f, p in parts if p["ids"].size)
        raise ValueError(f"the parts in {folder!r} do not hold members 0..B-1 exactly once, in order ({have}): "
                         "a part is missing or two processes ran the same ids")
    first_file, first = parts[0]
    for f, p in parts[1:]:
        if (not np.array_equal(p["iterations"], first["iterations"]) or sorted(p) != sorted(first)
                or str(p["system"]) != str(first["system"])):
            raise ValueError(f"{os.path.basename(f)} ran another system or recorded other iterations or signals than "
                             f"{os.path.basename(first_file)}: the parts are of different runs")
    join = lambda name, axis=0: np.concatenate([p[name] for _, p in parts], axis=axis)  # noqa: E731
    return Joined(
        ids=ids,
        iterations=first["iterations"],
        traces={k.split(":", 1)[1]: join(k, 1) for k in first if k.startswith("trace:")},
        params={k.split(":", 1)[1]: join(k) for k in first if k.startswith("param:")},
        diverged=join("diverged"),
        diverged_at=join("diverged_at"),
        parts=len(parts),
    )


def differences(joined: Joined, run) -> list[str]:
    """What differs, bit for bit, between joined parts and a run of the whole ensemble in one process.

    Args:
        joined: :func:`join_parts`'s result.
        run: a :class:`~ensemble.results.Run` of the whole ensemble.

    Returns:
        The names of what differs (``"iterations"``, ``"traces['E']"``, ``"params['w']"``,
        ``"diverged"``, ...): an empty list when they are the same.
    """
    if not isinstance(joined, Joined) or not hasattr(run, "traces"):
        raise ValueError("differences(joined, run) takes join_parts(...)'s result and an ensemble.Run")
    out = []
    if joined.ids.size != run.diverged.size:
        return [f"members: {joined.ids.size} joined, {run.diverged.size} in the run"]
    if not np.array_equal(joined.iterations, np.asarray(run.iterations)):
        out.append("iterations")
    for k in sorted(set(joined.traces) | set(run.traces)):
        if k not in joined.traces or k not in run.traces or not _same_bits(joined.traces[k], run.traces[k]):
            out.append(f"traces[{k!r}]")
    whole = _leaves(run.params)
    for k in sorted(set(joined.params) | set(whole)):
        if k not in joined.params or k not in whole or not _same_bits(joined.params[k], whole[k]):
            out.append(f"params{k}")
    for name in ("diverged", "diverged_at"):
        if not np.array_equal(getattr(joined, name), np.asarray(getattr(run, name))):
            out.append(name)
    return out


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


__all__ = ["process_members", "save_part", "join_parts", "Joined", "differences"]
