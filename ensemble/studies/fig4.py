"""Fig. 4: error histograms of a testing ensemble (eq. 4, functionality only) and a robust ensemble (eq. 8).

The paper's procedure, step by step:

1. train a *testing* ensemble on E alone (eq. 4) -- one batched call;
2. choose the threshold eps so that the testing ensemble's mean robustness
   (eq. 7) is ``target_R`` (0.5): eps is put between the k-th and (k+1)-th
   smallest of all pooled damaged errors, k = round(target_R x members x N2),
   so exactly that fraction of (member, deleted node) pairs has E_k < eps;
3. train a *robust* ensemble from the same initial weights with eq. (8) and
   that eps -- one batched call;
4. compare the histograms of intact and damaged-network errors, and the mean R.

tau_R, S_R and the iteration counts are reconstructions (paper values lost).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .. import feedforward as ff
from .. import learning, patterns
from ..driver import evolve
from ..options import Record
from ._common import Result, RobustConfig, RunOptions, finish_figure, takes_run_options


@dataclasses.dataclass(frozen=True)
class Config(RobustConfig):
    """Settings of the Fig. 4 study (reconstructions).

    The other fields are the shared ones of :class:`~ensemble.studies._common.RobustConfig`
    (eq. (8)'s constants; the testing ensemble uses ``tau_E`` and ``S_E`` alone) and
    :class:`~ensemble.studies._common.NetworkConfig`.

    Attributes:
        members: size of each of the two ensembles (testing and robust).
        n_iterations: learning iterations of each ensemble.
        record_every: iterations between records.
        target_R: the testing ensemble's mean robustness that fixes eps, in (0, 1).
    """

    members: int = 200
    n_iterations: int = 100_000
    record_every: int = 1_000
    target_R: float = 0.5

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(members=16, n_iterations=10_000, record_every=500), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        super().validate()
        if not 0 < self.target_R < 1:
            raise ValueError(f"target_R must be in (0, 1), got {self.target_R}")


def threshold_for_mean_robustness(damaged: np.ndarray, target_R: float) -> float:
    """The threshold eps below which a fraction ``target_R`` of the damaged errors lies.

    The ``n`` finite entries of ``damaged`` are pooled and sorted; eps is the midpoint of the
    k-th and (k+1)-th smallest, ``k = round(target_R * n)`` clipped to ``[1, n - 1]``, so that
    ``k`` of them (barring ties) are below eps.

    Args:
        damaged: ``(members, N2)`` errors of the damaged networks (one hidden node deleted);
            non-finite entries (diverged members) are left out.
        target_R: the wanted fraction, in (0, 1).

    Returns:
        eps.

    Raises:
        ValueError: ``damaged`` holds fewer than two finite errors.
    """
    pooled = np.sort(damaged[np.isfinite(damaged)].ravel())
    if pooled.size < 2:
        raise ValueError("damaged must hold at least two finite errors")
    k = int(round(target_R * pooled.size))
    k = min(max(k, 1), pooled.size - 1)
    return float((pooled[k - 1] + pooled[k]) / 2)


def _evaluate(params, X, Y, eps, diverged):
    E = np.array(jax.vmap(lambda p: ff.error(p, X, Y))(params))
    Ek = np.array(jax.vmap(lambda p: ff.damaged_errors(p, X, Y))(params))
    E[diverged], Ek[diverged] = np.nan, np.nan
    R = np.where(diverged, np.nan, (Ek < eps).mean(axis=1)) if eps is not None else None
    return E, Ek, R


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """Testing ensemble, threshold, robust ensemble: two batched calls.

    Args:
        config: the settings.
        options: progress, checkpoints (``fig4_testing``, ``fig4_robust``) and chunk length (a
            multiple of ``config.record_every``).

    Returns:
        The :class:`~ensemble.studies.Result`: ``summary`` eps, both ensembles' mean R, their
            ratio and the fractions of members with E < eps; ``arrays["testing"]`` and
            ``arrays["robust"]`` each member's intact error ``E`` ``(members,)``, damaged errors
            ``damaged_E`` ``(members, N2)`` and robustness ``R`` ``(members,)`` (NaN: diverged),
            ``arrays["robust_mean_R_trace"]`` the robust ensemble's mean R vs iteration;
            ``runs["testing"]``, ``runs["robust"]`` the runs.

    Raises:
        ValueError: a bad setting of ``config`` (named), or, when resuming, a checkpoint of another
            run or one that cannot be read back.
    """
    config.validate()
    t0 = time.perf_counter()
    X, Y = patterns.vowels()
    params, k_run = config.initial_networks(X, Y)
    common = dict(key=k_run, n_iterations=config.n_iterations, record=Record(every=config.record_every))
    meta = {"study": "fig4", "config": dataclasses.asdict(config)}
    testing = evolve(ff.Task(X, Y), learning.discrete(config.m), params,
                     learning.DiscreteHyper(config.tau_E, config.S_E, config.m),
                     **options.evolve("fig4_testing", {**meta, "part": "testing"}), **common)
    _, Ek_test, _ = _evaluate(testing.params, X, Y, None, testing.diverged)
    eps = threshold_for_mean_robustness(Ek_test, config.target_R)
    E_test, Ek_test, R_test = _evaluate(testing.params, X, Y, eps, testing.diverged)

    robust = evolve(ff.Task(X, Y, eps=eps), learning.biparametric(config.m), params,
                    learning.BiparametricHyper(config.tau_E, config.S_E, config.tau_R, config.S_R, config.m),
                    **options.evolve("fig4_robust", {**meta, "part": "robust", "eps": eps}), **common)
    E_rob, Ek_rob, R_rob = _evaluate(robust.params, X, Y, eps, robust.diverged)

    t_mean, r_mean = float(np.nanmean(R_test)), float(np.nanmean(R_rob))
    summary = {
        "eps": eps,
        "target_R": config.target_R,
        "testing_mean_R": t_mean,
        "robust_mean_R": r_mean,
        "robustness_ratio": r_mean / t_mean if t_mean > 0 else None,
        "testing_functional_fraction": float(np.nanmean(E_test < eps)),
        "robust_functional_fraction": float(np.mean((E_rob < eps) & ~robust.diverged)),
        "testing_median_E": float(np.nanmedian(E_test)),
        "robust_median_E": float(np.nanmedian(E_rob)),
        "members": config.members,
        "diverged": int(testing.diverged.sum() + robust.diverged.sum()),
    }
    arrays = {
        "testing": {"E": E_test, "damaged_E": Ek_test, "R": R_test},
        "robust": {"E": E_rob, "damaged_E": Ek_rob, "R": R_rob},
        "robust_mean_R_trace": {"iterations": robust.iterations, "mean_R": np.nanmean(robust.traces["R"], axis=1)},
    }
    return Result("fig4", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0,
                  runs={"testing": testing, "robust": robust})


def plot(result: Result, path: str | None = None):
    """2 x 2 histograms of log10 E: intact (a, b) and damaged (c, d), testing (left) vs robust (right).

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib.pyplot as plt

    s, a = result.summary, result.arrays
    panels = [
        ("a: testing, intact", a["testing"]["E"]), ("b: robust, intact", a["robust"]["E"]),
        ("c: testing, damaged", a["testing"]["damaged_E"]), ("d: robust, damaged", a["robust"]["damaged_E"]),
    ]
    values = [np.log10(np.clip(np.asarray(v, float).ravel(), 1e-6, None)) for _, v in panels]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    bins = np.linspace(finite.min(), finite.max(), 40) if finite.size else 10
    fig, axes = plt.subplots(2, 2, figsize=(8, 6), sharex=True)
    for ax, (title, _), v in zip(axes.ravel(), panels, values):
        ax.hist(v[np.isfinite(v)], bins=bins, color="C0" if "testing" in title else "C3", alpha=0.8)
        ax.axvline(np.log10(s["eps"]), color="k", ls="--", lw=0.8)
        ax.set_title(f"Fig. 4{title}", fontsize=9)
    for ax in axes[1]:
        ax.set_xlabel("log10 error")
    axes[0, 0].set_ylabel("networks")
    axes[1, 0].set_ylabel("damaged networks")
    fig.suptitle(f"eps = {s['eps']:.3g}: mean R testing {s['testing_mean_R']:.2f}, robust {s['robust_mean_R']:.2f}", fontsize=10)
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
    ratio = f"{s['robustness_ratio']:.2f}x" if s["robustness_ratio"] is not None else "n/a"
    return "\n".join([
        f"fig4: {s['members']} members per ensemble, {c['n_iterations']} iterations each, {result.wall_time:.1f} s",
        f"  eps = {s['eps']:.4f} (testing mean R = {s['testing_mean_R']:.2f}, target {s['target_R']})",
        f"  robust ensemble: mean R = {s['robust_mean_R']:.2f} ({ratio} the testing ensemble), "
        f"E < eps for {s['robust_functional_fraction']:.0%} of members (testing: {s['testing_functional_fraction']:.0%}), "
        f"diverged {s['diverged']}",
    ])
