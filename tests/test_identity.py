"""Everything a system's computation reads is part of its identity: a compiled chunk is reused,
and a checkpoint resumed, only for the same code, attributes and globals (arrays by content)."""

import os
import subprocess
import sys
import textwrap
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import _program
from ensemble import _describe, learning

HYPER = learning.DiscreteHyper(30.0, 0.0, 1)


def notebook(source: str) -> dict:
    """Run ``source`` as a notebook cell would (module ``__main__``, its own globals)."""
    ns = {"__name__": "__main__", "jnp": jnp, "np": np, "ensemble": ensemble}
    exec(textwrap.dedent(source), ns)
    return ns


def E0(system, n_members=2) -> float:
    run = ensemble.evolve(system, learning.discrete(1), {"x": jnp.zeros((n_members, 3))}, HYPER, key=jax.random.key(0),
                          n_iterations=2, placement=ensemble.Placement(n_members=n_members))
    return float(run.traces["E"][0, 0])


@pytest.mark.parametrize("change", [
    "T = 5 * jnp.ones(3)",                       # a rebound jax array
    "T = 5 * np.ones(3)",                        # a rebound numpy array
    "D['T'] = 5.0",                              # a global dict changed in place
    "A[:] = 5.0",                                # a numpy array changed in place
    "F = 5.0",                                   # a global float
    "F = 5.0\ndef loss(p):\n    return jnp.sum((p['x'] - target()) ** 2)",  # the def cell run again
])
@pytest.mark.slow
def test_a_changed_global_is_not_served_a_stale_program(change):
    ns = notebook("""
        T = jnp.ones(3)
        D = {"T": 1.0}
        A = np.ones(3)
        F = 1.0
        KIND = "T"
        def target():                 # read through a helper: followed into the functions it calls
            return {"T": T, "D": D["T"], "A": A, "F": F}[KIND]
        def loss(p):
            return jnp.sum((p["x"] - target()) ** 2)
    """)
    ns["KIND"] = change[0] if change[0] in "TDAF" else "T"
    assert E0(ensemble.from_loss(ns["loss"])) == 3.0
    exec(change, ns)
    assert E0(ensemble.from_loss(ns["loss"])) == 75.0
    exec(change, ns)  # the same values again: the same program is reused
    assert E0(ensemble.from_loss(ns["loss"])) == 75.0


@pytest.mark.slow
def test_user_module_attributes_and_class_attributes_are_read():
    cfg = types.ModuleType("user_cfg_for_test")
    cfg.T = 1.0
    sys.modules[cfg.__name__] = cfg
    try:
        ns = notebook("def loss(p):\n    return jnp.sum((p['x'] - cfg.T) ** 2)")
        ns["cfg"] = cfg
        assert E0(ensemble.from_loss(ns["loss"])) == 3.0
        cfg.T = 5.0
        assert E0(ensemble.from_loss(ns["loss"])) == 75.0
    finally:
        del sys.modules[cfg.__name__]

    class Pull:
        target = 1.0

        def init_state(self, params, key):
            return ()

        def measure(self, params, state, key):
            return {"E": jnp.sum((params["x"] - self.target) ** 2)}, state

    assert E0(Pull()) == 3.0
    Pull.target = 5.0
    assert E0(Pull()) == 75.0


def test_same_content_reuses_the_compiled_chunk():
    ns = notebook("T = jnp.ones(3)\ndef loss(p):\n    return jnp.sum((p['x'] - T) ** 2)")
    system = ensemble.from_loss(ns["loss"])
    before = _describe.digest(system)
    ns["T"] = jnp.ones(3)  # a new array, equal content
    assert _describe.digest(system) == before
    get = lambda: _program.chunk_for(ensemble.from_loss(ns["loss"]), learning.discrete(1), 1, None, 1).program  # noqa: E731
    assert get() is get()


