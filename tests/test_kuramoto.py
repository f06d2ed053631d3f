"""Kuramoto networks (SPEC §3): integration, observables, the system, eq. (13), against numpy references."""

import dataclasses
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import driver, evolve, kuramoto as ku, kuramoto_model, layout, learning


def random_problem(rng, N):
    A = rng.normal(size=(N, N))
    w = A + A.T  # symmetric, mixed signs
    return w, rng.uniform(-1, 1, N), rng.uniform(0, 2 * np.pi, N)


def ref_simulate(w, omega, phases, dt, n_steps):
    """Plain float64 Euler integration with the double loop of the model."""
    N = len(phases)
    phi = np.array(phases, np.float64)
    rs = []
    for _ in range(n_steps):
        dphi = np.empty(N)
        for i in range(N):
            acc = 0.0
            for j in range(N):
                acc += w[i, j] * np.sin(phi[j] - phi[i])
            dphi[i] = omega[i] + acc / N
        phi = phi + dt * dphi
        rs.append(abs(np.mean(np.exp(1j * phi))))
    return phi, np.array(rs)


# ------------------------------------------------------------- integration


def test_simulate_matches_numpy_double_loop(rng, assert_same_angles, monkeypatch):
    for N in (2, 7, kuramoto_model.ROLLED_FROM + 3):  # the last with the sums in compiled loops
        w, omega, phases = random_problem(rng, N)
        w[np.diag_indices(N)] = rng.normal(size=N)  # the diagonal must not matter
        phi, r = ku.simulate(w, omega, phases, 0.05, 50)
        phi_ref, r_ref = ref_simulate(w, omega, phases, 0.05, 50)
        assert phi.dtype == jnp.float64 and r.shape == (50,)
        assert_same_angles(phi, phi_ref, 1e-12)
        np.testing.assert_allclose(np.asarray(r), r_ref, rtol=0, atol=1e-12)
    # a long run is integrated in segments of WRAP_STEPS, wrapped between them: 3 segments and a rest
    monkeypatch.setattr(kuramoto_model, "WRAP_STEPS", 16)
    phases = phases + 2 * np.pi * 1000  # far from zero: the first wrap brings them back
    phi, r = ku.simulate(w, omega, phases, 0.05, 51)
    phi_ref, r_ref = ref_simulate(w, omega, phases, 0.05, 51)
    assert_same_angles(phi, phi_ref, 1e-9)
    np.testing.assert_allclose(np.asarray(r), r_ref, rtol=0, atol=1e-9)


def test_simulate_synchronizes_strong_coupling_and_not_zero_coupling():
    N = 10
    omega = ku.default_omega(N)
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, N)
    _, r_strong = ku.simulate(np.full((N, N), 5.0), omega, phases, 0.01, 3000)
    _, r_free = ku.simulate(np.zeros((N, N)), omega, phases, 0.01, 3000)
    assert r_strong[-1] > 0.95
    # uncoupled: the phases rotate freely, r(t) is the analytic |mean exp(i (phi_0 + omega t))|
    t = 0.01 * np.arange(1, 3001)
    want = np.abs(np.mean(np.exp(1j * (phases[None, :] + omega[None, :] * t[:, None])), axis=1))
    np.testing.assert_allclose(np.asarray(r_free), want, atol=1e-10)


# ------------------------------------------------------------- observables


def test_order_parameter_and_mean_abs_weight_match_numpy(rng):
    phases = rng.uniform(-10, 10, size=(4, 9))
    np.testing.assert_allclose(np.asarray(ku.order_parameter(phases)), np.abs(np.mean(np.exp(1j * phases), axis=1)), rtol=1e-14)
    assert float(ku.order_parameter(np.full(5, 1.3))) == pytest.approx(1.0, abs=1e-15)
    w, _, _ = random_problem(rng, 6)
    iu = np.triu_indices(6, 1)
    assert float(ku.mean_abs_weight(w)) == pytest.approx(np.mean(np.abs(w[iu])), rel=1e-14)
    assert float(ku.mean_abs_upper(w[iu])) == pytest.approx(np.mean(np.abs(w[iu])), rel=1e-14)


