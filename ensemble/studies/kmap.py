"""kmap: the Kuramoto network's (tau, S) map with the stability law's border.

Not a figure of the paper: the Kuramoto counterpart of Fig. 3's error surface, made to check the
stability law of :mod:`ensemble.stability` on the second system. One batched eq. (13) run of
``members`` networks at every point of a (tau, S) grid, in the Kuramoto studies' regime
(:class:`KuramotoConfig`); per point the fraction of members that diverge (non-finite weights)
or run away (final mean ``|w|`` above ``runaway x M0``), the median final E and the success
fraction (the frozen check of the other Kuramoto studies). At each S the law's
``tau_c = m sd(dE_m)`` comes from a pilot of ``pilot_members`` networks with the drift off
(:func:`ensemble.stability.critical_tau`); the law predicts failure (divergence or run-away)
for ``tau <= tau_c`` and stability for ``tau >= 3 tau_c``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import jax
import numpy as np

from .. import stability
from .._checks import integer_at_least, log_range, positive
from ._common import Result, RunOptions, finish_figure, takes_run_options
from ._kuramoto import KuramotoConfig, run_ensemble


@dataclasses.dataclass(frozen=True)
class Config(KuramotoConfig):
    """Settings of the (tau, S) map: ``n_tau`` values of tau from ``tau_min`` to ``tau_max``
    (log-spaced) x the values ``S_values``, ``members`` networks per point.

    The other fields are the shared ones of :class:`~ensemble.studies._kuramoto.KuramotoConfig`
    (its ``tau`` and ``S`` are not used: the grid replaces them).

    Attributes:
        members: networks per grid point.
        n_iterations: learning iterations.
        record_every: iterations between records.
        tau_min: the smallest drift time scale of the grid.
        tau_max: the largest drift time scale of the grid.
        n_tau: grid values of tau (log-spaced).
        S_values: the grid's noise intensities (each > 0).
        pilot_members: networks of the pilot that gives ``tau_c`` at each S (>= 2).
        runaway: a member whose final mean ``|w|`` exceeds ``runaway * M0`` has run away.
    """

    members: int = 32
    n_iterations: int = 1000
    record_every: int = 10
    tau_min: float = 1e-3
    tau_max: float = 3.0
    n_tau: int = 8
    S_values: tuple = (0.3, 1.0, 3.0, 10.0)
    pilot_members: int = 128
    runaway: float = 1.5

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=4, n_tau=4, S_values=(1.0, 10.0), n_iterations=100,
                                       pilot_members=16, T=5.0), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        log_range(self, "tau")
        if len(self.S_values) < 1:
            raise ValueError("S_values must hold at least one noise intensity S")
        for S in self.S_values:
            positive("S_values", S)
        integer_at_least("pilot_members", self.pilot_members, 2)
        positive("runaway", self.runaway)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """``(tau (n_tau,), S (n_S,))``."""
        return np.geomspace(self.tau_min, self.tau_max, self.n_tau), np.asarray(self.S_values, float)


def critical_taus(config: Config) -> np.ndarray:
    """The stability law's ``tau_c`` at each S of the grid.

    One batched run (:func:`ensemble.stability.critical_taus`) on ``pilot_members`` networks of
    the study's initial ensemble: eq. (4) alone with the drift off, over ``m`` iterations.

    Args:
        config: the settings (``pilot_members``, ``S_values``, ``m``, the system).

    Returns:
        ``(n_S,)`` values of ``tau_c``, one per entry of ``S_values``.

    Raises:
        ValueError: fewer than 2 pilot networks survive the noise alone at some S.
    """
    params, key = config.initial_weights(config.pilot_members)
    pilot_key = jax.random.fold_in(key, 1)
    return stability.critical_taus(config.system(), params, config.grid()[1], config.m, key=pilot_key)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """One batched run over the (tau, S) grid x members, the pilots for ``tau_c``, the verdicts.

    Args:
        config: the settings.
        options: progress, checkpoints (``kmap``; the pilot has none) and chunk length (a
            multiple of ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays["tau"]`` ``(n_tau,)``, ``arrays["S"]``
            and ``arrays["tau_c"]`` ``(n_S,)``; per point ``(n_tau, n_S)`` ``diverged_fraction``,
            ``failed_fraction`` (diverged or run away), ``median_final_E``, ``success_fraction``,
            ``median_final_M`` and the law's ``prediction`` (:func:`ensemble.stability.predict`);
            ``summary`` the failed fractions where the law predicts divergence and stability and
            the best point; ``runs["kmap"]`` the run.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    tau, S = config.grid()
    nt, ns, K = tau.size, S.size, config.members
    tau_m = np.repeat(np.repeat(tau, ns), K)  # member order: (tau, S, member)
    S_m = np.repeat(np.tile(S, nt), K)
    ens = run_ensemble(config, tau=tau_m.astype(np.float32), S=S_m.astype(np.float32), n_members=nt * ns * K,
                       tag="kmap", options=options)
    shape = (nt, ns, K)
    dead = ens.run.diverged.reshape(shape)
    M = ens.final_M.reshape(shape)
    failed = dead | (M > config.runaway * config.M0)  # NaN M (diverged) compares False, dead covers it
    E = np.asarray(ens.run.traces["E"], float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # members NaN over the last records
        final_E = np.where(ens.run.diverged, np.nan, np.nanmedian(E[-10:], axis=0)).reshape(shape)
    tau_c = critical_taus(config)
    pred = np.stack([stability.predict(tau, float(tc)) for tc in tau_c], axis=1)  # (nt, ns)
    fail = failed.mean(axis=2)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points
        arrays = {
            "tau": tau, "S": S, "tau_c": tau_c,
            "diverged_fraction": dead.mean(axis=2),
            "failed_fraction": fail,
            "median_final_E": np.nanmedian(final_E, axis=2),
            "success_fraction": ens.success.reshape(shape).mean(axis=2),
            "median_final_M": np.nanmedian(M, axis=2),
            "prediction": pred,
        }
    below, above = pred == "diverges", pred == "stable"
    summary = {
        "points_predicted_unstable": int(below.sum()),
        "points_predicted_stable": int(above.sum()),
        "failed_fraction_predicted_unstable": float(fail[below].mean()) if below.any() else None,
        "failed_fraction_predicted_stable": float(fail[above].mean()) if above.any() else None,
        "best_success_fraction": float(arrays["success_fraction"].max()),
        "best_tau": float(tau[np.unravel_index(np.argmax(arrays["success_fraction"]), (nt, ns))[0]]),
        "best_S": float(S[np.unravel_index(np.argmax(arrays["success_fraction"]), (nt, ns))[1]]),
        "members_per_point": K,
        "diverged": int(dead.sum()),
    }
    return Result("kmap", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs={"kmap": ens.run})


def plot(result: Result, path: str | None = None):
    """Fraction failed (diverged or run away) and success fraction over (tau, S), with tau_c(S)
    and 3 tau_c(S).

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
    tau, S, tau_c = (np.asarray(a[k], float) for k in ("tau", "S", "tau_c"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    panels = (("failed_fraction", "fraction diverged or run away", "Reds"),
              ("success_fraction", "success fraction (|R - R0| <= tol, frozen)", "Blues"))
    for ax, (key, label, cmap) in zip(axes, panels):
        im = ax.pcolormesh(np.arange(S.size + 1), np.arange(tau.size + 1), np.asarray(a[key], float),
                           cmap=cmap, vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, label=label)
        # the border in grid coordinates: log-interpolated tau index at each S column centre
        y = np.interp(np.log(tau_c), np.log(tau), np.arange(tau.size)) + 0.5
        y3 = np.interp(np.log(3 * tau_c), np.log(tau), np.arange(tau.size)) + 0.5
        x = np.arange(S.size) + 0.5
        ax.plot(x, y, "k--", lw=1.2, label="tau_c(S) = m sd(dE_m)")
        ax.plot(x, y3, "k:", lw=1.2, label="3 tau_c(S)")
        ax.set(xticks=x, xticklabels=[f"{v:g}" for v in S], yticks=np.arange(tau.size) + 0.5,
               yticklabels=[f"{v:.2g}" for v in tau], xlabel="noise intensity S")
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("drift time scale tau")
    fig.suptitle(f"Kuramoto (tau, S) map with the stability border, {s['members_per_point']} networks per point", fontsize=10)
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
    lines = [f"kmap: {c['n_tau']} tau x {len(c['S_values'])} S x {s['members_per_point']} members, "
             f"{c['n_iterations']} iterations, T={c['T']}, {result.wall_time:.1f} s"]
    for j, S in enumerate(a["S"]):
        fails = " ".join(f"{f:.2f}" for f in np.asarray(a["failed_fraction"], float)[:, j])
        lines.append(f"  S={S:g}: tau_c {float(a['tau_c'][j]):.3g}; failed at each tau: {fails}")
    lines.append(f"  failed where the law predicts divergence: {s['failed_fraction_predicted_unstable']}, "
                 f"where it predicts stability: {s['failed_fraction_predicted_stable']}; best success "
                 f"{s['best_success_fraction']:.0%} at tau {s['best_tau']:.3g}, S {s['best_S']:g}")
    return "\n".join(lines)