@pytest.mark.slow
def test_what_cannot_be_fingerprinted_is_compiled_again_and_not_resumed(tmp_path):
    ns = notebook("""
        import threading
        LOCK = threading.Lock()      # no attributes, no repr but its address
        T = 1.0
        def loss(p):
            with LOCK:
                pass
            return jnp.sum((p["x"] - T) ** 2)
    """)
    system = ensemble.from_loss(ns["loss"])
    problems = _describe.identify(system, "system").problems
    assert problems and "global 'LOCK'" in problems[0] and "_thread.lock" in problems[0]
    with pytest.warns(RuntimeWarning, match="global 'LOCK'.*cannot be fingerprinted, so evolve compiles it again"):
        assert E0(system) == 3.0
    ns["T"] = 5.0  # a stale program would still give 3
    with pytest.warns(RuntimeWarning, match="compiles it again"):
        assert E0(system) == 75.0
    common = dict(key=jax.random.key(0), n_iterations=4, placement=ensemble.Placement(n_members=2))
    ck = ensemble.Checkpointing(str(tmp_path / "ck"))
    params = {"x": jnp.zeros((2, 3))}
    with pytest.warns(RuntimeWarning):
        ensemble.evolve(system, learning.discrete(1), params, HYPER, checkpoint=ck, **common)
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match=r"cannot resume .*global 'LOCK'"
                                                                         r".*__ensemble_fingerprint__"):
        ensemble.evolve(system, learning.discrete(1), params, HYPER,
                        checkpoint=ensemble.Checkpointing(ck.path, resume=True), **common)

    class Declared:  # the user's promise: this is version 1 of the system
        __ensemble_fingerprint__ = "pull-to-T, version 1"

        def init_state(self, params, key):
            return ()

        def measure(self, params, state, key):
            return system.measure(params, state, key)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensemble.evolve(Declared(), learning.discrete(1), params, HYPER, checkpoint=str(tmp_path / "d"), **common)
        ensemble.evolve(Declared(), learning.discrete(1), params, HYPER,
                        checkpoint=ensemble.Checkpointing(str(tmp_path / "d"), resume=True), **{**common, "n_iterations": 6})


CHILD = """
import sys, jax, jax.numpy as jnp, numpy as np, ensemble
from ensemble import learning
T = float(sys.argv[2]) * np.ones(3)           # the data set, a global of the script
def loss(p):
    return jnp.sum((p["x"] - T) ** 2)
run = ensemble.evolve(ensemble.from_loss(loss), learning.discrete(1), {"x": jnp.zeros((2, 3))},
                      learning.DiscreteHyper(30.0, 0.01, 1), key=jax.random.key(0), n_iterations=int(sys.argv[3]),
                      n_members=2, chunk=10, checkpoint=sys.argv[1], resume=True)
np.save(sys.argv[1] + ".E.npy", run.traces["E"])
"""


@pytest.mark.slow
def test_resume_in_a_new_process_with_a_changed_global_is_refused(tmp_path):
    """A checkpoint written with the data at 1 is refused when resumed with the data at 5, and
    resumes (bitwise as one uninterrupted run) when the data are the same."""
    env = {**os.environ, "XLA_FLAGS": ""}

    def child(path, value, n):
        return subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / path), str(value), str(n)],
                              env=env, capture_output=True, text=True, timeout=300)

    assert child("ck", 1, 20).returncode == 0
    changed = child("ck", 5, 40)
    assert changed.returncode != 0
    assert "belongs to a different run (what differs: the system (its attributes, code, or the globals its code reads))" \
        in changed.stderr
    assert child("ck", 1, 40).returncode == 0
    assert child("whole", 1, 40).returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "ck.E.npy"), np.load(tmp_path / "whole.E.npy"))


def test_the_library_systems_and_maps_are_fingerprinted_whole():
    from ensemble import feedforward as ff, kuramoto as ku, patterns

    X, Y = patterns.vowels()
    objects = [ff.Task(X, Y), ku.Oscillators(jnp.asarray(ku.default_omega()), 0.05, 20.0),
               ku.ContinuousOscillators(jnp.asarray(ku.default_omega()), 0.05, 20.0), learning.discrete(5),
               learning.biparametric(2), ku.weight_control(learning.discrete(1)), ku.continuous_weight_control(3),
               learning.masked(learning.discrete(1), {"x": False})]
    for obj in objects:
        assert _describe.identify(obj).problems == (), obj
    assert _describe.digest(learning.discrete(5)) == _describe.digest(learning.discrete(5))
    assert _describe.digest(learning.discrete(5)) != _describe.digest(learning.discrete(4))