def test_to_matrix_and_upper_round_trip(rng):
    N = 6
    v = rng.normal(size=ku.n_pairs(N))
    W = np.asarray(ku.to_matrix(v, N))
    ref = np.zeros((N, N))
    ref[np.triu_indices(N, 1)] = v
    ref = ref + ref.T
    np.testing.assert_array_equal(W, ref)  # row-major triu order, symmetric, zero diagonal
    np.testing.assert_array_equal(np.asarray(ku.upper(W)), v)
    batch = rng.normal(size=(3, ku.n_pairs(N)))
    np.testing.assert_array_equal(np.asarray(ku.upper(ku.to_matrix(batch, N))), batch)
    assert ku.n_oscillators(45) == 10
    np.testing.assert_allclose(ku.default_omega(5), [-0.5, -0.25, 0, 0.25, 0.5])
    np.testing.assert_array_equal(np.asarray(ku.uniform_weights(4, 0.5)), np.full(6, 0.5, np.float32))


# ------------------------------------------------------------------ system


def test_measure_is_the_window_mean_and_carries_phases(rng):
    N = 5
    w, omega, _ = random_problem(rng, N)
    params = {"w": jnp.asarray(ku.upper(w))}
    sys_sq = ku.Oscillators(omega, dt=0.02, T=0.6, R0=0.9)  # 30 steps per window
    phases0 = sys_sq.init_state(params, jax.random.key(3))
    assert phases0.shape == (N,) and np.all((np.asarray(phases0) >= 0) & (np.asarray(phases0) <= 2 * np.pi))
    sig1, phases1 = sys_sq.measure(params, phases0, jax.random.key(0))
    sig2, phases2 = sys_sq.measure(params, phases1, jax.random.key(1))
    phi, r = ku.simulate(ku.to_matrix(params["w"], N), omega, phases0, 0.02, 60)
    r = np.asarray(r)
    np.testing.assert_allclose(float(sig1["R"]), r[:30].mean(), rtol=1e-13)
    np.testing.assert_allclose(float(sig2["R"]), r[30:].mean(), rtol=1e-13)  # not reset between windows
    np.testing.assert_allclose(np.asarray(phases2), np.asarray(phi), rtol=0, atol=1e-12)
    assert float(sig1["E"]) == pytest.approx((r[:30].mean() - 0.9) ** 2, rel=1e-12)
    assert float(sig1["M"]) == pytest.approx(np.mean(np.abs(w[np.triu_indices(N, 1)])), rel=1e-14)
    sig_abs, _ = sys_sq._replace(error="absolute").measure(params, phases0, jax.random.key(0))
    assert float(sig_abs["E"]) == pytest.approx(abs(r[:30].mean() - 0.9), rel=1e-12)
    assert float(sig_abs["R"]) == float(sig1["R"])


def _window_problem(rng, B, N=7):
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=0.5, R0=0.7, error="absolute")
    w = jnp.asarray(rng.uniform(-0.5, 1.5, (B, ku.n_pairs(N))), jnp.float32)
    phases = jnp.asarray(rng.uniform(0, 2 * np.pi, (B, N)), jnp.float32)
    return system, w, phases, jax.random.split(jax.random.key(0), B)


