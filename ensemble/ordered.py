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
    >>> [a.tolist() for a in ordered.combine_rows(jnp.eye(3), (jnp.array([1.0, 2.0, 3.0]),))]
    [[1.0, 2.0, 3.0]]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ROLL_FROM = 1024
""":func:`sum_last` sums an axis of this many entries or more by halving: zeros appended up to
:data:`PARTIALS` times a power of two, then the second half added to the first until
:data:`PARTIALS` partial sums remain, which are added in order. Still one fixed order whatever the
leading axes, vectorized within a member, and the compiled program grows with the logarithm of
the axis only. Shorter axes are one chain in index order."""
PARTIALS = 64
"""Partial sums left by the halving of :func:`sum_last` (from :data:`ROLL_FROM` entries)."""
UNROLL = 16
"""Rows per trip of the compiled loop of :func:`combine_rows`."""


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
    """Sum over the last axis in index order (from :data:`ROLL_FROM` entries: in a fixed tree,
    halving to :data:`PARTIALS` partial sums that are then added in order).

    Args:
        x: ``(..., J)`` with ``J >= 1``.

    Returns:
        ``(...)``.
    """
    J = x.shape[-1]
    if J >= ROLL_FROM:  # halve to PARTIALS partial sums, then add the partials in order
        width = PARTIALS << max(0, (-(-J // PARTIALS) - 1).bit_length())
        x = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (width - J,), x.dtype)], axis=-1)
        while width > PARTIALS:
            width //= 2
            x = x[..., :width] + x[..., width:]
        J = PARTIALS
    acc = x[..., 0]
    for j in range(1, J):
        acc = acc + x[..., j]
    return acc


def sum_first(x: jax.Array) -> jax.Array:
    """Sum over the first axis by halving: zero rows appended up to a power of two, then the
    second half added to the first until one row remains. One fixed order whatever the trailing
    axes, vectorized over the rows, and the compiled program grows with the logarithm of the axis.

    Args:
        x: ``(J, ...)`` with ``J >= 1``.

    Returns:
        ``(...)``.
    """
    J = x.shape[0]
    if J < 1:
        raise ValueError(f"sum_first: x must have at least one row, got shape {x.shape}")
    width = 1 << (J - 1).bit_length()
    x = jnp.concatenate([x, jnp.zeros((width - J,) + x.shape[1:], x.dtype)]) if width > J else x
    while width > 1:
        width //= 2
        x = x[:width] + x[width:]
    return x[0]


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


def combine_rows(M: jax.Array, xs, unroll: int = UNROLL) -> tuple:
    """``sum_j M[j] * x[j]`` for each ``x`` of ``xs`` (that is ``M.T @ x``, and ``M @ x`` for a
    symmetric ``M``), summed over ``j = 0..J-1`` in order, in one compiled loop over the rows of
    ``M``: each trip reads one row and updates every sum, and compile time does not depend on
    ``J``. Trailing axes (members, in a member-minor layout) broadcast. Bitwise the same as
    :func:`matvec` of ``M.T`` wherever XLA contracts both alike (each term is a multiply-add).

    Args:
        M: ``(J, I, ...)``.
        xs: a tuple of ``(J, ...)`` arrays.
        unroll: rows per trip of the loop.

    Returns:
        A tuple of ``(I, ...)`` arrays, one per ``x``.

    Raises:
        ValueError: a ``J`` axis differs from ``M``'s.
    """
    xs = tuple(xs)
    if M.ndim < 1 or M.shape[0] < 1:
        raise ValueError(f"combine_rows: M must have at least one row, got shape {M.shape}")
    for x in xs:
        if x.shape[0] != M.shape[0]:
            raise ValueError(f"combine_rows: M {M.shape} and x {x.shape} do not match")

    def trip(j, accs):
        row = jax.lax.dynamic_index_in_dim(M, j, 0, False)
        return tuple(a + row * jax.lax.dynamic_index_in_dim(x, j, 0, True) for a, x in zip(accs, xs))

    return jax.lax.fori_loop(1, M.shape[0], trip, tuple(M[0] * x[0:1] for x in xs), unroll=unroll)


__all__ = ["ROLL_FROM", "PARTIALS", "UNROLL", "rows_dot", "sum_last", "sum_first", "mean_last", "matvec", "combine_rows"]
