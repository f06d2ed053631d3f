"""The written-out Threefry-2x32 (ensemble._threefry) against a plain numpy reference, the
Random123 known-answer vectors and jax's own functions, bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry2x32_p, threefry_2x32

from ensemble import _program, _threefry, learning, state


def ref_threefry(k0, k1, x0, x1):
    """Threefry-2x32, 20 rounds (Salmon et al. 2011), one word pair at a time in Python integers."""
    mask = 0xFFFFFFFF
    rot = lambda v, d: ((v << d) | (v >> (32 - d))) & mask
    ks = [k0, k1, k0 ^ k1 ^ 0x1BD11BDA]
    x0, x1 = (x0 + ks[0]) & mask, (x1 + ks[1]) & mask
    for i in range(5):
        for d in ((13, 15, 26, 6), (17, 29, 16, 24))[i % 2]:
            x0 = (x0 + x1) & mask
            x1 = rot(x1, d) ^ x0
        x0 = (x0 + ks[(i + 1) % 3]) & mask
        x1 = (x1 + ks[(i + 2) % 3] + i + 1) & mask
    return x0, x1


KAT = [  # Random123's kat_vectors for threefry2x32_20: key, counter, result
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key, ctr, want", KAT)
def test_hash_gives_the_known_answers(key, ctr, want):
    got = _threefry.hash2x32(*(np.uint32(v) for v in key + ctr))
    assert tuple(int(g) for g in got) == want
    assert ref_threefry(*key, *ctr) == want


def test_hash_matches_the_numpy_reference_and_jax_on_random_words():
    rng = np.random.default_rng(0)
    k0, k1, x0, x1 = rng.integers(0, 2**32, (4, 300), dtype=np.uint32)
    y0, y1 = jax.jit(_threefry.hash2x32)(k0, k1, x0, x1)
    want = np.array([ref_threefry(*map(int, a)) for a in zip(k0, k1, x0, x1)], np.uint32)
    np.testing.assert_array_equal(np.stack([y0, y1], 1), want)
    j0, j1 = threefry2x32_p.bind(*(jnp.asarray(a) for a in (k0, k1, x0, x1)))
    np.testing.assert_array_equal(np.asarray(y0), np.asarray(j0))
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(j1))


@pytest.mark.parametrize("n", [1, 2, 3, 64, 65, 415, 416])
def test_counter_bits_are_jax_classic_random_bits(n):
    """Both forms, the fused one and the one computed apart (the CPU loop and the primitive used
    elsewhere), for one key and for a batch of keys under vmap."""
    keys = jax.random.key_data(jax.random.split(jax.random.key(n), 5))
    want = np.stack([np.asarray(threefry_2x32(k, jnp.arange(n, dtype=jnp.uint32))) for k in keys])
    forms = {
        "fused": _threefry.counter_bits,
        "apart": _threefry.counter_bits_apart,
        "branch": lambda a, b, n: _threefry._in_branch(a, b, n=n, then=lambda x: x),
        "primitive": lambda a, b, n: _threefry._primitive(a, b, n=n, then=lambda x: x),
    }
    for name, f in forms.items():
        one = np.asarray(jax.jit(f, static_argnums=2)(keys[0, 0], keys[0, 1], n)).reshape(-1)[:n]
        np.testing.assert_array_equal(one, want[0], err_msg=name)
        many = jax.jit(jax.vmap(lambda k: f(k[0], k[1], n).reshape(-1)[:n]))(keys)
        np.testing.assert_array_equal(np.asarray(many), want, err_msg=name)


@pytest.mark.parametrize("partitionable", [True, False])
def test_fold_in_and_split_are_jax_s(partitionable):
    with jax.threefry_partitionable(partitionable):
        keys = jax.random.split(jax.random.key(11), 6)
        data = jax.random.key_data(keys)
        for i in (0, 1, 12345, jnp.int32(-1), jnp.uint32(0xFFFFFFFF)):
            want = jax.random.key_data(jax.vmap(lambda k: jax.random.fold_in(k, i))(keys))
            np.testing.assert_array_equal(np.asarray(_threefry.fold_in(data, i)), np.asarray(want))
        for num in (1, 2, 3, 5):
            want = jax.random.key_data(jax.vmap(lambda k: jax.random.split(k, num))(keys))
            np.testing.assert_array_equal(np.asarray(jax.jit(_threefry.split, static_argnums=1)(data, num)), np.asarray(want))
            one = learning._split(keys[2], num)
            np.testing.assert_array_equal(np.asarray(jax.random.key_data(one)), np.asarray(want[2]))


@pytest.mark.parametrize("partitionable", [True, False])
def test_iteration_keys_are_split_of_fold_in(partitionable):
    with jax.threefry_partitionable(partitionable):
        mkeys = state.member_keys(jax.random.key(2), np.arange(7))
        for n in (0, 3, 1000):
            want = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, n)))(mkeys)
            got = jax.jit(_program.iteration_keys)(mkeys, jnp.int32(n))
            np.testing.assert_array_equal(np.asarray(jax.random.key_data(got)), np.asarray(jax.random.key_data(want)))