@pytest.mark.invariance
@pytest.mark.parametrize("B", [1, 7, ku.LANES + 1, 2 * ku.WINDOW_BLOCK + 3])
@pytest.mark.slow
def test_member_in_any_ensemble_equals_member_alone_bitwise(rng, B):
    """A member's window gives the same bits alone (measure), via vmap(measure), and at any
    position of ensembles of any size (measure_ensemble: whole blocks, a padded rest)."""
    system, w, phases, keys = _window_problem(rng, B)
    got, ph_got = jax.jit(system.measure_ensemble)({"w": w}, phases, keys)
    want, ph_want = jax.jit(jax.vmap(system.measure))({"w": w}, phases, keys)
    assert ph_got.shape == (B, 7)
    np.testing.assert_array_equal(np.asarray(ph_got), np.asarray(ph_want))
    one = jax.jit(system.measure)
    for i in sorted({0, B // 2, B - 1}):
        sig, ph = one({"w": w[i]}, phases[i], keys[i])
        np.testing.assert_array_equal(np.asarray(ph), np.asarray(ph_got[i]))
        for k in ("E", "R", "M"):
            assert sig[k].shape == () and got[k].shape == (B,)
            np.testing.assert_array_equal(np.asarray(sig[k]), np.asarray(got[k][i]))
            np.testing.assert_array_equal(np.asarray(want[k][i]), np.asarray(got[k][i]))
    # the same members inside a shifted, larger ensemble (other lanes, other blocks)
    shift = 5
    w2 = jnp.concatenate([w[-shift:], w]) if B > shift else jnp.concatenate([w] * (shift + 1))
    ph2 = jnp.concatenate([phases[-shift:], phases]) if B > shift else jnp.concatenate([phases] * (shift + 1))
    off = shift if B > shift else B * shift
    sig2, ph_end2 = jax.jit(system.measure_ensemble)({"w": w2}, ph2, jax.random.split(jax.random.key(1), w2.shape[0]))
    np.testing.assert_array_equal(np.asarray(ph_end2[off : off + B]), np.asarray(ph_got))
    np.testing.assert_array_equal(np.asarray(sig2["R"][off : off + B]), np.asarray(got["R"]))
    with pytest.raises(ValueError, match=r'params\["w"\] must have shape'):
        system.measure_ensemble({"w": w[:, :-1]}, phases, keys)
    with pytest.raises(ValueError, match="phases must have shape"):
        system.measure_ensemble({"w": w}, phases[:, :-1], keys)
    with pytest.raises(ValueError, match="phases must have shape"):
        system.measure({"w": w[0]}, phases[0, :-1], keys[0])


def test_member_minor_window_matches_the_plain_member_major_integration(rng, assert_same_angles):
    """The padded member-minor window against ``integrate`` on one member's (N,) arrays
    (float32: equal to rounding, the layouts may contract multiply-adds differently)."""
    B = 70
    system, w, phases, keys = _window_problem(rng, B)
    got, ph_got = jax.jit(system.measure_ensemble)({"w": w}, phases, keys)
    omega = jnp.asarray(system.omega, jnp.float32)

    def plain(w1, ph):
        phi, rsum, _ = ku.integrate(ku.to_matrix(w1, system.N), omega, ph, system.dt, system.n_steps, False)
        return phi, rsum / system.n_steps

    ph_ref, R_ref = jax.jit(jax.vmap(plain))(w, phases)
    assert_same_angles(ph_got, ph_ref, 2e-5)
    np.testing.assert_allclose(np.asarray(got["R"]), np.asarray(R_ref), rtol=0, atol=2e-6)


@pytest.mark.parametrize("B", [1, 65, 2 * ku.WINDOW_BLOCK + 3])
def test_every_window_op_runs_on_whole_lanes(rng, B):
    """By construction (issue 11): every sin/cos of the window (in float32 the polynomial of
    ``_trig.sin_cos``, marked by its ``floor``) works on a member axis that is a multiple of LANES
    (or a power of two from MIN_LANES below it), so no member is ever in a SIMD remainder of any
    power-of-two vector width x interleave up to 64."""

    def whole(n):
        return n % ku.LANES == 0 or (ku.MIN_LANES <= n < ku.LANES and n & (n - 1) == 0)

    system, w, phases, keys = _window_problem(rng, B)
    shapes = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name in ("sin", "cos", "floor"):
                shapes.append(eqn.invars[0].aval.shape)
            for v in eqn.params.values():
                for j in v if isinstance(v, (list, tuple)) else [v]:
                    inner = getattr(j, "jaxpr", None)
                    if inner is not None:
                        walk(getattr(inner, "jaxpr", inner))

    for f in (system.measure_ensemble, jax.vmap(system.measure)):
        shapes.clear()
        walk(jax.make_jaxpr(f)({"w": w}, phases, keys).jaxpr)
        assert shapes and all(whole(s[-1]) for s in shapes), shapes
    assert ku.LANES % 64 == 0 and ku.WINDOW_BLOCK % ku.LANES == 0 and ku.MIN_LANES >= 16  # 16 AVX-512 lanes x 4
    with pytest.raises(ValueError, match="B must be"):
        ku.padded_members(0)
    sizes = [ku.padded_members(b) for b in range(1, 1000)]
    assert all(whole(p) and b <= p < max(2 * b, ku.MIN_LANES + 1) for b, p in zip(range(1, 1000), sizes))


@pytest.mark.invariance
@pytest.mark.slow
def test_evolve_uses_measure_ensemble_with_the_numbers_of_vmap():
    """evolve with the batched window == evolve of a wrapper that only has measure (vmap)."""

    class OnlyMeasure:
        def __init__(self, system):
            self.system = system

        def init_state(self, params, key):
            return self.system.init_state(params, key)

        def measure(self, params, phases, key):
            return self.system.measure(params, phases, key)

    N, B = 5, ku.WINDOW_BLOCK + 5
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=1.0, R0=0.9)
    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(0.5, 0.3, 1), 0.1, 0.8)
    params = {"w": jnp.broadcast_to(ku.uniform_weights(N, 0.8), (B, ku.n_pairs(N)))}
    common = dict(key=jax.random.key(4), n_iterations=6)
    a = evolve(system, lmap, params, hyper, **common)
    with layout.use(dataclasses.replace(layout.current(), member_block=None)):  # plain vmap, no member blocks
        b = evolve(OnlyMeasure(system), lmap, params, hyper, **common)
    for k in ("E", "R", "M"):
        np.testing.assert_array_equal(a.traces[k], b.traces[k])
    np.testing.assert_array_equal(np.asarray(a.params["w"]), np.asarray(b.params["w"]))
    np.testing.assert_array_equal(np.asarray(a.state.system), np.asarray(b.state.system))


