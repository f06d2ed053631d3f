"""compare: autonomous learning (eq. 4) against evolution strategies, a (1+1)-ES and
back-propagation, on the same tasks, from the same initial parameters, at the same budget of
system evaluations (not a figure of the paper, which makes no such comparison).

Tasks (:func:`tasks`): the 35-10-5 network on the five vowels (``vowels``) and the 35-10-15
network on vowels and digits (``vowels_digits``), solved when every pattern is classified
right; the Kuramoto network of Fig. 5 (graded regime, ``kuramoto``), solved when the frozen
weights give ``|R - R0| <= 0.03`` with mean ``|w| = M0``; the 10-d Rosenbrock function
(``rosenbrock``), solved at ``f <= rosenbrock_level``. One evaluation is one processing interval
that yields one E (:mod:`ensemble.baselines`).

Methods: ``al`` (eq. 4; Kuramoto: eq. 13) with the calibrated constants; ``open_es``, ``snes``,
``cma_es`` from evosax (CMA-ES with its full covariance up to ``full_cma_max_dims`` parameters,
sep-CMA-ES, its diagonal form, above: the networks); ``one_plus_one``, the (1+1)-ES floor;
``backprop`` (gradient descent, optax) where a gradient exists (the networks). Each method gets
a sweep of its main constants (:func:`sweeps`) with ``runs`` runs per point; a method's row is
its best point (most runs solved, then the lowest median final E): every method is tuned on
its own sweep, none on the test runs of another.

The ES candidates of the Kuramoto task are rescaled to mean ``|w| = M0`` before each
evaluation (the constraint eq. 13's control term keeps softly); without it an ES would reach R0
by strengthening every coupling. evosax is an optional dependency: ``pip install ensemble[compare]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import baselines, learning, patterns
from .. import feedforward as ff
from .. import kuramoto as ku
from .._checks import integer_at_least, positive
from .._files import atomic_write
from ..helpers import _tile, from_loss
from ._common import Result, RunOptions, _plain, finish_figure, quantile_bands, takes_run_options
from ._kuramoto import KuramotoConfig
from .fig3 import Config as Fig3Config

TASKS = ("vowels", "vowels_digits", "kuramoto", "rosenbrock")
"""The task ids (:func:`tasks`)."""
METHODS = ("al", "open_es", "snes", "cma_es", "one_plus_one", "backprop")
"""The method ids (:func:`sweeps`)."""
LABELS = {"al": "autonomous (eq. 4)", "open_es": "OpenAI-ES", "snes": "SNES", "cma_es": "CMA-ES",
          "one_plus_one": "(1+1)-ES", "backprop": "back-propagation"}
"""The methods' names in the figure and the table."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the comparison.

    Attributes:
        runs: independent runs per sweep point (the same ``runs`` initial parameters at every
            point and for every method).
        seed: root seed.
        records: records per run after the start.
        tasks: which tasks to run (a subset of :data:`TASKS`).
        methods: which methods to run (a subset of :data:`METHODS`).
        network_budget: evaluations per run on the network tasks.
        kuramoto_budget: evaluations per run on the Kuramoto task.
        rosenbrock_budget: evaluations per run on Rosenbrock.
        std_values: the sweep of the ES's initial step size (SNES, CMA-ES) and of the (1+1)-ES's sigma.
        open_es_std: the OpenAI-ES sweep's noise std values.
        open_es_lr: the OpenAI-ES sweep's Adam learning rates.
        backprop_factors: the sweep of gradient descent's learning rate, times the task's own
            (networks: Fig. 2a's 2.0; Rosenbrock: 1e-3).
        al_factor: the eq. (4) sweep: the calibrated (tau, S), and tau or S times or divided by this.
        rosenbrock_level: Rosenbrock is solved at f <= this.
        full_cma_max_dims: full CMA-ES up to this many parameters (sep-CMA-ES above).
    """

    runs: int = 32
    seed: int = 0
    records: int = 20
    tasks: tuple = TASKS
    methods: tuple = METHODS
    network_budget: int = 50_000
    kuramoto_budget: int = 3_000
    rosenbrock_budget: int = 20_000
    std_values: tuple = (0.03, 0.1, 0.3, 1.0)
    open_es_std: tuple = (0.03, 0.1)
    open_es_lr: tuple = (0.01, 0.05)
    backprop_factors: tuple = (0.25, 1.0, 4.0)
    al_factor: float = 3.0
    rosenbrock_level: float = 1e-3
    full_cma_max_dims: int = 100

    @classmethod
    def quick(cls, **overrides) -> "Config":
        """The small size (``--quick``), with ``overrides`` applied.

        Args:
            **overrides: ``Config`` fields to set.

        Returns:
            A :class:`Config`.
        """
        return dataclasses.replace(cls(runs=4, records=4, network_budget=2_000, kuramoto_budget=160,
                                       rosenbrock_budget=1_000, std_values=(0.1, 1.0), open_es_std=(0.1,),
                                       open_es_lr=(0.05,), backprop_factors=(1.0,)), **overrides)

    def validate(self) -> None:
        """Check every setting (:class:`ValueError` naming the first bad one)."""
        integer_at_least("runs", self.runs, 1)
        integer_at_least("seed", self.seed, 0)
        integer_at_least("records", self.records, 1)
        for name, allowed in (("tasks", TASKS), ("methods", METHODS)):
            values = getattr(self, name)
            if not values or any(v not in allowed for v in values):
                raise ValueError(f"{name} must be a non-empty subset of {allowed}, got {values!r}")
        for name in ("network_budget", "kuramoto_budget", "rosenbrock_budget"):
            integer_at_least(name, getattr(self, name), 1)
        for name in ("std_values", "open_es_std", "open_es_lr", "backprop_factors"):
            values = getattr(self, name)
            if len(values) < 1:
                raise ValueError(f"{name} must hold at least one value")
            for v in values:
                positive(name, v)
        positive("al_factor", self.al_factor)
        positive("rosenbrock_level", self.rosenbrock_level)
        integer_at_least("full_cma_max_dims", self.full_cma_max_dims, 1)


class Task(NamedTuple):
    """One task: the system, ``runs`` initial parameters, the budget and how to judge a solution.

    Attributes:
        name: the task's id (one of :data:`TASKS`).
        system: the system (:class:`ensemble.System`).
        params: ``(runs, ...)`` initial params.
        monitor: ``params (B, ...) -> (E (B,), solved (B,))`` (deterministic; spends no budget).
        project: candidate -> evaluated params (the ES's constraint).
        loss: differentiable ``params -> E`` of one run, or None.
        budget: evaluations per run.
        al_map: eq. (4)'s learning map.
        al_hyper: ``al_hyper(tau, S)``, its hyperparameters (per-member arrays).
        tau: eq. (4)'s calibrated drift time scale.
        S: eq. (4)'s calibrated noise intensity.
        lr: gradient descent's learning rate (the centre of its sweep).
        solved: the criterion, in words.
    """

    name: str
    system: Any
    params: Any
    monitor: Callable
    project: Callable
    loss: Callable | None
    budget: int
    al_map: Any
    al_hyper: Callable
    tau: float
    S: float
    lr: float
    solved: str


def popsize(n_dims: int) -> int:
    """The population size of every ES: the usual ``4 + floor(3 ln n)``, rounded up to even
    (OpenAI-ES samples antithetic pairs).

    Args:
        n_dims: parameters of one run (>= 1).

    Returns:
        The population size (even, >= 4).
    """
    lam = 4 + int(math.floor(3 * math.log(n_dims)))
    return lam + lam % 2


def _network_task(name, X, Y, budget, runs, seed, tau, S) -> Task:
    fig3 = Fig3Config(seed=seed)
    params, _ = fig3.initial_networks(X, Y, runs)
    X32, Y32 = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32)

    @jax.jit
    def monitor(p):
        return jax.vmap(lambda q: ff.error(q, X32, Y32))(p), jax.vmap(lambda q: ff.correct(q, X32, Y32))(p)

    m = fig3.m
    return Task(name, ff.Task(X, Y), params, monitor, lambda p: p, lambda p: ff.error(p, X32, Y32), budget,
                learning.discrete(m), lambda t, s: learning.DiscreteHyper(t, s, m), tau, S, 2.0, "every pattern right")


def _kuramoto_task(budget, runs, seed) -> Task:
    cfg = KuramotoConfig(seed=seed)
    params, _ = cfg.initial_weights(runs)
    osc = cfg.oscillators()

    def project(p):
        w = p["w"]
        return {"w": w * (cfg.M0 / jnp.maximum(ku.mean_abs_upper(w), 1e-12))}

    check_phases = jax.random.uniform(jax.random.key(seed + 1), (runs, cfg.N), jnp.float32, 0, 2 * np.pi)

    def monitor(p):
        w = p["w"]  # (points x runs, P): run r is checked from the same phases at every point
        phases = jnp.tile(check_phases, (w.shape[0] // runs, 1))
        R = np.asarray(cfg.frozen_R(w, phases), float).mean(axis=1)
        M = np.asarray(ku.mean_abs_upper(w), float)
        ok = cfg.success(R) & (np.abs(M - cfg.M0) <= 0.1 * cfg.M0)
        return (R - cfg.R0) ** 2, ok

    def hyper(t, s):
        h = cfg.hyper()
        return h._replace(base=h.base._replace(tau=t, S=s))

    return Task("kuramoto", osc, params, monitor, project, None, budget, ku.weight_control(cfg.base_map()), hyper,
                cfg.tau, cfg.S, 0.0, f"frozen |R - R0| <= {cfg.tolerance:g} (R0 {cfg.R0:g}) and M within 10% of M0")


def rosenbrock(p) -> jax.Array:
    """The Rosenbrock function: minimum 0 at all ones.

    Args:
        p: ``{"x": (n,)}``, ``n >= 2``.

    Returns:
        The scalar ``f(x)``.
    """
    x = p["x"]
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosenbrock_task(budget, runs, seed, level) -> Task:
    x0 = 0.1 * jax.random.normal(jax.random.key(seed), (runs, 10), jnp.float32)

    @jax.jit
    def monitor(p):
        f = jax.vmap(rosenbrock)(p)
        return f, f <= level

    return Task("rosenbrock", from_loss(rosenbrock), {"x": x0}, monitor, lambda p: p, rosenbrock, budget,
                learning.discrete(1), lambda t, s: learning.DiscreteHyper(t, s, 1), 1.0, 1e-4, 1e-3, f"f <= {level:g}")


def tasks(config: Config) -> dict[str, Task]:
    """The tasks of ``config.tasks``, each with ``config.runs`` initial parameters from ``config.seed``.

    Calibrated eq. (4) constants: the networks', Fig. 3's best (tau, S) (P = 5: 0.215, 0.464;
    P = 15: 0.1, 0.215; m = 8); the Kuramoto task's, the graded regime's (0.1, 3; eq. 13 with
    gamma 0.1); Rosenbrock's, the best of a pilot sweep (tau 1, S 1e-4; the documentation's
    'Comparison with ES and back-propagation' page).

    Args:
        config: the settings (``tasks``, ``runs``, ``seed``, the budgets, ``rosenbrock_level``).

    Returns:
        ``{task id: Task}`` in the order of ``config.tasks``.
    """
    out = {}
    for name in config.tasks:
        if name == "vowels":
            X, Y = patterns.vowels()
            out[name] = _network_task(name, X, Y, config.network_budget, config.runs, config.seed, 0.215, 0.464)
        elif name == "vowels_digits":
            X, Y = patterns.vowels_and_digits()
            out[name] = _network_task(name, X, Y, config.network_budget, config.runs, config.seed, 0.1, 0.215)
        elif name == "kuramoto":
            out[name] = _kuramoto_task(config.kuramoto_budget, config.runs, config.seed)
        else:
            out[name] = _rosenbrock_task(config.rosenbrock_budget, config.runs, config.seed, config.rosenbrock_level)
    return out


def sweeps(config: Config, task: Task) -> dict[str, list[dict]]:
    """Each method's sweep points on ``task``.

    ``al``: the task's calibrated ``(tau, S)``, then tau or S times or divided by ``al_factor``;
    ``open_es``: ``open_es_std x open_es_lr``; ``snes`` and ``cma_es``: ``std_values`` as the
    initial step size; ``one_plus_one``: ``std_values`` as sigma; ``backprop`` (only where the
    task has a ``loss``): the task's ``lr`` times each of ``backprop_factors``.

    Args:
        config: the settings (``methods`` and the sweep values).
        task: a :class:`Task` of :func:`tasks`.

    Returns:
        ``{method id: [point, ...]}`` for the methods of ``config.methods`` that apply to the task,
            in that order; a point is a dict of the method's constants (``tau`` and ``S``; ``std``
            and ``lr``; ``std``; ``sigma``; ``lr``).
    """
    f = config.al_factor
    out = {
        "al": [dict(tau=task.tau * a, S=task.S * b) for a, b in ((1, 1), (1 / f, 1), (f, 1), (1, 1 / f), (1, f))],
        "open_es": [dict(std=s, lr=lr) for s in config.open_es_std for lr in config.open_es_lr],
        "snes": [dict(std=s) for s in config.std_values],
        "cma_es": [dict(std=s) for s in config.std_values],
        "one_plus_one": [dict(sigma=s) for s in config.std_values],
    }
    if task.loss is not None:
        out["backprop"] = [dict(lr=task.lr * f) for f in config.backprop_factors]
    return {m: out[m] for m in config.methods if m in out}


def _strategy(name: str, task: Task, n_dims: int, config: Config, point: dict | None = None):
    import optax
    from evosax import algorithms as ea

    one = jax.tree_util.tree_map(lambda x: x[0], task.params)
    lam = popsize(n_dims)
    if name == "open_es":
        return ea.Open_ES(lam, one, optimizer=optax.adam(point["lr"]), std_schedule=optax.constant_schedule(point["std"]))
    if name == "snes":
        return ea.SNES(lam, one)
    return ea.CMA_ES(lam, one) if n_dims <= config.full_cma_max_dims else ea.Sep_CMA_ES(lam, one)


def run_method(method: str, task: Task, points: list[dict], config: Config, key) -> list[baselines.Trace]:
    """One method's sweep on one task, ``config.runs`` runs per point.

    The points are batched into one call where the method allows it (all but ``open_es``, which
    runs one call per point), then split; run r starts from the task's r-th initial parameters
    at every point.

    Args:
        method: a method id of :data:`METHODS`.
        task: a :class:`Task` of :func:`tasks`.
        points: the method's sweep points (:func:`sweeps`).
        config: the settings (``runs``, ``records``, ``full_cma_max_dims``).
        key: the PRNG key of the sweep.

    Returns:
        One :class:`ensemble.baselines.Trace` per point, in the order of ``points``: ``E`` and
            ``solved`` ``(records + 1, runs)``; a batched call's ``wall_s`` is split evenly over its
            points.

    Raises:
        ValueError: an unknown ``method``.
    """
    import optax

    R = config.runs
    n_dims = baselines.n_params(task.params)
    P = len(points)
    common = dict(budget=task.budget, records=config.records, monitor=task.monitor)
    if method == "al":
        tau = np.repeat([p["tau"] for p in points], R).astype(np.float32)
        S = np.repeat([p["S"] for p in points], R).astype(np.float32)
        members = np.tile(np.arange(R), P)  # run r has the same member key at every point
        traces = [baselines.autonomous(task.system, task.al_map, _tile(task.params, P), task.al_hyper(tau, S),
                                       key=key, members=members, **common)]
    elif method in ("snes", "cma_es"):
        strategy = _strategy(method, task, n_dims, config)
        ep = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (P * R,) + jnp.shape(a)), strategy.default_params)
        ep = ep.replace(std_init=jnp.repeat(jnp.asarray([p["std"] for p in points], jnp.float32), R))
        traces = [baselines.evolution_strategy(task.system, strategy, _tile(task.params, P), key=key, es_params=ep,
                                               per_run=True, project=task.project, **common)]
    elif method == "one_plus_one":
        sigma = np.repeat([p["sigma"] for p in points], R).astype(np.float32)
        traces = [baselines.one_plus_one(task.system, _tile(task.params, P), key=key, sigma=sigma,
                                         project=task.project, **common)]
    elif method == "open_es":
        return [baselines.evolution_strategy(task.system, _strategy(method, task, n_dims, config, p), task.params,
                                             key=key, project=task.project, **common) for p in points]
    elif method == "backprop":
        lr = np.repeat([p["lr"] for p in points], R).astype(np.float32)
        traces = [baselines.backprop(task.loss, _tile(task.params, P), optax.sgd, learning_rate=lr, **common)]
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    (t,) = traces
    split = lambda a, i: a[..., i * R:(i + 1) * R]  # noqa: E731
    return [baselines.Trace(t.evaluations, split(t.E, i), split(t.solved, i),
                            jax.tree_util.tree_map(lambda x: x[i * R:(i + 1) * R], t.params), t.wall_s / P)
            for i in range(P)]


def _evals_to_solve(trace: baselines.Trace) -> np.ndarray:
    """Per run, the first recorded evaluation count at which it was solved (inf: never)."""
    hit = trace.solved
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), trace.evaluations[first].astype(float), np.inf)


def _point_row(point: dict, trace: baselines.Trace) -> dict:
    evals = _evals_to_solve(trace)
    solved = trace.solved[-1]
    with np.errstate(all="ignore"):
        med = float(np.percentile(evals, 50, method="lower"))
    return {**{k: float(v) for k, v in point.items()},
            "solved_fraction": float(solved.mean()),
            "ever_solved_fraction": float(np.isfinite(evals).mean()),
            "median_evaluations_to_solve": med if math.isfinite(med) else None,
            "median_final_E": float(np.nanmedian(trace.E[-1])) if np.isfinite(trace.E[-1]).any() else None,
            "diverged": int(np.isnan(trace.E[-1]).sum()),
            "wall_s": round(float(trace.wall_s), 2)}


def _best(rows: list[dict]) -> int:
    """Most runs solved at the end, then the lowest median final E (None last)."""
    def order(i: int) -> tuple:
        E = rows[i]["median_final_E"]
        return -rows[i]["solved_fraction"], E if E is not None else math.inf

    return min(range(len(rows)), key=order)


def _run_part(name: str, method: str, task: Task, points: list[dict], config: Config, key) -> dict:
    """One method's sweep on one task: its arrays (best point's bands, the sweep table) and summary."""
    t1 = time.perf_counter()
    traces = run_method(method, task, points, config, key)
    wall = time.perf_counter() - t1
    rows = [_point_row(p, t) for p, t in zip(points, traces)]
    b = _best(rows)
    best = traces[b]
    arrays = {"evaluations": best.evaluations, "E": quantile_bands(best.E),
              "solved_fraction": best.solved.mean(axis=1), "sweep": rows, "best_point": b}
    summary = {**{k: rows[b][k] for k in ("solved_fraction", "median_evaluations_to_solve", "median_final_E")},
               "best_point": {k: rows[b][k] for k in points[b]}, "evaluations": int(best.evaluations[-1]),
               "sweep_points": len(points), "runs_per_point": config.runs, "sweep_wall_s": round(wall, 2)}
    return {"arrays": arrays, "summary": summary}


def _load_part(path: str, config: Config) -> dict | None:
    """A finished (task, method) saved by an earlier run with the same config, else None."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if data.get("config") != _plain(dataclasses.asdict(config)):
        return None
    return {"arrays": data["arrays"], "summary": data["summary"]}


