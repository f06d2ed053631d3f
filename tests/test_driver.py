"""The ensemble driver: composition, member independence, chunking, divergence, validation."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import driver, evolve, feedforward as ff, learning, patterns
from ensemble import _program

X, Y = patterns.vowels()


def net_params(B, seed=1, ids=None, dtype=jnp.float32):
    ids = np.arange(B) if ids is None else np.asarray(ids)
    keys = driver.member_keys(jax.random.key(seed), ids)
    return jax.vmap(lambda k: ff.init(k, 35, 10, 5, dtype=dtype))(keys)


def assert_same(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


class Quadratic(NamedTuple):
    """A third system, defined outside the library: E = mean(w^2), a carried step counter."""

    def init_state(self, params, key):
        return jnp.zeros((), jnp.int32)

    def measure(self, params, state, key):
        return {"E": jnp.mean(params["w"] ** 2)}, state + 1


@pytest.mark.slow
def test_driver_matches_plain_loop_over_members_and_iterations():
    """Float64: evolve == a Python loop calling the contract functions with the documented keys."""
    B, n_it, m = 3, 7, 2
    params = net_params(B, dtype=jnp.float64)
    tau, S = np.array([0.2, 0.5, 1.0]), np.array([0.1, 0.3, 0.0])
    root = jax.random.key(42)
    run = evolve(ff.Task(X, Y), learning.discrete(m), params, learning.DiscreteHyper(tau, S, m), key=root, n_iterations=n_it)
    for i in range(B):
        w = {k: np.asarray(v[i]) for k, v in params.items()}
        ws, Es = [w], []
        for n in range(n_it):
            Es.append(float(ff.error(ws[n], X.astype(np.float64), Y.astype(np.float64))))
            _, k_map = jax.random.split(jax.random.fold_in(jax.random.fold_in(root, i), n))
            d = max(n - m, 0)
            ws.append(learning.discrete_step(ws[n], ws[d], Es[n], Es[d], tau[i], S[i], k_map))
        np.testing.assert_allclose(run.traces["E"][:, i], Es, rtol=1e-12)
        for k in w:
            np.testing.assert_allclose(np.asarray(run.params[k][i]), np.asarray(ws[-1][k]), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(run.iterations, np.arange(n_it))
    assert not run.diverged.any()


@pytest.mark.invariance
@pytest.mark.slow
def test_member_alone_equals_member_in_ensemble_of_64():
    lmap, hyper = learning.discrete(3), learning.DiscreteHyper(0.1, 0.3, 3)
    common = dict(key=jax.random.key(0), n_iterations=60, record_every=5)
    full = evolve(ff.Task(X, Y), lmap, net_params(64), hyper, **common)
    for k in [0, 17, 63]:
        alone = evolve(ff.Task(X, Y), lmap, net_params(1, ids=[k]), hyper, placement=ensemble.Placement(members=[k]), **common)
        np.testing.assert_array_equal(alone.traces["E"][:, 0], full.traces["E"][:, k])
        assert_same(jax.tree_util.tree_map(lambda x: x[0], alone.params), jax.tree_util.tree_map(lambda x: x[k], full.params))


@pytest.mark.invariance
@pytest.mark.slow
def test_grid_in_one_call_equals_point_by_point():
    taus, Ss, ens = [0.05, 0.5], [0.1, 1.0], 4
    grid = [(t, s) for t in taus for s in Ss]
    tau = np.repeat([g[0] for g in grid], ens)
    S = np.repeat([g[1] for g in grid], ens)
    B = len(tau)
    common = dict(key=jax.random.key(3), n_iterations=40, record_every=4)
    lmap = learning.discrete(2)
    one = evolve(ff.Task(X, Y), lmap, net_params(B), learning.DiscreteHyper(tau, S, 2), **common)
    for j, (t, s) in enumerate(grid):
        ids = np.arange(j * ens, (j + 1) * ens)
        point = evolve(ff.Task(X, Y), lmap, net_params(ens, ids=ids), learning.DiscreteHyper(t, s, 2),
                       placement=ensemble.Placement(members=ids), **common)
        np.testing.assert_array_equal(point.traces["E"], one.traces["E"][:, ids])


@pytest.mark.invariance
@pytest.mark.slow
def test_chunking_and_continuation_do_not_change_results():
    lmap, hyper = learning.discrete(4), learning.DiscreteHyper(0.2, 0.2, np.array([1, 2, 3, 4] * 4))
    common = dict(key=jax.random.key(5), record_every=3)
    ref = evolve(ff.Task(X, Y), lmap, net_params(16), hyper, n_iterations=48, chunks=ensemble.Chunks(size=48), **common)
    seen = []
    chunked = evolve(
        ff.Task(X, Y), lmap, net_params(16), hyper, n_iterations=48,
        chunks=ensemble.Chunks(size=9, on_chunk=lambda s, t, info: seen.append(info.iterations[-1])), **common
    )
    np.testing.assert_array_equal(chunked.traces["E"], ref.traces["E"])
    assert_same(chunked.params, ref.params)
    assert seen == [8, 17, 26, 35, 44, 47]
    first = evolve(ff.Task(X, Y), lmap, net_params(16), hyper, n_iterations=30, **common)
    rest = evolve(ff.Task(X, Y), lmap, None, hyper, n_iterations=18, state=first.state, **common)
    np.testing.assert_array_equal(np.concatenate([first.traces["E"], rest.traces["E"]]), ref.traces["E"])
    np.testing.assert_array_equal(rest.iterations, np.arange(32, 48, 3))
    assert_same(rest.params, ref.params)


@pytest.mark.slow
def test_biparametric_through_driver_records_E_and_R():
    run = evolve(
        ff.Task(X, Y, eps=0.2), learning.biparametric(1), net_params(8), learning.BiparametricHyper(0.1, 0.3, 1.0, 0.01, 1),
        key=jax.random.key(0), n_iterations=20, record=ensemble.Record(every=2),
    )
    assert set(run.traces) == {"E", "R"} and run.traces["R"].shape == (11, 8)  # iteration 0, then 1, 3, ..., 19
    np.testing.assert_array_equal(run.iterations, np.r_[0, np.arange(1, 20, 2)])
    R = run.traces["R"]
    assert np.all((R >= 0) & (R <= 1)) and np.all(np.round(R * 10) == R * 10)
    # the last recorded R is the robustness of the parameters measured at that iteration
    with pytest.raises(ValueError, match="signals"):
        evolve(ff.Task(X, Y), learning.biparametric(1), net_params(2), learning.BiparametricHyper(0.1, 0.3, 1.0, 0.01, 1),
               key=jax.random.key(0), n_iterations=2)


@pytest.mark.slow
def test_diverging_members_are_frozen_flagged_and_isolated():
    B = 8
    w = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(B, 5)), jnp.float32)}
    S = np.full(B, 0.1)
    S[[2, 5]] = 1e30  # these two blow up to inf within a few iterations
    common = dict(key=jax.random.key(1), n_iterations=30)
    run = evolve(Quadratic(), learning.discrete(1), w, learning.DiscreteHyper(1.0, S, 1), **common)
    assert run.diverged.tolist() == [i in (2, 5) for i in range(B)]
    assert np.all(run.diverged_at[[2, 5]] >= 0) and np.all(run.diverged_at[run.diverged == 0] == -1)
    assert np.all(np.isfinite(np.asarray(run.params["w"])))  # frozen at the last finite values
    for i in (2, 5):
        assert np.all(np.isnan(run.traces["E"][run.diverged_at[i]:, i]))
    assert np.all(np.isfinite(run.traces["E"][:, ~run.diverged]))
    ok = np.flatnonzero(~run.diverged)
    alone = evolve(Quadratic(), learning.discrete(1), {"w": w["w"][ok]}, learning.DiscreteHyper(1.0, S[ok], 1),
                   placement=ensemble.Placement(members=ok), **common)
    np.testing.assert_array_equal(alone.traces["E"], run.traces["E"][:, ok])
    assert int(run.state.system[0]) == 30 and int(run.state.system[2]) == run.diverged_at[2]


def test_same_seed_same_numbers_different_seed_different():
    lmap, hyper = learning.discrete(1), learning.DiscreteHyper(0.1, 0.3, 1)
    a = evolve(ff.Task(X, Y), lmap, net_params(4), hyper, key=jax.random.key(9), n_iterations=20)
    b = evolve(ff.Task(X, Y), lmap, net_params(4), hyper, key=jax.random.key(9), n_iterations=20)
    c = evolve(ff.Task(X, Y), lmap, net_params(4), hyper, key=jax.random.key(10), n_iterations=20)
    np.testing.assert_array_equal(a.traces["E"], b.traces["E"])
    assert not np.array_equal(a.traces["E"], c.traces["E"])


def test_evolve_does_not_consume_the_callers_params():
    p = net_params(4)
    evolve(ff.Task(X, Y), learning.discrete(1), p, learning.DiscreteHyper(0.1, 0.3, 1), key=jax.random.key(0), n_iterations=2)
    assert np.all(np.isfinite(np.asarray(p["hidden"])))


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(hyper=learning.DiscreteHyper(0.0, 0.1, 1)), "^tau must"),
        (dict(hyper=learning.DiscreteHyper(1.0, -0.1, 1)), "^S must"),
        (dict(hyper=learning.DiscreteHyper(1.0, 0.1, 0)), "^m must"),
        (dict(hyper=learning.DiscreteHyper(np.ones(3), 0.1, 1)), r"^hyper.tau must be a scalar or have shape \(4,\)"),
        (dict(n_iterations=0), "^n_iterations must"),
        (dict(n_iterations=10, record_every=3), "^n_iterations .* must be a multiple of record_every"),
        (dict(chunk=3, record_every=2, n_iterations=4), "^chunk .* must be a multiple"),
        (dict(members=[1, 2]), r"^members must have shape \(4,\)"),
    ],
)
def test_evolve_rejects_bad_input(change, match):
    args = dict(
        system=ff.Task(X, Y), lmap=learning.discrete(1), params=net_params(4), hyper=learning.DiscreteHyper(1.0, 0.1, 1),
        key=jax.random.key(0), n_iterations=4,
    )
    args.update(change)
    with pytest.raises(ValueError, match=match):
        evolve(**args)


def test_evolve_rejects_nan_params_and_wrong_shapes():
    p = net_params(4)
    bad = {"hidden": p["hidden"].at[1, 2, 3].set(jnp.nan), "output": p["output"]}
    with pytest.raises(ValueError, match="^params must be finite"):
        evolve(ff.Task(X, Y), learning.discrete(1), bad, learning.DiscreteHyper(1.0, 0.1, 1), key=jax.random.key(0),
               n_iterations=2)
    with pytest.raises(ValueError, match="^X must have shape"):
        evolve(ff.Task(X[:, :30], Y), learning.discrete(1), p, learning.DiscreteHyper(1.0, 0.1, 1), key=jax.random.key(0),
               n_iterations=2)
    with pytest.raises(ValueError, match="^params leaves must share a leading member axis"):
        evolve(ff.Task(X, Y), learning.discrete(1), {"hidden": p["hidden"], "output": p["output"][:3]},
               learning.DiscreteHyper(1.0, 0.1, 1), key=jax.random.key(0), n_iterations=2)


def test_member_keys_validates_ids():
    np.testing.assert_array_equal(
        jax.random.key_data(driver.member_keys(jax.random.key(0), 3)),
        jax.random.key_data(driver.member_keys(jax.random.key(0), [0, 1, 2])),
    )
    for bad in (0, -1, [-1, 2], [0.5], np.zeros((2, 2), int)):
        with pytest.raises(ValueError, match="^members must"):
            driver.member_keys(jax.random.key(0), bad)
    params = {"x": jnp.zeros((2, 3))}
    for bad in ([-1, 2], [0.5, 1], [0]):  # init_state checks the ids as member_keys does
        with pytest.raises(ValueError, match="^members must"):
            driver.init_state(Target(1.0), learning.discrete(1), params, jax.random.key(0), members=bad)


# ------------------------------------------------- the system contract, checked (issue 13)


class Target:
    """A plain-class system: E = (x - target)^2 (no NamedTuple, no pytree)."""

    def __init__(self, target):
        self.target = target

    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": jnp.sum((params["x"] - self.target) ** 2)}, state


class Broken(Target):
    def __init__(self, mode):
        super().__init__(1.0)
        self.mode = mode

    def measure(self, params, state, key):
        E = jnp.sum((params["x"] - 1.0) ** 2)
        if self.mode == "E(2,)":
            return {"E": jnp.stack([E, E])}, state
        if self.mode == "E(1,)":
            return {"E": E[None]}, state
        if self.mode == "bare":
            return E
        if self.mode == "state":
            return {"E": E}, jnp.zeros(3)
        raise RuntimeError("boom")


class NoInit:
    def measure(self, params, state, key):
        return {"E": jnp.sum(params["x"])}, state


@pytest.mark.parametrize("system,match", [
    (Broken("E(2,)"), r"signals must be scalars .*'E': \(2,\)"),
    (Broken("E(1,)"), r"signals must be scalars .*'E': \(1,\)"),
    (Broken("bare"), r"measure must return \(signals, state\)"),
    (Broken("state"), r"state with the structure"),
    (Broken("raise"), r"system.measure\(params, state, key\) failed .*RuntimeError: boom"),
    (NoInit(), r"system must have init_state.*NoInit lacks init_state"),
])
def test_contract_mistakes_are_value_errors_naming_the_contract(system, match):
    params = {"x": jnp.zeros((4, 3))}
    with pytest.raises(ValueError, match=match):
        evolve(system, learning.discrete(1), params, learning.DiscreteHyper(1.0, 0.1, 1), key=jax.random.key(0), n_iterations=2)


@pytest.mark.parametrize("hyper", [{"tau": 1.0, "S": 0.1, "m": 1}, (1.0, 0.1, 1)])
def test_hyper_must_be_the_maps_named_tuple(hyper):
    with pytest.raises(ValueError, match=r"hyper must be the learning map's NamedTuple .*DiscreteHyper"):
        evolve(Target(1.0), learning.discrete(1), {"x": jnp.zeros((4, 3))}, hyper, key=jax.random.key(0), n_iterations=2)


_COMPILES: list = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, secs, **_: _COMPILES.append(event) if event.endswith("backend_compile_duration") else None)


def compiles_during(fn) -> int:
    """XLA compilations (backend compiles) while ``fn()`` runs."""
    before = len(_COMPILES)
    fn()
    return len(_COMPILES) - before


def test_second_identical_evolve_call_does_not_compile_again():
    common = dict(key=jax.random.key(0), n_iterations=20, record_every=2, n_members=8)
    params = {"x": jnp.zeros((8, 3))}
    out = {}
    assert compiles_during(lambda: out.setdefault(
        "a", evolve(Target(1.0), learning.discrete(1), params, learning.DiscreteHyper(3.0, 0.01, 1), **common))) >= 1
    fn = _program.chunk_for(Target(1.0), learning.discrete(1), 2, None, driver.n_devices_for(8))
    assert fn.program._cache_size() >= 1
    assert compiles_during(lambda: out.setdefault(  # new objects, equal: no new executable
        "b", evolve(Target(1.0), learning.discrete(1), params, learning.DiscreteHyper(3.0, 0.01, 1), **common))) == 0
    a, b = out["a"], out["b"]
    np.testing.assert_array_equal(a.traces["E"], b.traces["E"])
    c = evolve(Target(1.5), learning.discrete(1), params, learning.DiscreteHyper(3.0, 0.01, 1), **common)  # another system
    assert not a.diverged.any() and not c.diverged.any()
    assert not np.array_equal(a.traces["E"], c.traces["E"])


def test_another_length_chunk_or_record_spacing_compiles_nothing():
    """After a first evolve, the same system and map run for another number of iterations, with
    other chunks or another record spacing without a single XLA compilation (within a chunk
    capacity of 16 records), and a run split into chunks gives the same numbers as one chunk."""
    params = {"x": jnp.zeros((8, 3))}
    hyper = learning.DiscreteHyper(3.0, 0.01, 1)

    def run(n, **kw):
        return evolve(Target(0.7), learning.discrete(1), params, hyper, key=jax.random.key(5), n_iterations=n,
                      placement=ensemble.Placement(n_members=8), **kw)

    first = compiles_during(lambda: run(10))
    assert first >= 1  # the chunk, the initial state, the final measurement, ...
    runs = {}
    cases = [("20", 20, {}), ("40", 40, {}), ("160", 160, {}), ("20/5", 20, dict(record=ensemble.Record(every=5))),
             ("20/chunk 3", 21, dict(chunks=ensemble.Chunks(size=3))), ("20/2", 20, dict(chunks=ensemble.Chunks(size=10)))]
    for label, n, kw in cases:
        assert compiles_during(lambda: runs.__setitem__(label, run(n, **kw))) == 0, label
    np.testing.assert_array_equal(runs["20"].traces["E"], runs["20/2"].traces["E"])
    np.testing.assert_array_equal(runs["20"].traces["E"], runs["40"].traces["E"][:20])
    np.testing.assert_array_equal(runs["20"].traces["E"][4::5], runs["20/5"].traces["E"][1:])
    np.testing.assert_array_equal(runs["20"].traces["E"], runs["20/chunk 3"].traces["E"][:20])
    assert runs["20/5"].traces["E"].shape == (5, 8) and runs["160"].traces["E"].shape == (160, 8)
    assert compiles_during(lambda: run(400)) >= 1  # 40 records per chunk: the next capacity (64 records)


@pytest.mark.parametrize("kind", ["plain", "dataclass"])
def test_checkpoint_of_a_changed_system_is_refused(tmp_path, kind):
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class FrozenTarget:
        target: float

        def init_state(self, params, key):
            return ()

        def measure(self, params, state, key):
            return {"E": jnp.sum((params["x"] - self.target) ** 2)}, state

    make = Target if kind == "plain" else FrozenTarget
    common = dict(key=jax.random.key(0), n_iterations=20, record=ensemble.Record(every=2),
                  placement=ensemble.Placement(n_members=4))
    ck = str(tmp_path / "ck")
    params, hyper = {"x": jnp.zeros((4, 3))}, learning.DiscreteHyper(3.0, 0.03, 2)

    def stop(state, traces, info):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evolve(make(1.0), learning.discrete(2), params, hyper, checkpoint=ck, chunks=ensemble.Chunks(size=10, on_chunk=stop),
               **common)
    with pytest.raises(ValueError, match=r"different run \(what differs: the system "
                                         r"\(its attributes, code, or the globals its code reads\)\)"):
        evolve(make(5.0), learning.discrete(2), params, hyper, checkpoint=ensemble.Checkpointing(ck, resume=True),
               chunks=ensemble.Chunks(size=10), **common)
    evolve(make(1.0), learning.discrete(2), params, hyper, checkpoint=ensemble.Checkpointing(ck, resume=True),
           chunks=ensemble.Chunks(size=10), **common)  # the same system resumes