BLOCKS = (32, 64, 128, 256)


@pytest.mark.invariance
@pytest.mark.slow
@pytest.mark.parametrize("N", [10, 30, 40])
def test_window_block_does_not_change_a_member(rng, N):
    """Issue 27: the CPU layout's window block depends on N, so a member's bits must not depend on
    the block. At N = 10 and 30 (sums as unrolled chains) and 40 (in compiled loops), 131 members
    (padded to 192: blocks of 32 to 256 give whole blocks, a rest, or one window; at N = 40 also
    blocks of 16, and of one member, unpadded), the window and evolve give the same bits under
    every block, the CPU layout as it is and one window over all (accelerator layout), and a
    member alone gives the same bits as inside the ensemble."""
    blocks = BLOCKS if N < ku.ROLLED_FROM else (1, 16) + BLOCKS
    B = 2 * 64 + 3
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=0.5, R0=0.7, error="absolute")
    w = jnp.asarray(rng.uniform(-0.5, 1.5, (B, ku.n_pairs(N))), jnp.float32)
    phases = jnp.asarray(rng.uniform(0, 2 * np.pi, (B, N)), jnp.float32)
    keys = jax.random.split(jax.random.key(0), B)
    layouts = {b: dataclasses.replace(layout.CPU, window_block=b) for b in blocks}
    layouts.update(cpu=layout.CPU, accelerator=layout.ACCELERATOR)
    leaves = lambda tree: [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]  # noqa: E731

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b), strict=True))

    windows = {}
    for name, lay in layouts.items():
        with layout.use(lay):
            windows[name] = jax.jit(system.measure_ensemble)({"w": w}, phases, keys)
    assert all(same(windows[256], got) for got in windows.values())
    one = jax.jit(system.measure)
    for i in (0, 70, B - 1):
        alone = one({"w": w[i]}, phases[i], keys[i])
        assert same(alone, jax.tree_util.tree_map(lambda x: x[i], windows[256])), i

    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(np.linspace(0.3, 0.8, B), 0.3, 1), 0.1, 0.8)
    common = dict(key=jax.random.key(4), n_iterations=4, record=ensemble.Record(every=2))
    runs = {}
    for b in blocks:
        with layout.use(layouts[b]):
            runs[b] = evolve(system, lmap, {"w": w}, hyper, placement=ensemble.Placement(devices=1), **common)
    for b in blocks:
        assert same(runs[b].traces, runs[32].traces) and same(runs[b].params, runs[32].params), b
        assert same(runs[b].state.system, runs[32].state.system), b
    k = 70
    sub = ku.ControlledHyper(learning.DiscreteHyper(hyper.base.tau[k : k + 1], 0.3, 1), 0.1, 0.8)
    alone = evolve(system, lmap, {"w": w[k : k + 1]}, sub, placement=ensemble.Placement(members=[k]), **common)
    for name in ("E", "R", "M"):
        np.testing.assert_array_equal(alone.traces[name][:, 0], runs[64].traces[name][:, k])
    np.testing.assert_array_equal(np.asarray(alone.params["w"][0]), np.asarray(runs[64].params["w"][k]))


