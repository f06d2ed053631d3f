"""The three-layer feed-forward network of the paper (Sec. III.A).

Parameters are a dict ``{"hidden": (N2, N1 + 1), "output": (N3, N2 + 1)}``;
column 0 of each matrix holds the threshold weights (the threshold node is
always 1). Node update: ``x_i = f(sum_j w_ij x_j + w_i0)`` with the logistic
``f(z) = 1 / (1 + exp(-z))`` [our reconstruction: the paper's f was lost].

All functions take one member's parameters; ``vmap`` them for an ensemble.
:class:`Task` is the network as a system for :func:`ensemble.evolve`. Every pattern and every
single-node damage is evaluated at once (no Python loops), so robustness costs one extra
``(N2, P, N3)`` tensor per iteration.

Reconstruction choices (ours): error (6) is the mean over patterns and
outputs of the squared difference; deleting hidden node k sets its output to 0
for every pattern; ``Theta(eps - E_k)`` counts a damaged network as
functional when ``E_k < eps`` (strictly).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _checks
from .ordered import mean_last, rows_dot

Params = dict[str, jax.Array]


def init(key: jax.Array, n_in: int, n_hidden: int, n_out: int, *, scale: float = 0.1, dtype=jnp.float32) -> Params:
    """One member's initial weights, drawn uniformly in ``[-scale, scale]``.

    Args:
        key: PRNG key.
        n_in: input nodes ``N1`` (35 for the 5x7 bitmaps).
        n_hidden: hidden nodes ``N2``.
        n_out: output nodes ``N3``.
        scale: half-width of the uniform distribution (default 0.1, our choice).
        dtype: the weights' dtype.

    Returns:
        ``{"hidden": (n_hidden, n_in + 1), "output": (n_out, n_hidden + 1)}``; column 0 holds the
        threshold weights.
    """
    for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        _checks.integer_at_least(name, v, 1)
    _checks.nonnegative("scale", scale)
    kh, ko = jax.random.split(key)
    return {
        "hidden": jax.random.uniform(kh, (n_hidden, n_in + 1), dtype, -scale, scale),
        "output": jax.random.uniform(ko, (n_out, n_hidden + 1), dtype, -scale, scale),
    }


def logistic(z: jax.Array) -> jax.Array:
    """The node function ``f(z) = 1 / (1 + exp(-z))``, elementwise.

    Args:
        z: a node's input, any array.
    """
    return jax.nn.sigmoid(z)


def _check(params: Params, X, Y=None) -> None:
    if not isinstance(params, dict) or set(params) != {"hidden", "output"}:
        raise ValueError('params must be a dict with keys "hidden" and "output"')
    h, o = params["hidden"], params["output"]
    if jnp.ndim(h) != 2 or jnp.ndim(o) != 2:
        raise ValueError(f"params must hold 2-d matrices, got hidden {jnp.shape(h)} and output {jnp.shape(o)}")
    n_hidden, n_in1 = jnp.shape(h)
    _checks.shape('params["output"]', o, (None, n_hidden + 1), " (n_out, n_hidden + 1)")
    _checks.shape("X", X, (None, n_in1 - 1), " (P, n_in)")
    if jnp.shape(X)[0] < 1:
        raise ValueError("X must hold at least one pattern (P >= 1), got shape " + str(tuple(jnp.shape(X))))
    if Y is not None:
        _checks.shape("Y", Y, (jnp.shape(X)[0], jnp.shape(o)[0]), " (P, n_out)")


def _hidden(params: Params, X: jax.Array) -> jax.Array:
    h = params["hidden"]
    return logistic(rows_dot(X, h[:, 1:]) + h[None, :, 0])


def _output_preactivation(params: Params, H: jax.Array) -> jax.Array:
    o = params["output"]
    return rows_dot(H, o[:, 1:]) + o[None, :, 0]


def forward(params: Params, X: jax.Array) -> jax.Array:
    """Network outputs for every pattern.

    Args:
        params: one member's weights (:func:`init`).
        X: ``(P, N1)`` inputs.

    Returns:
        ``(P, N3)`` outputs, values in (0, 1).
    """
    _check(params, X)
    return logistic(_output_preactivation(params, _hidden(params, X)))


def error(params: Params, X: jax.Array, Y: jax.Array) -> jax.Array:
    """Eq. (6), the error: ``E = mean_{p,i} (Y_pi - x_i^(3,p))^2`` over patterns and outputs.

    Args:
        params: one member's weights.
        X: ``(P, N1)`` inputs.
        Y: ``(P, N3)`` targets.

    Returns:
        ``E``, a scalar.
    """
    _check(params, X, Y)
    return mean_last((Y - forward(params, X)) ** 2, 2)


def _damaged_from(params: Params, H: jax.Array, pre: jax.Array, Y: jax.Array) -> jax.Array:
    # Deleting node k removes H[:, k] * w_ik from every output pre-activation.
    o = params["output"][:, 1:]  # (N3, N2)
    pre_k = pre[None, :, :] - H.T[:, :, None] * o.T[:, None, :]  # (N2, P, N3)
    return mean_last((Y[None] - logistic(pre_k)) ** 2, 2)


def damaged_errors(params: Params, X: jax.Array, Y: jax.Array) -> jax.Array:
    """The error ``E_k`` of the network damaged by deleting hidden node ``k`` (its output set to
    0), for every ``k``.

    Args:
        params: one member's weights.
        X: ``(P, N1)`` inputs.
        Y: ``(P, N3)`` targets.

    Returns:
        ``(N2,)`` errors, eq. (6) of each damaged network.
    """
    _check(params, X, Y)
    H = _hidden(params, X)
    return _damaged_from(params, H, _output_preactivation(params, H), Y)


def robustness(params: Params, X: jax.Array, Y: jax.Array, eps) -> jax.Array:
    """Eq. (7), the robustness: ``R = (1/N2) sum_k Theta(eps - E_k)``, the fraction of single
    hidden-node deletions after which the network is still functional (``E_k < eps``).

    Args:
        params: one member's weights.
        X: ``(P, N1)`` inputs.
        Y: ``(P, N3)`` targets.
        eps: the functionality threshold (> 0).

    Returns:
        ``R`` in ``[0, 1]``, a scalar.
    """
    _checks.positive("eps", eps)
    return mean_last((damaged_errors(params, X, Y) < eps).astype(jnp.result_type(params["output"])))


class Task(NamedTuple):
    """A classification task as a system for :func:`ensemble.evolve`.

    One processing interval presents every pattern once with fixed weights and
    measures ``E`` (eq. 6); with ``eps`` set it also measures ``R`` (eq. 7), for
    :func:`ensemble.learning.biparametric`. The network carries no state between intervals.
    The parameters are one member's :func:`init` weights; the network's sizes follow from them
    and from ``X`` and ``Y``.

    Attributes:
        X: ``(P, N1)`` inputs.
        Y: ``(P, N3)`` targets.
        eps: functionality threshold of eq. (7), or None (no ``R``).

    Examples:
        >>> import jax
        >>> from ensemble import feedforward as ff, patterns
        >>> X, Y = patterns.vowels()
        >>> task = ff.Task(X, Y, eps=0.1)
        >>> params = ff.init(jax.random.key(0), n_in=35, n_hidden=10, n_out=5)
        >>> params["hidden"].shape, params["output"].shape
        ((10, 36), (5, 11))
        >>> signals, state = jax.jit(task.measure)(params, task.init_state(params, None), None)
        >>> sorted(signals), signals["E"].shape, state
        (['E', 'R'], (), ())
    """

    X: Any
    Y: Any
    eps: Any = None

    def validate(self, params: Params) -> None:
        """Check one member's weights against ``X`` and ``Y`` (:class:`ValueError` naming what differs)."""
        _check(params, self.X, self.Y)
        if self.eps is not None:
            _checks.positive("eps", self.eps)

    def init_state(self, params: Params, key: jax.Array):
        """No carried state: ``()``."""
        return ()

    def measure(self, params: Params, state, key: jax.Array):
        """Every pattern once with fixed weights: ``({"E": E}, state)``, plus ``"R"`` with ``eps``."""
        X = jnp.asarray(self.X, params["hidden"].dtype)
        Y = jnp.asarray(self.Y, params["hidden"].dtype)
        H = _hidden(params, X)
        pre = _output_preactivation(params, H)
        E = mean_last((Y - logistic(pre)) ** 2, 2)
        out = {"E": E}
        if self.eps is not None:
            Ek = _damaged_from(params, H, pre, Y)
            out["R"] = mean_last((Ek < self.eps).astype(E.dtype))
        return out, state

    def measure_ensemble(self, params: Params, state, keys: jax.Array):
        """All members at once: ``vmap(measure)``. Every sum of :meth:`measure` runs in a fixed
        order (:mod:`ensemble.ordered`), so a member's numbers do not depend on the ensemble
        size without the driver's member blocks."""
        return jax.vmap(self.measure)(params, state, keys)


