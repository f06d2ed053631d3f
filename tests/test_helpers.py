"""Your own system: from_loss, replicate, grid, Run.final / best / summary / hyper,
the divergence warning and the refusal of unstacked parameters."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from typing import NamedTuple

import ensemble
from ensemble import _program
from ensemble import evolve, learning


def sphere(p):
    return jnp.sum((p["x"] - 1.0) ** 2)


def test_grid_values_order_and_unflatten():
    g = ensemble.grid(tau=[0.1, 1.0], S=[0.01, 0.02, 0.03], members=4)
    assert g.shape == (2, 3, 4) and g.size == 24 and g.names == ("tau", "S")
    t, s = g.unflatten(g.tau), g.unflatten(g.S)
    assert np.all(t[0] == 0.1) and np.all(t[1] == 1.0)
    np.testing.assert_array_equal(s[1, :, 2], [0.01, 0.02, 0.03])
    traces = np.arange(5 * 24).reshape(5, 24)
    assert g.unflatten(traces).shape == (5, 2, 3, 4)
    np.testing.assert_array_equal(g.unflatten(traces)[3, 1, 2], traces[3, 20:24])  # point (1, 2) = members 20-23
    with pytest.raises(ValueError, match="members"):
        ensemble.grid(tau=[1.0], members=0)
    with pytest.raises(ValueError, match="tau must be a non-empty 1-d"):
        ensemble.grid(tau=[], members=2)
    with pytest.raises(AttributeError, match="no axis 'gamma'"):
        g.gamma


@pytest.mark.slow
def test_from_loss_run_final_best_summary_hyper():
    g = ensemble.grid(tau=[1.0, 3.0], S=[0.03], members=8)
    params = ensemble.replicate({"x": jnp.zeros(3)}, g.size)
    assert params["x"].shape == (16, 3)
    run = ensemble.evolve(ensemble.from_loss(sphere), learning.discrete(1), params, learning.DiscreteHyper(g.tau, g.S, 1),
                          key=jax.random.key(0), n_iterations=300, record=ensemble.Record(every=10))
    np.testing.assert_array_equal(run.hyper.tau, g.tau)
    want = np.asarray(jax.vmap(sphere)(run.params))  # final: E of the final params, not the last record
    want = np.where(run.diverged, np.nan, want)
    np.testing.assert_allclose(run.final["E"], want, rtol=1e-6)
    assert not np.array_equal(run.final["E"], run.traces["E"][-1])
    best = run.best(3)
    assert best.size == 3 and not run.diverged[best].any()
    assert run.final["E"][best[0]] == np.nanmin(np.where(run.diverged, np.nan, run.final["E"]))
    s = run.summary()
    assert s["members"] == 16 and s["best_member"] == int(best[0])
    assert s["final_E"]["min"] == pytest.approx(run.final["E"][best[0]])
    assert s["final_E"]["median"] < 3.0  # E(0) = 3: the sphere is learned


def test_best_never_picks_a_diverged_member_and_divergence_warns():
    params = ensemble.replicate({"x": jnp.zeros(3)}, 8)
    tau = np.array([1e-6] * 6 + [1.0] * 2)  # most members diverge at once
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = ensemble.evolve(ensemble.from_loss(sphere), learning.discrete(1), params, learning.DiscreteHyper(tau, 0.03, 1),
                              key=jax.random.key(1), n_iterations=200)
    assert run.diverged[:6].all() and not run.diverged[6:].any()
    assert any("members diverged" in str(w.message) and "|dE|/tau" in str(w.message) for w in caught)
    assert set(run.best(8)) <= {6, 7}
    assert np.isnan(run.final["E"][:6]).all()


def test_noisy_loss_gets_the_members_key():
    def noisy(p, key):
        return jnp.sum(p["x"] ** 2) + 0.0 * jax.random.normal(key)

    system = ensemble.from_loss(noisy)
    assert system.uses_key and not ensemble.from_loss(sphere).uses_key
    with pytest.raises(ValueError, match="loss must take"):
        ensemble.from_loss(lambda a, b, c: 0.0)


@pytest.mark.slow
def test_unstacked_params_are_refused_or_explicit():
    """params the system accepts both as B members and as one member are refused, naming both
    readings, unless something says which; replicate always says it."""
    common = dict(key=jax.random.key(0), n_iterations=2)
    hyper = learning.DiscreteHyper(1.0, 0.1, 1)
    for one, each in [({"x": jnp.zeros(10)}, "{'x': ()}"), ({"W": jnp.zeros((4, 3))}, "{'W': (3,)}"),
                      ({"W": jnp.zeros((3, 3)), "b": jnp.zeros(3)}, "{'W': (3,), 'b': ()}")]:
        B = one[next(iter(one))].shape[0]
        loss = lambda p: sum(jnp.sum((x - 1.0) ** 2) for x in jax.tree_util.tree_leaves(p))  # noqa: E731
        with pytest.raises(ValueError, match=rf"params can be read two ways .*{B} members with shapes "
                                             rf"{re.escape(each)}, or one member .*n_members={B}.*replicate"):
            ensemble.evolve(ensemble.from_loss(loss), learning.discrete(1), one, hyper, **common)
        # said explicitly: n_members, per-member hyperparameters, member ids, or replicate
        for kw in (dict(n_members=B), dict(members=np.arange(B))):
            assert ensemble.evolve(ensemble.from_loss(loss), learning.discrete(1), one, hyper, **kw,
                                   **common).diverged.shape == (B,)
        assert ensemble.evolve(ensemble.from_loss(loss), learning.discrete(1), one, hyper._replace(tau=np.ones(B)),
                               **common).diverged.shape == (B,)
        run = ensemble.evolve(ensemble.from_loss(loss), learning.discrete(1), ensemble.replicate(one, 5), hyper, **common)
        assert jax.tree_util.tree_map(jnp.shape, run.params) == jax.tree_util.tree_map(lambda x: (5,) + x.shape, one)
    # a system that accepts only one reading needs nothing more (the network's shapes are checked)
    X, Y = ensemble.patterns.vowels()
    params = jax.vmap(lambda k: ensemble.feedforward.init(k, 35, 4, 5))(ensemble.member_keys(jax.random.key(0), 3))
    assert ensemble.evolve(ensemble.feedforward.Task(X, Y), learning.discrete(1), params, hyper, **common).diverged.shape == (3,)
    # scalar parameters per member, from replicate of Python numbers
    run = ensemble.evolve(ensemble.from_loss(lambda p: (p["mu"] - 1.0) ** 2 + p["beta"] ** 2), learning.discrete(1),
                          ensemble.replicate({"mu": 0.5, "beta": 1.0}, 256), hyper, **common)
    assert run.params["mu"].shape == (256,)
    with pytest.raises(ValueError, match=r"n_members \(5\) must equal"):
        ensemble.evolve(ensemble.from_loss(sphere), learning.discrete(1), {"x": jnp.zeros(10)}, hyper,
                        placement=ensemble.Placement(n_members=5), **common)


@pytest.mark.slow
def test_params_as_lists_duplicate_ids_keys_and_delays_are_named():
    loss, hyper = ensemble.from_loss(sphere), learning.DiscreteHyper(1.0, 0.1, 1)
    common = dict(n_iterations=2, placement=ensemble.Placement(n_members=4))
    params = ensemble.replicate({"x": jnp.zeros(3)}, 4)
    with pytest.raises(ValueError, match=r"^params must hold arrays .*params\['x'\]\[0\] is a Python float .*jnp.asarray"):
        ensemble.evolve(loss, learning.discrete(1), {"x": [0.0, 1.0, 2.0, 3.0]}, hyper, key=0, **common)
    with pytest.raises(ValueError, match=r"^members 0 and 1 are copies: the same id 0 .*Give each member its own id"):
        ensemble.evolve(loss, learning.discrete(1), params, hyper, key=0, n_iterations=2,
                        placement=ensemble.Placement(members=[0, 0, 1, 2], n_members=4))
    # one id at two sweep points (other hyperparameters) is the same noise on purpose: allowed
    ensemble.evolve(loss, learning.discrete(1), params, hyper._replace(S=np.array([0.1, 0.2, 0.1, 0.2])), key=0,
                    n_iterations=2, placement=ensemble.Placement(members=[0, 0, 1, 1], n_members=4))
    a = ensemble.evolve(loss, learning.discrete(1), params, hyper, key=7, **common)  # an int seed
    b = ensemble.evolve(loss, learning.discrete(1), params, hyper, key=jax.random.key(7), **common)
    np.testing.assert_array_equal(a.traces["E"], b.traces["E"])
    for bad in (ensemble.member_keys(jax.random.key(0), 4), jnp.zeros((4, 2), jnp.uint32), "seed"):
        with pytest.raises(ValueError, match=r"^key must be one PRNG key \(jax.random.key\(seed\)\) or an int seed"):
            ensemble.evolve(loss, learning.discrete(1), params, hyper, key=bad, **common)
    with pytest.raises(ValueError,
                       match=r"^m must be an integer in \[1, 1\], got 3: m is the delay .*learning.discrete\(max_delay=1\)"):
        ensemble.evolve(loss, learning.discrete(1), params, hyper._replace(m=3), key=0, **common)
    with pytest.warns(RuntimeWarning, match=r"every member's delay m is at most 1, but the map keeps 5 "
                                            r".*if m was left at its default of 1, pass m"):
        ensemble.evolve(loss, learning.discrete(5), params, learning.DiscreteHyper(1.0, 0.1), key=0, **common)


def test_run_hyper_keeps_the_values_as_given_and_the_initial_E_is_recorded():
    run = ensemble.evolve(ensemble.from_loss(sphere), learning.discrete(1),
                          ensemble.replicate({"x": jnp.zeros(3, jnp.float32)}, 2),
                          learning.DiscreteHyper(np.array([0.03, 0.3]), 0.01, 1), key=0, n_iterations=20,
                          record=ensemble.Record(every=5))
    assert run.hyper.tau.tolist() == [0.03, 0.3] and run.hyper.S.tolist() == [0.01, 0.01]
    np.testing.assert_array_equal(run.iterations, [0, 4, 9, 14, 19])
    assert run.traces["E"].shape == (5, 2) and np.all(run.traces["E"][0] == 3.0)  # E(0) = |0 - 1|^2 in 3-d


class Signed:
    """E = (sign * x - 1)^2 summed: the sign is a per-member constant that lives in params."""

    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": jnp.sum((params["sign"] * params["x"] - 1.0) ** 2)}, state


def test_masked_map_holds_a_leaf_fixed():
    B = 8
    sign = jnp.where(jnp.arange(B) % 2 == 0, 1.0, -1.0)
    params = {"sign": sign, "x": jnp.zeros((B, 3))}
    hyper = learning.DiscreteHyper(1.0, 0.03, 1)
    common = dict(key=jax.random.key(2), n_iterations=300)
    free = ensemble.evolve(Signed(), learning.discrete(1), params, hyper, **common)
    assert not np.array_equal(np.asarray(free.params["sign"]), np.asarray(sign))  # unmasked: the constant drifts
    run = ensemble.evolve(Signed(), learning.masked(learning.discrete(1), {"sign": False, "x": True}), params, hyper, **common)
    np.testing.assert_array_equal(np.asarray(run.params["sign"]), np.asarray(sign))  # bit for bit
    assert np.nanmedian(run.final["E"]) < 3.0  # x still learns (E(0) = 3)
    same = ensemble.evolve(Signed(), learning.masked(learning.discrete(1), lambda p: {"sign": False, "x": True}), params, hyper,
                           **common)
    np.testing.assert_array_equal(same.traces["E"], run.traces["E"])
    with pytest.raises(ValueError, match="mask must have the structure"):
        ensemble.evolve(Signed(), learning.masked(learning.discrete(1), {"x": True}), params, hyper, **common)
    with pytest.raises(ValueError, match="mask entries must be Python bools"):
        ensemble.evolve(Signed(), learning.masked(learning.discrete(1), {"sign": 0, "x": 1}), params, hyper, **common)


def test_chunk_cache_tells_maps_apart_by_their_closures():
    from ensemble import kuramoto as ku

    system = ensemble.from_loss(sphere)
    get = lambda lmap: _program.chunk_for(system, lmap, 1, None, 1).program  # noqa: E731 (builds, does not compile)
    assert get(ku.weight_control(learning.discrete(1), "w")) is get(ku.weight_control(learning.discrete(1), "w"))
    assert get(ku.weight_control(learning.discrete(1), "w")) is not get(ku.weight_control(learning.discrete(1), "v"))
    assert get(learning.masked(learning.discrete(1), {"x": True})) is not get(learning.masked(learning.discrete(1), {"x": False}))
    square = _program.chunk_for(ensemble.from_loss(lambda p: jnp.sum(p["x"] ** 2)), learning.discrete(1), 1, None, 1)
    assert square.program is not _program.chunk_for(ensemble.from_loss(lambda p: jnp.sum(p["x"] ** 4)), learning.discrete(1),
                                                    1, None, 1).program


@pytest.mark.slow
def test_track_best_keeps_the_lowest_E_and_the_params_it_was_measured_on(tmp_path):
    """Against a plain reference: with every iteration recorded, the best-so-far is the nanmin of
    the trace, at its first argmin, and its params reproduce that E; groups, chunks and a resumed
    checkpoint give the same bits; a diverged member keeps what it had before diverging."""
    system = ensemble.from_loss(sphere)
    params = {"x": jnp.asarray(np.random.default_rng(3).uniform(0.0, 0.5, size=(6, 3)))}
    S = np.array([0.03, 0.02, 0.03, 0.01, 0.03, 1e30])  # the last one overflows within a few iterations
    hyper = learning.DiscreteHyper(np.array([1.0, 3.0, 3.0, 1.0, 2.0, 3.0]), S, 2)
    common = dict(key=jax.random.key(0), n_iterations=40)
    run = evolve(system, learning.discrete(2), params, hyper, record=ensemble.Record(best=True), **common)
    best = run.best_so_far
    E = run.traces["E"]
    assert run.diverged[-1] and not run.diverged[:-1].any()
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(best["E"], np.nanmin(E, axis=0))
    np.testing.assert_array_equal(best["iteration"], run.iterations[np.nanargmin(E, axis=0)])
    assert np.all(best["E"][:-1] < E[0, :-1])  # learning lowered E
    remeasured = np.array([np.sum((np.asarray(best["params"]["x"][i], np.float64) - 1.0) ** 2) for i in range(6)])
    np.testing.assert_allclose(remeasured, best["E"], rtol=1e-12)
    assert best["iteration"][-1] < run.diverged_at[-1]
    # other layouts and a checkpointed resume: the same bits
    groups = evolve(system, learning.discrete(2), params, hyper, record=ensemble.Record(best=True),
                    placement=ensemble.Placement(member_batch=4), chunks=ensemble.Chunks(size=7), **common)
    path = str(tmp_path / "ck")
    evolve(system, learning.discrete(2), params, hyper, record=ensemble.Record(best=True), checkpoint=path,
           key=common["key"], n_iterations=20)
    resumed = evolve(system, learning.discrete(2), params, hyper, record=ensemble.Record(best=True),
                     checkpoint=ensemble.Checkpointing(path, resume=True), **common)
    for other in (groups, resumed):
        for a, b in zip(jax.tree_util.tree_leaves(other.best_so_far), jax.tree_util.tree_leaves(best)):
            np.testing.assert_array_equal(a, b)
    # sparse records: every iteration still counts
    sparse = evolve(system, learning.discrete(2), params, hyper, record=ensemble.Record(best=True, every=10), **common)
    np.testing.assert_array_equal(sparse.best_so_far["E"], best["E"])
    assert evolve(system, learning.discrete(2), params, hyper, **common).best_so_far is None


def test_track_best_needs_an_E_signal():
    class OnlyR(NamedTuple):
        def init_state(self, params, key):
            return jnp.zeros(())

        def measure(self, params, state, key):
            return {"R": jnp.sum(params["w"] ** 2)}, state

    lmap = learning.discrete(2)._replace(reads=("R",))  # a map that would read R only
    with pytest.raises(ValueError, match=r"Record\(best=True\) needs a signal 'E'"):
        evolve(OnlyR(), lmap, ensemble.replicate({"w": jnp.ones(3)}, 4), learning.DiscreteHyper(1.0, 0.1, 2),
               key=jax.random.key(0), n_iterations=2, record=ensemble.Record(best=True))


def test_a_checkpoint_folder_that_cannot_be_made_is_a_write_error():
    from ensemble._files import WriteError

    with pytest.raises(WriteError, match=r"^cannot write /proc/nope/ck\.npz: "):
        ensemble.evolve(ensemble.from_loss(sphere), learning.discrete(1), ensemble.replicate({"x": jnp.zeros(3)}, 2),
                        learning.DiscreteHyper(1.0, 0.1, 1), key=0, n_iterations=2, checkpoint="/proc/nope/ck")



def test_more_mistakes_are_named_in_one_line(tmp_path):
    loss, params = ensemble.from_loss(sphere), ensemble.replicate({"x": jnp.zeros(3)}, 4)
    common = dict(key=0, n_iterations=2)
    with pytest.raises(ValueError,
                       match=r"^hyper must be the discrete map's hyperparameters; BiparametricHyper has no field tau"):
        ensemble.evolve(loss, learning.discrete(1), params, learning.BiparametricHyper(1.0, 0.1, 1.0, 0.1), **common)
    with pytest.raises(ValueError, match=r"^hyper.S must be a number or an array of numbers, got '0.05'"):
        ensemble.evolve(loss, learning.discrete(1), params, learning.DiscreteHyper(1.0, "0.05", 1), **common)
    with pytest.raises(ValueError, match=r"signals must be real numbers, got dtypes \{'E': 'complex"):
        ensemble.evolve(ensemble.from_loss(lambda p: jnp.sum(p["x"]) + 1j), learning.discrete(1), params,
                        learning.DiscreteHyper(1.0, 0.1, 1), **common)
    with pytest.raises(ValueError, match=r"^checkpoint must be a file prefix .*not a folder"):
        ensemble.evolve(loss, learning.discrete(1), params, learning.DiscreteHyper(1.0, 0.1, 1), checkpoint=str(tmp_path) + "/",
                        **common)
    with pytest.raises(ValueError, match=r"^params are already stacked \(4 members, made by replicate\)"):
        ensemble.replicate(params, 2)
    with pytest.raises(ValueError, match=r"^params must be finite \(no NaN or inf\): params\['x'\] of member 2 is not"):
        ensemble.evolve(loss, learning.discrete(1), {"x": jnp.zeros((4, 3)).at[2, 1].set(jnp.nan)},
                        learning.DiscreteHyper(1.0, 0.1, 1), placement=ensemble.Placement(n_members=4), **common)
    with pytest.warns(RuntimeWarning, match=r"4 of 4 members diverged, 4 of them at iteration 0: .*check the system"):
        ensemble.evolve(ensemble.from_loss(lambda p: jnp.log(0.0 * jnp.sum(p["x"]))), learning.discrete(1), params,
                        learning.DiscreteHyper(1.0, 0.1, 1), **common)
    # groups see only part of the ensemble: the unused-delay check runs once, on all of it
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensemble.evolve(loss, learning.discrete(5), ensemble.replicate({"x": jnp.zeros(3)}, 10),
                        learning.DiscreteHyper(1.0, 0.01, np.arange(10) % 5 + 1),
                        placement=ensemble.Placement(member_batch=4), **common)