# ------------------------------------------------------------ weight control


def test_weight_control_matches_numpy_with_S_zero(rng):
    """Eq. (13) with S = 0: w(n+1) = w(n) - (1/tau) dE dw - gamma (M(w(n)) - M0) w(n), m = 2."""
    P, m, tau, gamma, M0 = 10, 2, 0.7, 0.3, 0.4
    lmap = ku.weight_control(learning.discrete(m))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(tau, 0.0, m), gamma, M0)
    w0 = rng.normal(size=P)
    Es = rng.uniform(0, 1, 6)
    params = {"w": jnp.asarray(w0)}
    state = lmap.init(params)
    ws = [w0]
    for n, E in enumerate(Es):
        params, state = lmap.step(params, state, {"E": jnp.asarray(E)}, hyper, jax.random.key(n))
        d = max(n - m, 0)
        w = ws[n]
        ws.append(w - (Es[n] - Es[d]) * (w - ws[d]) / tau - gamma * (np.mean(np.abs(w)) - M0) * w)
        np.testing.assert_allclose(np.asarray(params["w"]), ws[-1], rtol=1e-12, atol=1e-14)
    assert lmap.reads == ("E",) and lmap.max_delay == m


@pytest.mark.parametrize("start", [2.0, 0.05])
def test_weight_control_relaxes_M_toward_M0(rng, start):
    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(1e12, 0.0, 1), 0.2, 0.5)
    w = rng.normal(size=15)
    params = {"w": jnp.asarray(w * start / np.mean(np.abs(w)))}
    state = lmap.init(params)
    step = jax.jit(lmap.step)
    Ms = []
    for n in range(150):
        Ms.append(float(ku.mean_abs_upper(params["w"])))
        params, state = step(params, state, {"E": jnp.asarray(rng.uniform())}, hyper, jax.random.key(n))
    gaps = np.abs(np.array(Ms) - 0.5)
    assert gaps[0] > 0.4 and gaps[-1] < 1e-6 and np.all(np.diff(gaps) <= 1e-15)


# ----------------------------------------------------------- through evolve


