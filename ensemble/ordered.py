"""Sums in a fixed order, so a member's numbers do not depend on the ensemble size.

XLA's dot and reduce kernels choose tilings and vector widths from the whole batched shape, so
the same member can round differently alone and inside an ensemble of 64. Writing the small
contractions of one member as an explicit chain of elementwise multiply-adds fixes the order of
every floating-point operation, which makes results bitwise independent of the ensemble size
(and is as fast as the batched dots for these tiny matrices).

On a CPU the driver already runs a system's ``measure`` in fixed member blocks, which keeps a
member's bits for any code; these sums are for a system that lays out its members itself
(``measure_ensemble``) or runs on an accelerator, where the driver runs one program over all
members. The library's networks and oscillators use them. Each works on any leading axes and
sums the last (or the given) axis from index 0 upwards. Check a system with
:func:`ensemble.check_member_invariance`.

Examples:
    >>> import jax.numpy as jnp
    >>> from ensemble import ordered
    >>> x = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> ordered.sum_last(x).tolist()
    [6.0, 15.0]
    >>> ordered.mean_last(x, 2).tolist()
    3.5
    >>> ordered.rows_dot(x, jnp.ones((4, 3))).shape
    (2, 4)
    >>> ordered.matvec(jnp.eye(3), jnp.array([1.0, 2.0, 3.0])).tolist()
    [1.0, 2.0, 3.0]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rows_dot(A: jax.Array, W: jax.Array) -> jax.Array:
    """``A @ W.T``, summed over ``j = 0..J-1`` in order.

    Args:
        A: ``(P, J)``, e.g. one member's inputs for ``P`` patterns.
        W: ``(I, J)``, e.g. a weight matrix.

    Returns:
        ``(P, I)``.
    """
    acc = A[:, 0:1] * W[None, :, 0]
    for j in range(1, A.shape[-1]):
        acc = acc + A[:, j : j + 1] * W[None, :, j]
    return acc


def sum_last(x: jax.Array) -> jax.Array:
    """Sum over the last axis in index order.

    Args:
        x: ``(..., J)`` with ``J >= 1``.

    Returns:
        ``(...)``.
    """
    acc = x[..., 0]
    for j in range(1, x.shape[-1]):
        acc = acc + x[..., j]
    return acc


def mean_last(x: jax.Array, n_axes: int = 1) -> jax.Array:
    """Mean over the last ``n_axes`` axes, summed in row-major order.

    Args:
        x: an array with at least ``n_axes`` axes.
        n_axes: how many trailing axes to average over.

    Returns:
        ``x`` without its last ``n_axes`` axes.
    """
    lead = x.shape[: x.ndim - n_axes]
    flat = jnp.reshape(x, lead + (-1,))
    return sum_last(flat) / flat.shape[-1]


def matvec(W: jax.Array, x: jax.Array) -> jax.Array:
    """``W @ x``, summed over ``j = 0..J-1`` in order; trailing axes (members, in a member-minor
    layout) broadcast.

    Args:
        W: ``(I, J, ...)``.
        x: ``(J, ...)``.

    Returns:
        ``(I, ...)``.

    Raises:
        ValueError: the ``J`` axes differ.
    """
    if W.shape[1] != x.shape[0]:
        raise ValueError(f"matvec: W {W.shape} and x {x.shape} do not match")
    acc = W[:, 0] * x[0:1]
    for j in range(1, W.shape[1]):
        acc = acc + W[:, j] * x[j : j + 1]
    return acc


__all__ = ["rows_dot", "sum_last", "mean_last", "matvec"]
