"""The stability law of eq. (4) (issue 15): tau_c = m sd(dE_m) from a pilot run with the drift
off predicts divergence below it and stability above 3 tau_c, on a small ensemble."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import learning, stability


def sphere(p):
    return jnp.sum((p["x"] - 1.0) ** 2)


def test_noise_dE_spread_matches_its_first_order_estimate():
    """sd(E(m) - E(0)) ~ S E |grad E| sqrt(m) for a smooth E (here E0 = 3, |grad E| = 2 sqrt 3)."""
    params = ensemble.replicate({"x": jnp.zeros(3)}, 256)
    for m in (1, 2):
        dE = stability.noise_dE(ensemble.from_loss(sphere), params, 0.002, m, key=jax.random.key(0))
        assert np.std(dE) == pytest.approx(0.002 * 3 * 2 * np.sqrt(3) * np.sqrt(m), rel=0.15)


@pytest.mark.parametrize("m", [2])  # the law was read off m = 1 and 3: m = 2 is a prediction
@pytest.mark.slow
def test_law_predicts_divergence_below_tau_c_and_none_above_3_tau_c(m):
    system = ensemble.from_loss(sphere)
    params = ensemble.replicate({"x": jnp.zeros(3)}, 32)
    S = 0.005
    tau_c = stability.critical_tau(system, params, S, m, key=jax.random.key(1))
    taus = np.array([0.5, 1.0, 4.0, 10.0]) * tau_c
    assert stability.predict(taus, tau_c).tolist() == ["diverges", "diverges", "stable", "stable"]
    g = ensemble.grid(tau=taus, S=[S], members=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run = ensemble.evolve(system, learning.discrete(m), ensemble.replicate({"x": jnp.zeros(3)}, g.size),
                              learning.DiscreteHyper(g.tau, g.S, m), key=jax.random.key(2), n_iterations=500)
    diverged = g.unflatten(run.diverged).mean(axis=-1)[:, 0]
    assert diverged[0] >= 0.9 and diverged[1] >= 0.6, diverged
    assert diverged[2] <= 0.1 and diverged[3] <= 0.1, diverged
    # the clipped variant is stable where the literal map diverges
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clipped = ensemble.evolve(system, learning.discrete(m, clip=0.5), params, learning.DiscreteHyper(0.5 * tau_c, S, m),
                                  key=jax.random.key(2), n_iterations=500)
    assert clipped.diverged.mean() <= 0.1
    assert np.nanmedian(clipped.final["E"]) < 3.0  # and it still learns (E(0) = 3)


@pytest.mark.slow
def test_critical_taus_is_critical_tau_at_each_S_in_one_run():
    """The batched pilot gives each S the numbers of its own critical_tau call, bit for bit."""
    system = ensemble.from_loss(sphere)
    params = ensemble.replicate({"x": jnp.asarray([0.1, -0.2, 0.3])}, 8)
    S_values = [0.001, 0.01, 0.1]
    one_by_one = [stability.critical_tau(system, params, S, 2, key=jax.random.key(4)) for S in S_values]
    batched = stability.critical_taus(system, params, S_values, 2, key=jax.random.key(4))
    assert batched.shape == (3,) and batched.tolist() == one_by_one
    assert batched[0] < batched[1] < batched[2]  # tau_c grows with S
    with pytest.raises(ValueError, match="at least 2 members"):
        stability.critical_taus(system, ensemble.replicate({"x": jnp.zeros(3)}, 1), S_values, 2, key=jax.random.key(4))
    with pytest.raises(ValueError, match="^S_values must hold"):
        stability.critical_taus(system, params, [], 2, key=jax.random.key(4))
    with pytest.raises(ValueError, match="^S_values must be >= 0"):
        stability.critical_taus(system, params, [0.01, float("nan")], 2, key=jax.random.key(4))


def test_predict_and_pilot_errors():
    with pytest.raises(ValueError, match="^tau_c must"):
        stability.predict(1.0, 0.0)
    with pytest.raises(ValueError, match="^m must"):
        stability.noise_dE(ensemble.from_loss(sphere), ensemble.replicate({"x": jnp.zeros(3)}, 4), 0.01, 0,
                           key=jax.random.key(0))
