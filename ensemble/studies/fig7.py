"""Fig. 7: Kuramoto ensembles vs the window T at the chosen gamma: R and M of the successful runs.

The paper's claim: with short windows M grows well above M0; with longer windows M -> M0;
learning works already for short T. One :func:`ensemble.evolve` call per T (the number of
Euler steps per iteration is static), batching the members; every T uses the same member keys
and the same learning constants. Success is the frozen check of the final weights over
``check_windows`` windows of that run's T: ``|R - R0| <= tolerance``.

Every constant is a reconstruction (the Kuramoto studies' shared settings; the documentation's
'Evidence: Kuramoto' page).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from .._checks import positive
from ._common import Result, RunOptions, finish_figure, takes_run_options
from ._kuramoto import KuramotoConfig, run_ensemble


@dataclasses.dataclass(frozen=True)
class Config(KuramotoConfig):
    """Settings of the Fig. 7 sweep (reconstructions).

    The other fields are the shared ones of :class:`~ensemble.studies._kuramoto.KuramotoConfig`
    (its ``T`` is not used: ``windows`` replaces it).

    Attributes:
        members: networks per window T.
        windows: the window lengths T (time units, each at least ``dt / 2``), one run each.
    """

    members: int = 100
    windows: tuple = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=8, windows=(1.0, 5.0, 20.0), n_iterations=2000, record_every=50), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        if len(self.windows) < 1:
            raise ValueError("windows must hold at least one window length T")
        for T in self.windows:
            positive("windows", T)
            if round(T / self.dt) < 1:
                raise ValueError(f"windows must be >= dt / 2 ({self.dt / 2}), got {T}")


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """One batched run per window T; R and M of the successful members.

    Args:
        config: the settings.
        options: progress, checkpoints (``fig7_T<T>``, one per window) and chunk length (a
            multiple of ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays["T"]`` ``(n_T,)``; per T the mean and
            standard deviation of the frozen-check R and final M over the successful members (NaN
            where none succeeds), ``median_M_all`` over all members, ``success_fraction`` and
            ``diverged``; ``R_members`` and ``M_members`` ``(n_T, members)``; ``summary`` the mean M
            and success fraction at the shortest and longest T; ``runs["T<T>"]`` the runs.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    Ts = np.asarray(config.windows, float)
    keys = ("mean_R", "std_R", "mean_M", "std_M", "median_M_all", "success_fraction", "diverged")
    arrays = {k: [] for k in keys}
    R_all, M_all, runs = [], [], {}
    for T in Ts:
        ens = run_ensemble(config, T=float(T), tag=f"fig7_T{T:g}", options=options)
        ok = ens.success
        R_ok, M_ok = ens.R_check[ok], ens.final_M[ok]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices when every member diverged
            arrays["mean_R"].append(float(np.mean(R_ok)) if ok.any() else np.nan)
            arrays["std_R"].append(float(np.std(R_ok)) if ok.any() else np.nan)
            arrays["mean_M"].append(float(np.mean(M_ok)) if ok.any() else np.nan)
            arrays["std_M"].append(float(np.std(M_ok)) if ok.any() else np.nan)
            arrays["median_M_all"].append(float(np.nanmedian(ens.final_M)))
        arrays["success_fraction"].append(float(ok.mean()))
        arrays["diverged"].append(int(ens.run.diverged.sum()))
        runs[f"T{T:g}"] = ens.run
        R_all.append(ens.R_check)
        M_all.append(ens.final_M)
    arrays = {"T": Ts, **{k: np.asarray(v) for k, v in arrays.items()},
              "R_members": np.asarray(R_all), "M_members": np.asarray(M_all)}
    mM = arrays["mean_M"]
    summary = {
        "gamma": config.gamma, "R0": config.R0, "M0": config.M0,
        "shortest_T": float(Ts[0]), "longest_T": float(Ts[-1]),
        "shortest_T_mean_M": float(mM[0]), "longest_T_mean_M": float(mM[-1]),
        "shortest_T_success_fraction": float(arrays["success_fraction"][0]),
        "longest_T_success_fraction": float(arrays["success_fraction"][-1]),
        "members_per_T": config.members,
        "diverged": int(arrays["diverged"].sum()),
    }
    return Result("fig7", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs=runs)


def plot(result: Result, path: str | None = None):
    """R and M of the successful runs (mean, one standard deviation) and the success fraction vs T.

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
    T = np.asarray(a["T"], float)
    f = lambda k: np.asarray(a[k], float)  # noqa: E731 (None -> nan)
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(6, 7.5), sharex=True)
    ax1.errorbar(T, f("mean_R"), yerr=f("std_R"), marker="o", color="C3", capsize=3)
    ax1.axhline(s["R0"], color="k", ls="--", lw=0.8, label=f"R0 = {s['R0']:g}")
    ax1.set(xscale="log", ylabel="R (successful runs)", title=f"Fig. 7: ensembles vs window T (gamma = {s['gamma']:g})")
    ax1.legend(fontsize=8)
    ax2.errorbar(T, f("mean_M"), yerr=f("std_M"), marker="o", color="C2", capsize=3, label="successful runs")
    ax2.plot(T, f("median_M_all"), "x:", color="C2", alpha=0.6, label="all runs (median)")
    ax2.axhline(s["M0"], color="k", ls="--", lw=0.8, label=f"M0 = {s['M0']:g}")
    ax2.set(ylabel="final M")
    ax2.legend(fontsize=8)
    ax3.plot(T, f("success_fraction"), "o-", color="C0")
    ax3.set(xlabel="window T", ylabel=f"success fraction ({s['members_per_T']} runs)", ylim=(-0.03, 1.03))
    fig.tight_layout()
    return finish_figure(fig, path)


def describe(result: Result) -> str:
    """A few lines of summary for the terminal.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.

    Returns:
        The lines, joined by newlines (no trailing newline).
    """
    s, c, a = result.summary, result.config, result.arrays
    lines = [f"fig7: {len(a['T'])} windows x {s['members_per_T']} members, {c['n_iterations']} iterations, "
             f"gamma={s['gamma']}, {result.wall_time:.1f} s"]
    for T, r, m, f in zip(a["T"], a["mean_R"], a["mean_M"], a["success_fraction"]):
        lines.append(f"  T={T:g}: successful runs {f:.0%}, their mean R={r:.4f}, mean M={m:.4f}")
    lines.append(f"  diverged {s['diverged']}")
    return "\n".join(lines)
