"""Property-based tests of the public boundary (hypothesis).

Whatever the hyperparameters and shapes: either a ValueError naming an
argument, or finite results; and a diverging member never leaks into others.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ensemble
from ensemble import evolve, feedforward as ff, learning

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e3, max_value=1e3),
    st.integers(min_value=-5, max_value=5),
)
NAMES = ("w", "w_delayed", "E", "E_delayed", "tau", "S")


@FUZZ
@given(E=anything, Ed=anything, tau=anything, S=anything, n=st.integers(1, 6), bad_w=st.booleans())
def test_discrete_step_valueerror_or_finite(E, Ed, tau, S, n, bad_w):
    w = {"a": np.linspace(-1, 1, n)}
    if bad_w:
        w["a"][0] = np.nan
    try:
        out = learning.discrete_step(w, {"a": np.zeros(n)}, E, Ed, tau, S, jax.random.key(0))
    except ValueError as exc:
        assert str(exc).split(" ")[0] in NAMES
        return
    finite = all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(out))
    assert finite or abs(E - Ed) / tau > 1e300 or S * E > 1e300  # only float overflow may give inf


@FUZZ
@given(n_in=st.integers(-1, 6), n_hidden=st.integers(-1, 6), n_out=st.integers(-1, 4), P=st.integers(0, 4),
       x_cols=st.integers(0, 7))
@pytest.mark.slow
def test_feedforward_shapes_valueerror_or_right_shape(n_in, n_hidden, n_out, P, x_cols):
    try:
        params = ff.init(jax.random.key(0), n_in, n_hidden, n_out)
    except ValueError as exc:
        assert str(exc).split(" ")[0] in ("n_in", "n_hidden", "n_out")
        return
    X = np.ones((P, x_cols))
    Y = np.zeros((P, n_out))
    try:
        out = ff.forward(params, X)
        Ek = ff.damaged_errors(params, X, Y)
    except ValueError as exc:
        assert str(exc).split(" ")[0] in ("X", "Y")
        assert x_cols != n_in or P == 0
        return
    assert out.shape == (P, n_out) and Ek.shape == (n_hidden,)


class Quadratic(NamedTuple):
    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": jnp.mean(params["w"] ** 2)}, state


@SLOW_FUZZ
@given(
    tau=st.lists(st.floats(1e-4, 1e3), min_size=4, max_size=4),
    S=st.lists(st.one_of(st.floats(0, 2), st.floats(1e10, 1e38)), min_size=4, max_size=4),
    m=st.integers(1, 3),
)
@pytest.mark.filterwarnings("ignore:.*members diverged:RuntimeWarning")  # diverging on purpose
@pytest.mark.slow
def test_no_nan_leaks_from_diverged_members(tau, S, m):
    """Members with huge noise or tiny tau blow up; the others are exactly what they are alone."""
    w = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)}
    common = dict(key=jax.random.key(0), n_iterations=12, record_every=3)
    run = evolve(Quadratic(), learning.discrete(3), w, learning.DiscreteHyper(np.array(tau), np.array(S), m), **common)
    assert np.all(np.isfinite(np.asarray(run.params["w"])))
    assert np.all(run.diverged[np.array(S) >= 1e10])  # the explosive members were caught
    ok = np.flatnonzero(~run.diverged)
    assert np.all(np.isfinite(run.traces["E"][:, ok]))
    for i in ok[:1]:
        alone = evolve(Quadratic(), learning.discrete(3), {"w": w["w"][i : i + 1]},
                       learning.DiscreteHyper(tau[i], S[i], m), placement=ensemble.Placement(members=[i]), **common)
        np.testing.assert_array_equal(alone.traces["E"][:, 0], run.traces["E"][:, i])


@FUZZ
@given(tau=anything, S=anything, m=st.one_of(st.integers(-2, 6), st.floats(0.5, 2.5)), B=st.integers(1, 5),
       tau_len=st.integers(0, 6))
def test_evolve_hyper_valueerror_names_argument(tau, S, m, B, tau_len):
    tau_arg = np.full(tau_len, tau) if tau_len else tau
    w = {"w": np.zeros((B, 2), np.float32)}
    try:
        learning.discrete(3).check(learning.DiscreteHyper(tau_arg, S, m))
        from ensemble.driver import broadcast_hyper

        broadcast_hyper(learning.DiscreteHyper(tau_arg, S, m), B)
    except ValueError as exc:
        assert str(exc).split(" ")[0] in ("tau", "S", "m", "hyper.tau")
        return
    assert np.all(np.asarray(tau) > 0) and np.asarray(S) >= 0 and float(m) == int(m) and 1 <= m <= 3
    assert evolve is not None and w["w"].shape[0] == B


@pytest.mark.parametrize("bad", [np.float32(np.nan), np.inf])
def test_nan_or_inf_initial_weights_refused(bad):
    w = {"w": np.array([[0.0, bad]], np.float32)}
    with pytest.raises(ValueError, match="^params must be finite"):
        evolve(Quadratic(), learning.discrete(1), w, learning.DiscreteHyper(1.0, 0.1, 1), key=jax.random.key(0), n_iterations=1)


def test_integer_params_refused():
    with pytest.raises(ValueError, match="^params must be floating point"):
        evolve(Quadratic(), learning.discrete(1), {"w": np.zeros((2, 3), np.int32)}, learning.DiscreteHyper(1.0, 0.1, 1),
               key=jax.random.key(0), n_iterations=1)
