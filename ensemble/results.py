"""What :func:`ensemble.evolve` returns (:class:`Run`) and what ``on_chunk`` is told
(:class:`ChunkInfo`). The Ctrl-C that keeps the last checkpoint,
:class:`~ensemble.errors.Interrupted`, is also importable from here."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from . import _checks, _describe
from ._program import final_for
from .state import EnsembleState
from .errors import Interrupted  # noqa: F401 (public in ensemble.errors)

PyTree = Any


class Run(NamedTuple):
    """Result of :func:`ensemble.evolve`.

    Attributes:
        traces: dict of ``(n_records, B)`` numpy arrays, one per signal
            (NaN after a member diverged).
        iterations: ``(n_records,)`` the iteration index of each record: iteration 0 (a run
            from the start records its initial signals), then the last iteration of every
            ``Record.every`` (``every - 1, 2 * every - 1, ...``). A record is the
            signal measured at that iteration, before its update.
        params: final parameters, leading axis ``B``.
        diverged: ``(B,)`` bool, members frozen after a non-finite update or signal.
        diverged_at: ``(B,)`` the iteration each member diverged at, or -1.
        state: the final :class:`EnsembleState` (pass to ``evolve(..., state=)`` to continue).
        wall_time: seconds spent in :func:`evolve`, compile included.
        hyper: the hyperparameters as given, every field broadcast to ``(B,)`` (numpy).
        system: the system that was run.
        identity: the system's identity then (a digest of its type, attributes, code and the
            globals its code reads); ``run.final`` refuses to measure a system that has changed
            since.

    ``run.final`` (computed when asked, one compiled measurement) is a dict of ``(B,)`` arrays:
    the signals measured on the **final** ``params`` (what the next iteration would record; NaN
    for diverged members). The last record of ``traces`` is measured *before* the last update,
    so it belongs to other weights.

    ``run.best_so_far`` (with ``Record(best=True)``, else None) is a dict: ``"E"``
    ``(B,)`` the lowest E each member recorded (NaN if it recorded none before diverging),
    ``"iteration"`` ``(B,)`` when (-1 if none), ``"params"`` the parameters E was measured on.
    """

    traces: dict
    iterations: np.ndarray
    params: PyTree
    diverged: np.ndarray
    diverged_at: np.ndarray
    state: EnsembleState
    wall_time: float
    hyper: Any = None
    system: Any = None
    identity: str | None = None

    @property
    def final(self) -> dict:
        """The signals measured on the final ``params``: a dict of ``(B,)`` arrays (NaN for
        diverged members), computed when asked by one compiled measurement."""
        if self.system is None:
            raise ValueError("this Run has no system to measure its final params with")
        if self.identity is not None and _describe.identify(self.system, "system").digest != self.identity:
            raise ValueError("the system changed since this run (its attributes, its code or a global its code reads): "
                             "run.final would measure another problem; evolve again to measure the new one")
        return {k: np.asarray(v) for k, v in final_for(self.system)(self.state).items()}

    @property
    def best_so_far(self) -> dict | None:
        """With ``Record(best=True)``: each member's lowest ``E`` of any iteration, when, and the
        parameters it was measured on (a dict of ``"E"``, ``"iteration"``, ``"params"``); else None."""
        b = self.state.best
        if b is None:
            return None
        E = np.asarray(b["E"], float)
        return {"E": np.where(np.isfinite(E), E, np.nan), "iteration": np.asarray(b["iteration"]),
                "params": jax.tree_util.tree_map(np.asarray, b["params"])}

    def best(self, k: int = 1, signal: str = "E") -> np.ndarray:
        """Indices of the ``k`` members with the lowest final ``signal``.

        Args:
            k: how many members (>= 1); fewer come back if fewer are finite.
            signal: the signal to rank by (default ``"E"``); diverged and NaN members never count.

        Returns:
            ``(k,)`` member indices, best first.
        """
        return self._best(self.final, k, signal)

    def _best(self, final: dict, k: int, signal: str) -> np.ndarray:
        _checks.integer_at_least("k", k, 1)
        values = final.get(signal)
        if values is None:
            raise ValueError(f"signal must be one of the measured signals {sorted(final)}, got {signal!r}")
        values = np.where(self.diverged, np.nan, np.asarray(values, float))
        finite = np.flatnonzero(np.isfinite(values))
        return finite[np.argsort(values[finite], kind="stable")[: int(k)]]

    def summary(self) -> dict:
        """The run in a few numbers: members, diverged, iterations, wall time, each final signal's
        median, 10th and 90th percentiles and minimum over the surviving members, and the best
        member (a JSON-ready dict)."""
        out = {"members": int(self.diverged.size), "diverged": int(self.diverged.sum()),
               "iterations": int(self.state.n), "wall_time_s": round(float(self.wall_time), 3)}
        final = self.final if self.system is not None else {}
        for name, v in final.items():
            v = np.asarray(v, float)[~self.diverged]
            v = v[np.isfinite(v)]
            if v.size:
                p10, p50, p90 = np.percentile(v, [10, 50, 90])
                out[f"final_{name}"] = {"median": float(p50), "p10": float(p10), "p90": float(p90), "min": float(v.min())}
        if "E" in final:
            best = self._best(final, 1, "E")
            out["best_member"] = int(best[0]) if best.size else None
        return out


class ChunkInfo(NamedTuple):
    """The third argument of ``Chunks(on_chunk=)``: how far the run is.

    With member groups the callback runs for each group in turn, with the group's state and
    traces (its members only), and ``done`` starts again for each group.

    Attributes:
        done: iterations finished so far in this run (resumed ones included).
        total: the run's ``n_iterations``.
        iterations: ``(n_records_so_far,)`` the iteration index of each record in the traces.
    """

    done: int
    total: int
    iterations: np.ndarray



def record_iterations(start: int, done: int, record_every: int) -> np.ndarray:
    """The iterations recorded in ``done`` iterations from ``start``: the last of every
    ``record_every``, after iteration 0 when the run starts there (it is always recorded)."""
    its = start + np.arange(record_every - 1, done, record_every)
    return np.concatenate([[0], its]) if start == 0 and record_every > 1 and done > 0 else its


__all__ = ["Run", "ChunkInfo"]