@takes_run_options
def run(config: Config = Config(), options: RunOptions = RunOptions()) -> Result:
    """Every method's sweep on every task; per task and method the sweep table, the best point's
    E bands against evaluations, its fraction solved and the wall time.

    Args:
        config: the settings.
        options: with ``checkpoint_dir``, each finished (task, method) is saved there
            (``compare_<task>_<method>.json``) and ``resume`` reuses those of the same config;
            ``progress`` prints a line per finished (task, method); ``chunk`` is not used (a sweep
            is one call).

    Returns:
        The :class:`~ensemble.studies.Result`: ``arrays[task][method]`` the best point's
            ``evaluations`` ``(records + 1,)``, percentiles of E over its runs (``E``) and
            ``solved_fraction`` at each record, the ``sweep`` table (one row per point) and the
            ``best_point`` index; ``arrays["tasks"]`` each task's size, budget and criterion;
            ``summary["<task>.<method>"]`` the best point, its fraction solved, median evaluations to
            solve and median final E; no ``runs``.

    Raises:
        ValueError: a bad setting of ``config`` (named), or evosax is not installed.
    """
    try:
        import evosax  # noqa: F401
    except ImportError:
        raise ValueError("the compare study needs evosax: pip install 'ensemble[compare]'") from None
    config.validate()
    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # a sweep point whose runs all diverged
    t0 = time.perf_counter()
    root = jax.random.key(config.seed)
    summary, arrays, info = {}, {}, {}
    for ti, (name, task) in enumerate(tasks(config).items()):
        n_dims = baselines.n_params(task.params)
        info[name] = {"solved": task.solved, "n_params": n_dims, "popsize": popsize(n_dims), "budget": task.budget,
                      "cma_variant": "CMA-ES" if n_dims <= config.full_cma_max_dims else "sep-CMA-ES"}
        arrays[name] = {}
        for mi, (method, points) in enumerate(sweeps(config, task).items()):
            saved = os.path.join(options.checkpoint_dir, f"compare_{name}_{method}.json") if options.checkpoint_dir else None
            part = _load_part(saved, config) if options.resume and saved else None
            if part is None:
                part = _run_part(name, method, task, points, config, jax.random.fold_in(jax.random.fold_in(root, ti), mi))
                if saved:  # a finished (task, method) is never lost
                    text = json.dumps(_plain({"config": dataclasses.asdict(config), **part}), allow_nan=False)
                    atomic_write(saved, lambda f: f.write(text.encode()))
            arrays[name][method], summary[f"{name}.{method}"] = part["arrays"], part["summary"]
            if options.progress:
                s = part["summary"]
                print(f"compare: {name} {method}: solved {s['solved_fraction']:.0%} at {s['best_point']} "
                      f"({s['sweep_wall_s']:.1f} s)", flush=True)
    arrays["tasks"] = info
    summary["sweeps_wall_s"] = round(sum(v["sweep_wall_s"] for v in summary.values()), 1)  # whatever was resumed
    return Result("compare", dataclasses.asdict(config), summary, arrays, time.perf_counter() - t0)


