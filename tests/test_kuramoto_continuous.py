"""Continuous-time learning on Kuramoto (eq. 3 + control as a rate) against a float64 numpy double loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import driver, evolve, kuramoto as ku, learning


def random_weights(rng, N):
    A = rng.normal(size=(N, N))
    return ku.upper(A + A.T) * 0.8


def ref_run(w0, omega, phases0, dt, n, R0, tau, S, gamma, M0, K, noise=None, error="squared"):
    """K steps of eq. (3) + control with the running window, plain loops in float64.

    ``noise[k]`` is the standard normal vector of step k (None: S must be 0).
    """
    N = len(phases0)
    iu, ju = np.triu_indices(N, 1)
    phi = np.array(phases0, np.float64)
    w = np.array(w0, np.float64)
    ws, Es, rs, out = [w.copy()], [], [], {"E": [], "R": [], "M": [], "r": []}
    for k in range(K):
        W = np.zeros((N, N))
        W[iu, ju] = w
        W[ju, iu] = w
        dphi = np.empty(N)
        for i in range(N):
            acc = 0.0
            for j in range(N):
                acc += W[i, j] * np.sin(phi[j] - phi[i])
            dphi[i] = omega[i] + acc / N
        phi = phi + dt * dphi
        r = abs(np.mean(np.exp(1j * phi)))
        rs.append(r)
        R = np.mean(rs[-n:])  # window mean; the steps so far before n exist
        E = (R - R0) ** 2 if error == "squared" else abs(R - R0)
        Es.append(E)
        M = np.mean(np.abs(w))
        for key, v in zip(("E", "R", "M", "r"), (E, R, M, r)):
            out[key].append(v)
        d = max(k - n, 0)  # history before step 0 is w(0), E(0)
        w_new = w - (dt / tau) * (E - Es[d]) * (w - ws[d]) - gamma * dt * (M - M0) * w
        if noise is not None:
            w_new = w_new + S * E * np.sqrt(dt) * noise[k]
        w = w_new
        ws.append(w.copy())
    return {k: np.array(v) for k, v in out.items()}, w, phi


def setup(rng, N=5, dt=0.05, T=0.4, R0=0.7, tau=0.3, S=0.0, gamma=0.4, M0=0.6, error="squared"):
    system = ku.ContinuousOscillators(rng.uniform(-1, 1, N), dt=dt, T=T, R0=R0, error=error)
    n = system.n_steps
    lmap = ku.continuous_weight_control(n)
    hyper = ku.ControlledHyper(learning.ContinuousHyper(tau, S, dt, n), gamma, M0)
    return system, lmap, hyper


@pytest.mark.parametrize("error", ["squared", "absolute"])
def test_continuous_matches_numpy_with_S_zero(rng, error, assert_same_angles):
    N, K = 5, 40
    system, lmap, hyper = setup(rng, N, error=error)
    assert system.n_steps == 8
    w0 = np.stack([random_weights(rng, N) for _ in range(2)])
    params = {"w": jnp.asarray(w0)}
    key = jax.random.key(7)
    run = evolve(system, lmap, params, hyper, key=key, n_iterations=K)
    phases0 = np.asarray(driver.init_state(system, lmap, params, key).system.phases)
    for b in range(2):
        ref, w_end, phi_end = ref_run(w0[b], np.asarray(system.omega), phases0[b], 0.05, 8, 0.7, 0.3, 0.0, 0.4, 0.6, K,
                                      error=error)
        for s in ("E", "R", "M", "r"):
            np.testing.assert_allclose(run.traces[s][:, b], ref[s], rtol=1e-11, atol=1e-13, err_msg=s)
        np.testing.assert_allclose(np.asarray(run.params["w"][b]), w_end, rtol=1e-11, atol=1e-13)
        assert_same_angles(run.state.system.phases[b], phi_end, 1e-11)
    # the weights really moved by the drift and the control, and differently per member
    assert np.max(np.abs(np.asarray(run.params["w"]) - w0)) > 1e-3


def test_continuous_matches_numpy_with_regenerated_noise(rng):
    N, K, S = 4, 20, 0.7
    system, lmap, hyper = setup(rng, N, dt=0.02, T=0.1, S=S, tau=0.5, gamma=0.2)
    n = system.n_steps
    w0 = random_weights(rng, N)
    params = {"w": jnp.asarray(w0[None])}
    key = jax.random.key(3)
    run = evolve(system, lmap, params, hyper, key=key, n_iterations=K)
    phases0 = np.asarray(driver.init_state(system, lmap, params, key).system.phases[0])
    mkey = jax.random.fold_in(key, 0)
    noise = []
    for k in range(K):  # the driver's key schedule: fold_in(member, k), split -> (system, map)
        _, k_map = jax.random.split(jax.random.fold_in(mkey, k))
        noise.append(np.asarray(learning.normal_like(k_map, {"w": jnp.asarray(w0)})["w"]))
    ref, w_end, _ = ref_run(w0, np.asarray(system.omega), phases0, 0.02, n, 0.7, 0.5, S, 0.2, 0.6, K, noise=noise)
    for s in ("E", "R", "M", "r"):
        np.testing.assert_allclose(run.traces[s][:, 0], ref[s], rtol=1e-11, atol=1e-13, err_msg=s)
    np.testing.assert_allclose(np.asarray(run.params["w"][0]), w_end, rtol=1e-11, atol=1e-13)
    again = evolve(system, lmap, params, hyper, key=key, n_iterations=K)  # deterministic per seed
    np.testing.assert_array_equal(np.asarray(again.params["w"]), np.asarray(run.params["w"]))


def test_window_start_and_running_sum_stay_exact_over_long_runs():
    """Before n steps R is the mean so far; after, the mean of the last n r (float32, 2000 steps, n = 150)."""
    N = 10
    system = ku.ContinuousOscillators(ku.default_omega(N), dt=0.01, T=1.5, R0=0.6)
    n = system.n_steps
    lmap = ku.continuous_weight_control(n)
    hyper = ku.ControlledHyper(learning.ContinuousHyper(5.0, 0.05, 0.01, n), 0.02, 0.5)
    params = {"w": jnp.full((2, ku.n_pairs(N)), 0.5, jnp.float32)}
    run = evolve(system, lmap, params, hyper, key=jax.random.key(1), n_iterations=2000, record=ensemble.Record(every=1),
                 chunks=ensemble.Chunks(size=2000))
    r = run.traces["r"].astype(np.float64)
    want = np.stack([r[max(0, k - n + 1): k + 1].mean(axis=0) for k in range(r.shape[0])])
    assert run.traces["R"].dtype == np.float32
    np.testing.assert_allclose(run.traces["R"], want, rtol=0, atol=2e-6)
    np.testing.assert_allclose(run.traces["E"], (run.traces["R"].astype(np.float64) - 0.6) ** 2, rtol=1e-5, atol=1e-9)


def test_same_key_gives_both_schemes_the_same_initial_phases():
    N = 6
    disc = ku.Oscillators(ku.default_omega(N), dt=0.05, T=1.0, R0=0.5)
    cont = ku.ContinuousOscillators(ku.default_omega(N), dt=0.05, T=1.0, R0=0.5)
    params = {"w": jnp.full((3, ku.n_pairs(N)), 0.5, jnp.float32)}
    key = jax.random.key(4)
    pd = driver.init_state(disc, ku.weight_control(learning.discrete(1)), params, key).system
    pc = driver.init_state(cont, ku.continuous_weight_control(cont.n_steps), params, key).system
    np.testing.assert_array_equal(np.asarray(pd), np.asarray(pc.phases))
    assert pc.r.shape == (3, 20) and not np.any(np.asarray(pc.r))


def test_control_rate_scales_gamma_by_dt_and_discrete_control_is_unchanged(rng):
    """With a flat E the only move is the control: rate=True gives gamma*dt per step, rate=False gamma."""
    P, dt, gamma, M0 = 6, 0.1, 0.5, 0.2
    w0 = rng.normal(size=P)
    params = {"w": jnp.asarray(w0)}
    M = np.mean(np.abs(w0))
    cont = ku.weight_control(learning.continuous(3), rate=True)
    new, _ = cont.step(params, cont.init(params), {"E": jnp.asarray(0.0)},
                       ku.ControlledHyper(learning.ContinuousHyper(1.0, 0.0, dt, 3), gamma, M0), jax.random.key(0))
    np.testing.assert_allclose(np.asarray(new["w"]), w0 - gamma * dt * (M - M0) * w0, rtol=1e-14)
    disc = ku.weight_control(learning.discrete(3))
    new, _ = disc.step(params, disc.init(params), {"E": jnp.asarray(0.0)},
                       ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.0, 3), gamma, M0), jax.random.key(0))
    np.testing.assert_allclose(np.asarray(new["w"]), w0 - gamma * (M - M0) * w0, rtol=1e-14)


def test_continuous_rejects_bad_input():
    N = 4
    system = ku.ContinuousOscillators(ku.default_omega(N), dt=0.1, T=0.5, R0=0.8)
    params = {"w": jnp.full((2, ku.n_pairs(N)), 0.5)}
    lmap = ku.continuous_weight_control(5)
    hyper = ku.ControlledHyper(learning.ContinuousHyper(1.0, 0.1, 0.1, 5), 0.1, 0.5)
    common = dict(key=jax.random.key(0), n_iterations=2)
    for sys_, h, lm, match in [
        (system._replace(dt=0.0), hyper, lmap, "^dt must be > 0"),
        (system._replace(R0=-0.1), hyper, lmap, r"^R0 must be in \[0, 1\]"),
        (system._replace(error="cubic"), hyper, lmap, "^error must be one of"),
        (system, hyper._replace(gamma=-1.0), lmap, "^gamma must be >= 0"),
        (system, hyper._replace(base=learning.ContinuousHyper(1.0, 0.1, 0.1, 6)), lmap, r"^m must be an integer in \[1, 5\]"),
        (system, hyper._replace(base=learning.ContinuousHyper(0.0, 0.1, 0.1, 5)), lmap, "^tau must be > 0"),
        (system, ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.1, 1), 0.1, 0.5),
         ku.weight_control(learning.discrete(1), rate=True), "^rate=True needs a base map"),
    ]:
        with pytest.raises(ValueError, match=match):
            evolve(sys_, lm, params, h, **common)
    with pytest.raises(ValueError, match=r'^params\["w"\] must have shape \(6,\)'):
        evolve(system, lmap, {"w": jnp.full((2, 5), 0.5)}, hyper, **common)


# ------------------------------------------------------------------ cmp study

TINY_CMP = dict(members=2, n_windows=4, T=0.5, dt=0.05, check_windows=2)


@pytest.mark.slow
def test_cmp_json_keys_summary_and_frozen_schemes_agree(tmp_path):
    """JSON contract keys; and with no learning (huge tau, S = 0, gamma = 0) both schemes integrate the
    same systems from the same phases, so the continuous window means at t = kT equal the discrete R of
    iteration k and the frozen checks agree."""
    import json

    from ensemble import studies
    from ensemble.studies import cmp

    frozen = dict(tau=1e30, S=0.0, gamma=0.0, R0=0.3, tolerance=0.2)
    result = studies.reproduce("cmp", str(tmp_path), quick=True, **TINY_CMP, **frozen)
    data = json.loads((tmp_path / "cmp.json").read_text())
    assert (tmp_path / "cmp.png").stat().st_size > 1000
    s = data["summary"]
    for key in ["discrete_success_fraction", "continuous_success_fraction", "discrete_median_time_to_target",
                "continuous_median_time_to_target", "discrete_reached_target", "continuous_reached_target",
                "tau_c", "S_c", "gamma_c", "members", "horizon_time"]:
        assert key in s
    c = data["config"]
    assert c["members"] == 2 and c["seed"] == 0 and c["n_windows"] == 4
    assert s["tau_c"] == pytest.approx(c["tau_factor"] * c["T"] * c["tau"]) and s["S_c"] == 0 and s["gamma_c"] == 0
    np.testing.assert_allclose(data["time"], 0.5 * np.arange(1, 5))
    for name in ("discrete", "continuous"):
        assert len(data[f"{name}_R"]["p50"]) == 4
        times = np.array([np.nan if v is None else v for v in data[f"{name}_time_to_target"]], float)
        assert s[f"{name}_reached_target"] == int(np.isfinite(times).sum())
        check = np.asarray(data[f"{name}_check_R"], float)
        assert s[f"{name}_success_fraction"] == pytest.approx(np.mean(np.abs(check - c["R0"]) <= c["tolerance"]))
    for q in ("p10", "p50", "p90"):
        np.testing.assert_allclose(data["continuous_R"][q], data["discrete_R"][q], rtol=0, atol=2e-6)
    np.testing.assert_allclose(data["continuous_check_R"], data["discrete_check_R"], rtol=0, atol=2e-5)
    assert s["continuous_reached_target"] == s["discrete_reached_target"] > 0  # the band is wide: both reach it
    assert result.summary["members"] == 2 and "cmp" in cmp.describe(result)
    times = cmp.time_to_target(np.array([[0.1, 0.5], [0.62, 0.3], [0.6, 0.9]]), 0.6, 0.03, 2.0)
    np.testing.assert_array_equal(times, [4.0, np.nan])
    assert cmp._median_or_none(np.array([1.0, np.nan])) == 1.0 and cmp._median_or_none(np.array([1.0, np.nan, np.nan])) is None


@pytest.mark.parametrize("change, match", [
    (dict(n_windows=0), "^n_windows must be an integer >= 1"),
    (dict(tau_c=-1.0), "^tau_c must be > 0"),
    (dict(S_c=-0.1), "^S_c must be >= 0"),
    (dict(gamma_c=-0.1), "^gamma_c must be >= 0"),
    (dict(tau_factor=0.0), "^tau_factor must be > 0"),
    (dict(S_factor=-1.0), "^S_factor must be >= 0"),
    (dict(members=0), "^members must be an integer >= 1"),
    (dict(R0=1.2), r"^R0 must be in \[0, 1\]"),
])
def test_cmp_rejects_bad_config(tmp_path, change, match):
    from ensemble import studies

    with pytest.raises(ValueError, match=match):
        studies.reproduce("cmp", str(tmp_path), quick=True, **{**TINY_CMP, **change})


@pytest.mark.invariance
@pytest.mark.slow
def test_continuous_member_alone_equals_member_in_ensemble_of_13(rng):
    """Member-major (vmap of measure) Kuramoto: a member's bits do not depend on the ensemble."""
    system, lmap, hyper = setup(rng, S=0.3)
    B = 13
    w0 = jnp.asarray(np.stack([random_weights(rng, 5) for _ in range(B)]), jnp.float32)
    common = dict(key=jax.random.key(3), n_iterations=40, record_every=4)
    full = evolve(system, lmap, {"w": w0}, hyper, **common)
    for k in (0, 6, 12):
        alone = evolve(system, lmap, {"w": w0[k : k + 1]}, hyper, placement=ensemble.Placement(members=[k]), **common)
        for s in ("E", "R", "M", "r"):
            np.testing.assert_array_equal(alone.traces[s][:, 0], full.traces[s][:, k])
        np.testing.assert_array_equal(np.asarray(alone.params["w"][0]), np.asarray(full.params["w"][k]))
