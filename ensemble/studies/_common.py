"""What every study shares: the result record, JSON writing, ensemble statistics."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from typing import Any, Callable

import jax
import numpy as np

from .. import __version__
from .. import feedforward as ff
from .._checks import integer_at_least, nonnegative, positive, warn
from .._files import atomic_write
from ..options import Checkpointing, Chunks
from ..state import member_keys


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a study runs; none of it changes a number of the result.

    Attributes:
        progress: show a progress bar for every batched call.
        checkpoint_dir: folder for the checkpoints of the study's batched calls (one file prefix
            each, e.g. ``fig2a_al``), written after every chunk; None: no checkpoints.
        resume: continue from those checkpoints (bitwise as if never interrupted).
        chunk: iterations per chunk (default: about 10 chunks per call; windows for cmp's
            continuous scheme, whose iterations are Euler steps).

    Raises:
        ValueError: a bad setting (named), or ``resume=True`` without a ``checkpoint_dir``.
    """

    progress: bool = False
    checkpoint_dir: str | None = None
    resume: bool = False
    chunk: int | None = None

    def __post_init__(self):
        if self.checkpoint_dir == "":
            object.__setattr__(self, "checkpoint_dir", None)
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            raise ValueError(f"checkpoint_dir must be a folder path or None, got {self.checkpoint_dir!r}")
        for name in ("progress", "resume"):
            value = getattr(self, name)
            if not (isinstance(value, (bool, np.bool_)) or value in (0, 1)):
                raise ValueError(f"{name} must be True or False, got {value!r}")
            object.__setattr__(self, name, bool(value))
        if self.chunk is not None:
            integer_at_least("chunk", self.chunk, 1)
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs a checkpoint_dir")

    def checkpoint(self, tag: str, meta: dict) -> Checkpointing | None:
        """The checkpoint of one batched call of the study.

        Args:
            tag: the call's file prefix inside ``checkpoint_dir`` (e.g. ``"fig2a_al"``).
            meta: JSON-able settings of the call, stored with the checkpoint; resuming from a
                checkpoint whose ``meta`` differs is refused.

        Returns:
            A :class:`~ensemble.options.Checkpointing` at ``checkpoint_dir/tag`` that resumes when
                ``resume`` is set, or None without a ``checkpoint_dir``.
        """
        return None if self.checkpoint_dir is None else Checkpointing(os.path.join(self.checkpoint_dir, tag), self.resume, meta)

    def evolve(self, tag: str, meta: dict, chunk_unit: int = 1) -> dict:
        """The keywords of :func:`ensemble.evolve` for one batched call of the study.

        Args:
            tag: the call's checkpoint file prefix (:meth:`checkpoint`).
            meta: JSON-able settings of the call, stored with the checkpoint.
            chunk_unit: iterations per unit of ``chunk`` (e.g. the Euler steps of one window when
                an iteration is one step); ``>= 1``.

        Returns:
            ``{"progress": ..., "checkpoint": ..., "chunks": ...}``: ``progress``, :meth:`checkpoint`
                and a :class:`~ensemble.options.Chunks` of ``chunk * chunk_unit`` iterations (without
                ``chunk``: about 10 chunks per call).
        """
        size = None if self.chunk is None else self.chunk * chunk_unit
        return {"progress": self.progress, "checkpoint": self.checkpoint(tag, meta), "chunks": Chunks(size=size)}


_OLD_RUN_KEYWORDS = ("progress", "checkpoint_dir", "resume", "chunk")


def takes_run_options(run: Callable) -> Callable:
    """Let a study's ``run(config, options)`` still take the earlier keywords ``progress=``,
    ``checkpoint_dir=``, ``resume=`` and ``chunk=``, with a ``DeprecationWarning``."""

    @functools.wraps(run)
    def call(*args, **kwargs):
        old = {k: kwargs.pop(k) for k in list(kwargs) if k in _OLD_RUN_KEYWORDS}
        if old:
            if "options" in kwargs or len(args) > 1:
                raise ValueError(f"give {', '.join(old)} inside options=RunOptions(...), not as keywords as well")
            spelled = ", ".join(f"{k}={v!r}" for k, v in old.items())
            warn(f"run({', '.join(f'{k}=' for k in old)}...) is deprecated: use "
                 f"options=ensemble.studies.RunOptions({spelled})", DeprecationWarning)
            kwargs["options"] = RunOptions(**old)
        return run(*args, **kwargs)

    return call


