"""Fig. 2a: error vs iteration, autonomous learning (eq. 4) vs back-propagation, vowels.

Both methods start from the same initial weights of every member. The
autonomous-learning ensemble is one :func:`ensemble.evolve` call; the
back-propagation ensemble is one ``vmap`` of :func:`ensemble.feedforward.backprop`.

The paper's tau, S, m, learning factor and iteration counts were lost; the
defaults here come from our calibration sweeps (the documentation's 'Evidence:
feed-forward' page) and are reconstructions.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .. import feedforward as ff
from .. import learning, patterns
from .._checks import integer_at_least, nonnegative, positive
from ..driver import evolve
from ..options import Record
from ._common import NetworkConfig, Result, RunOptions, finish_figure, first_below, quantile_bands, takes_run_options


@dataclasses.dataclass(frozen=True)
class Config(NetworkConfig):
    """Settings of the Fig. 2a study (all reconstructions; see the module docstring).

    The other fields (``seed``, ``n_hidden``, ``init_scale``, ``m``) are the shared ones of
    :class:`~ensemble.studies._common.NetworkConfig`.

    Attributes:
        members: ensemble size; both methods start from the same ``members`` initial networks.
        n_iterations: autonomous-learning iterations.
        record_every: iterations between records of the autonomous-learning traces.
        tau: eq. (4) drift time scale.
        S: eq. (4) noise intensity.
        learning_rate: back-propagation's learning factor (plain gradient descent on eq. (6)).
        backprop_iterations: back-propagation iterations (gradient steps).
        reach_level: the error level at which the two medians are compared (first iteration
            below it); None: the autonomous-learning ensemble's final median error.
    """

    members: int = 128
    n_iterations: int = 1_000_000  # the median keeps falling to 10^6 ('Evidence: feed-forward')
    record_every: int = 5_000
    tau: float = 0.1
    S: float = 0.2
    learning_rate: float = 2.0
    backprop_iterations: int = 5_000
    reach_level: float | None = None  # None: the AL ensemble's final median error

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """A size that finishes in well under a minute on 2 CPU cores.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=32, n_iterations=20_000, record_every=200, backprop_iterations=2_000), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        positive("tau", self.tau)
        nonnegative("S", self.S)
        positive("learning_rate", self.learning_rate)
        integer_at_least("backprop_iterations", self.backprop_iterations, 1)
        if self.reach_level is not None:
            positive("reach_level", self.reach_level)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """Run the study: one AL ensemble call and one back-propagation ensemble call.

    Args:
        config: the settings.
        options: progress, checkpoints (the AL run's, ``fig2a_al``) and chunk length
            (a multiple of ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``summary`` the final median errors of both
            methods, the first iteration at which each median falls below ``reach_level`` and the
            fraction of AL members that classify every vowel right; ``arrays["al"]`` and
            ``arrays["backprop"]`` the percentiles of E over the members at each recorded iteration,
            ``arrays["al_final_errors"]`` ``(members,)``; ``runs["al"]`` the AL run.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    X, Y = patterns.vowels()
    params, k_run = config.initial_networks(X, Y)
    al = evolve(
        ff.Task(X, Y),
        learning.discrete(config.m),
        params,
        learning.DiscreteHyper(config.tau, config.S, config.m),
        key=k_run,
        n_iterations=config.n_iterations,
        record=Record(every=config.record_every),
        **options.evolve("fig2a_al", {"study": "fig2a", "config": dataclasses.asdict(config)}),
    )
    correct = np.asarray(jax.vmap(lambda p: ff.correct(p, X, Y))(al.params)) & ~al.diverged
    _, bp_E = jax.jit(jax.vmap(lambda p: ff.backprop(p, X, Y, config.learning_rate, config.backprop_iterations)))(params)
    bp_E = np.asarray(bp_E).T  # (iterations, B)
    bp_it = np.arange(config.backprop_iterations)

    al_band = quantile_bands(al.traces["E"])
    bp_band = quantile_bands(bp_E)
    al_final = float(al_band["p50"][-1])
    level = config.reach_level if config.reach_level is not None else al_final
    ok = ~al.diverged
    summary = {
        "al_final_median_error": al_final,
        "al_final_best_decile_error": float(al_band["p10"][-1]),
        "al_all_correct_fraction": float(correct[ok].mean()) if ok.any() else 0.0,
        "backprop_final_median_error": float(bp_band["p50"][-1]),
        "reach_level": float(level),
        "al_iterations_to_reach": first_below(al.iterations, al_band["p50"], level * (1 + 1e-6)),
        "backprop_iterations_to_reach": first_below(bp_it, bp_band["p50"], level * (1 + 1e-6)),
        "trivial_error": float(np.mean((Y - 1.0 / Y.shape[1]) ** 2)),
        "members": config.members,
        "diverged": int(al.diverged.sum()),
    }
    a, b = summary["al_iterations_to_reach"], summary["backprop_iterations_to_reach"]
    summary["speedup_backprop"] = (a + 1) / (b + 1) if a is not None and b is not None else None
    arrays = {
        "al": {"iterations": al.iterations, **al_band},
        "backprop": {"iterations": bp_it, **bp_band},
        "al_final_errors": al.traces["E"][-1],
    }
    return Result("fig2a", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs={"al": al})


def plot(result: Result, path: str | None = None):
    """E vs iteration on log-log axes: AL median and 10-90% band, back-propagation median.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib.pyplot as plt

    al, bp, s = result.arrays["al"], result.arrays["backprop"], result.summary
    fig, ax = plt.subplots(figsize=(6, 4))
    it_al = np.asarray(al["iterations"]) + 1
    ax.fill_between(it_al, al["p10"], al["p90"], color="C0", alpha=0.2, lw=0, label="AL 10-90%")
    ax.plot(it_al, al["p50"], color="C0", label=f"autonomous learning (median of {s['members']})")
    it_bp = np.asarray(bp["iterations"]) + 1
    ax.plot(it_bp, bp["p50"], "k--", label="back-propagation (median)")
    ax.axhline(s["reach_level"], color="0.5", lw=0.8, ls=":", label=f"reach level {s['reach_level']:.3f}")
    ax.set(xscale="log", yscale="log", xlabel="iteration n", ylabel="error E", title="Fig. 2a: vowels, 35-10-5 network")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return finish_figure(fig, path)


def describe(result: Result) -> str:
    """A few lines of summary for the terminal.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.

    Returns:
        The lines, joined by newlines (no trailing newline).
    """
    s = result.summary
    return "\n".join(
        [
            f"fig2a: {s['members']} members, {result.config['n_iterations']} AL iterations "
            f"(tau={result.config['tau']}, S={result.config['S']}, m={result.config['m']}), {result.wall_time:.1f} s",
            f"  AL median final E = {s['al_final_median_error']:.4f} (best decile {s['al_final_best_decile_error']:.4f}; "
            f"trivial all-0.2 output gives {s['trivial_error']:.2f}), all five vowels right: {s['al_all_correct_fraction']:.0%}, "
            f"diverged: {s['diverged']}",
            f"  back-propagation median final E = {s['backprop_final_median_error']:.4f}",
            f"  median E < {s['reach_level']:.4f}: AL at iteration {s['al_iterations_to_reach']}, "
            f"back-propagation at {s['backprop_iterations_to_reach']}",
        ]
    )
