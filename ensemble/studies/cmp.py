"""cmp: discrete map (eq. 4 + 13) vs continuous law (eq. 3 + control) on the same Kuramoto networks.

Both schemes start from the same systems: the same natural frequencies, M0,
R0, initial weights (all ``w_ij = M0``) and, member by member, the same initial
phases (the same run key and member ids; both systems draw the phases alike).

* **discrete**: one learning iteration integrates a window ``T`` with fixed
  weights, measures ``R`` and ``E`` and applies eq. (4) + the control term of
  eq. (13) (:class:`ensemble.kuramoto.Oscillators`, constants of
  :class:`KuramotoConfig`);
* **continuous**: the weights move during the integration, one Euler-Maruyama
  step of eq. (3) per Euler step ``dt`` of the phases, with ``E(t)`` from the
  running mean ``R(t)`` of ``r`` over ``[t - T, t]``, delay ``T`` and the
  control term as a rate ``gamma_c`` (:class:`ensemble.kuramoto.ContinuousOscillators`).

Both run for the same simulated time ``n_windows x T`` and are compared on the
grid of window ends ``t = kT``, where both ``R`` values are the mean of ``r``
over ``[(k-1)T, kT]`` (for the discrete map with the weights of iteration
``k``; for the continuous law with the weights moving).

* time to target: the first ``t = kT`` with ``|R - R0| <= tolerance``
  (``None`` for a member that never gets there within the horizon);
* success: the final weights, frozen, integrated for ``check_windows`` windows
  from the final phases give a mean order parameter (over all those windows)
  with ``|R - R0| <= tolerance``.

Constants of the continuous law: matching one window of eq. (3) to one
iteration of eq. (4) gives ``tau_c = T tau``, ``S_c = S / sqrt(T)`` and
``gamma_c = gamma / T`` (the drift and control accumulate over the ``T/dt``
steps of a window, the noise as a random walk). ``None`` fields take these
matched values times the calibrated factors (the documentation's 'Evidence: Kuramoto'
page).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import kuramoto as ku
from .. import learning
from .._checks import integer_at_least, positive, nonnegative
from ..driver import evolve
from ..options import Placement, Record
from ._common import Result, RunOptions, finish_figure, quantile_bands, takes_run_options
from ._kuramoto import KuramotoConfig


@dataclasses.dataclass(frozen=True)
class Config(KuramotoConfig):
    """Settings of the comparison (the shared Kuramoto settings plus the continuous law's constants).

    The other fields are the shared ones of :class:`~ensemble.studies._kuramoto.KuramotoConfig`
    (its ``n_iterations`` and ``record_every`` are not used: ``n_windows`` replaces them).

    Attributes:
        members: networks per scheme (the same systems and initial phases for both).
        n_windows: horizon in windows ``T``, the same simulated time for both schemes.
        tau_c: eq. (3)'s drift time scale (time units); None: ``tau_factor * T * tau``.
        S_c: eq. (3)'s noise intensity; None: ``S_factor * S / sqrt(T)``.
        gamma_c: the control rate (per time unit); None: ``gamma / T``.
        tau_factor: calibrated multiplier of the matched ``tau_c``.
        S_factor: calibrated multiplier of the matched ``S_c``.
    """

    # The Kuramoto studies' regime (graded, since 0.3.0; version 0.2's cmp regime is REGIMES["below"]).
    members: int = 256
    n_windows: int = 100
    tau_c: float | None = None
    S_c: float | None = None
    gamma_c: float | None = None
    tau_factor: float = 10.0  # graded regime: the best of a 36-point sweep ('Evidence: Kuramoto')
    S_factor: float = 1.0

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=8, n_windows=30), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        integer_at_least("n_windows", self.n_windows, 1)
        if self.tau_c is not None:
            positive("tau_c", self.tau_c)
        if self.S_c is not None:
            nonnegative("S_c", self.S_c)
        if self.gamma_c is not None:
            nonnegative("gamma_c", self.gamma_c)
        positive("tau_factor", self.tau_factor)
        nonnegative("S_factor", self.S_factor)
        if self.oscillators().n_steps < 1:
            raise ValueError(f"T must be at least dt / 2, got T = {self.T}, dt = {self.dt}")

    def continuous_constants(self) -> tuple[float, float, float]:
        """``(tau_c, S_c, gamma_c)`` as used."""
        tau_c = self.tau_factor * self.T * self.tau if self.tau_c is None else self.tau_c
        S_c = self.S_factor * self.S / np.sqrt(self.T) if self.S_c is None else self.S_c
        gamma_c = self.gamma / self.T if self.gamma_c is None else self.gamma_c
        return float(tau_c), float(S_c), float(gamma_c)

    def continuous_system(self) -> ku.ContinuousOscillators:
        """The continuous scheme's system (:class:`ensemble.kuramoto.ContinuousOscillators`)."""
        return ku.ContinuousOscillators(self.omega(), self.dt, self.T, self.R0, self.error)


def run_discrete(config: Config, options: RunOptions = RunOptions(), *, gamma=None, tau=None, S=None):
    """The discrete map (eq. 4 + the control term of eq. 13) for ``n_windows`` iterations of one window each.

    Args:
        config: the settings.
        options: progress, checkpoints (``cmp_discrete``) and chunk length (iterations, i.e. windows).
        gamma: the control strength, a scalar or ``(members,)`` (default ``config.gamma``).
        tau: eq. (4)'s drift time scale, a scalar or ``(members,)`` (default ``config.tau``).
        S: eq. (4)'s noise intensity, a scalar or ``(members,)`` (default ``config.S``).

    Returns:
        The :class:`~ensemble.results.Run` of ``members`` networks, recorded at every iteration.

    Raises:
        ValueError: an unsuitable hyperparameter or, when resuming, checkpoint
            (:func:`ensemble.evolve`).
    """
    params, key = config.initial_weights()
    hyper = config.hyper(gamma)
    base = hyper.base._replace(**{k: v for k, v in (("tau", tau), ("S", S)) if v is not None})
    return evolve(config.oscillators(), ku.weight_control(config.base_map()), params, hyper._replace(base=base),
                  key=key, n_iterations=config.n_windows,
                  **options.evolve("cmp_discrete", {"study": "cmp", "scheme": "discrete", "config": dataclasses.asdict(config)}))


def run_continuous(config: Config, options: RunOptions = RunOptions(), *, tau_c=None, S_c=None, gamma_c=None):
    """Eq. (3) + the control rate for ``n_windows x T`` time units, one Euler step ``dt`` per iteration.

    Args:
        config: the settings.
        options: progress, checkpoints (``cmp_continuous``) and chunk length (counted in windows).
        tau_c: eq. (3)'s drift time scale (time units), a scalar or ``(members,)`` (default: from
            :meth:`Config.continuous_constants`).
        S_c: eq. (3)'s noise intensity, a scalar or ``(members,)`` (default: likewise).
        gamma_c: the control rate (per time unit), a scalar or ``(members,)`` (default: likewise).

    Returns:
        The :class:`~ensemble.results.Run` of ``members`` networks over ``n_windows * round(T/dt)``
            iterations, recorded at every window end (and at iteration 0; :func:`window_ends`).

    Raises:
        ValueError: an unsuitable constant or, when resuming, checkpoint (:func:`ensemble.evolve`).
    """
    system = config.continuous_system()
    n = system.n_steps
    tc, sc, gc = config.continuous_constants()
    tau_c = tc if tau_c is None else tau_c
    S_c = sc if S_c is None else S_c
    gamma_c = gc if gamma_c is None else gamma_c
    params, key = config.initial_weights()
    hyper = ku.ControlledHyper(learning.ContinuousHyper(tau_c, S_c, config.dt, n), gamma_c, config.M0)
    return evolve(system, ku.continuous_weight_control(n), params, hyper, key=key, n_iterations=config.n_windows * n,
                  record=Record(every=n),
                  **options.evolve("cmp_continuous",
                                   {"study": "cmp", "scheme": "continuous", "config": dataclasses.asdict(config)},
                                   chunk_unit=n))  # chunk counts windows


def window_ends(run, steps: int, signal: str) -> np.ndarray:
    """A trace at the ends of the windows of ``steps`` iterations.

    The records at iterations ``steps - 1, 2 steps - 1, ...``; the initial record (iteration 0)
    is left out unless it ends a window (``steps == 1``).

    Args:
        run: a :class:`~ensemble.results.Run` recorded (at least) at every window end.
        steps: iterations per window: 1 for the discrete map, ``round(T/dt)`` for the continuous law.
        signal: the trace's name (``"R"``, ``"M"``, ``"E"``).

    Returns:
        ``(n_windows, B)`` values of ``run.traces[signal]``.
    """
    return run.traces[signal][np.asarray(run.iterations) % steps == steps - 1]


def calibrate(config: Config, tau_factors, S_factors, reps: int = 6) -> list[dict]:
    """Batched sweep of the continuous law's constants: ``tau_factors x S_factors x reps`` members in **one** call.

    Member ``(i, j, k)`` runs eq. (3) + control with ``tau_c = tau_factors[i] T tau`` and
    ``S_c = S_factors[j] S / sqrt(T)`` (``gamma_c`` as configured) on the systems of members
    ``0..reps-1`` of the study (the same phases for every grid point: common random numbers).

    Args:
        config: the settings (the system, ``n_windows``, ``gamma_c``, the success test).
        tau_factors: multipliers of the matched ``tau_c = T tau``, a scalar or 1-d (each > 0).
        S_factors: multipliers of the matched ``S_c = S / sqrt(T)``, a scalar or 1-d (each >= 0).
        reps: members per grid point (>= 1).

    Returns:
        One dict per grid point (``tau_factors`` major): ``tau_factor``, ``S_factor``, ``tau_c``,
            ``S_c``, ``success_fraction``, ``reached`` (members that reach the target),
            ``median_time_to_target`` (time units; over all replicas, None unless half reach it),
            ``median_final_R``, ``median_abs_check_error`` (of the frozen check), ``median_final_M``,
            ``diverged`` and ``reps``.

    Raises:
        ValueError: a bad setting of ``config``, ``reps`` < 1, a ``tau_factors`` entry <= 0 or a
            negative ``S_factors`` entry.
    """
    config.validate()
    tau_factors, S_factors = np.atleast_1d(tau_factors).astype(float), np.atleast_1d(S_factors).astype(float)
    integer_at_least("reps", reps, 1)
    positive("tau_factors", tau_factors)
    nonnegative("S_factors", S_factors)
    G = tau_factors.size * S_factors.size
    tau_m = np.repeat(tau_factors, S_factors.size * reps) * config.T * config.tau
    S_m = np.tile(np.repeat(S_factors, reps), tau_factors.size) * config.S / np.sqrt(config.T)
    ids = np.tile(np.arange(reps), G)
    sub = dataclasses.replace(config, members=G * reps)
    system = sub.continuous_system()
    n = system.n_steps
    params, key = sub.initial_weights()
    hyper = ku.ControlledHyper(learning.ContinuousHyper(tau_m, S_m, config.dt, n), config.continuous_constants()[2], config.M0)
    out = evolve(system, ku.continuous_weight_control(n), params, hyper, key=key, placement=Placement(members=ids),
                 n_iterations=config.n_windows * n, record=Record(every=n))
    R, M = window_ends(out, n, "R"), window_ends(out, n, "M")
    times = time_to_target(R, config.R0, config.tolerance, config.T)
    R_check = np.nanmean(config.frozen_R(out.params["w"], out.state.system.phases), axis=1)
    ok = config.success(R_check) & ~out.diverged
    rows = []
    for g in range(G):
        sl = slice(g * reps, (g + 1) * reps)
        rows.append({"tau_factor": float(tau_factors[g // S_factors.size]), "S_factor": float(S_factors[g % S_factors.size]),
                     "tau_c": float(tau_m[sl][0]), "S_c": float(S_m[sl][0]), "success_fraction": float(ok[sl].mean()),
                     "reached": int(np.isfinite(times[sl]).sum()), "median_time_to_target": _median_or_none(times[sl]),
                     "median_final_R": float(np.nanmedian(R[-1, sl])) if np.isfinite(R[-1, sl]).any() else None,
                     "median_abs_check_error": float(np.nanmedian(np.abs(R_check[sl] - config.R0))),
                     "median_final_M": float(np.nanmedian(M[-1, sl])) if np.isfinite(M[-1, sl]).any() else None,
                     "diverged": int(out.diverged[sl].sum()), "reps": reps})
    return rows


def time_to_target(R: np.ndarray, R0: float, tolerance: float, T: float) -> np.ndarray:
    """First window end ``kT`` (k = 1, 2, ...) with ``|R - R0| <= tolerance``, per member.

    Args:
        R: ``(windows, members)`` the window means of ``r``.
        R0: the target.
        tolerance: the success tolerance.
        T: the window length (time units).

    Returns:
        ``(members,)`` times, NaN where a member never gets there.
    """
    hit = np.abs(R - R0) <= tolerance  # NaN (diverged) compares False
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), (first + 1) * T, np.nan)


def _median_or_none(times: np.ndarray):
    """Median over members of the times (NaN = never), None unless at least half reach the target."""
    reached = np.isfinite(times)
    if times.size == 0 or reached.sum() * 2 < times.size:
        return None
    # members that never reach it count as +inf; with exactly half reaching, the median is the
    # lower middle value (the slowest of the reaching half) rather than inf
    return float(np.percentile(np.where(reached, times, np.inf), 50, method="lower"))


def _scheme_summary(name: str, R: np.ndarray, M: np.ndarray, times: np.ndarray, check: np.ndarray, diverged, config):
    R_check = np.nanmean(check, axis=1)
    ok = config.success(R_check) & ~np.asarray(diverged)
    every = np.all(config.success(check), axis=1) & ~np.asarray(diverged)
    return {
        f"{name}_success_fraction": float(ok.mean()),
        f"{name}_success_fraction_every_window": float(every.mean()),
        f"{name}_median_time_to_target": _median_or_none(times),
        f"{name}_reached_target": int(np.isfinite(times).sum()),
        f"{name}_median_final_R": float(np.nanmedian(R[-1])),
        f"{name}_median_final_M": float(np.nanmedian(M[-1])),
        f"{name}_diverged": int(np.asarray(diverged).sum()),
    }


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """Both schemes on the same ``members`` systems, the frozen-weight checks, times to target.

    Args:
        config: the settings.
        options: progress, checkpoints (``cmp_discrete``, ``cmp_continuous``) and chunk length
            (in windows, for both schemes).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays["time"]`` the window ends ``(n_windows,)``;
            per scheme (``discrete``, ``continuous``) the percentiles of R and M over the members at
            each window end (``<scheme>_R``, ``<scheme>_M``), each member's time to target and
            frozen-check R (``<scheme>_time_to_target``, ``<scheme>_check_R``, ``(members,)``);
            ``summary`` per scheme the success fractions, median time to target, members reaching
            the target, median final R and M, and the continuous constants used;
            ``runs["discrete"]``, ``runs["continuous"]`` the runs.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    disc = run_discrete(config, options)
    t_disc = time.perf_counter() - t0
    cont = run_continuous(config, options)
    t_cont = time.perf_counter() - t0 - t_disc
    t_axis = config.T * np.arange(1, config.n_windows + 1)
    summary, arrays = {}, {"time": t_axis}
    n = config.continuous_system().n_steps
    for name, out, phases, every in (("discrete", disc, disc.state.system, 1), ("continuous", cont, cont.state.system.phases, n)):
        R, M = window_ends(out, every, "R"), window_ends(out, every, "M")
        times = time_to_target(R, config.R0, config.tolerance, config.T)
        check = config.frozen_R(out.params["w"], phases)
        summary.update(_scheme_summary(name, R, M, times, check, out.diverged, config))
        arrays[f"{name}_R"] = quantile_bands(R)
        arrays[f"{name}_M"] = quantile_bands(M)
        arrays[f"{name}_time_to_target"] = times
        arrays[f"{name}_check_R"] = np.nanmean(check, axis=1)
    tau_c, S_c, gamma_c = config.continuous_constants()
    summary.update({
        "members": config.members, "horizon_time": config.n_windows * config.T, "n_windows": config.n_windows,
        "tau_c": tau_c, "S_c": S_c, "gamma_c": gamma_c,
        "discrete_wall_s": round(t_disc, 2), "continuous_wall_s": round(t_cont, 2),
    })
    cfg = dataclasses.asdict(config)
    cfg.update({"tau_c_used": tau_c, "S_c_used": S_c, "gamma_c_used": gamma_c})
    return Result("cmp", cfg, summary, arrays, time.perf_counter() - t0, runs={"discrete": disc, "continuous": cont})


def plot(result: Result, path: str | None = None):
    """R (median, 10-90% band) vs simulated time for both schemes, R0 dashed; box plot of the times to target.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib.pyplot as plt

    a, s, c = result.arrays, result.summary, result.config
    t = np.asarray(a["time"], float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2.2, 1]})
    for name, color in (("discrete", "C0"), ("continuous", "C3")):
        band = {k: np.asarray(v, float) for k, v in a[f"{name}_R"].items()}
        ax1.plot(t, band["p50"], color=color, label=f"{name} (median)")
        ax1.fill_between(t, band["p10"], band["p90"], color=color, alpha=0.2, lw=0)
    ax1.axhline(c["R0"], color="k", ls="--", lw=0.8, label=f"R0 = {c['R0']:g}")
    ax1.set(xlabel="simulated time t", ylabel="window mean R", ylim=(0, 1),
            title=f"cmp: discrete (eq. 4+13) vs continuous (eq. 3), {s['members']} members, T = {c['T']:g}")
    ax1.legend(fontsize=8, loc="lower right")
    data, labels = [], []
    for name in ("discrete", "continuous"):
        times = np.asarray([np.nan if v is None else v for v in a[f"{name}_time_to_target"]], float)
        data.append(times[np.isfinite(times)])
        labels.append(f"{name}\n{s[f'{name}_reached_target']}/{s['members']} reach\n"
                      f"success {s[f'{name}_success_fraction']:.0%}")
    ax2.boxplot([d if d.size else [np.nan] for d in data], showfliers=True)
    ax2.set_xticks([1, 2], labels, fontsize=8)
    for i, d in enumerate(data):
        if not d.size:
            ax2.text(i + 1, 0.5, "none\nreached", ha="center", va="center", fontsize=8, transform=ax2.get_xaxis_transform())
    if not any(d.size for d in data):
        ax2.set_ylim(0, s["horizon_time"])
    ax2.set(ylabel=f"first t = kT with |R - R0| <= {c['tolerance']:g}", title="time to target (members reaching)")
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

    def fmt(x):
        return "n/a (fewer than half reach it)" if x is None else f"{x:g}"

    lines = [f"cmp: {s['members']} members, horizon {s['horizon_time']:g} time units ({s['n_windows']} windows T = {c['T']:g}), "
             f"{result.wall_time:.1f} s (discrete {s['discrete_wall_s']} s, continuous {s['continuous_wall_s']} s)",
             f"  discrete: tau = {c['tau']:g}, S = {c['S']:g}, m = {c['m']}, gamma = {c['gamma']:g} per iteration; "
             f"continuous: tau_c = {s['tau_c']:g}, S_c = {s['S_c']:.4g}, gamma_c = {s['gamma_c']:.4g} per time unit"]
    for name in ("discrete", "continuous"):
        lines.append(f"  {name:10s}: success {s[f'{name}_success_fraction']:.0%}, reached R0 +- {c['tolerance']:g}: "
                     f"{s[f'{name}_reached_target']}/{s['members']}, "
                     f"median time to target {fmt(s[f'{name}_median_time_to_target'])}, "
                     f"median final R {s[f'{name}_median_final_R']:.3f}, M {s[f'{name}_median_final_M']:.3f}, "
                     f"diverged {s[f'{name}_diverged']}")
    return "\n".join(lines)
