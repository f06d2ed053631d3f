"""Fig. 6: Kuramoto ensembles vs the control strength gamma: final R and M (mean and spread).

The paper's claim: with large gamma, M stays at M0 but R ends far from R0; with small gamma,
R reaches R0 but M grows well above M0; a compromise gamma has a stated success fraction.
The whole log-spaced gamma grid times its ensemble is **one** :func:`ensemble.evolve` call
(member ``(i, k)`` has ``gamma[i]``). Final R is the frozen success check (weights frozen,
``check_windows`` windows from the final phases); success is ``|R - R0| <= tolerance``.

The compromise gamma is the smallest grid gamma whose ensemble mean M is within
``M_tolerance * M0`` of M0 (weaker control lets M run away; stronger control only pins M
harder); its success fraction is reported. ``best_both_gamma`` is, for comparison, the grid
point whose members most often meet both goals (``|R - R0| <= tolerance`` and
``|M - M0| <= M_tolerance * M0``).

Every constant is a reconstruction (the Kuramoto studies' shared settings; the documentation's
'Evidence: Kuramoto' page).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from .._checks import log_range, positive
from ._common import Result, RunOptions, finish_figure, takes_run_options
from ._kuramoto import KuramotoConfig, run_ensemble


@dataclasses.dataclass(frozen=True)
class Config(KuramotoConfig):
    """Settings of the Fig. 6 sweep (reconstructions).

    The other fields are the shared ones of :class:`~ensemble.studies._kuramoto.KuramotoConfig`
    (its ``gamma`` is not used: the grid replaces it).

    Attributes:
        members: networks per gamma.
        gamma_min: the smallest control strength of the grid.
        gamma_max: the largest control strength of the grid.
        n_gamma: grid values of gamma (log-spaced).
        M_tolerance: the mean-weight goal, ``|M - M0| <= M_tolerance * M0`` (relative).
    """

    members: int = 100
    gamma_min: float = 1e-4
    gamma_max: float = 1.0
    n_gamma: int = 9
    M_tolerance: float = 0.1

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=8, n_gamma=5, n_iterations=2000, record_every=50), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        log_range(self, "gamma")
        positive("M_tolerance", self.M_tolerance)

    def grid(self) -> np.ndarray:
        """The ``n_gamma`` values of gamma, log-spaced."""
        return np.geomspace(self.gamma_min, self.gamma_max, self.n_gamma)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """One batched run of the gamma grid x members; final R and M statistics per gamma.

    Args:
        config: the settings.
        options: progress, checkpoints (``fig6``) and chunk length (a multiple of
            ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays["gamma"]`` ``(n_gamma,)``; per gamma the
            mean and standard deviation of the frozen-check R and final M, the mean gaps to R0 and
            M0, ``success_fraction``, ``both_fraction`` (both goals met) and ``diverged``;
            ``R_members`` and ``M_members`` ``(n_gamma, members)``; ``summary`` the compromise gamma
            with its fractions and means and the gamma that meets both goals most often;
            ``runs["fig6"]`` the run.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    gamma = config.grid()
    G, K = len(gamma), config.members
    ens = run_ensemble(config, gamma=np.repeat(gamma, K), n_members=G * K, tag="fig6",
                       options=options)
    R = ens.R_check.reshape(G, K)
    M = ens.final_M.reshape(G, K)
    ok = ens.success.reshape(G, K)
    M_ok = np.abs(M - config.M0) <= config.M_tolerance * config.M0
    both = (ok & M_ok).mean(axis=1)
    dead = ens.run.diverged.reshape(G, K)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices when every member diverged
        arrays = {
            "gamma": gamma,
            "mean_R": np.nanmean(R, axis=1), "std_R": np.nanstd(R, axis=1),
            "mean_M": np.nanmean(M, axis=1), "std_M": np.nanstd(M, axis=1),
            "mean_abs_R_gap": np.nanmean(np.abs(R - config.R0), axis=1),
            "mean_abs_M_gap": np.nanmean(np.abs(M - config.M0), axis=1),
            "success_fraction": ok.mean(axis=1),
            "both_fraction": both,
            "diverged": dead.sum(axis=1),
            "R_members": R, "M_members": M,
        }
    near = np.flatnonzero(np.abs(arrays["mean_M"] - config.M0) <= config.M_tolerance * config.M0)
    i = int(near[0]) if near.size else G - 1
    j = int(np.argmax(both))
    summary = {
        "compromise_gamma": float(gamma[i]),
        "compromise_success_fraction": float(ok[i].mean()),
        "compromise_both_fraction": float(both[i]),
        "compromise_mean_R": float(arrays["mean_R"][i]),
        "compromise_mean_M": float(arrays["mean_M"][i]),
        "best_both_gamma": float(gamma[j]),
        "best_both_fraction": float(both[j]),
        "R0": config.R0, "M0": config.M0,
        "members_per_point": K,
        "diverged": int(dead.sum()),
    }
    return Result("fig6", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs={"fig6": ens.run})


def plot(result: Result, path: str | None = None):
    """Final mean R and M (with one standard deviation) vs gamma; R0, M0 dashed; success fraction.

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
    g = np.asarray(a["gamma"])
    mR, sR, mM, sM = (np.asarray(a[k], float) for k in ("mean_R", "std_R", "mean_M", "std_M"))
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(6, 7.5), sharex=True)
    ax1.errorbar(g, mR, yerr=sR, marker="o", color="C3", capsize=3)
    ax1.axhline(s["R0"], color="k", ls="--", lw=0.8, label=f"R0 = {s['R0']:g}")
    ax1.set(xscale="log", ylabel="final R (frozen)", title=f"Fig. 6: ensembles vs gamma ({s['members_per_point']} per point)")
    ax1.legend(fontsize=8)
    ax2.errorbar(g, mM, yerr=sM, marker="o", color="C2", capsize=3)
    ax2.axhline(s["M0"], color="k", ls="--", lw=0.8, label=f"M0 = {s['M0']:g}")
    ax2.set(ylabel="final M")
    ax2.legend(fontsize=8)
    ax3.plot(g, a["success_fraction"], "o-", color="C0", label="|R - R0| <= tol")
    ax3.plot(g, a["both_fraction"], "s--", color="C1", label="and |M - M0| <= tol_M M0")
    ax3.axvline(s["compromise_gamma"], color="k", lw=0.8, ls=":", label=f"compromise gamma = {s['compromise_gamma']:.3g}")
    ax3.set(xlabel="control strength gamma", ylabel="fraction of members", ylim=(-0.03, 1.03))
    ax3.legend(fontsize=8)
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
    lines = [f"fig6: {c['n_gamma']} gammas x {s['members_per_point']} members, {c['n_iterations']} iterations, "
             f"T={c['T']}, {result.wall_time:.1f} s"]
    for g, r, m, f in zip(a["gamma"], a["mean_R"], a["mean_M"], a["success_fraction"]):
        lines.append(f"  gamma={g:.3g}: mean R={r:.4f}, mean M={m:.4f}, success {f:.0%}")
    lines.append(f"  compromise gamma {s['compromise_gamma']:.3g}: success {s['compromise_success_fraction']:.0%}, "
                 f"both goals {s['compromise_both_fraction']:.0%}; most often both goals at gamma {s['best_both_gamma']:.3g} "
                 f"({s['best_both_fraction']:.0%}); diverged {s['diverged']}")
    return "\n".join(lines)
