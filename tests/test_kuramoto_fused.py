"""The fused Kuramoto window (issue 16), in Pallas' interpret mode on the CPU: against a plain
numpy Euler loop in float64, against the vectorized window in float32, and through evolve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import _trig, evolve, kuramoto as ku, kuramoto_fused as kf, learning


def numpy_window(W, omega, phases, dt, n_steps):
    """Plain float64 Euler steps of one member: (phases_end, sum of r after each step)."""
    phi = np.array(phases, np.float64)
    N, rsum = len(phi), 0.0
    for _ in range(n_steps):
        coupling = np.array([sum(W[i, j] * np.sin(phi[j] - phi[i]) for j in range(N)) for i in range(N)])
        phi = phi + dt * (omega + coupling / N)
        rsum += abs(np.mean(np.exp(1j * phi)))
    return phi, rsum


def random_members(rng, B, N, dtype):
    w = rng.uniform(-0.5, 1.5, (B, ku.n_pairs(N)))
    phases = rng.uniform(0, 2 * np.pi, (B, N))
    return jnp.asarray(w, dtype), jnp.asarray(phases, dtype)


def test_fused_window_matches_numpy_in_float64(rng):
    N, B, dt, n = 5, 3, 0.05, 40
    omega = rng.normal(0, 0.5, N)
    w, phases = random_members(rng, B, N, jnp.float64)
    wp = jnp.zeros((ku.n_pairs(N), 8), jnp.float64).at[:, :B].set(w.T)
    pp = jnp.zeros((N, 8), jnp.float64).at[:, :B].set(phases.T)
    phi, rsum = kf.window(wp, pp, omega=tuple(float(o) for o in omega), dt=dt, n_steps=n, block=8, interpret=True)
    for b in range(B):
        W = np.asarray(ku.to_matrix(w[b], N))
        want_phi, want_rsum = numpy_window(W, omega, np.asarray(phases[b]), dt, n)
        np.testing.assert_allclose(np.asarray(phi[:, b]), want_phi, rtol=0, atol=1e-12)
        assert float(rsum[b]) == pytest.approx(want_rsum, rel=1e-12)


def test_sincos_is_within_1e_7_of_the_exact_values(rng):
    """The kernel's own sin and cos against float64 numpy, over magnitudes up to 1e5 and on the
    quadrant boundaries (multiples of pi/4), where the reduction switches polynomials."""
    x = rng.uniform(-1, 1, 200_000) * 10.0 ** rng.uniform(-4, 5, 200_000)
    x = np.concatenate([x, np.pi / 4 * np.arange(-400, 401)]).astype(np.float32)
    s, c = jax.jit(_trig.sin_cos)(jnp.asarray(x))
    x64 = x.astype(np.float64)
    assert np.abs(np.asarray(s, np.float64) - np.sin(x64)).max() <= 1e-7
    assert np.abs(np.asarray(c, np.float64) - np.cos(x64)).max() <= 1e-7


def test_windows_take_the_polynomial_in_float32_and_xla_sin_cos_otherwise(rng):
    """Both windows' ``sin``/``cos`` (``_trig.sin_cos``, the one entry point): the polynomial for
    float32 (the same bits as the polynomial itself), ``jnp.sin``/``jnp.cos`` for float64
    (what the float64 numpy references are compared with)."""
    x = rng.uniform(-4, 4, 1000)
    s32, c32 = jax.jit(_trig.sin_cos)(jnp.asarray(x, jnp.float32))
    ks, kc = jax.jit(_trig._polynomial)(jnp.asarray(x, jnp.float32))
    np.testing.assert_array_equal(np.asarray(s32), np.asarray(ks))
    np.testing.assert_array_equal(np.asarray(c32), np.asarray(kc))
    s64, c64 = jax.jit(_trig.sin_cos)(jnp.asarray(x, jnp.float64))  # x64 is on in the tests
    assert s64.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(s64), np.sin(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(c64), np.cos(x), rtol=0, atol=1e-15)


@pytest.mark.slow
def test_fused_window_matches_vectorized_window_in_float32(rng, assert_same_angles):
    """130 members (two blocks of 128, padded), N = 10, a 50-step window: within 1e-5."""
    N, B = 10, 130
    vec = ku.Oscillators(ku.default_omega(N), dt=0.01, T=0.5, R0=0.7)
    fused = vec._replace(kernel="fused")
    w, phases = random_members(rng, B, N, jnp.float32)
    keys = jax.random.split(jax.random.key(0), B)
    a, ph_a = jax.jit(vec.measure_ensemble)({"w": w}, phases, keys)
    b, ph_b = jax.jit(fused.measure_ensemble)({"w": w}, phases, keys)
    assert_same_angles(ph_b, ph_a, 1e-5)  # both wrapped to [-pi, pi]
    for k in ("E", "R"):
        np.testing.assert_allclose(np.asarray(b[k]), np.asarray(a[k]), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(b["M"]), np.asarray(a["M"]))  # the same function of w
    # a member alone (padded to one block) gives the same bits as in the ensemble
    one, ph_one = jax.jit(fused.measure)({"w": w[129]}, phases[129], keys[129])
    np.testing.assert_array_equal(np.asarray(ph_one), np.asarray(ph_b[129]))
    assert float(one["R"]) == float(b["R"][129])


@pytest.mark.slow
def test_both_sincos_agree_with_the_vectorized_window(rng):
    """The kernel's own ``sin``/``cos`` and libdevice's: each within 1e-5 of the vectorized
    window over 200 steps, and not the same bits (the option changes the program)."""
    N, B, n = 10, 64, 200
    vec = ku.Oscillators(ku.default_omega(N), dt=0.05, T=n * 0.05, R0=0.7)
    w, phases = random_members(rng, B, N, jnp.float32)
    a, _ = jax.jit(vec.measure_ensemble)({"w": w}, phases, jax.random.split(jax.random.key(0), B))
    got = {}
    for impl in kf.SINCOS:
        _, rsum = kf.window(w.T, phases.T, omega=tuple(float(o) for o in vec.omega), dt=0.05, n_steps=n, block=64,
                            interpret=True, sincos_impl=impl)
        got[impl] = np.asarray(rsum) / n
        np.testing.assert_allclose(got[impl], np.asarray(a["R"]), rtol=0, atol=1e-5, err_msg=impl)
    assert not np.array_equal(got["polynomial"], got["libdevice"])


@pytest.mark.slow
def test_fused_learning_trajectory_matches_vectorized_for_a_few_iterations():
    N, B = 10, 8
    system = ku.Oscillators(ku.default_omega(N), dt=0.01, T=0.5, R0=0.8)
    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(1.0, 0.1, 1), 0.1, 0.5)
    params = {"w": jnp.broadcast_to(ku.uniform_weights(N, 0.5), (B, ku.n_pairs(N)))}
    common = dict(key=jax.random.key(3), n_iterations=4)
    a = evolve(system, lmap, params, hyper, **common)
    b = evolve(system._replace(kernel="fused"), lmap, params, hyper, **common)
    for k in ("E", "R", "M"):
        np.testing.assert_allclose(b.traces[k], a.traces[k], rtol=0, atol=2e-5)
    np.testing.assert_allclose(np.asarray(b.params["w"]), np.asarray(a.params["w"]), rtol=0, atol=2e-5)


def test_fused_kernel_option_is_checked():
    with pytest.raises(ValueError, match="^kernel must be one of"):
        ku.Oscillators(ku.default_omega(4), kernel="cuda").check()
    with pytest.raises(ValueError, match="^sincos_impl must be one of"):
        kf.window(jnp.zeros((6, 8)), jnp.zeros((4, 8)), omega=(0.0,) * 4, dt=0.1, n_steps=1, block=8, interpret=True,
                  sincos_impl="fast")
    with pytest.raises(ValueError, match="^block must be a power of two"):
        kf.window(jnp.zeros((6, 12)), jnp.zeros((4, 12)), omega=(0.0,) * 4, dt=0.1, n_steps=1, block=8, interpret=True)
    assert kf.padded_to_blocks(1) == kf.BLOCK and kf.padded_to_blocks(kf.BLOCK + 1) == 2 * kf.BLOCK


def test_without_a_triton_backend_the_window_is_interpreted_with_a_warning(monkeypatch, rng):
    """A future jax without Pallas' Triton backend (deprecated in 0.11) still runs the window."""
    N, B = 4, 8
    w, phases = random_members(rng, B, N, jnp.float32)
    kw = dict(omega=(0.1, -0.1, 0.2, -0.2), dt=0.05, n_steps=5, block=8)
    want = kf.window(w.T, phases.T, interpret=True, **kw)
    monkeypatch.setattr(kf, "_triton", lambda: None)
    with pytest.warns(RuntimeWarning, match="no Pallas Triton backend"):
        got = kf.window_on_platform(w.T, phases.T, **kw)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