@dataclasses.dataclass
class Result:
    """A study's outcome.

    Attributes:
        study: the study id (``"fig2a"``, ...).
        config: every setting used (seed and ensemble sizes included).
        summary: the headline numbers (JSON key ``summary``).
        arrays: the arrays behind the plot (top-level JSON keys).
        wall_time: seconds for ``run``.
        runs: the :class:`~ensemble.results.Run` of each batched call by name (not written to
            JSON): per-member traces (``runs[name].traces``, ``(n_records, B)``), final and
            best parameters, hyperparameters; ``{}`` for a result read back from JSON.
    """

    study: str
    config: dict
    summary: dict
    arrays: dict
    wall_time: float = 0.0
    runs: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict:
        """The JSON record: study, package version, config, summary, wall time and the arrays
        (as top-level keys), numpy as lists and non-finite floats as null."""
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
    """Write ``result.to_json()`` atomically (temp file, then rename; :class:`ensemble.errors.WriteError` names the file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


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

        try:
            atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
        finally:
            plt.close(fig)
    return fig


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Settings every network study shares (fig2a, fig2b, fig3, fig4; all reconstructions: the
    paper's values were lost).

    Attributes:
        members: ensemble size (per grid point where there is a grid).
        seed: root seed of the initial weights and the learning noise.
        n_hidden: hidden nodes N2.
        init_scale: initial weights uniform in [-init_scale, init_scale].
        m: delay of the learning map (iterations).
        n_iterations: learning iterations.
        record_every: iterations between recorded trace values.
    """

    members: int = 32
    seed: int = 0
    n_hidden: int = 10
    init_scale: float = 0.1
    m: int = 8
    n_iterations: int = 20_000
    record_every: int = 200

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        integer_at_least("members", self.members, 1)
        integer_at_least("seed", self.seed, 0)
        integer_at_least("n_hidden", self.n_hidden, 1)
        nonnegative("init_scale", self.init_scale)
        integer_at_least("m", self.m, 1)
        integer_at_least("n_iterations", self.n_iterations, 1)
        integer_at_least("record_every", self.record_every, 1)

    def initial_networks(self, X, Y, n_members: int | None = None):
        """The initial weights of the ensemble and the key of its run.

        Args:
            X: ``(P, n_in)`` inputs (only the width is used).
            Y: ``(P, n_out)`` targets (only the width is used).
            n_members: networks (default ``members``).

        Returns:
            ``(params, run_key)``: the stacked weights of :func:`ensemble.feedforward.init`, member i's
                drawn from ``fold_in(k_init, i)``, and the key for :func:`ensemble.evolve`.
        """
        k_init, k_run = jax.random.split(jax.random.key(self.seed))
        B = self.members if n_members is None else n_members
        params = jax.vmap(lambda k: ff.init(k, X.shape[1], self.n_hidden, Y.shape[1], scale=self.init_scale))(
            member_keys(k_init, np.arange(B))
        )
        return params, k_run


@dataclasses.dataclass(frozen=True)
class RobustConfig(NetworkConfig):
    """Network settings plus the constants of eq. (8) (fig2b, fig4).

    Attributes:
        tau_E: drift time scale of the ``E`` term.
        S_E: noise intensity of the ``E`` term.
        tau_R: drift time scale of the ``1 - R`` term.
        S_R: noise intensity of the ``1 - R`` term.
    """

    tau_E: float = 0.1
    S_E: float = 0.2
    tau_R: float = 3.0  # tau_R <= 0.3 or S_R >= 0.1 drive the weights into saturation ('Evidence: feed-forward')
    S_R: float = 0.0

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        positive("tau_E", self.tau_E)
        positive("tau_R", self.tau_R)
        nonnegative("S_E", self.S_E)
        nonnegative("S_R", self.S_R)
