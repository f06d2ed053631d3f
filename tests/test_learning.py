"""Eqs. (3), (4), (8) against plain float64 numpy references on random inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import learning


def _tree(rng, dtype=np.float64):
    return {"a": rng.normal(size=(4, 3)).astype(dtype), "b": rng.normal(size=(7,)).astype(dtype)}


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


# ------------------------------------------------------------ eq. (4), one step


def ref_eq4(w, wd, E, Ed, tau, S, xi):
    return {k: w[k] - (1.0 / tau) * (E - Ed) * (w[k] - wd[k]) + S * E * xi[k] for k in w}


def test_discrete_step_matches_numpy_with_S_zero(rng):
    for _ in range(5):
        w, wd = _tree(rng), _tree(rng)
        E, Ed = rng.uniform(0, 1, 2)
        tau = rng.uniform(0.05, 3)
        got = learning.discrete_step(w, wd, E, Ed, tau, 0.0, jax.random.key(int(rng.integers(1 << 30))))
        want = ref_eq4(w, wd, E, Ed, tau, 0.0, {k: np.zeros_like(v) for k, v in w.items()})
        for k in w:
            assert got[k].dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-13, atol=1e-15)


def test_discrete_step_S_zero_is_deterministic(rng):
    w, wd = _tree(rng), _tree(rng)
    a = learning.discrete_step(w, wd, 0.3, 0.5, 0.7, 0.0, jax.random.key(1))
    b = learning.discrete_step(w, wd, 0.3, 0.5, 0.7, 0.0, jax.random.key(2))
    for k in w:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))


def test_discrete_step_with_noise_matches_numpy_given_xi(rng):
    w, wd = _tree(rng), _tree(rng)
    E, Ed, tau, S = 0.4, 0.55, 0.3, 0.7
    key = jax.random.key(7)
    xi = _np(learning.normal_like(key, w))
    got = learning.discrete_step(w, wd, E, Ed, tau, S, key)
    want = ref_eq4(w, wd, E, Ed, tau, S, xi)
    for k in w:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eq4_noise_statistics(dtype):
    """With dw = 0 the move is pure noise: mean 0 and std S*E, independent entries."""
    w = {"w": np.zeros(200_000, dtype)}
    E, S = 0.37, 0.8
    new = np.asarray(learning.discrete_step(w, w, E, 0.1, 1.0, S, jax.random.key(3))["w"], np.float64)
    sd = S * E
    n = new.size
    assert abs(new.mean()) < 5 * sd / np.sqrt(n)
    assert abs(new.std() / sd - 1) < 5 / np.sqrt(2 * n)
    # roughly Gaussian: kurtosis ~3 and no correlation between neighbours
    z = new / sd
    assert abs(np.mean(z**4) - 3) < 0.1
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / np.sqrt(n)
    assert new.dtype == np.float64 and learning.discrete_step(w, w, E, 0.1, 1.0, S, jax.random.key(3))["w"].dtype == dtype


@pytest.mark.skipif(not hasattr(jax, "threefry_partitionable"), reason="jax without the flag's context manager")
@pytest.mark.parametrize("n", [1, 2, 7, 415, 4096])
def test_random_bits_are_jax_classic_threefry_bits(n):
    """The noise bits are jax's classic random_bits (one threefry-2x32 call per two words),
    whatever the global partitionable flag says; for typed and raw keys."""
    key = jax.random.fold_in(jax.random.key(5), n)
    with jax.threefry_partitionable(False):
        want = np.asarray(jax.random.bits(key, (n,), jnp.uint32))
    for flag in (False, True):
        with jax.threefry_partitionable(flag):
            np.testing.assert_array_equal(np.asarray(learning.random_bits(key, n)), want)
            np.testing.assert_array_equal(np.asarray(jax.jit(learning.random_bits, static_argnums=1)(key, n)), want)
    np.testing.assert_array_equal(np.asarray(learning.random_bits(jax.random.key_data(key), n)), want)


def test_float32_normals_from_the_bits():
    """xi (float32) is sqrt(2) erfinv(2u - 1 + 2^-24), u the top 23 bits of each word; checked in float64."""
    from scipy.special import erfinv

    key = jax.random.key(9)
    bits = np.asarray(learning.random_bits(key, 3000)).astype(np.uint64)
    u = (bits >> 9).astype(np.float64) / 2.0**23
    want = np.sqrt(2.0) * erfinv(2.0 * u - 1.0 + 2.0**-24)
    got = np.asarray(learning.normal_like(key, {"x": jnp.zeros(3000, jnp.float32)})["x"], np.float64)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_noise_with_other_key_implementations():
    key = jax.random.key(0, impl="rbg")
    x = learning.normal_like(key, {"x": jnp.zeros(5000, jnp.float32)})["x"]
    assert x.shape == (5000,) and np.all(np.isfinite(x)) and abs(float(jnp.std(x)) - 1) < 0.05


def test_noise_differs_between_keys_and_leaves():
    w = {"a": jnp.zeros(1000), "b": jnp.zeros(1000)}
    x1 = learning.normal_like(jax.random.key(0), w)
    x2 = learning.normal_like(jax.random.key(1), w)
    assert not np.allclose(x1["a"], x2["a"])
    assert not np.allclose(x1["a"], x1["b"])


# ------------------------------------------------------- eq. (3), one step


def test_continuous_step_matches_euler_maruyama(rng):
    w, wd = _tree(rng), _tree(rng)
    E, Ed, tau, S, dt = 0.2, 0.35, 2.0, 0.4, 0.01
    key = jax.random.key(11)
    xi = _np(learning.normal_like(key, w))
    got = learning.continuous_step(w, wd, E, Ed, tau, S, dt, key)
    for k in w:
        want = w[k] + dt * (-(1 / tau) * (E - Ed) * (w[k] - wd[k])) + S * E * np.sqrt(dt) * xi[k]
        np.testing.assert_allclose(np.asarray(got[k]), want, rtol=1e-12, atol=1e-14)


# ----------------------------------------------- maps with delay bookkeeping


def ref_run_eq4(w0, errors, tau, S, m, xis):
    """Plain loop over iterations with explicit lists of the whole past."""
    ws, Es = [w0], []
    for n, E in enumerate(errors):
        Es.append(E)
        wd = ws[max(n - m, 0)]  # history before 0 is w(0)
        Ed = Es[max(n - m, 0)]  # and E(0)
        ws.append(ref_eq4(ws[n], wd, E, Ed, tau, S, xis[n]))
    return ws


@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("S", [0.0, 0.3])
def test_discrete_map_delay_bookkeeping(rng, m, S):
    w0 = _tree(rng)
    errors = rng.uniform(0, 1, 12)
    tau = 0.8
    keys = [jax.random.key(100 + n) for n in range(len(errors))]
    xis = [_np(learning.normal_like(k, w0)) for k in keys]
    want = ref_run_eq4(w0, errors, tau, S, m, xis)

    lmap = learning.discrete(max_delay=5)  # buffer longer than m: per-member m
    hyper = learning.DiscreteHyper(tau=tau, S=S, m=m)
    w, state = w0, lmap.init(w0)
    step = jax.jit(lmap.step)
    for n, E in enumerate(errors):
        w, state = step(w, state, {"E": jnp.float64(E)}, hyper, keys[n])
        for k in w0:
            np.testing.assert_allclose(np.asarray(w[k]), want[n + 1][k], rtol=1e-11, atol=1e-13)
    assert int(state.n) == len(errors)


VARIANTS = [  # (options of learning.discrete, its name, the gain as a function of G = -(E - E_d)/tau, |G| where it departs)
    (dict(clip=0.05), "discrete(clip=0.05)", lambda G: min(max(G, -0.05), 0.05), 0.05),
    (dict(clip=0.5), "discrete(clip=0.5)", lambda G: min(max(G, -0.5), 0.5), 0.5),
    (dict(normalize=True), "discrete(normalized)", lambda G: G / (1 + abs(G)), 1.0),
]


@pytest.mark.parametrize("options, name, gain_of, departs", VARIANTS)
def test_stabilized_gain_variants_match_numpy(rng, options, name, gain_of, departs):
    """discrete(clip=c): the gain G clipped to [-c, c]; discrete(normalize=True): G / (1 + |G|);
    otherwise eq. (4)."""
    w0 = _tree(rng)
    errors = rng.uniform(0, 1, 10)
    tau, S, m = 0.2, 0.3, 2  # |G| up to 5: the variant departs from eq. (4) on most steps
    keys = [jax.random.key(200 + n) for n in range(len(errors))]
    xis = [_np(learning.normal_like(k, w0)) for k in keys]
    ws, active = [w0], 0
    for n, E in enumerate(errors):
        d = max(n - m, 0)
        G = -(E - errors[d]) / tau
        active += abs(G) > departs
        ws.append({k: ws[n][k] + gain_of(G) * (ws[n][k] - ws[d][k]) + S * E * xis[n][k] for k in w0})
    assert active >= 3
    lmap = learning.discrete(max_delay=3, **options)
    assert lmap.name == name
    w, state = w0, lmap.init(w0)
    for n, E in enumerate(errors):
        w, state = jax.jit(lmap.step)(w, state, {"E": jnp.float64(E)}, learning.DiscreteHyper(tau, S, m), keys[n])
        for k in w0:
            np.testing.assert_allclose(np.asarray(w[k]), ws[n + 1][k], rtol=1e-11, atol=1e-13)


def test_variant_options_are_checked():
    with pytest.raises(ValueError, match="^clip must"):
        learning.discrete(2, clip=0.0)
    with pytest.raises(ValueError, match="^clip and normalize"):
        learning.discrete(2, clip=0.5, normalize=True)
    with pytest.raises(ValueError, match="^normalize must"):
        learning.discrete(2, normalize="yes")


def test_start_up_history_is_initial_state(rng):
    """History w(-m..0) = w(0): with S = 0 nothing ever moves, whatever E does."""
    w0 = _tree(rng)
    lmap = learning.discrete(max_delay=3)
    w, state = w0, lmap.init(w0)
    for n, E in enumerate(rng.uniform(0, 1, 6)):
        w, state = lmap.step(w, state, {"E": jnp.float64(E)}, learning.DiscreteHyper(0.1, 0.0, 3), jax.random.key(n))
    for k in w0:
        np.testing.assert_array_equal(np.asarray(w[k]), w0[k])


def ref_eq8(w, wd, E, Ed, R, Rd, tE, SE, tR, SR, xi, eta):
    return {
        k: w[k] - (1 / tE) * (E - Ed) * (w[k] - wd[k]) + (1 / tR) * (R - Rd) * (w[k] - wd[k])
        + SE * E * xi[k] + SR * (1 - R) * eta[k]
        for k in w
    }


@pytest.mark.parametrize("m", [1, 3])
def test_biparametric_map_matches_numpy(rng, m):
    w0 = _tree(rng)
    n_it = 10
    E = rng.uniform(0, 1, n_it)
    R = rng.integers(0, 11, n_it) / 10
    hyper = learning.BiparametricHyper(tau_E=0.6, S_E=0.2, tau_R=1.7, S_R=0.05, m=m)
    keys = [jax.random.key(n) for n in range(n_it)]
    noises = []
    for k in keys:
        kE, kR = jax.random.split(k)
        noises.append((_np(learning.normal_like(kE, w0)), _np(learning.normal_like(kR, w0))))

    ws = [w0]
    for n in range(n_it):
        d = max(n - m, 0)
        ws.append(ref_eq8(ws[n], ws[d], E[n], E[d], R[n], R[d], 0.6, 0.2, 1.7, 0.05, *noises[n]))

    lmap = learning.biparametric(max_delay=m)
    w, state = w0, lmap.init(w0)
    for n in range(n_it):
        w, state = lmap.step(w, state, {"E": jnp.float64(E[n]), "R": jnp.float64(R[n])}, hyper, keys[n])
        for k in w0:
            np.testing.assert_allclose(np.asarray(w[k]), ws[n + 1][k], rtol=1e-11, atol=1e-13)


def test_biparametric_with_R_constant_equals_eq4_drift(rng):
    """With S = 0 and R fixed, eq. (8) reduces to eq. (4) with tau_E."""
    w0 = _tree(rng)
    bi, di = learning.biparametric(2), learning.discrete(2)
    wb, sb = w0, bi.init(w0)
    wd, sd = w0, di.init(w0)
    for n, E in enumerate(rng.uniform(0, 1, 8)):
        wb, sb = bi.step(wb, sb, {"E": jnp.float64(E), "R": jnp.float64(0.3)}, learning.BiparametricHyper(0.5, 0.0, 2.0, 0.0, 2),
                         jax.random.key(n))
        wd, sd = di.step(wd, sd, {"E": jnp.float64(E)}, learning.DiscreteHyper(0.5, 0.0, 2), jax.random.key(n))
    for k in w0:
        np.testing.assert_allclose(np.asarray(wb[k]), np.asarray(wd[k]), rtol=1e-13)


def test_continuous_map_is_eq3_euler_maruyama(rng):
    w0 = _tree(rng)
    dt, tau, S, m = 0.1, 0.5, 0.3, 4
    errors = rng.uniform(0, 1, 9)
    keys = [jax.random.key(n) for n in range(len(errors))]
    xis = [_np(learning.normal_like(k, w0)) for k in keys]
    want = ref_run_eq4(w0, errors, tau / dt, S * np.sqrt(dt), m, xis)
    lmap = learning.continuous(max_delay=m)
    w, state = w0, lmap.init(w0)
    for n, E in enumerate(errors):
        w, state = lmap.step(w, state, {"E": jnp.float64(E)}, learning.ContinuousHyper(tau, S, dt, m), keys[n])
    for k in w0:
        np.testing.assert_allclose(np.asarray(w[k]), want[-1][k], rtol=1e-11, atol=1e-13)


# -------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(tau=0.0), "tau"),
        (dict(tau=-1.0), "tau"),
        (dict(tau=np.nan), "tau"),
        (dict(S=-0.1), "S"),
        (dict(E=-0.1), "E"),
    ],
)
def test_discrete_step_rejects_bad_hyper(kwargs, name):
    args = dict(w={"a": np.zeros(3)}, w_delayed={"a": np.zeros(3)}, E=0.1, E_delayed=0.2, tau=1.0, S=0.1, key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name} must"):
        learning.discrete_step(**args)


def test_discrete_step_rejects_nan_and_mismatched_weights():
    with pytest.raises(ValueError, match="^w must be finite"):
        learning.discrete_step({"a": np.array([np.nan])}, {"a": np.zeros(1)}, 0.1, 0.1, 1.0, 0.1, jax.random.key(0))
    with pytest.raises(ValueError, match="^w_delayed must"):
        learning.discrete_step({"a": np.zeros(2)}, {"a": np.zeros(3)}, 0.1, 0.1, 1.0, 0.1, jax.random.key(0))
    with pytest.raises(ValueError, match="^w_delayed must"):
        learning.discrete_step({"a": np.zeros(2)}, {"b": np.zeros(2)}, 0.1, 0.1, 1.0, 0.1, jax.random.key(0))


def test_map_checks_reject_bad_hyper():
    lmap = learning.discrete(max_delay=3)
    with pytest.raises(ValueError, match="^m must be an integer in \\[1, 3\\]"):
        lmap.check(learning.DiscreteHyper(1.0, 0.1, 0))
    with pytest.raises(ValueError, match="^m must"):
        lmap.check(learning.DiscreteHyper(1.0, 0.1, 4))
    with pytest.raises(ValueError, match="^tau must"):
        lmap.check(learning.DiscreteHyper(np.array([1.0, -1.0]), 0.1, 1))
    with pytest.raises(ValueError, match="^max_delay must"):
        learning.discrete(max_delay=0)
    with pytest.raises(ValueError, match="^tau_R must"):
        learning.biparametric(1).check(learning.BiparametricHyper(1.0, 0.1, 0.0, 0.1, 1))
    with pytest.raises(ValueError, match="^dt must"):
        learning.continuous(1).check(learning.ContinuousHyper(1.0, 0.1, 0.0, 1))


@pytest.mark.parametrize("shape", [(1,), (2,), (3,), (64,), (65,), (66,), (415,), (3, 5), (4, 6)])
def test_standard_normals_are_the_documented_stream(shape):
    """float32 normals are sqrt(2) erf_inv(2u - 1 + 2^-24) of 23-bit uniforms from jax's classic
    threefry bits on the counters 0..n-1, for odd and even n, bit for bit."""
    from jax.extend.random import threefry_2x32

    from ensemble.learning import _standard_normal

    n = int(np.prod(shape))
    for seed in (0, 7):
        key = jax.random.key(seed)
        bits = threefry_2x32(jax.random.key_data(key), jax.lax.iota(jnp.uint32, n))
        u = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0
        want = jnp.float32(np.sqrt(2.0)) * jax.lax.erf_inv(2.0 * u - 1.0 + 2.0**-24)
        got = jax.jit(lambda k: _standard_normal(k, shape, jnp.float32))(key)
        assert got.shape == shape
        np.testing.assert_array_equal(np.asarray(got).ravel(), np.asarray(want))
        np.testing.assert_array_equal(np.asarray(learning.random_bits(key, n)), np.asarray(bits))


@pytest.mark.parametrize("P", [45, 64, 415])
def test_noise_term_is_S_E_times_the_documented_normals_inside_a_compiled_loop(P):
    """With ``w = w(n-m) = 0`` a step of eq. (4) is ``S E xi`` rounded once in float32, ``xi`` the
    stream ``normal_like`` draws on its own. Inside a compiled loop XLA may not fold the transform's
    constant ``sqrt(2)`` into ``S E`` (it did for an odd ``P``: other rounding)."""
    B = 8
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(jax.random.split(jax.random.key(5), B))
    lmap = learning.discrete(2)
    w = {"x": jnp.zeros((B, P), jnp.float32)}
    st = jax.vmap(lmap.init)(w)
    S = np.linspace(0.3, 0.9, B).astype(np.float32)
    hyper = learning.DiscreteHyper(jnp.full(B, 1e6, jnp.float32), jnp.asarray(S), jnp.full(B, 1, jnp.int32))

    def body(E, _):
        new, _ = jax.vmap(lambda q, s, h, k: lmap.step(q, s, {"E": E}, h, k))(w, st, hyper, keys)
        return E, new["x"]

    E = np.float32(0.37)
    got = np.asarray(jax.jit(lambda E: jax.lax.scan(body, E, None, length=2)[1][1])(jnp.float32(E)))
    xi = np.asarray(jax.jit(jax.vmap(lambda k: learning.normal_like(k, {"x": jnp.zeros(P, jnp.float32)})["x"]))(keys))
    assert got.dtype == xi.dtype == np.float32
    np.testing.assert_array_equal(got, (S * E)[:, None] * xi)
