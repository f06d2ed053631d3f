"""The network of Sec. III.A against plain float64 loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import feedforward as ff
from ensemble import patterns


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_forward(params, X, dead=None):
    """Node by node, pattern by pattern (eq. 5), optionally with hidden node `dead` deleted."""
    Wh, Wo = np.asarray(params["hidden"]), np.asarray(params["output"])
    out = np.zeros((X.shape[0], Wo.shape[0]))
    for p in range(X.shape[0]):
        h = np.zeros(Wh.shape[0])
        for i in range(Wh.shape[0]):
            z = Wh[i, 0] * 1.0
            for j in range(X.shape[1]):
                z += Wh[i, j + 1] * X[p, j]
            h[i] = 0.0 if i == dead else sig(z)
        for i in range(Wo.shape[0]):
            z = Wo[i, 0] * 1.0
            for j in range(Wh.shape[0]):
                z += Wo[i, j + 1] * h[j]
            out[p, i] = sig(z)
    return out


def ref_error(params, X, Y, dead=None):
    out = ref_forward(params, X, dead)
    total = 0.0
    for p in range(X.shape[0]):
        for i in range(Y.shape[1]):
            total += (Y[p, i] - out[p, i]) ** 2
    return total / (X.shape[0] * Y.shape[1])


def random_params(rng, n_in, n_hidden, n_out, scale=2.0):
    return {
        "hidden": rng.uniform(-scale, scale, (n_hidden, n_in + 1)),
        "output": rng.uniform(-scale, scale, (n_out, n_hidden + 1)),
    }


@pytest.fixture(params=["vowels", "random"])
def problem(request, rng):
    if request.param == "vowels":
        X, Y = patterns.vowels()
        return random_params(rng, 35, 10, 5), X.astype(np.float64), Y.astype(np.float64)
    X = rng.integers(0, 2, (6, 8)).astype(np.float64)
    Y = rng.uniform(0, 1, (6, 3))
    return random_params(rng, 8, 4, 3), X, Y


def test_init_shapes_and_range():
    p = ff.init(jax.random.key(0), 35, 10, 5)
    assert p["hidden"].shape == (10, 36) and p["output"].shape == (5, 11)
    assert p["hidden"].dtype == jnp.float32
    for v in p.values():
        assert np.all(np.abs(np.asarray(v)) <= 0.1) and np.std(np.asarray(v)) > 0.03


def test_forward_matches_loops(problem):
    params, X, _ = problem
    np.testing.assert_allclose(np.asarray(ff.forward(params, X)), ref_forward(params, X), rtol=1e-12)


def test_error_eq6_matches_loops(problem):
    params, X, Y = problem
    np.testing.assert_allclose(float(ff.error(params, X, Y)), ref_error(params, X, Y), rtol=1e-12)


def test_damaged_errors_match_deleting_each_node(problem):
    params, X, Y = problem
    n_hidden = params["hidden"].shape[0]
    want = [ref_error(params, X, Y, dead=k) for k in range(n_hidden)]
    got = np.asarray(ff.damaged_errors(params, X, Y))
    assert got.shape == (n_hidden,)
    np.testing.assert_allclose(got, want, rtol=1e-11)


def test_robustness_eq7_matches_counting(problem):
    params, X, Y = problem
    n_hidden = params["hidden"].shape[0]
    Ek = [ref_error(params, X, Y, dead=k) for k in range(n_hidden)]
    for eps in [np.min(Ek) * 0.99, np.median(Ek), np.max(Ek) * 1.01, *np.random.default_rng(0).uniform(0, 0.5, 5)]:
        want = sum(1.0 for e in Ek if eps - e > 0) / n_hidden
        assert float(ff.robustness(params, X, Y, eps)) == pytest.approx(want, abs=1e-15)


def test_task_measure_agrees_with_contract_functions(problem):
    params, X, Y = problem
    eps = float(np.median(ff.damaged_errors(params, X, Y)))
    sig_, state = ff.Task(X, Y, eps).measure(params, (), jax.random.key(0))
    assert state == ()
    np.testing.assert_allclose(float(sig_["E"]), float(ff.error(params, X, Y)), rtol=1e-14)
    assert float(sig_["R"]) == float(ff.robustness(params, X, Y, eps))
    assert set(ff.Task(X, Y).measure(params, (), jax.random.key(0))[0]) == {"E"}


def test_correct_means_argmax_right_for_every_pattern(rng):
    X, Y = patterns.vowels()
    good = {"hidden": np.zeros((5, 36)), "output": np.zeros((5, 6))}
    good["hidden"][:, 1:] = 5 * (2 * X - 1)  # hidden node k detects pattern k
    good["hidden"][:, 0] = -5 * X.sum(1) + 2.5
    good["output"][:, 1:] = 10 * np.eye(5)
    good["output"][:, 0] = -5
    assert bool(ff.correct(good, X, Y))
    bad = {k: v.copy() for k, v in good.items()}
    bad["output"][:, 1:] = 10 * np.eye(5)[[1, 0, 2, 3, 4]]
    assert not bool(ff.correct(bad, X, Y))


def ref_backprop(params, X, Y, lr, n):
    """Gradient descent with hand-written derivatives of eq. (6)."""
    Wh, Wo = np.array(params["hidden"]), np.array(params["output"])
    P, n_out = Y.shape
    Es = []
    for _ in range(n):
        H = sig(X @ Wh[:, 1:].T + Wh[:, 0])
        O = sig(H @ Wo[:, 1:].T + Wo[:, 0])  # noqa: E741 - H, O: hidden and output activations, as in eq. (6)
        Es.append(np.mean((Y - O) ** 2))
        dO = -2 * (Y - O) / (P * n_out) * O * (1 - O)  # dE/d pre-activation of outputs
        gWo = np.concatenate([dO.sum(0)[:, None], dO.T @ H], axis=1)
        dH = (dO @ Wo[:, 1:]) * H * (1 - H)
        gWh = np.concatenate([dH.sum(0)[:, None], dH.T @ X], axis=1)
        Wh, Wo = Wh - lr * gWh, Wo - lr * gWo
    return {"hidden": Wh, "output": Wo}, np.array(Es)


def test_backprop_matches_handwritten_gradient_descent(rng):
    X, Y = patterns.vowels()
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    params = random_params(rng, 35, 10, 5, scale=0.1)
    got_p, got_E = ff.backprop(params, X, Y, learning_rate=2.0, n_iterations=25)
    want_p, want_E = ref_backprop(params, X, Y, 2.0, 25)
    np.testing.assert_allclose(np.asarray(got_E), want_E, rtol=1e-10)
    for k in want_p:
        np.testing.assert_allclose(np.asarray(got_p[k]), want_p[k], rtol=1e-9, atol=1e-12)
    assert got_E[-1] < got_E[0]


def test_bad_shapes_rejected():
    X, Y = patterns.vowels()
    p = ff.init(jax.random.key(0), 35, 10, 5)
    with pytest.raises(ValueError, match="^X must have shape"):
        ff.forward(p, X[:, :30])
    with pytest.raises(ValueError, match="^Y must have shape"):
        ff.error(p, X, Y[:, :4])
    with pytest.raises(ValueError, match=r'^params\["output"\] must have shape'):
        ff.forward({"hidden": p["hidden"], "output": p["output"][:, :5]}, X)
    with pytest.raises(ValueError, match="^params must be a dict"):
        ff.forward({"hidden": p["hidden"]}, X)
    with pytest.raises(ValueError, match="^eps must"):
        ff.robustness(p, X, Y, 0.0)
    with pytest.raises(ValueError, match="^n_hidden must"):
        ff.init(jax.random.key(0), 35, 0, 5)
    with pytest.raises(ValueError, match="^learning_rate must"):
        ff.backprop(p, X, Y, -1.0, 10)