def test_what_library_objects_are_set_to_counts():
    import optax

    d = _describe.digest
    assert d(optax.sgd(0.1)) != d(optax.sgd(0.5)) and d(optax.sgd(0.1)) == d(optax.sgd(0.1))
    assert d(optax.constant_schedule(1.0)) != d(optax.constant_schedule(10.0))
    assert d(jax.nn.initializers.normal(0.1)) != d(jax.nn.initializers.normal(1.0))
    assert d(np.vectorize(lambda x: x)) != d(np.vectorize(lambda x: 2 * x))
    assert d([1].append) != d([2].append) and d(np.arange(3.0).mean) != d(np.arange(4.0).mean)

    def with_rule(k):
        @jax.custom_jvp
        def f(x):
            return x

        f.defjvp(lambda p, t: (p[0], k * t[0]))
        return f

    assert d(with_rule(1.0)) != d(with_rule(2.0))


def test_modules_slots_hooks_cycles_and_attribute_names():
    sub = types.ModuleType("user_pkg_for_test.sub")
    pkg = types.ModuleType("user_pkg_for_test")
    pkg.sub, sub.C = sub, 1.0
    exec("def g(x):\n    return C * x", sub.__dict__)  # a function of the submodule, reading its global C
    sys.modules[pkg.__name__], sys.modules[sub.__name__] = pkg, sub
    try:
        ns = notebook("def f(x):\n    return pkg.sub.g(x)")
        ns["pkg"] = pkg
        before = _describe.digest(ns["f"])
        sub.C = 10.0  # read through a submodule's function
        assert _describe.digest(ns["f"]) != before
    finally:
        del sys.modules[pkg.__name__], sys.modules[sub.__name__]

    class A:
        __slots__ = ("a",)

    class B(A):
        __slots__ = ("b",)

        def __init__(self, a, b):
            self.a, self.b = a, b

    assert _describe.digest(B(1, 2)) != _describe.digest(B(99, 2))  # a slot of the base class

    class Scaled:
        __ensemble_fingerprint__ = "scaled-v1"  # vouches for the class's code; the instance is still read

        def __init__(self, s):
            self.s = s

    assert _describe.digest(Scaled(1.0)) != _describe.digest(Scaled(10.0))
    one, two = (lambda p: p), (lambda p: 2 * p)
    one.__ensemble_fingerprint__ = two.__ensemble_fingerprint__ = "mine-v1"  # on the object itself: it stands for all of it
    assert _describe.digest(one) == _describe.digest(two)
    two.__ensemble_fingerprint__ = "mine-v2"
    assert _describe.digest(one) != _describe.digest(two)
    a, b = [], []
    a.append(a), b.append([b])  # a points to itself, b's child to its parent
    assert _describe.digest(a) != _describe.digest(b)
    peers = [types.SimpleNamespace() for _ in range(30)]
    for p in peers:
        p.peers = list(peers)  # every object reachable along many paths: walked once each
    import time

    t = time.perf_counter()
    _describe.digest(peers)
    assert time.perf_counter() - t < 2.0
    ns = notebook("T = 1.0\ndef f(p):\n    return p.T")  # .T is an attribute, not the global T
    before = _describe.digest(ns["f"])
    ns["T"] = 2.0
    assert _describe.digest(ns["f"]) == before
    import io
    import random

    assert _describe.identify(io.StringIO("x")).problems and _describe.identify(random.Random(0)).problems


@pytest.mark.slow
def test_a_prng_key_read_by_a_loss_and_the_same_digest_in_another_process():
    ns = notebook("import jax\nKEY = jax.random.key(5)\n"
                  "def loss(p):\n    return jnp.sum((p['x'] - jax.random.normal(KEY, (3,))) ** 2)")
    run = ensemble.evolve(ensemble.from_loss(ns["loss"]), learning.discrete(1), ensemble.replicate({"x": jnp.zeros(3)}, 2),
                          HYPER, key=0, n_iterations=2)
    assert np.isfinite(run.traces["E"]).all()
    code = ("import numpy as np, jax\nfrom ensemble import _describe\n"
            "print(_describe.digest({'s': {'b', 'a', 'c'}, 'o': np.array([1, 'x', None], dtype=object), "
            "'k': jax.random.key(3), 'f': np.float32(0.5)}))")
    digests = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed, "XLA_FLAGS": ""},
                              capture_output=True, text=True, timeout=120).stdout for seed in ("1", "2", "3")}
    assert len(digests) == 1 and len(digests.pop().strip()) == 64