@pytest.mark.invariance
@pytest.mark.slow
def test_member_alone_equals_member_in_ensemble_of_16_float32():
    N, B = 6, 16
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=2.0, R0=0.9)
    lmap = ku.weight_control(learning.discrete(2))
    tau = np.linspace(0.5, 5.0, B)
    gamma = np.linspace(0.0, 0.3, B)
    M0 = 0.8
    params = {"w": jnp.broadcast_to(ku.uniform_weights(N, M0), (B, ku.n_pairs(N)))}
    hyper = ku.ControlledHyper(learning.DiscreteHyper(tau, 0.2, 2), gamma, M0)
    common = dict(key=jax.random.key(11), n_iterations=30, record_every=3)
    full = evolve(system, lmap, params, hyper, **common)
    assert set(full.traces) == {"E", "R", "M"} and full.traces["R"].shape == (11, B)  # iteration 0, then 2, 5, ..., 29
    assert full.params["w"].dtype == jnp.float32 and not full.diverged.any()
    assert np.ptp(full.traces["M"][-1]) > 0 and np.ptp(full.traces["R"][-1]) > 0  # members differ
    for k in (0, 5, 15):
        hk = ku.ControlledHyper(learning.DiscreteHyper(tau[k : k + 1], 0.2, 2), gamma[k : k + 1], M0)
        alone = evolve(system, lmap, {"w": params["w"][k : k + 1]}, hk, placement=ensemble.Placement(members=[k]), **common)
        for s in ("E", "R", "M"):
            np.testing.assert_array_equal(alone.traces[s][:, 0], full.traces[s][:, k])
        np.testing.assert_array_equal(np.asarray(alone.params["w"][0]), np.asarray(full.params["w"][k]))
        np.testing.assert_array_equal(np.asarray(alone.state.system[0]), np.asarray(full.state.system[k]))