def correct(params: Params, X: jax.Array, Y: jax.Array) -> jax.Array:
    """Whether the network classifies every pattern right: the argmax output is the target class.

    Args:
        params: one member's weights.
        X: ``(P, N1)`` inputs.
        Y: ``(P, N3)`` one-hot targets.

    Returns:
        A scalar bool.
    """
    _check(params, X, Y)
    return jnp.all(jnp.argmax(forward(params, X), axis=-1) == jnp.argmax(Y, axis=-1))


def backprop(params: Params, X: jax.Array, Y: jax.Array, learning_rate: float, n_iterations: int):
    """Back-propagation baseline: plain gradient descent (``optax.sgd``) on eq. (6).

    Args:
        params: initial weights of one member (``vmap`` for an ensemble).
        X: ``(P, N1)`` inputs.
        Y: ``(P, N3)`` targets.
        learning_rate: the learning factor (> 0).
        n_iterations: gradient steps (>= 1).

    Returns:
        ``(params, E)`` with ``E`` of shape ``(n_iterations,)``: the error
        measured at each iteration before that iteration's update.
    """
    _check(params, X, Y)
    _checks.positive("learning_rate", learning_rate)
    _checks.integer_at_least("n_iterations", n_iterations, 1)
    opt = optax.sgd(learning_rate)
    X = jnp.asarray(X, params["hidden"].dtype)
    Y = jnp.asarray(Y, params["hidden"].dtype)
    loss = lambda p: mean_last((Y - logistic(_output_preactivation(p, _hidden(p, X)))) ** 2, 2)

    def body(carry, _):
        p, s = carry
        E, g = jax.value_and_grad(loss)(p)
        updates, s = opt.update(g, s, p)
        return (optax.apply_updates(p, updates), s), E

    (params, _), E = jax.lax.scan(body, (params, opt.init(params)), None, length=int(n_iterations))
    return params, E


__all__ = ["init", "logistic", "forward", "error", "damaged_errors", "robustness", "correct", "backprop", "Task"]
