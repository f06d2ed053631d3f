"""Fig. 2b: one biparametric run (eq. 8): E and R vs iteration, threshold eps drawn.

The paper's claim: R stays 0 while E is high; once E nears eps, robustness
learning switches on by itself, R rises and E stays below eps. The run is a
small ensemble (default 8 members, one batched call); the plot shows the member
with the highest final R together with the ensemble median.

tau_E, S_E and m are the Fig. 2a defaults; tau_R, S_R and eps are
reconstructions (the paper's values were lost; the documentation's 'Evidence: feed-forward'
page).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import feedforward as ff
from .. import learning, patterns
from .._checks import positive
from ..driver import evolve
from ..options import Record
from ._common import Result, RobustConfig, RunOptions, finish_figure, first_below, takes_run_options


@dataclasses.dataclass(frozen=True)
class Config(RobustConfig):
    """Settings of the Fig. 2b run (reconstructions).

    The other fields are the shared ones of :class:`~ensemble.studies._common.RobustConfig`
    (eq. (8)'s constants) and :class:`~ensemble.studies._common.NetworkConfig`.

    Attributes:
        members: ensemble size (the plot shows the member with the highest final R).
        n_iterations: learning iterations.
        record_every: iterations between records.
        eps: the functionality threshold of eq. (7): a damaged network counts towards R when
            its error is below eps.
    """

    members: int = 8
    n_iterations: int = 100_000
    record_every: int = 500
    eps: float = 0.1

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=4, n_iterations=20_000, record_every=200), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        positive("eps", self.eps)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """One batched eq. (8) run of ``config.members`` networks on the vowels.

    Args:
        config: the settings.
        options: progress, checkpoints (``fig2b``) and chunk length (a multiple of
            ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``summary`` the shown member's (highest final R)
            final E and R, the first iterations at which its R rises above 0 and its E falls below
            eps, and the ensemble's median final E and mean final R; ``arrays`` the recorded
            iterations, the shown member's E and R traces, ``median_E`` and ``mean_R`` over the
            members; ``runs["al"]`` the run.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    X, Y = patterns.vowels()
    params, k_run = config.initial_networks(X, Y)
    out = evolve(
        ff.Task(X, Y, eps=config.eps),
        learning.biparametric(config.m),
        params,
        learning.BiparametricHyper(config.tau_E, config.S_E, config.tau_R, config.S_R, config.m),
        key=k_run,
        n_iterations=config.n_iterations,
        record=Record(every=config.record_every),
        **options.evolve("fig2b", {"study": "fig2b", "config": dataclasses.asdict(config)}),
    )
    E, R = out.traces["E"], out.traces["R"]
    ok = ~out.diverged
    best = int(np.flatnonzero(ok)[np.argmax(R[-1, ok])]) if ok.any() else 0
    rises = np.flatnonzero(R[:, best] > 0)
    first_R = int(out.iterations[rises[0]]) if rises.size else None
    after = E[rises[0]:, best] if rises.size else np.array([])
    summary = {
        "eps": config.eps,
        "shown_member": best,
        "final_E": float(E[-1, best]),
        "final_R": float(R[-1, best]),
        "first_iteration_R_positive": first_R,
        "first_iteration_E_below_eps": first_below(out.iterations, E[:, best], config.eps),
        "fraction_below_eps_after_R_rises": float(np.mean(after < config.eps)) if after.size else None,
        "median_final_E": float(np.nanmedian(E[-1])),
        "mean_final_R": float(np.nanmean(R[-1])),
        "members": config.members,
        "diverged": int(out.diverged.sum()),
    }
    arrays = {"iterations": out.iterations, "E": E[:, best], "R": R[:, best],
              "median_E": np.nanmedian(E, axis=1), "mean_R": np.nanmean(R, axis=1)}
    return Result("fig2b", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs={"al": out})


def plot(result: Result, path: str | None = None):
    """E (log scale) and R vs iteration for the shown member, eps dashed; ensemble median/mean thin.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib.pyplot as plt

    a, s = result.arrays, result.summary
    it = np.asarray(a["iterations"]) + 1
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    ax1.plot(it, a["E"], color="C0", label=f"member {s['shown_member']}")
    ax1.plot(it, a["median_E"], color="C0", lw=0.7, alpha=0.5, label=f"median of {s['members']}")
    ax1.axhline(s["eps"], color="k", ls="--", lw=0.8, label=f"eps = {s['eps']:g}")
    ax1.set(yscale="log", ylabel="error E", title="Fig. 2b: biparametric learning (eq. 8), vowels")
    ax1.legend(fontsize=8)
    ax2.plot(it, a["R"], color="C3", label=f"member {s['shown_member']}")
    ax2.plot(it, a["mean_R"], color="C3", lw=0.7, alpha=0.5, label=f"mean of {s['members']}")
    ax2.set(xscale="log", xlabel="iteration n", ylabel="robustness R", ylim=(-0.05, 1.05))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return finish_figure(fig, path)


def describe(result: Result) -> str:
    """A few lines of summary for the terminal.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.

    Returns:
        The lines, joined by newlines (no trailing newline).
    """
    s, c = result.summary, result.config
    return "\n".join([
        f"fig2b: {s['members']} members, {c['n_iterations']} iterations of eq. (8), eps={s['eps']}, {result.wall_time:.1f} s",
        f"  member {s['shown_member']}: final E = {s['final_E']:.4f}, final R = {s['final_R']:.2f}; "
        f"E < eps from iteration {s['first_iteration_E_below_eps']}, R > 0 from {s['first_iteration_R_positive']}; "
        f"E < eps in {_percent(s['fraction_below_eps_after_R_rises'])} of the records after R rose",
        f"  ensemble: median final E = {s['median_final_E']:.4f}, mean final R = {s['mean_final_R']:.2f}, "
        f"diverged {s['diverged']}",
    ])


def _percent(x) -> str:
    return "n/a" if x is None else f"{x:.0%}"