def test_broadcast_hyper_recurses_into_nested_named_tuples():
    h = driver.broadcast_hyper(ku.ControlledHyper(learning.DiscreteHyper(np.arange(1.0, 4.0), 0.1, 1), 0.5, 0.2), 3)
    assert isinstance(h.base, learning.DiscreteHyper) and h.base.S.shape == (3,) and h.gamma.shape == (3,)
    np.testing.assert_array_equal(np.asarray(h.base.tau), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^hyper\.base\.tau must be a scalar or have shape \(4,\)"):
        driver.broadcast_hyper(ku.ControlledHyper(learning.DiscreteHyper(np.ones(3), 0.1, 1), 0.5, 0.2), 4)


# ---------------------------------------------------------------- bad input


def test_simulate_rejects_bad_input(rng):
    w, omega, phases = random_problem(rng, 4)
    good = dict(w=w, omega=omega, phases=phases, dt=0.01, n_steps=5)
    bad = w.copy()
    bad[0, 1] += 1.0
    for change, match in [
        (dict(w=bad), "^w must be symmetric"),
        (dict(w=w[:3]), r"^w must have shape \(4, 4\)"),
        (dict(omega=omega[:3]), r"^omega must have shape \(4,\)"),
        (dict(phases=np.array([0.0, np.nan, 1.0, 2.0])), "^phases must be finite"),
        (dict(dt=0.0), "^dt must be > 0"),
        (dict(dt=-0.1), "^dt must be > 0"),
        (dict(n_steps=0), "^n_steps must be an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            ku.simulate(**{**good, **change})


def test_system_and_map_reject_bad_input():
    N = 4
    params = {"w": jnp.full((2, ku.n_pairs(N)), 0.5)}
    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.1, 1), 0.1, 0.5)
    system = ku.Oscillators(ku.default_omega(N), dt=0.1, T=0.5, R0=0.8)
    common = dict(key=jax.random.key(0), n_iterations=2)
    for sys_, p, h, match in [
        (system._replace(error="cubic"), params, hyper, "^error must be one of"),
        (system._replace(omega=np.zeros((N, 1))), params, hyper, r"^omega must have shape \(N,\)"),
        (system._replace(dt=0.0), params, hyper, "^dt must be > 0"),
        (system._replace(R0=1.5), params, hyper, r"^R0 must be in \[0, 1\]"),
        (system, {"w": jnp.full((2, 5), 0.5)}, hyper, r'^params\["w"\] must have shape \(6,\)'),
        (system, params, hyper._replace(gamma=-0.1), "^gamma must be >= 0"),
        (system, params, hyper._replace(M0=np.array([0.5, -1.0])), "^M0 must be >= 0"),
        (system, params, hyper._replace(base=learning.DiscreteHyper(0.0, 0.1, 1)), "^tau must be > 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            evolve(sys_, lmap, p, h, **common)
    with pytest.raises(ValueError, match="^w_upper must have shape"):
        ku.to_matrix(np.zeros(5), 4)
    with pytest.raises(ValueError, match="^w must be a square matrix"):
        ku.mean_abs_weight(np.zeros((3, 4)))


@pytest.mark.invariance
@pytest.mark.parametrize("devices", [2, 4])
@pytest.mark.slow
def test_kuramoto_sharded_over_devices_is_bitwise_identical(devices):
    """Each device runs the one-device program on its members (shard_map), 20 members: a padded
    window per device."""
    N, B = 5, 20
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=0.5, R0=0.9)
    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(np.linspace(0.5, 2.0, B), 0.3, 1), 0.1, 0.8)
    params = {"w": jnp.broadcast_to(ku.uniform_weights(N, 0.8), (B, ku.n_pairs(N)))}
    common = dict(key=jax.random.key(6), n_iterations=8, record_every=2)
    ref = evolve(system, lmap, params, hyper, placement=ensemble.Placement(devices=1), **common)
    run = evolve(system, lmap, params, hyper, placement=ensemble.Placement(devices=devices), **common)
    assert len(run.params["w"].sharding.device_set) == devices
    for k in ("E", "R", "M"):
        np.testing.assert_array_equal(run.traces[k], ref.traces[k])
    np.testing.assert_array_equal(np.asarray(run.state.system), np.asarray(ref.state.system))


def test_frequencies_kinds_against_their_formulas():
    from statistics import NormalDist

    N = 10
    i = np.arange(1, N + 1)
    np.testing.assert_array_equal(ku.frequencies(N, "even", 0.5), ku.default_omega(N, 0.5))
    np.testing.assert_allclose(ku.frequencies(N, "lorentzian", 0.25), 0.25 * np.tan(np.pi * ((i - 0.5) / N - 0.5)), atol=1e-15)
    want = np.array([0.5 * NormalDist().inv_cdf((k - 0.5) / N) for k in i])
    np.testing.assert_allclose(ku.frequencies(N, "gaussian", 0.5), want, atol=1e-15)
    r = ku.frequencies(N, "random", 0.5, seed=3)
    draw = np.random.default_rng(3).normal(0, 0.5, N)
    np.testing.assert_allclose(r, draw - draw.mean(), atol=1e-15)
    assert not np.array_equal(r, ku.frequencies(N, "random", 0.5, seed=4))
    for kind in ku.FREQUENCIES:
        assert abs(ku.frequencies(N, kind, 0.5).mean()) < 1e-12
    with pytest.raises(ValueError, match="^kind must be one of"):
        ku.frequencies(N, "uniform")
    with pytest.raises(ValueError, match="^spread must"):
        ku.frequencies(N, "gaussian", -1.0)


def test_kuramoto_config_frequencies_option():
    from ensemble.studies._kuramoto import REGIMES, KuramotoConfig

    cfg = KuramotoConfig(frequencies="gaussian", omega_spread=0.5)
    np.testing.assert_array_equal(np.asarray(cfg.oscillators().omega), ku.frequencies(10, "gaussian", 0.5))
    np.testing.assert_array_equal(np.asarray(KuramotoConfig().oscillators().omega), ku.frequencies(10, "lorentzian", 0.25))
    locked = KuramotoConfig(**REGIMES["locked"])  # version 0.2.0's frequencies, exactly
    np.testing.assert_array_equal(np.asarray(locked.oscillators().omega), ku.default_omega(10, 0.5))
    with pytest.raises(ValueError, match="^frequencies must be one of"):
        KuramotoConfig(frequencies="flat").validate()


def test_kuramoto_config_clip_selects_the_stabilized_map():
    from ensemble.studies._kuramoto import KuramotoConfig

    assert KuramotoConfig().base_map().name == "discrete"
    assert KuramotoConfig(clip=0.5).base_map().name == "discrete(clip=0.5)"
    with pytest.raises(ValueError, match="^clip must"):
        KuramotoConfig(clip=0.0).validate()


# ------------------------------------------------------------- phase wrapping


PI_40 = Fraction("3.141592653589793238462643383279502884197")


def ref_wrap(x) -> np.ndarray:
    """The remainder of each ``x`` after whole turns, in exact rational arithmetic (pi to 40
    digits), rounded to float64 at the end: the nearest turn, ties either way."""
    out = []
    for v in np.asarray(x, np.float64):
        f = Fraction(float(v))
        k = round(f / (2 * PI_40))
        out.append(float(f - k * 2 * PI_40))
    return np.array(out)


@pytest.mark.parametrize("dtype, largest", [(np.float32, 4e5), (np.float64, 8e8)])
def test_wrap_phases_matches_the_exact_remainder(rng, dtype, largest):
    """Whole turns removed, nothing else: within a few roundings of the result of the exact
    remainder, over magnitudes up to the largest wrapped exactly."""
    x = (rng.uniform(-1, 1, 3000) * largest ** rng.uniform(-0.5, 1, 3000)).astype(dtype)
    x[:4] = [np.pi, -np.pi, 3 * np.pi, 0.0]
    got = np.asarray(ku.wrap_phases(x))
    assert got.dtype == dtype
    want = ref_wrap(x)
    # either end of [-pi, pi] where a phase sits on an odd multiple of pi
    gap = np.abs(got.astype(np.float64) - want)
    gap = np.minimum(gap, np.abs(gap - 2 * np.pi))
    assert gap.max() <= 4 * np.finfo(dtype).eps * np.pi, gap.max()
    assert np.abs(got).max() <= np.pi * (1 + 4 * np.finfo(dtype).eps)
    small = np.abs(x) < 3.14
    np.testing.assert_array_equal(got[small], x[small])  # already wrapped: untouched


def test_carried_phases_keep_float32_resolution_over_long_runs(assert_same_angles):
    """Free oscillators (zero weights) over 1e5 time units, float32, through ``measure_ensemble``
    window after window: each phase must advance by omega t (mod 2 pi), to 0.003 rad here.
    Unwrapped, the outer oscillators (|omega| 1.6) pass 1e5 rad, where float32 spacing is as
    large as an Euler step, and stall: errors of 2 rad (measured before the wrap)."""
    N, windows = 10, 20_000
    omega = ku.frequencies(N, "lorentzian", 0.25, 0)
    system = ku.Oscillators(omega, dt=0.5, T=5.0, R0=0.5)  # 10 steps of 0.5 per window
    w = jnp.zeros((1, ku.n_pairs(N)), jnp.float32)
    phases0 = jnp.asarray(np.linspace(0.1, 6.0, N), jnp.float32)[None]
    keys = jax.random.split(jax.random.key(0), 1)

    @jax.jit
    def run(ph):
        return jax.lax.scan(lambda p, _: (system.measure_ensemble({"w": w}, p, keys)[1], None), ph, None,
                            length=windows)[0]

    want = np.asarray(phases0[0], np.float64) + omega * windows * system.n_steps * 0.5
    assert np.abs(want).max() > 1.5e5
    assert_same_angles(run(phases0)[0], want, 0.01)