def plot(result: Result, path: str | None = None):
    """One panel per task: each method's best point, median E of the current solution (line)
    and its 10-90% band against evaluations per run.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.
        path: the PNG file to write (120 dpi); None: no file.

    Returns:
        The matplotlib ``Figure``: closed once saved to ``path``, left open without one (notebooks).

    Raises:
        ensemble.errors.WriteError: ``path`` could not be written.
    """
    import matplotlib.pyplot as plt

    names = [n for n in TASKS if n in result.arrays]
    cols = min(2, len(names))
    rows = int(math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for i, method in enumerate(m for m in METHODS if m in result.arrays[name]):
            a = result.arrays[name][method]
            x = np.maximum(np.asarray(a["evaluations"], float), 1)
            band = {k: np.asarray(v, float) for k, v in a["E"].items()}
            ax.plot(x, band["p50"], color=f"C{i}", lw=1.5 if method == "al" else 1.0,
                    label=f"{LABELS[method]} ({a['sweep'][a['best_point']]['solved_fraction']:.0%})")
            ax.fill_between(x, band["p10"], band["p90"], color=f"C{i}", alpha=0.12, lw=0)
        t = result.arrays["tasks"][name]
        ax.set(xscale="log", yscale="log", xlabel="evaluations per run", ylabel="E of the current solution",
               title=f"{name} ({t['n_params']} parameters)")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-16))  # an exact 0 (float32 underflow) would stretch it
        ax.legend(fontsize=7, title="method (runs solved)", title_fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"compare: best sweep point of each method, {result.config['runs']} runs each", fontsize=10)
    fig.tight_layout()
    return finish_figure(fig, path)


def describe(result: Result) -> str:
    """A few lines of summary for the terminal.

    Args:
        result: the :class:`~ensemble.studies.Result` of :func:`run`.

    Returns:
        The lines, joined by newlines (no trailing newline).
    """
    c = result.config
    lines = [f"compare: {len(c['tasks'])} tasks x {len(c['methods'])} methods, {c['runs']} runs per sweep point, "
             f"{result.wall_time:.1f} s"]
    for name in (n for n in TASKS if n in result.arrays):
        t = result.arrays["tasks"][name]
        lines.append(f"  {name} ({t['n_params']} parameters, {t['budget']} evaluations; solved: {t['solved']}):")
        for method in (m for m in METHODS if f"{name}.{m}" in result.summary):
            s = result.summary[f"{name}.{method}"]
            e = s["median_evaluations_to_solve"]
            E = s["median_final_E"]
            lines.append(f"    {LABELS[method]:18s} solved {s['solved_fraction']:4.0%}, median evaluations to solve "
                         f"{'-' if e is None else f'{e:.0f}'}, median final E {'-' if E is None else f'{E:.3g}'}, "
                         f"best of {s['sweep_points']}: {s['best_point']}, {s['sweep_wall_s']:.1f} s")
    return "\n".join(lines)
