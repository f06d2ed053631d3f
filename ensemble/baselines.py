"""Other optimizers on the same systems, counted in system evaluations.

One *evaluation* is one processing interval of a system that yields one ``E`` (one
``system.measure`` call: a forward pass over all patterns, one Kuramoto window). Autonomous
learning (eq. 4) spends one per iteration per member. The baselines here run on any system of
:func:`ensemble.evolve` (``init_state``, ``measure``) and spend their budget as follows:

- :func:`evolution_strategy`: an evosax strategy (OpenAI-ES, SNES, CMA-ES, ...) with a population
  of ``popsize`` candidates, ``popsize`` evaluations per generation. Each population slot is one
  copy of the system and carries its own state (a Kuramoto slot continues from the phases its
  previous candidate left), as ``popsize`` physical systems would.
- :func:`one_plus_one`: the (1+1)-ES with the 1/5 success rule (Kern et al. 2004): one
  candidate per generation, kept if its E is not worse than the parent's (the parent's E is not
  re-measured), one system copy.
- :func:`backprop`: gradient steps of optax on a differentiable loss (one evaluation per step;
  the gradient comes with it, which no other method here has).
- :func:`autonomous`: eq. (4) through :func:`ensemble.evolve`, for the same records.

Every runner is one batched call over ``B`` runs (stacked initial parameters; hyperparameters
a scalar or one per run) and returns a :class:`Trace`: at ``records + 1`` evaluation counts
(0 included) the ``monitor``'s verdict on each run's *current solution* (eq. 4: the member's
weights; an ES: its mean, or its parent; back-propagation: its weights). The monitor is the
task's deterministic check (``monitor(params (B, ...)) -> (E (B,), solved (B,))``) and spends no
budget. ``project`` maps any candidate onto the task's constraint set before it is evaluated
(for the Kuramoto task, the weights rescaled to mean ``|w| = M0``); the start is taken as given
and should satisfy it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .driver import evolve
from .options import Chunks, Placement, Record

FAILED_E = 1e30
"""Fitness given to a candidate whose E is not finite (it ranks last)."""


class Trace(NamedTuple):
    """Records of one batched baseline call.

    Attributes:
        evaluations: ``(K,)`` system evaluations spent per run at each record (the first is 0).
        E: ``(K, B)`` the monitor's E of each run's current solution (NaN: diverged).
        solved: ``(K, B)`` bool, the monitor's verdict.
        params: the final solutions (stacked, leading axis ``B``).
        wall_s: seconds of the call, compilation included.
    """

    evaluations: np.ndarray
    E: np.ndarray
    solved: np.ndarray
    params: Any
    wall_s: float


def _check_budget(budget, records, per_step: int = 1) -> int:
    """Steps per record: ``budget // per_step`` steps (each of ``per_step`` evaluations), rounded
    down to a multiple of ``records``; at least one step per record."""
    _checks.integer_at_least("budget", budget, 1)
    _checks.integer_at_least("records", records, 1)
    per_record = int(budget) // per_step // int(records)
    if per_record < 1:
        raise ValueError(f"budget must allow at least one step of {per_step} evaluations per record "
                         f"({records} records), got {budget} evaluations")
    return per_record


def _per_run(value, B: int, name: str, dtype=jnp.float32) -> jnp.ndarray:
    a = jnp.asarray(value, dtype)
    if a.ndim == 0:
        return jnp.full((B,), a)
    if a.shape != (B,):
        raise ValueError(f"{name} must be a scalar or have one value per run ({B}), got shape {a.shape}")
    return a


def n_params(params) -> int:
    """Parameters of one run in stacked ``params`` (every leaf's size without its leading run axis).

    Args:
        params: stacked parameters, leading axis ``B``.
    """
    return sum(int(np.prod(jnp.shape(x)[1:])) for x in jax.tree_util.tree_leaves(params))


def _n_runs(params) -> int:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must hold at least one array")
    return int(jnp.shape(leaves[0])[0])


def _record(monitor, params, E_list, ok_list):
    E, ok = monitor(params)
    E_list.append(np.asarray(E, float))
    ok_list.append(np.asarray(ok, bool))


def _trace(evals, E_list, ok_list, params, t0) -> Trace:
    return Trace(np.asarray(evals, np.int64), np.stack(E_list), np.stack(ok_list), params, time.perf_counter() - t0)


def evolution_strategy(system, strategy, params, *, key, budget: int, records: int, monitor: Callable,
                       es_params=None, per_run: bool = False, project: Callable = lambda p: p) -> Trace:
    """Run an evosax strategy from ``params`` (its initial mean, one per run) for ``budget``
    evaluations per run.

    Args:
        system: a system of :func:`ensemble.evolve`.
        strategy: an evosax distribution-based algorithm built for one run's solution
            (``strategy.population_size`` candidates).
        params: ``B`` runs' initial parameters (stacked).
        key: root PRNG key; run ``i`` uses ``fold_in(key, i)``.
        budget: evaluations per run (whole generations, as many per record; a rest is left
            unspent and the Trace says what was spent).
        records: records after the start.
        monitor: ``params (B, ...) -> (E (B,), solved (B,))``.
        es_params: the strategy's params (default ``strategy.default_params``).
        per_run: ``es_params`` has a leading axis ``B`` on each leaf (a sweep of, e.g.,
            ``std_init`` in one call).
        project: one candidate's params -> the params evaluated (and reported).

    Returns:
        A :class:`Trace`, ``params`` the strategies' final means.
    """
    with jax.numpy_rank_promotion("allow"):  # evosax broadcasts by rank promotion
        return _evolution_strategy(system, strategy, params, key, budget, records, monitor, es_params, per_run, project)


def _evolution_strategy(system, strategy, params, key, budget, records, monitor, es_params, per_run, project) -> Trace:
    t0 = time.perf_counter()
    lam = int(strategy.population_size)
    gens = _check_budget(budget, records, lam)
    B = _n_runs(params)
    es_params = strategy.default_params if es_params is None else es_params
    p_axis = 0 if per_run else None
    dtypes = jax.tree_util.tree_map(lambda x: jnp.result_type(x), params)
    like = lambda p: jax.tree_util.tree_map(lambda a, d: a.astype(d), p, dtypes)  # noqa: E731 (evosax may widen)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(B))

    def init(p0, k, ep):
        k_es, k_sys, k_run = jax.random.split(k, 3)
        state = strategy.init(k_es, p0, ep)
        slots = jax.vmap(system.init_state)(jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (lam,) + x.shape), p0),
                                            jax.random.split(k_sys, lam))
        return state, slots, k_run

    def generation(carry, _, ep):
        state, slots, k = carry
        k, k_ask, k_eval, k_tell = jax.random.split(k, 4)
        pop, state = strategy.ask(k_ask, state, ep)
        signals, slots = jax.vmap(lambda p, s, kk: system.measure(project(like(p)), s, kk))(pop, slots,
                                                                                          jax.random.split(k_eval, lam))
        E = signals["E"]
        fitness = jnp.where(jnp.isfinite(E), E, FAILED_E)
        state, _ = strategy.tell(k_tell, pop, fitness, state, ep)
        return (state, slots, k), None

    block = jax.jit(jax.vmap(lambda c, ep: jax.lax.scan(lambda cc, x: generation(cc, x, ep), c, None, length=gens)[0],
                             in_axes=(0, p_axis)))
    mean = jax.jit(jax.vmap(lambda s: project(like(strategy.get_mean(s)))))
    carry = jax.jit(jax.vmap(init, in_axes=(0, 0, p_axis)))(params, keys, es_params)
    E_list, ok_list = [], []
    _record(monitor, params, E_list, ok_list)  # the start as given (every method's record 0)
    for _ in range(records):
        carry = block(carry, es_params)
        _record(monitor, mean(carry[0]), E_list, ok_list)
    return _trace(np.arange(records + 1) * gens * lam, E_list, ok_list, mean(carry[0]), t0)


def one_plus_one(system, params, *, key, budget: int, records: int, monitor: Callable, sigma=0.1,
                 project: Callable = lambda p: p) -> Trace:
    """The (1+1)-ES with the 1/5 success rule.

    Each generation: ``y = x + sigma N(0, I)``; ``y`` replaces ``x`` if ``E(y) <= E(x)``; then
    ``sigma *= exp((s - 1/5) / (4/5) / d)`` with ``s`` the success (0 or 1) and ``d = 1 + n/2``
    (``n`` parameters). The parent's E is the one measured when it was accepted (the first
    generation measures the start).

    Args:
        system: a system of :func:`ensemble.evolve`.
        params: ``B`` runs' initial parameters (stacked).
        key: root PRNG key; run ``i`` uses ``fold_in(key, i)``.
        budget: evaluations per run (one per generation).
        records: records after the start.
        monitor: ``params (B, ...) -> (E (B,), solved (B,))``.
        sigma: initial step size (> 0), a scalar or one per run.
        project: one candidate's params -> the params evaluated (and kept).

    Returns:
        A :class:`Trace`, ``params`` the final parents.
    """
    t0 = time.perf_counter()
    steps = _check_budget(budget, records, 1)
    B = _n_runs(params)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    sigma = _per_run(sigma, B, "sigma", dtype)
    if not bool(jnp.all(sigma > 0)):
        raise ValueError("sigma must be > 0")
    d = 1.0 + n_params(params) / 2.0
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(B))

    def init(p0, k, s0):
        k_sys, k_run = jax.random.split(k)
        return p0, jnp.asarray(jnp.inf, dtype), s0, system.init_state(p0, k_sys), k_run

    def generation(carry, _):
        x, fx, s, sys_state, k = carry
        k, k_step, k_eval = jax.random.split(k, 3)
        leaves, tree = jax.tree_util.tree_flatten(x)
        zs = [jax.random.normal(kk, jnp.shape(a), jnp.result_type(a)) for kk, a in
              zip(jax.random.split(k_step, len(leaves)), leaves)]
        y = jax.tree_util.tree_unflatten(tree, [a + s.astype(jnp.result_type(a)) * z for a, z in zip(leaves, zs)])
        y = project(y)
        signals, sys_state = system.measure(y, sys_state, k_eval)
        fy = jnp.where(jnp.isfinite(signals["E"]), signals["E"], FAILED_E).astype(dtype)
        ok = fy <= fx
        x = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, b, a), x, y)
        fx = jnp.where(ok, fy, fx)
        s = s * jnp.exp((ok.astype(dtype) - 0.2) / 0.8 / d)
        return (x, fx, s, sys_state, k), None

    block = jax.jit(jax.vmap(lambda c: jax.lax.scan(generation, c, None, length=steps)[0]))
    carry = jax.jit(jax.vmap(init))(params, keys, sigma)  # the start as given; candidates are projected
    E_list, ok_list = [], []
    _record(monitor, carry[0], E_list, ok_list)
    for _ in range(records):
        carry = block(carry)
        _record(monitor, carry[0], E_list, ok_list)
    return _trace(np.arange(records + 1) * steps, E_list, ok_list, carry[0], t0)


def backprop(loss: Callable, params, optimizer, *, budget: int, records: int, monitor: Callable,
             learning_rate=None) -> Trace:
    """Gradient steps on a differentiable loss, ``budget`` steps per run.

    Args:
        loss: ``params -> scalar`` of one run's params.
        params: ``B`` runs' initial parameters (stacked).
        optimizer: an optax transformation, or with ``learning_rate`` an optax factory such as
            ``optax.sgd`` (wrapped in ``optax.inject_hyperparams``).
        budget: gradient steps per run (one evaluation each).
        records: records after the start.
        monitor: ``params (B, ...) -> (E (B,), solved (B,))``.
        learning_rate: with a factory, its learning rate (> 0): a scalar or one per run (a
            sweep in one call).

    Returns:
        A :class:`Trace`, ``params`` the final weights.
    """
    import optax

    t0 = time.perf_counter()
    steps = _check_budget(budget, records, 1)
    B = _n_runs(params)
    if learning_rate is not None:
        lr = _per_run(learning_rate, B, "learning_rate", jnp.result_type(*jax.tree_util.tree_leaves(params)))
        if not bool(jnp.all(lr > 0)):
            raise ValueError("learning_rate must be > 0")
        optimizer = optax.inject_hyperparams(optimizer)(learning_rate=1.0)

        def init(p, rate):
            state = optimizer.init(p)
            return p, state._replace(hyperparams={**state.hyperparams, "learning_rate": rate})
        carry = jax.jit(jax.vmap(init))(params, lr)
    else:
        carry = jax.jit(jax.vmap(lambda p: (p, optimizer.init(p))))(params)

    def step(carry, _):
        p, s = carry
        g = jax.grad(loss)(p)
        updates, s = optimizer.update(g, s, p)
        return (jax.tree_util.tree_map(lambda a, u: a + u, p, updates), s), None

    block = jax.jit(jax.vmap(lambda c: jax.lax.scan(step, c, None, length=steps)[0]))
    E_list, ok_list = [], []
    _record(monitor, params, E_list, ok_list)
    for _ in range(records):
        carry = block(carry)
        _record(monitor, carry[0], E_list, ok_list)
    return _trace(np.arange(records + 1) * steps, E_list, ok_list, carry[0], t0)


def autonomous(system, learning_map, params, hyper, *, key, budget: int, records: int, monitor: Callable,
               members=None) -> Trace:
    """Eq. (4) (or any learning map) through :func:`ensemble.evolve` for ``budget`` iterations,
    the ``monitor`` applied to the members' weights at each record (diverged members: NaN, not
    solved).

    Args:
        system: the system.
        learning_map: the learning map (e.g. :func:`ensemble.learning.discrete`).
        params: ``B`` runs' initial parameters (stacked).
        hyper: the map's hyperparameters (each field a scalar or one per run).
        key: root PRNG key.
        budget: iterations per run (one evaluation each).
        records: records after the start.
        monitor: ``params (B, ...) -> (E (B,), solved (B,))``.
        members: the runs' member ids, as in :func:`ensemble.evolve` (default ``range(B)``).

    Returns:
        A :class:`Trace`, ``params`` the final weights.
    """
    t0 = time.perf_counter()
    steps = _check_budget(budget, records, 1)
    E_list, ok_list = [], []
    _record(monitor, params, E_list, ok_list)

    def on_chunk(state, traces, info):
        E, ok = monitor(state.params)
        dead = np.asarray(state.diverged)
        E_list.append(np.where(dead, np.nan, np.asarray(E, float)))
        ok_list.append(np.asarray(ok, bool) & ~dead)

    run = evolve(system, learning_map, params, hyper, key=key, n_iterations=records * steps, record=Record(every=steps),
                 chunks=Chunks(size=steps, on_chunk=on_chunk), placement=Placement(members=members))
    return _trace(np.arange(records + 1) * steps, E_list, ok_list, run.params, t0)


__all__ = ["Trace", "n_params", "evolution_strategy", "one_plus_one", "backprop", "autonomous", "FAILED_E"]
