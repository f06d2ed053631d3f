"""Fig. 3: mean final error over an ensemble on a log-spaced (tau, S) grid, for P = 5 and P = 15.

For each task the whole grid times its ensemble is **one** :func:`ensemble.evolve`
call: member ``(i, j, k)`` (tau index, S index, replica) has its own ``tau`` and
``S``; all members of a grid point share nothing but their hyperparameters. The
two tasks (vowels, vowels and digits) are two calls since their shapes differ.

The paper's grid, ensemble size, m and iteration budget were lost; the defaults
are reconstructions (the documentation's 'Evidence: feed-forward' page).
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax
import numpy as np

from .. import feedforward as ff
from .. import learning, patterns, stability
from .._checks import log_range
from ..driver import evolve
from ..options import Record
from ._common import NetworkConfig, Result, RunOptions, finish_figure, takes_run_options

TASKS = {"p5": patterns.vowels, "p15": patterns.vowels_and_digits}
"""The two tasks: ``"p5"`` the vowels (task A), ``"p15"`` the vowels and digits (task B)."""


@dataclasses.dataclass(frozen=True)
class Config(NetworkConfig):
    """Settings of the Fig. 3 sweep (reconstructions).

    The other fields (``seed``, ``n_hidden``, ``init_scale``, ``m``) are the shared ones of
    :class:`~ensemble.studies._common.NetworkConfig`.

    Attributes:
        members: networks per grid point (and task).
        n_iterations: learning iterations.
        record_every: iterations between records.
        tau_min: the smallest drift time scale of the grid.
        tau_max: the largest drift time scale of the grid.
        n_tau: grid values of tau (log-spaced).
        S_min: the smallest noise intensity of the grid.
        S_max: the largest noise intensity of the grid.
        n_S: grid values of S (log-spaced).
    """

    members: int = 100  # per grid point
    n_iterations: int = 10_000
    record_every: int = 1_000
    tau_min: float = 0.01
    tau_max: float = 1.0
    n_tau: int = 7
    S_min: float = 0.01
    S_max: float = 1.0
    n_S: int = 7

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=4, n_tau=5, n_S=5, n_iterations=2_000, record_every=500), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        log_range(self, "tau")
        log_range(self, "S")

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """``(tau (n_tau,), S (n_S,))``, log-spaced."""
        return np.geomspace(self.tau_min, self.tau_max, self.n_tau), np.geomspace(self.S_min, self.S_max, self.n_S)


class Sweep(NamedTuple):
    """One (tau, S) surface of :func:`sweep`.

    Attributes:
        final: ``(n_tau, n_S, members)`` final errors.
        diverged: ``(n_tau, n_S, members)`` bool.
        correct: ``(n_tau, n_S, members)`` bool, every pattern classified right.
        run: the :class:`~ensemble.results.Run` behind them (members in that order).
    """

    final: np.ndarray
    diverged: np.ndarray
    correct: np.ndarray
    run: object


def sweep(X, Y, tau: np.ndarray, S: np.ndarray, config: Config, options: RunOptions = RunOptions(), tag: str = "") -> Sweep:
    """One batched run of the grid ``tau x S x members``.

    Args:
        X: ``(P, 35)`` inputs.
        Y: ``(P, P)`` targets.
        tau: the grid's drift time scales.
        S: the grid's noise intensities.
        config: the settings (members per point, iterations, network).
        options: progress, checkpoints (``fig3_<tag>``) and chunk length.
        tag: the task's name in the checkpoint.

    Returns:
        A :class:`Sweep`.
    """
    n_tau, n_S, M = len(tau), len(S), config.members
    B = n_tau * n_S * M
    tau_m = np.repeat(tau, n_S * M)
    S_m = np.tile(np.repeat(S, M), n_tau)
    params, k_run = config.initial_networks(X, Y, B)
    run = evolve(
        ff.Task(X, Y),
        learning.discrete(config.m),
        params,
        learning.DiscreteHyper(tau_m, S_m, config.m),
        key=k_run,
        n_iterations=config.n_iterations,
        record=Record(every=config.record_every),
        **options.evolve(f"fig3_{tag}", {"study": "fig3", "task": tag, "config": dataclasses.asdict(config)}),
    )
    final = run.traces["E"][-1].reshape(n_tau, n_S, M)
    correct = np.asarray(jax.vmap(lambda p: ff.correct(p, X, Y))(run.params)) & ~run.diverged
    return Sweep(final, run.diverged.reshape(n_tau, n_S, M), correct.reshape(n_tau, n_S, M), run)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """Both error surfaces (P = 5 and P = 15), one batched call each.

    Args:
        config: the settings.
        options: progress, checkpoints (``fig3_p5``, ``fig3_p15``) and chunk length (a multiple
            of ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays["tau"]`` ``(n_tau,)``, ``arrays["S"]``
            ``(n_S,)``; per task (``"p5"``, ``"p15"``) ``mean_error``, ``median_error``,
            ``all_correct_fraction`` and ``diverged`` ``(n_tau, n_S)`` and the stability law's
            ``tau_c`` ``(n_S,)``; ``summary`` each task's best (tau, S), its mean final error and
            whether it is interior, and the distance of the two optima in grid cells;
            ``runs["p5"]``, ``runs["p15"]`` the runs.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    tau, S = config.grid()
    arrays = {"tau": tau, "S": S, "mean_error": {}, "median_error": {}, "all_correct_fraction": {}, "diverged": {},
              "tau_c": {}}
    summary = {"members_per_point": config.members}
    runs = {}
    for name, task in TASKS.items():
        X, Y = task()
        final, dead, correct, runs[name] = sweep(X, Y, tau, S, config, options, tag=name)
        with np.errstate(all="ignore"):
            mean = np.nanmean(final, axis=2)
            median = np.nanmedian(final, axis=2)
        arrays["mean_error"][name] = mean
        arrays["median_error"][name] = median
        arrays["all_correct_fraction"][name] = correct.mean(axis=2)
        arrays["diverged"][name] = dead.sum(axis=2)
        # the stability law's border (ensemble.stability): tau_c = m sd(dE_m) at each S, from a
        # pilot with the drift off on PILOT_MEMBERS of the same initial networks
        pilot, _ = config.initial_networks(X, Y, PILOT_MEMBERS)
        k_pilot = jax.random.fold_in(jax.random.key(config.seed), 3)
        arrays["tau_c"][name] = stability.critical_taus(ff.Task(X, Y), pilot, S, config.m, key=k_pilot)
        i, j = np.unravel_index(np.nanargmin(mean), mean.shape)
        summary[f"{name}_best_tau"] = float(tau[i])
        summary[f"{name}_best_S"] = float(S[j])
        summary[f"{name}_best_mean_error"] = float(mean[i, j])
        summary[f"{name}_best_index"] = [int(i), int(j)]
        summary[f"{name}_best_is_interior"] = bool(0 < i < len(tau) - 1 and 0 < j < len(S) - 1)
        summary[f"{name}_diverged"] = int(dead.sum())
    (i5, j5), (i15, j15) = summary["p5_best_index"], summary["p15_best_index"]
    summary["optimum_distance_cells"] = int(max(abs(i5 - i15), abs(j5 - j15)))
    summary["diverged"] = summary["p5_diverged"] + summary["p15_diverged"]
    return Result("fig3", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs=runs)


PILOT_MEMBERS = 128
"""Members of the pilot run that gives the stability law's ``tau_c`` at each S."""


def plot(result: Result, path: str | None = None):
    """Two heat maps of log10(mean final E) over (tau, S), minimum marked, with the stability
    law's border ``tau_c(S)`` and ``3 tau_c(S)`` where the result has it.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    tau, S = np.asarray(result.arrays["tau"]), np.asarray(result.arrays["S"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    surfaces = [np.asarray(result.arrays["mean_error"][k], float) for k in ("p5", "p15")]
    vmin = min(np.nanmin(s) for s in surfaces)
    vmax = max(np.nanmax(s) for s in surfaces)
    for ax, name, surf, label in zip(axes, ("p5", "p15"), surfaces, ("a: vowels, P = 5", "b: vowels and digits, P = 15")):
        im = ax.pcolormesh(_edges(S), _edges(tau), surf, cmap="viridis", shading="flat",
                           norm=matplotlib.colors.LogNorm(vmin=vmin, vmax=vmax))
        i, j = result.summary[f"{name}_best_index"]
        ax.plot(S[j], tau[i], "r*", ms=12, label=f"min {surf[i, j]:.3f} at tau={tau[i]:.3g}, S={S[j]:.3g}")
        tau_c = result.arrays.get("tau_c", {}).get(name)
        if tau_c is not None:
            tau_c = np.asarray(tau_c, float)
            ax.plot(S, tau_c, "w--", lw=1, label="tau_c = m sd(dE_m): below, the drift amplifies")
            ax.plot(S, 3 * tau_c, "w:", lw=1, label="3 tau_c")
            ax.set_ylim(_edges(tau)[0], _edges(tau)[-1])
        ax.set(xscale="log", yscale="log", xlabel="noise intensity S", ylabel="drift time scale tau", title=f"Fig. 3{label}")
        ax.legend(fontsize=7, loc="lower left")
    fig.colorbar(im, ax=axes, label=f"mean final E ({result.summary['members_per_point']} members per point)")
    return finish_figure(fig, path)


def _edges(c: np.ndarray) -> np.ndarray:
    """Cell edges of a log-spaced grid of centres."""
    if len(c) == 1:
        return np.array([c[0] / 1.5, c[0] * 1.5])
    lc = np.log(c)
    mid = (lc[1:] + lc[:-1]) / 2
    return np.exp(np.concatenate([[2 * lc[0] - mid[0]], mid, [2 * lc[-1] - mid[-1]]]))


def describe(result: Result) -> str:
    """A few lines of summary for the terminal.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.

    Returns:
        The lines, joined by newlines (no trailing newline).
    """
    s, c = result.summary, result.config
    lines = [f"fig3: {c['n_tau']}x{c['n_S']} grid x {c['members']} members, {c['n_iterations']} iterations, "
             f"m={c['m']}, {result.wall_time:.1f} s"]
    for name in ("p5", "p15"):
        lines.append(
            f"  {name}: min mean E = {s[f'{name}_best_mean_error']:.4f} at tau={s[f'{name}_best_tau']:.3g}, "
            f"S={s[f'{name}_best_S']:.3g} (interior: {s[f'{name}_best_is_interior']}), diverged {s[f'{name}_diverged']}"
        )
    lines.append(f"  optima {s['optimum_distance_cells']} grid cell(s) apart")
    return "\n".join(lines)
