"""The numpy baselines of ``benchmarks/run.py`` compute the same algorithms as the library.

With the noise switched off (S = 0) every map is deterministic, so the traces of
``benchmarks/numpy_reference.py`` (float32) must match ``ensemble.evolve`` (float32)
to rounding over a few iterations. A map started from ``w(0)`` with S = 0 never
moves (``w(n) - w(n-m) = 0``), so both start from the same random ring buffers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import numpy_reference as ref
from ensemble import driver, evolve, learning, patterns
from ensemble import feedforward as ff
from ensemble import kuramoto as ku

X, Y = patterns.vowels()
B, N_IT = 6, 12


def net_params(B):
    keys = driver.member_keys(jax.random.key(7), np.arange(B))
    return jax.vmap(lambda k: ff.init(k, 35, 10, 5, scale=1.0))(keys)


def started(system, lmap, params, spread, signal_range, seed=1):
    """An EnsembleState whose ring buffers hold random past parameters and objectives (n = L),
    and the same buffers for the reference, whose buffer length is set to the library's L."""
    rng = np.random.default_rng(seed)
    st = driver.init_state(system, lmap, params, jax.random.key(0))
    L = st.learning.signals.shape[1]  # buffer length (max_delay + 1 in the library)
    hist = jax.tree_util.tree_map(lambda h: h + jnp.asarray(rng.normal(0, spread, h.shape), h.dtype), st.learning.history)
    sig = jnp.asarray(rng.uniform(*signal_range, st.learning.signals.shape), st.learning.signals.dtype)
    lst = st.learning._replace(history=hist, signals=sig, n=jnp.full((B,), L, jnp.int32))
    flat = np.concatenate([np.asarray(h).reshape(B, L, -1) for h in jax.tree_util.tree_leaves(hist)], axis=2)
    return st._replace(learning=lst), (flat, np.asarray(sig), L)


def test_network_eq4_matches_library():
    params, lmap = net_params(B), learning.discrete(5)
    m = np.array([1, 2, 3, 5, 5, 4])
    st, start = started(ff.Task(X, Y), lmap, params, 0.3, (0.0, 0.5))
    run = evolve(
        ff.Task(X, Y), lmap, None, learning.DiscreteHyper(0.5, 0.0, m), key=jax.random.key(0), n_iterations=N_IT, state=st
    )
    out = ref.network_run(params["hidden"], params["output"], X, Y, N_IT, tau=0.5, S=0.0, m=m, max_delay=start[2], start=start)
    np.testing.assert_allclose(out["E"], run.traces["E"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["hidden"], np.asarray(run.params["hidden"]), rtol=1e-4, atol=1e-5)
    assert np.ptp(out["E"], axis=0).min() > 1e-3  # the weights did move


def test_robust_network_eq8_matches_library():
    params, lmap = net_params(B), learning.biparametric(3)
    task = ff.Task(X, Y, eps=0.25)
    st, start = started(task, lmap, params, 0.3, (0.0, 0.5))
    hyper = learning.BiparametricHyper(0.5, 0.0, 2.0, 0.0, 3)
    run = evolve(task, lmap, None, hyper, key=jax.random.key(0), n_iterations=N_IT, state=st)
    out = ref.network_run(
        params["hidden"],
        params["output"],
        X,
        Y,
        N_IT,
        tau=0.5,
        S=0.0,
        m=3,
        max_delay=start[2],
        eps=0.25,
        tau_R=2.0,
        S_R=0.0,
        start=start,
    )
    np.testing.assert_allclose(out["E"], run.traces["E"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["R"], run.traces["R"], atol=1e-6)  # same damages counted
    assert np.ptp(out["E"], axis=0).min() > 1e-3
    assert 0 < out["R"].mean() < 1  # the R term is exercised


@pytest.mark.slow
def test_kuramoto_eq13_matches_library(assert_same_angles):
    N, n_it = 10, 6
    system = ku.Oscillators(ku.default_omega(N), dt=0.01, T=0.3, R0=0.8)
    w0 = np.random.default_rng(0).uniform(0.2, 1.5, size=(B, ku.n_pairs(N))).astype(np.float32)
    params = {"w": jnp.asarray(w0)}
    lmap = ku.weight_control(learning.discrete(2))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.0, 2), 0.1, 0.5)
    st, start = started(system, lmap, params, 0.2, (0.0, 0.1))
    run = evolve(system, lmap, None, hyper, key=jax.random.key(0), n_iterations=n_it, state=st)
    out = ref.kuramoto_run(
        w0,
        np.asarray(st.system),
        system.omega,
        0.01,
        system.n_steps,
        0.8,
        n_it,
        tau=1.0,
        S=0.0,
        m=2,
        max_delay=start[2],
        gamma=0.1,
        M0=0.5,
        start=start,
    )
    for k in ("E", "R", "M"):
        np.testing.assert_allclose(out[k], run.traces[k], rtol=1e-4, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(out["w"], np.asarray(run.params["w"]), rtol=1e-4, atol=1e-6)
    assert_same_angles(np.asarray(run.state.system), out["phases"], 1e-4)


def test_hand_written_jax_baselines_match_numpy():
    """benchmarks/hand_jax.py (the plain-JAX baselines "hand" of run.py) computes the numpy
    reference's algorithms: with S = 0, from random ring buffers of length m, the same errors."""
    from benchmarks import hand_jax

    m, D = 3, 10 * 36 + 5 * 11
    params = net_params(B)
    rng = np.random.default_rng(2)
    w = np.concatenate([np.asarray(params["hidden"]).reshape(B, -1), np.asarray(params["output"]).reshape(B, -1)], axis=1)
    hist = (w[None] + rng.normal(0, 0.3, (m, B, D))).astype(np.float32)
    errs = rng.uniform(0, 0.5, (m, B)).astype(np.float32)
    prog = hand_jax.network_program(X, Y, ((10, 36), (5, 11)), tau=0.5, S=0.0, m=m)
    state = (jnp.asarray(w), jnp.asarray(hist), jnp.asarray(errs), jax.random.split(jax.random.key(0), B), jnp.int32(m))
    _, E = prog(state, N_IT)
    start = (np.transpose(hist, (1, 0, 2)).copy(), errs.T[:, :, None].copy(), m)
    out = ref.network_run(params["hidden"], params["output"], X, Y, N_IT, tau=0.5, S=0.0, m=m, max_delay=m, start=start)
    np.testing.assert_allclose(np.asarray(E), out["E"], rtol=1e-4, atol=1e-6)
    assert np.ptp(out["E"], axis=0).min() > 1e-3  # the weights did move

    N, n_it = 10, 4
    omega = ku.default_omega(N)
    w0 = rng.uniform(0.2, 1.5, size=(B, ku.n_pairs(N))).astype(np.float32)
    ph0 = rng.uniform(-np.pi, np.pi, size=(B, N)).astype(np.float32)
    kprog = hand_jax.kuramoto_program(N, omega, dt=0.01, n_steps=30, R0=0.8, tau=1.0, S=0.0, m=1, gamma=0.1, M0=0.5)
    _, E = kprog(hand_jax.kuramoto_state(w0, ph0, m=1), n_it)
    out = ref.kuramoto_run(w0, ph0, omega, 0.01, 30, 0.8, n_it, tau=1.0, S=0.0, m=1, max_delay=1, gamma=0.1, M0=0.5)
    np.testing.assert_allclose(np.asarray(E), out["E"], rtol=1e-3, atol=1e-6)
