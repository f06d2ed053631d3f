"""Fig. 1: the 15 bitmaps (5x7) and a sketch of the 35-N2-N3 network."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import patterns
from .._checks import integer_at_least
from ._common import Result, RunOptions, finish_figure, takes_run_options


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of Fig. 1 (the figure is deterministic: nothing is learned).

    Attributes:
        n_hidden: hidden nodes N2 drawn.
        n_out: output nodes N3 drawn.
        seed: unused; kept for a uniform command line.
        members: unused; kept for a uniform command line.
    """

    n_hidden: int = 10
    n_out: int = 5
    seed: int = 0  # unused: the figure is deterministic; kept for a uniform CLI
    members: int = 1

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        integer_at_least("n_hidden", self.n_hidden, 1)
        integer_at_least("n_out", self.n_out, 1)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """The bitmaps and the layer sizes (instant; nothing is learned).

    Args:
        config: the settings.
        options: unused (nothing is batched or checkpointed).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays["chars"]`` the 15 characters,
            ``arrays["bitmaps"]`` their ``(15, 7, 5)`` 0/1 pixels; ``summary`` the layer sizes.

    Raises:
        ValueError: a bad setting of ``config`` (named).
    """
    config.validate()
    t0 = time.perf_counter()
    chars = patterns.VOWELS + patterns.DIGITS
    X, _ = patterns.dataset(chars)
    arrays = {"chars": list(chars), "bitmaps": X.reshape(-1, patterns.ROWS, patterns.COLS).astype(int)}
    summary = {"n_patterns": len(chars), "n_in": X.shape[1], "n_hidden": config.n_hidden, "n_out": config.n_out, "diverged": 0}
    return Result("fig1", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0)


def plot(result: Result, path: str | None = None):
    """The 15 bitmaps and the network's layers.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib.pyplot as plt

    bitmaps = np.asarray(result.arrays["bitmaps"])
    chars = result.arrays["chars"]
    fig = plt.figure(figsize=(10, 4.2))
    for i, (b, c) in enumerate(zip(bitmaps, chars)):
        ax = fig.add_axes([0.015 + (i % 8) * 0.06, 0.5 - (i // 8) * 0.42, 0.05, 0.34])
        ax.imshow(b, cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks(np.arange(-0.5, 5, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, 7, 1), minor=True)
        ax.grid(which="minor", color="0.7", lw=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(c, fontsize=9)
    ax = fig.add_axes([0.53, 0.04, 0.44, 0.84])
    s = result.summary
    layers = [(s["n_in"], "input"), (s["n_hidden"], "hidden"), (s["n_out"], "output")]
    shown = [min(n, 12) for n, _ in layers]
    ys = [np.linspace(0.95, 0.05, k) for k in shown]
    for i in range(2):
        for y0 in ys[i]:
            for y1 in ys[i + 1]:
                ax.plot([i, i + 1], [y0, y1], color="0.8", lw=0.4, zorder=1)
    for i, ((n, name), y) in enumerate(zip(layers, ys)):
        ax.scatter(np.full_like(y, i), y, s=60, color=["C2", "C0", "C3"][i], zorder=2)
        ax.text(i, -0.05, f"{name}\nN{i + 1} = {n}" + (" (12 shown)" if n > 12 else ""), ha="center", va="top", fontsize=8)
    ax.text(1.0, 1.04, "a threshold node (always 1) feeds every hidden and output node", ha="center", fontsize=7)
    ax.set(xlim=(-0.4, 2.4), ylim=(-0.25, 1.1))
    ax.axis("off")
    fig.suptitle("Fig. 1: 5x7 bitmaps (vowels, digits) and the feed-forward network", fontsize=10)
    return finish_figure(fig, path)


def describe(result: Result) -> str:
    """A few lines of summary for the terminal.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.

    Returns:
        The lines, joined by newlines (no trailing newline).
    """
    s = result.summary
    return f"fig1: {s['n_patterns']} bitmaps of 5x7 pixels; network {s['n_in']}-{s['n_hidden']}-{s['n_out']}"
