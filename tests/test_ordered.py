"""Fixed-order sums (ensemble.ordered) against plain numpy references, and their invariance to the
leading (member) axes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import kuramoto_model as km
from ensemble import ordered


def ref_chain(x):
    """Sum over the last axis, one add at a time from index 0 (numpy rounds each add as XLA does)."""
    acc = x[..., 0].copy()
    for j in range(1, x.shape[-1]):
        acc = acc + x[..., j]
    return acc


def ref_sum_last(x):
    """The documented order: a chain below ROLL_FROM; from it, zeros appended up to PARTIALS times a
    power of two, the second half added to the first down to PARTIALS partials, then a chain."""
    J = x.shape[-1]
    if J < ordered.ROLL_FROM:
        return ref_chain(x)
    width = ordered.PARTIALS
    while width < J:
        width *= 2
    x = np.concatenate([x, np.zeros(x.shape[:-1] + (width - J,), x.dtype)], axis=-1)
    while width > ordered.PARTIALS:
        width //= 2
        x = x[..., :width] + x[..., width:]
    return ref_chain(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("J", [1, 2, 37, ordered.ROLL_FROM - 1, ordered.ROLL_FROM, ordered.ROLL_FROM + 1, 4950])
def test_sum_last_is_the_documented_order(rng, dtype, J):
    x = rng.normal(size=(3, J)).astype(dtype)
    got = np.asarray(jax.jit(ordered.sum_last)(jnp.asarray(x)))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref_sum_last(x))  # bit for bit
    exact = np.array([np.sum(row.astype(np.float64)) for row in x])
    np.testing.assert_allclose(got, exact, rtol=0, atol=(1e-4 if dtype == np.float32 else 1e-12) * np.sqrt(J))
    assert float(ordered.mean_last(jnp.asarray(x), 2)) == pytest.approx(exact.sum() / x.size, abs=1e-5)


@pytest.mark.parametrize("J", [50, 3000])
def test_sum_last_of_a_member_does_not_depend_on_the_leading_axes(rng, J):
    x = jnp.asarray(rng.normal(size=(67, J)), jnp.float32)
    many = np.asarray(jax.jit(ordered.sum_last)(x))
    for i in (0, 13, 66):
        np.testing.assert_array_equal(np.asarray(jax.jit(ordered.sum_last)(x[i])), many[i])
    np.testing.assert_array_equal(np.asarray(jax.jit(ordered.sum_last)(x.T.T[:16])), many[:16])


def test_matvec_rows_dot_and_combine_rows_match_numpy(rng):
    W = rng.normal(size=(7, 5, 3))  # (I, J, members)
    x = rng.normal(size=(5, 3))
    want = np.einsum("ijb,jb->ib", W, x)
    np.testing.assert_allclose(np.asarray(ordered.matvec(jnp.asarray(W), jnp.asarray(x))), want, rtol=1e-13, atol=1e-13)
    M = np.transpose(W, (1, 0, 2))  # (J, I, members): combine_rows sums M[j] * x[j]
    x2 = rng.normal(size=(5, 3))
    a, b = ordered.combine_rows(jnp.asarray(M), (jnp.asarray(x), jnp.asarray(x2)), unroll=2)
    np.testing.assert_allclose(np.asarray(a), want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.asarray(b), np.einsum("ijb,jb->ib", W, x2), rtol=1e-13, atol=1e-13)
    A, V = rng.normal(size=(4, 6)), rng.normal(size=(3, 6))
    np.testing.assert_allclose(np.asarray(ordered.rows_dot(jnp.asarray(A), jnp.asarray(V))), A @ V.T, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="combine_rows"):
        ordered.combine_rows(jnp.asarray(M), (jnp.ones((4, 3)),))
    with pytest.raises(ValueError, match="matvec"):
        ordered.matvec(jnp.asarray(W), jnp.ones((4, 3)))


@pytest.mark.parametrize("unroll", [1, 4, 16])
def test_combine_rows_of_a_member_does_not_depend_on_the_member_count_or_unroll(rng, unroll):
    J, n_out = 45, 45
    M = jnp.asarray(rng.normal(size=(J, n_out, 64)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(J, 64)), jnp.float32)
    f = jax.jit(lambda M, x: ordered.combine_rows(M, (x, 2 * x), unroll=unroll))
    ref = jax.jit(lambda M, x: ordered.combine_rows(M, (x, 2 * x), unroll=1))
    full = [np.asarray(a) for a in ref(M, x)]
    for sl in (slice(0, 1), slice(0, 16), slice(16, 48), slice(0, 64)):
        for got, want in zip(f(M[..., sl], x[..., sl]), full):
            np.testing.assert_array_equal(np.asarray(got), want[..., sl])


def test_rolled_window_matches_the_unrolled_one(rng):
    """The Kuramoto window with its sums in loops (from ROLLED_FROM oscillators) against the
    unrolled chains, in float64: the same model to rounding."""
    N, b = 12, 5
    A = rng.normal(size=(N, N, b))
    W = jnp.asarray(A + A.transpose(1, 0, 2))
    omega = jnp.asarray(rng.uniform(-1, 1, (N, 1)))
    phases = jnp.asarray(rng.uniform(-np.pi, np.pi, (N, b)))
    rolled = km.integrate(W, omega, phases, 0.02, 30, True, rolled=True)
    chains = km.integrate(W, omega, phases, 0.02, 30, True, rolled=False)
    for got, want in zip(rolled, chains):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-12)


@pytest.mark.parametrize("J", [1, 2, 5, 40, 1000])
def test_sum_first_is_the_documented_order(rng, J):
    x = rng.normal(size=(J, 3)).astype(np.float32)
    width = 1
    while width < J:
        width *= 2
    ref = np.concatenate([x, np.zeros((width - J, 3), np.float32)])
    while width > 1:
        width //= 2
        ref = ref[:width] + ref[width:]
    got = np.asarray(jax.jit(ordered.sum_first)(jnp.asarray(x)))
    np.testing.assert_array_equal(got, ref[0])
    np.testing.assert_allclose(got, x.astype(np.float64).sum(0), rtol=0, atol=1e-4 * np.sqrt(J))
    np.testing.assert_array_equal(np.asarray(jax.jit(ordered.sum_first)(jnp.asarray(x[:, 1:2]))), got[1:2])


def test_empty_axes_are_refused():
    with pytest.raises(ValueError, match="sum_first"):
        ordered.sum_first(jnp.zeros((0, 3)))
    with pytest.raises(ValueError, match="combine_rows"):
        ordered.combine_rows(jnp.zeros((0, 3)), (jnp.zeros((0,)),))