def test_run_final_refuses_a_system_that_changed_since():
    ns = notebook("T = 1.0\ndef loss(p):\n    return jnp.sum((p['x'] - T) ** 2)")
    run = ensemble.evolve(ensemble.from_loss(ns["loss"]), learning.discrete(1), ensemble.replicate({"x": jnp.zeros(3)}, 2),
                          HYPER, key=0, n_iterations=2)
    assert run.final["E"].shape == (2,)
    ns["T"] = 5.0
    with pytest.raises(ValueError, match="^the system changed since this run"):
        run.final


def test_a_docstring_is_not_part_of_the_identity_but_a_string_constant_is():
    """Editing a function's docstring changes nothing it computes: same identity (no recompile,
    checkpoints still resume). A string the code uses is part of it."""
    digest = lambda ns: _describe.identify(ns["loss"], "system").digest  # noqa: E731
    plain = notebook('def loss(p):\n    """E of one member."""\n    return jnp.sum(p["x"] ** 2)')
    edited = notebook('def loss(p):\n    """The error E of one member, a longer text."""\n    return jnp.sum(p["x"] ** 2)')
    other_code = notebook('def loss(p):\n    """E of one member."""\n    return jnp.sum(p["x"] ** 3)')
    assert digest(plain) == digest(edited)
    assert digest(other_code) != digest(plain)
    key_a = notebook('def loss(p):\n    return jnp.sum(p["a"] ** 2)')
    key_b = notebook('def loss(p):\n    return jnp.sum(p["b"] ** 2)')
    assert digest(key_a) != digest(key_b)
    inner_a = notebook('def loss(p):\n    def f(x):\n        """one"""\n        return x ** 2\n    return jnp.sum(f(p["x"]))')
    inner_b = notebook('def loss(p):\n    def f(x):\n        """two"""\n        return x ** 2\n    return jnp.sum(f(p["x"]))')
    inner_c = notebook('def loss(p):\n    def f(x):\n        """one"""\n        return x ** 3\n    return jnp.sum(f(p["x"]))')
    assert digest(inner_a) == digest(inner_b) != digest(inner_c)  # a docstring inside a function too
    lit_a = notebook('def loss(p):\n    def f(x):\n        return p["a"]\n    return jnp.sum(f(p) ** 2)')
    lit_b = notebook('def loss(p):\n    def f(x):\n        return p["b"]\n    return jnp.sum(f(p) ** 2)')
    assert digest(lit_a) != digest(lit_b)  # an inner function's first constant, a string, is not a docstring


def test_a_repeated_call_traces_nothing_again_and_a_changed_system_is_checked_again():
    """The shape work (the contract check, the memory estimate) is kept per system identity and
    shapes, like the compiled chunk: a second equal call runs no Python of the system's methods."""
    traced = []

    class Counting:
        target = 1.0

        def init_state(self, params, key):
            traced.append("init_state")
            return ()

        def measure(self, params, state, key):
            traced.append("measure")
            return {"E": jnp.sum((params["x"] - self.target) ** 2)}, state

    params = ensemble.replicate({"x": jnp.zeros(3)}, 4)
    run = lambda system: ensemble.evolve(system, learning.discrete(1), params, HYPER, key=0, n_iterations=2)  # noqa: E731
    run(Counting())
    assert traced.count("measure") >= 1
    traced.clear()
    first = run(Counting())
    assert traced == []
    changed = Counting()
    changed.target = 5.0  # another identity: checked and compiled again
    second = run(changed)
    assert traced.count("measure") >= 1
    assert float(first.traces["E"][0, 0]) == 3.0 and float(second.traces["E"][0, 0]) == 75.0
