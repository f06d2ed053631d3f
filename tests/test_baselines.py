"""The baselines of issue 14 against plain references: the (1+1)-ES against a numpy loop with
the same normals, the batched evosax runner against evosax's own ask/tell loop, gradient descent
against the closed form, and eq. (4) records against ``evolve``'s own."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ensemble
from ensemble import baselines, learning

A = np.array([0.5, -1.0, 2.0, 0.25])


def sphere(p):
    return jnp.sum((p["x"] - jnp.asarray(A, p["x"].dtype)) ** 2)


def monitor(p):
    E = jax.vmap(sphere)(p)
    return E, E <= 1e-2


SYSTEM = ensemble.from_loss(sphere)


def test_one_plus_one_matches_a_numpy_loop(rng):
    """(1+1)-ES with the 1/5 rule, float64: the batched runner equals a plain loop on the same normals."""
    B, steps, records = 3, 40, 4
    x0 = rng.normal(size=(B, A.size))
    sigma = np.array([0.05, 0.3, 1.0])
    key = jax.random.key(7)
    trace = baselines.one_plus_one(SYSTEM, {"x": jnp.asarray(x0)}, key=key, budget=steps * records, records=records,
                                   monitor=monitor, sigma=sigma)
    d = 1 + A.size / 2
    for b in range(B):
        _, k = jax.random.split(jax.random.fold_in(key, b))
        x, fx, s = x0[b].copy(), np.inf, sigma[b]
        want = [np.sum((x - A) ** 2)]
        for n in range(steps * records):
            k, k_step, _ = jax.random.split(k, 3)
            z = np.asarray(jax.random.normal(jax.random.split(k_step, 1)[0], (A.size,), jnp.float64))
            y = x + s * z
            fy = np.sum((y - A) ** 2)
            ok = fy <= fx
            x, fx = (y, fy) if ok else (x, fx)
            s = s * np.exp((float(ok) - 0.2) / 0.8 / d)
            if (n + 1) % steps == 0:
                want.append(np.sum((x - A) ** 2))
        np.testing.assert_allclose(trace.E[:, b], want, rtol=1e-10)
        np.testing.assert_allclose(np.asarray(trace.params["x"][b]), x, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(trace.evaluations, np.arange(records + 1) * steps)
    assert trace.E[-1].max() < trace.E[0].min()  # it makes progress


@pytest.mark.slow
def test_evolution_strategy_equals_evosax_ask_tell_loop():
    """The batched runner (vmap over runs, scan over generations, a sweep of std_init in one
    call) gives what evosax's own ask/tell loop gives run by run with the same keys."""
    SNES = pytest.importorskip("evosax.algorithms").SNES  # the [compare] extra (installed by make test)

    B, gens, records = 2, 6, 2
    strategy = SNES(6, {"x": jnp.zeros(A.size, jnp.float32)})
    x0 = {"x": jnp.asarray(np.random.default_rng(1).normal(size=(B, A.size)), jnp.float32)}
    ep = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (B,) + jnp.shape(a)), strategy.default_params)
    ep = ep.replace(std_init=jnp.asarray([0.1, 0.5], jnp.float32))
    key = jax.random.key(3)
    trace = baselines.evolution_strategy(SYSTEM, strategy, x0, key=key, budget=6 * gens * records, records=records,
                                         monitor=monitor, es_params=ep, per_run=True)
    for b in range(B):
        with jax.numpy_rank_promotion("allow"):  # evosax relies on it
            means = _evosax_loop(strategy, ep, b, key, x0, gens, records)
        np.testing.assert_allclose(trace.E[:, b], means, rtol=1e-4)
    np.testing.assert_array_equal(trace.evaluations, [0, 36, 72])


