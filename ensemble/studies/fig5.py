"""Fig. 5: one Kuramoto run of eq. (13): E and M vs iteration, r(t) of the initial and final systems.

The paper's claim: E falls by orders of magnitude; M fluctuates around M0 early and settles as
E -> 0; the final r(t) hovers around R0. The run is a small ensemble (one batched call, every
member from the uniform network ``w_ij = M0`` with its own random phases and noise); the plot
shows the member with the lowest final error (``shown_member``; the rule is fixed, not chosen by
eye) and the ensemble median. ``r(t)`` is shown over ``r_time`` (several windows): the initial
network from its random initial phases, the final network (weights frozen) from its final phases.

Every constant is a reconstruction (the Kuramoto studies' shared settings; the documentation's
'Evidence: Kuramoto' page).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import kuramoto as ku
from .._checks import integer_at_least, positive
from ..driver import member_keys
from ._common import Result, RunOptions, finish_figure, takes_run_options
from ._kuramoto import KuramotoConfig, run_ensemble


@dataclasses.dataclass(frozen=True)
class Config(KuramotoConfig):
    """Settings of the Fig. 5 run (reconstructions).

    The other fields are the shared ones of :class:`~ensemble.studies._kuramoto.KuramotoConfig`.

    Attributes:
        members: ensemble size (the plot shows the member with the lowest final error).
        n_iterations: learning iterations.
        record_every: iterations between records.
        r_time: span of the plotted ``r(t)`` of the initial and final networks (time units;
            longer than ``T``).
        final_span: records whose median is a member's final error (at most the number of
            records).
    """

    members: int = 8
    n_iterations: int = 30_000  # 1e5 gains nothing and half the members diverge ('Evidence: Kuramoto')
    record_every: int = 100
    r_time: float = 40.0
    final_span: int = 10

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=4, n_iterations=20_000, record_every=20), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        positive("r_time", self.r_time)
        if self.r_time <= self.T:
            raise ValueError(f"r_time must be longer than T ({self.T}), got {self.r_time}")
        integer_at_least("final_span", self.final_span, 1, self.n_iterations // self.record_every)


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """One batched eq. (13) run of ``config.members`` networks; summary of the best member.

    Args:
        config: the settings.
        options: progress, checkpoints (``fig5``) and chunk length (a multiple of
            ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``summary`` the shown member's (lowest final
            error) initial and final E, their ratio, frozen-check R, final M and success, and the
            ensemble's median error fall and success fraction; ``arrays`` the shown member's E, M
            and R traces, the ensemble's ``median_E`` and ``median_M``, every member's initial and
            final error, frozen-check R and final M ``(members,)``, and ``t``, ``r_initial``,
            ``r_final`` over ``r_time``; ``runs["fig5"]`` the run.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    ens = run_ensemble(config, tag="fig5", options=options)
    out = ens.run
    E, R, M = (np.asarray(out.traces[k], float) for k in ("E", "R", "M"))
    # E(0): the first window, with the initial weights (after the warm-up).
    system = config.system()
    params, key = config.initial_weights()
    keys = jax.vmap(lambda k: jax.random.fold_in(k, -1 & 0xFFFFFFFF))(member_keys(key, config.members))
    raw_phases = jax.vmap(system.system.init_state)(params, keys)
    warm_phases = jax.vmap(system.init_state)(params, keys)
    sig0, _ = jax.vmap(lambda p, ph: system.measure(p, ph, None))(params, warm_phases)
    E0 = np.asarray(sig0["E"], float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices when every member diverged
        final_E = np.nanmedian(E[-config.final_span:], axis=0)  # robust end value per member
        # The ensemble median counts a diverged member as E = +inf (not as absent: a median of the
        # survivors would fall when a member diverges, which reads as learning); M of the survivors.
        median_E, median_M = np.median(np.where(np.isnan(E), np.inf, E), axis=1), np.nanmedian(M, axis=1)
    final_E = np.where(out.diverged, np.nan, final_E)
    best = int(np.nanargmin(final_E)) if np.isfinite(final_E).any() else 0
    # r(t) over r_time: initial network from its random phases, final network (frozen) from its final phases.
    n = int(round(config.r_time / config.dt))
    omega = jnp.asarray(config.omega(), jnp.float32)
    W0 = ku.to_matrix(params["w"][best], config.N)
    W1 = ku.to_matrix(out.params["w"][best], config.N)
    _, r_initial = ku.simulate(W0, omega, raw_phases[best], config.dt, n)
    _, r_final = ku.simulate(W1, omega, out.state.system[best], config.dt, n)
    summary = {
        "shown_member": best,
        "initial_error": float(E0[best]),
        "final_error": float(final_E[best]),
        "error_fall": float(E0[best] / final_E[best]),
        "final_R": float(ens.R_check[best]),
        "final_M": float(ens.final_M[best]),
        "R0": config.R0,
        "M0": config.M0,
        "success": bool(ens.success[best]),
        "M_relative_gap": float(abs(ens.final_M[best] - config.M0) / config.M0),
        "median_error_fall": float(np.median(np.where(np.isfinite(final_E), E0 / final_E, 0.0))),  # diverged: no fall
        "success_fraction": float(np.mean(ens.success)),
        "members": config.members,
        "diverged": int(out.diverged.sum()),
    }
    arrays = {
        "iterations": out.iterations, "E": E[:, best], "M": M[:, best], "R": R[:, best],
        "median_E": median_E, "median_M": median_M,
        "initial_errors": E0, "final_errors": final_E, "final_R_members": ens.R_check, "final_M_members": ens.final_M,
        "t": config.dt * np.arange(1, n + 1), "r_initial": np.asarray(r_initial), "r_final": np.asarray(r_final),
    }
    return Result("fig5", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0, runs={"fig5": out})


def plot(result: Result, path: str | None = None):
    """E (log) and M vs iteration; r(t) of the initial and final networks with R0 dashed.

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
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(6.5, 7.5))
    c, full = result.config, Config()
    size = f"{s['members']} members, {c['n_iterations']:,} iterations"
    if s["members"] < full.members or c["n_iterations"] < full.n_iterations:
        size = f"quick run: {size}"
    ax1.plot(it, a["E"], color="C0", label=f"member {s['shown_member']} (lowest final E)")
    ax1.plot(it, a["median_E"], color="C0", lw=0.7, alpha=0.5,
             label=f"median of {s['members']}" + (f", {s['diverged']} diverged (counted as E = inf)" if s["diverged"] else ""))
    ax1.set(xscale="log", ylabel="error E", title=f"Fig. 5: Kuramoto learning, eq. (4) + (13)\n({size})")
    if np.any(np.asarray(a["E"], float) > 0):  # all NaN when the member diverged at once
        ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    ax2.plot(it, a["M"], color="C2", label=f"member {s['shown_member']}")
    ax2.plot(it, a["median_M"], color="C2", lw=0.7, alpha=0.5, label="median of the survivors" if s["diverged"] else "median")
    ax2.axhline(s["M0"], color="k", ls="--", lw=0.8, label=f"M0 = {s['M0']:g}")
    ax2.set(xscale="log", xlabel="iteration n", ylabel="mean |w| (M)")
    ax2.legend(fontsize=8)
    t = np.asarray(a["t"])
    ax3.plot(t, a["r_initial"], color="C7", label="initial network")
    ax3.plot(t, a["r_final"], color="C3", label="final network (frozen)")
    ax3.axhline(s["R0"], color="k", ls="--", lw=0.8, label=f"R0 = {s['R0']:g}")
    ax3.set(xlabel="time t", ylabel="order parameter r(t)", ylim=(0, 1.02))
    ax3.legend(fontsize=8, loc="lower right")
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
        f"fig5: {s['members']} members, {c['n_iterations']} iterations of eq. (13), T={c['T']}, {result.wall_time:.1f} s",
        f"  member {s['shown_member']}: E {s['initial_error']:.4g} -> {s['final_error']:.4g} ({s['error_fall']:.1f}-fold), "
        f"frozen R = {s['final_R']:.4f} (R0 = {s['R0']}), M = {s['final_M']:.4f} (M0 = {s['M0']}, gap {s['M_relative_gap']:.1%})",
        f"  ensemble: median E fall {s['median_error_fall']:.1f}-fold (a diverged member counts as no fall), "
        f"success {s['success_fraction']:.0%}, diverged {s['diverged']}",
    ])
