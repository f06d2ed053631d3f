"""What every study shares: the result record, JSON writing, ensemble statistics."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

import numpy as np

from .. import __version__


@dataclasses.dataclass
class Result:
    """A study's outcome.

    Attributes:
        study: the study id (``"fig2a"``, ...).
        config: every setting used (seed and ensemble sizes included).
        summary: the headline numbers (JSON key ``summary``).
        arrays: the arrays behind the plot (top-level JSON keys).
        wall_time: seconds for ``run``.
    """

    study: str
    config: dict
    summary: dict
    arrays: dict
    wall_time: float = 0.0

    def to_json(self) -> dict:
        out = {
            "study": self.study,
            "version": __version__,
            "config": _plain(self.config),
            "summary": _plain(self.summary),
            "wall_time_s": round(self.wall_time, 3),
        }
        out.update(_plain(self.arrays))
        return out


def _plain(x: Any) -> Any:
    """numpy -> lists, non-finite floats -> None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def write_json(result: Result, path: str) -> None:
    """Write ``result.to_json()`` atomically (temp file, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result.to_json(), f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


QUANTILES = (10, 25, 50, 75, 90)


def quantile_bands(traces: np.ndarray) -> dict:
    """Per-record percentiles over members of ``(n_records, B)``, ignoring NaN (diverged) members."""
    with np.errstate(all="ignore"):
        return {f"p{q}": np.nanpercentile(traces, q, axis=1) for q in QUANTILES}


def first_below(iterations: np.ndarray, values: np.ndarray, level: float):
    """First iteration whose value is below ``level``, or None."""
    idx = np.flatnonzero(values < level)
    return int(iterations[idx[0]]) if idx.size else None


def finish_figure(fig, path: str | None):
    """Save ``fig`` to ``path`` (PNG, 120 dpi) and close it; without a path return it open (notebooks)."""
    if path:
        import matplotlib.pyplot as plt

        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