def _evosax_loop(strategy, ep, b, key, x0, gens, records):
    """Run ``b`` with evosax's own ask/tell, one generation at a time: E of the mean at each record."""
    params_b = jax.tree_util.tree_map(lambda a: a[b], ep)
    k_es, _, k = jax.random.split(jax.random.fold_in(key, b), 3)
    state = strategy.init(k_es, {"x": x0["x"][b]}, params_b)
    means = [float(sphere(strategy.get_mean(state)))]
    for g in range(gens * records):
        k, k_ask, _, k_tell = jax.random.split(k, 4)
        pop, state = strategy.ask(k_ask, state, params_b)
        state, _ = strategy.tell(k_tell, pop, jax.vmap(sphere)(pop), state, params_b)
        if (g + 1) % gens == 0:
            means.append(float(sphere(strategy.get_mean(state))))
    return means


def test_backprop_is_gradient_descent_in_closed_form(rng):
    """sgd(lr) on |x - a|^2: x_k - a = (1 - 2 lr)^k (x_0 - a), float64; a per-run learning rate
    (one call for a sweep) gives each run its own lr."""
    x0 = rng.normal(size=(3, A.size))
    steps, records = 5, 3
    fixed = baselines.backprop(sphere, {"x": jnp.asarray(x0)}, optax.sgd(0.1), budget=steps * records,
                               records=records, monitor=monitor)
    lr = np.array([0.1, 0.05, 0.2])
    swept = baselines.backprop(sphere, {"x": jnp.asarray(x0)}, optax.sgd, learning_rate=lr, budget=steps * records,
                               records=records, monitor=monitor)
    for k in range(records + 1):
        np.testing.assert_allclose(fixed.E[k], np.sum(((1 - 2 * 0.1) ** (k * steps) * (x0 - A)) ** 2, axis=1), rtol=1e-10)
        want = np.sum(((1 - 2 * lr[:, None]) ** (k * steps) * (x0 - A)) ** 2, axis=1)
        np.testing.assert_allclose(swept.E[k], want, rtol=1e-10)
    with pytest.raises(ValueError, match="^learning_rate must"):
        baselines.backprop(sphere, {"x": jnp.asarray(x0)}, optax.sgd, learning_rate=[0.1, -1.0, 0.1], budget=4,
                           records=2, monitor=monitor)


def test_autonomous_records_are_the_members_weights_at_each_chunk(rng):
    """eq. (4) via evolve: the record after the last chunk is the monitor of the run's final
    weights, and the final weights are those of a plain evolve call with the same key."""
    x0 = {"x": jnp.asarray(rng.normal(size=(4, A.size)), jnp.float32)}
    hyper = learning.DiscreteHyper(jnp.full(4, 5.0), jnp.full(4, 0.01), 1)
    trace = baselines.autonomous(SYSTEM, learning.discrete(1), x0, hyper, key=jax.random.key(2), budget=30,
                                 records=3, monitor=monitor)
    run = ensemble.evolve(SYSTEM, learning.discrete(1), x0, hyper, key=jax.random.key(2), n_iterations=30)
    np.testing.assert_array_equal(np.asarray(trace.params["x"]), np.asarray(run.params["x"]))
    np.testing.assert_allclose(trace.E[-1], np.asarray(monitor(run.params)[0]), rtol=1e-6)
    np.testing.assert_allclose(trace.E[0], np.asarray(monitor(x0)[0]), rtol=1e-6)
    np.testing.assert_array_equal(trace.evaluations, [0, 10, 20, 30])


def test_n_params_counts_one_runs_parameters():
    assert baselines.n_params({"a": jnp.zeros((3, 4, 5)), "b": jnp.zeros((3, 2))}) == 22
    assert ensemble.baselines is baselines  # exported from the package


def test_budget_and_sigma_errors_name_the_argument():
    x0 = {"x": jnp.zeros((2, A.size))}
    with pytest.raises(ValueError, match="^budget must allow"):
        baselines.one_plus_one(SYSTEM, x0, key=jax.random.key(0), budget=3, records=4, monitor=monitor)
    with pytest.raises(ValueError, match="^sigma must"):
        baselines.one_plus_one(SYSTEM, x0, key=jax.random.key(0), budget=8, records=4, monitor=monitor, sigma=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="^records must"):
        baselines.backprop(sphere, x0, optax.sgd(0.1), budget=8, records=0, monitor=monitor)
