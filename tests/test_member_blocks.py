"""A user's system whose measure reduces (jnp.mean over a data set, W @ x, a window mean) keeps
every member's bits alone, in ensembles of any size, in member groups and on any device count:
the driver runs measure and init_state in fixed member blocks (ensemble._member_blocks)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import placement
from benchmarks.member_blocks import OrnsteinUhlenbeck, Phases, logistic  # the systems timed there
from ensemble import _member_blocks, layout, learning


SYSTEMS = {
    "logistic": (ensemble.from_loss(logistic), lambda B: ensemble.replicate({"w": jnp.zeros(10), "b": jnp.zeros(())}, B), 30.0),
    "ornstein-uhlenbeck": (OrnsteinUhlenbeck(), lambda B: ensemble.replicate({"k": jnp.array([1.0, 0.0])}, B), 10.0),
    "phases": (Phases(), lambda B: ensemble.replicate({"W": jnp.full((6, 6), 0.2)}, B), 1.0),
}


def run(name, B, members=None, **kw):
    system, params, tau = SYSTEMS[name]
    n = B if members is None else len(members)
    return ensemble.evolve(system, learning.discrete(2), params(n), learning.DiscreteHyper(np.full(n, tau), 0.05, 2),
                           key=jax.random.key(7), n_iterations=24, record=ensemble.Record(every=2),
                           placement=ensemble.Placement(members=members), **kw)


def assert_member(full, k, alone, i=0):
    for name in alone.traces:
        np.testing.assert_array_equal(full.traces[name][:, k], alone.traces[name][:, i], err_msg=name)
    for a, b in zip(jax.tree_util.tree_leaves(full.state), jax.tree_util.tree_leaves(alone.state)):
        if jnp.ndim(a) and not jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[i]))


@pytest.mark.invariance
@pytest.mark.parametrize("name", sorted(SYSTEMS))
@pytest.mark.slow
def test_a_user_system_that_reduces_is_bitwise_the_same_in_any_ensemble(name):
    members = [0, 37, 63, 99]
    alone = {k: run(name, 1, members=[k]) for k in members}
    configs = [dict(B=64, devices=1), dict(B=100, devices=1), dict(B=100, devices=4), dict(B=100, member_batch=30),
               dict(B=64, devices=2)]
    for cfg in configs:
        full = run(name, **cfg)
        for k in members:
            if k < cfg["B"]:
                assert_member(full, k, alone[k])


@pytest.mark.invariance
@pytest.mark.slow
def test_member_blocks_inside_cache_blocks_keep_the_bits(monkeypatch):
    ref = run("logistic", 12, devices=1)
    tiny = dataclasses.replace(layout.CPU, block_members=3, block_from=6)  # cache blocks of 3 members, each padded to 16
    monkeypatch.setattr(layout, "_FORCED", [tiny])
    assert placement.block_size(12, 1) == 3
    assert_member(run("logistic", 12, devices=1), 5, ref, 5)
    assert_member(run("logistic", 12, devices=2), 11, ref, 11)


def test_in_member_blocks_is_vmap_in_float64():
    """Against vmap in float64 on random inputs, for ensembles smaller than, equal to and not a
    multiple of the block (padding), with pytrees of mixed shapes in and out."""

    def f(p, x):
        return {"s": jnp.sum(p["a"] * x), "v": p["a"] @ p["m"]}, x * 2

    r = np.random.default_rng(1)
    for B in (1, 5, 8, 13):
        p = {"a": jnp.asarray(r.normal(size=(B, 4))), "m": jnp.asarray(r.normal(size=(B, 4, 3)))}
        x = jnp.asarray(r.normal(size=(B, 4)))
        got = jax.jit(_member_blocks.in_member_blocks(f, 8))(p, x)
        want = jax.vmap(f)(p, x)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            assert a.shape == b.shape and a.dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13)


class OwnLayout:
    """The logistic loss with its own measure_ensemble (plain vmap over all members): the driver
    leaves the layout, and the promise, to the system."""

    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": logistic(params)}, state

    def measure_ensemble(self, params, state, keys):
        return jax.vmap(self.measure)(params, state, keys)


@pytest.mark.slow
def test_check_member_invariance_finds_what_differs_and_passes_the_blocks():
    params = ensemble.replicate({"w": jnp.zeros(10, jnp.float32), "b": jnp.zeros((), jnp.float32)}, 3)
    hyper = learning.DiscreteHyper(np.array([30.0, 10.0, 3.0], np.float32), np.float32(0.01), 1)
    common = dict(key=3, n_iterations=12, sizes=(2, 64, 100))
    ok = ensemble.check_member_invariance(ensemble.from_loss(logistic), learning.discrete(1), params, hyper, member=1, **common)
    assert ok and not ok.differences and str(ok).startswith("member bitwise the same in all")
    assert ok.settings[0] == "alone" and "100 members on 4 devices, the member first" in ok.settings
    assert "100 members in groups of 50, the member in the middle" in ok.settings
    bad = ensemble.check_member_invariance(OwnLayout(), learning.discrete(1), params, hyper, member=1, **common)
    assert not bad and bad.differences
    assert all(" members " in d and "first differs at iteration" in d for d in bad.differences if "signal" in d)
    assert "signal E first differs at iteration 0" in str(bad)  # the first measurement already rounds differently
    with layout.use("accelerator"):  # one program over all members: no blocks, no promise for a reducing measure
        assert not ensemble.check_member_invariance(ensemble.from_loss(logistic), learning.discrete(1), params, hyper, **common)
    with pytest.raises(ValueError, match="^member must be an integer in"):
        ensemble.check_member_invariance(OwnLayout(), learning.discrete(1), params, hyper, member=3, **common)
