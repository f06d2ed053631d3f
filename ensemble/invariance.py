"""Check that a member's numbers do not depend on the ensemble it runs in.

:func:`ensemble.evolve` promises that member ``i`` is bitwise the same alone, in an ensemble of
any size, in member groups and on any number of devices. On a CPU the driver keeps that promise
for any system's ``measure`` by construction (it runs ``measure`` in fixed member blocks); a
system with its own ``measure_ensemble``, a learning map of the user's own (it runs over all
members at once) and the accelerator layout (one program over all members, as on a GPU) hand it
back to the user. :func:`check_member_invariance` tests it for one system and map and says
exactly what differs first.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from . import _checks
from ._inputs import member_count
from .driver import evolve
from .helpers import _tile
from .options import Placement

PyTree = Any


class InvarianceReport(NamedTuple):
    """The result of :func:`check_member_invariance`.

    Attributes:
        ok: True when the member was bitwise the same in every setting tried.
        settings: the settings tried (e.g. ``"alone"``, ``"64 members on 2 devices"``).
        differences: one line per setting where the member differed, naming the first signal
            (or parameter leaf) that did, the iteration and both values.
    """

    ok: bool
    settings: tuple[str, ...]
    differences: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return f"member bitwise the same in all {len(self.settings)} settings: {', '.join(self.settings)}"
        return "member not bitwise the same:\n  " + "\n  ".join(self.differences)


def _first_difference(alone, other, where: str) -> str | None:
    for name in sorted(alone.traces):
        a, b = alone.traces[name][:, 0], other.traces[name][:, 0]
        bad = np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))
        if bad.size:
            k = int(bad[0])
            return (f"{where}: signal {name} first differs at iteration {int(alone.iterations[k])} "
                    f"({a[k]!r} alone, {b[k]!r} there)")
    leaves_a = jax.tree_util.tree_flatten_with_path(alone.params)[0]
    leaves_b = jax.tree_util.tree_leaves(other.params)
    for (path, a), b in zip(leaves_a, leaves_b):
        a, b = np.asarray(a[0]), np.asarray(b[0])
        if not np.array_equal(a, b, equal_nan=True):
            return f"{where}: final params{jax.tree_util.keystr(path)} differ (by up to {np.nanmax(np.abs(a - b)):.3g})"
    return None


def check_member_invariance(system, lmap, params: PyTree, hyper: Any, *, key, n_iterations: int = 20,
                            sizes=(2, 16, 64), member: int = 0) -> InvarianceReport:
    """Run one member alone and inside ensembles, and compare its traces and final parameters bit for bit.

    Args:
        system: the system, as for :func:`ensemble.evolve`.
        lmap: the learning map.
        params: stacked parameters (leading axis ``B``); the member checked is ``params[member]``.
        hyper: the map's hyperparameters (scalars, or ``(B,)`` arrays of which the member's entry is used).
        key: root PRNG key (or an int seed).
        n_iterations: iterations of every run.
        sizes: ensemble sizes to try. In each, the member keeps its id (``member``) and sits
            first, last or in the middle; the others start from copies of its parameters and
            hyperparameters with other ids (so other noise, and soon other parameters).
        member: index (and id) of the member to check.

    Every size runs on one device and, where the size divides among them, on all local devices;
    the largest size also runs in two member groups.

    Returns:
        An :class:`InvarianceReport` (true when the member never differed; ``print`` it).

    Raises:
        ValueError: bad arguments (as :func:`ensemble.evolve` raises them).
    """

    key = _checks.prng_key("key", key)
    _checks.integer_at_least("n_iterations", n_iterations, 1)
    sizes = [int(s) for s in np.atleast_1d(sizes)]
    _checks.integer_at_least("sizes", sizes, 1)
    B = member_count(system, params, hyper, None)
    _checks.integer_at_least("member", member, 0, B - 1)
    one = jax.tree_util.tree_map(lambda x: x[member:member + 1], params)
    mine = type(hyper)(*[_own_entry(v, member, B) for v in hyper])

    def run(size: int, at: int = 0, **kw):
        """The member at position ``at`` of ``size`` members (the others with ids ``B, B + 1, ...``)."""
        ids = np.insert(B + np.arange(size - 1), at, member).astype(np.int64)
        out = evolve(system, lmap, _tile(one, size), mine, key=key, n_iterations=n_iterations,
                     placement=Placement(members=ids, n_members=size, **kw))
        pick = lambda x: x[at:at + 1] if np.ndim(x) and np.shape(x)[0] == size else x  # noqa: E731
        return out._replace(traces={k: v[:, at:at + 1] for k, v in out.traces.items()},
                            params=jax.tree_util.tree_map(pick, out.params))

    alone = run(1)
    settings, differences = ["alone"], []
    n_dev = len(jax.local_devices())
    for size in sizes:
        tries = [(f"{size} members on 1 device, the member last", size - 1, dict(devices=1))]
        if n_dev > 1 and size % n_dev == 0:
            tries.append((f"{size} members on {n_dev} devices, the member first", 0, dict(devices=n_dev)))
        if size == max(sizes) and size > 1:
            half = -(-size // 2)
            tries.append((f"{size} members in groups of {half}, the member in the middle", size // 2, dict(member_batch=half)))
        for where, at, kw in tries:
            settings.append(where)
            diff = _first_difference(alone, run(size, at, **kw), where)
            if diff:
                differences.append(diff)
    return InvarianceReport(not differences, tuple(settings), tuple(differences))


def _own_entry(value, member: int, B: int):
    """The member's own entry of a hyperparameter field (recursively for nested NamedTuples)."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_own_entry(v, member, B) for v in value])
    arr = np.asarray(value)
    return arr[member] if arr.ndim == 1 and arr.shape[0] == B else value


__all__ = ["check_member_invariance", "InvarianceReport"]
