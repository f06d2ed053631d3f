"""The Kuramoto window laid out member-minor: ``B`` members' windows of Euler steps as one
program, every operation of a step one contiguous vector over the members (or, in blocks of one
member, over its oscillators).

:func:`vectorized` is a ``lax.scan`` of the model's Euler steps (:func:`ensemble.kuramoto_model.integrate`)
on ``(N, B)`` phases and ``(N, N, B)`` weights, on a CPU in blocks of :func:`window_block` ``(N)`` members;
:func:`fused` is one Pallas kernel per block of members (:mod:`ensemble.kuramoto_fused`, for
GPUs). Both pad the member axis with inert members (zero weights and phases: computed, then
dropped), each by its own rule: :func:`padded_members` (whole SIMD lanes) for the vectorized
window, :func:`ensemble.kuramoto_fused.padded_to_blocks` (whole kernel blocks) for the fused one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from . import kuramoto_fused as kf
from . import layout as _layout
from .kuramoto_model import integrate, pair_index

WINDOW_BLOCK = max(block for _, block in _layout.CPU.window_block)
"""The most members per block in :func:`vectorized` on a CPU: the CPU layout's block at small
``N`` (:meth:`ensemble.layout.Layout.window_block_for`; :func:`window_block` gives the block of
an ``N`` in the layout in force).

A window runs block by block so that a block's weights (``N^2`` floats per member) stay in
cache over its ``round(T/dt)`` steps, so the block shrinks as ``N`` grows; the sizes were chosen
by timing several on CPUs (the numbers are in ``benchmarks/kuramoto_sizes_cpu.json``). A GPU runs
the whole ensemble in one window. Results do not depend on it."""
LANES = 64
"""The member-axis granule of a window: every compiled window of :data:`LANES` members or more
runs on a member axis that is a multiple of this many members (the ensemble is padded with inert members up to it; smaller ones
to a power of two of at least :data:`MIN_LANES`, see :func:`padded_members`). The member axis is the vectorized (minor)
one, so with no remainder every member goes through the same full-width SIMD loop body, whatever
the ensemble size and whatever the CPU's vector width (8 float32 lanes with AVX2, 16 with
AVX-512, times LLVM's interleave of up to 4). A remainder loop is compiled separately and LLVM
may contract its multiply-adds into FMAs differently, which rounded a member differently
depending on where it fell. 64 member-lanes cover 16 lanes x 4."""
MIN_LANES = 16
"""Fewest members a window computes (a member alone is padded to 16: 2 x 8 AVX2 lanes, 16
AVX-512 lanes)."""


def padded_members(B: int) -> int:
    """Members a window of ``B`` members computes (the rest are inert padding).

    The next power of two from :data:`MIN_LANES` up to :data:`LANES`, then whole multiples of
    :data:`LANES`. Any power-of-two SIMD loop (vector width x interleave <= 64 float32) then
    covers the member axis with no remainder, so every member is computed by the same full-width
    loop body.

    Args:
        B: the ensemble size (>= 1).

    Returns:
        The padded member count.

    Examples:
        >>> from ensemble import kuramoto_window as kw
        >>> [kw.padded_members(B) for B in (1, 17, 64, 65, 1000)]
        [16, 32, 64, 128, 1024]
    """
    _checks.integer_at_least("B", B, 1)
    B = int(B)
    if B >= LANES:
        return -(-B // LANES) * LANES
    return max(MIN_LANES, 1 << max(B - 1, 0).bit_length())


def window_block(N: int) -> int | None:
    """Members per block of a window of ``N`` oscillators in the layout in force
    (:meth:`ensemble.layout.Layout.window_block_for` of :func:`ensemble.layout.current`).

    Args:
        N: the oscillator count.

    Returns:
        The block (a multiple of :data:`LANES` in the CPU layout), or None: one window over the
        whole (padded) ensemble.
    """
    return _layout.current().window_block_for(int(N))


def pad_members(w: jax.Array, phases: jax.Array, Bp: int):
    """Pad the member axis with inert members (zero weights and phases: computed, then dropped).

    Args:
        w: ``(B, P)`` the members' weight vectors.
        phases: ``(B, N)`` their phases.
        Bp: the padded member count (>= ``B``).

    Returns:
        ``(w (Bp, P), phases (Bp, N))``.
    """
    B = w.shape[0]
    if Bp == B:
        return w, phases
    pad = lambda x: jnp.concatenate([x, jnp.zeros((Bp - B, x.shape[1]), x.dtype)])  # noqa: E731
    return pad(w), pad(phases)


def vectorized(w: jax.Array, phases: jax.Array, omega, dt, n_steps: int):
    """The window of ``B`` members, member axis minor, padded to :func:`padded_members` ``(B)``
    and run in blocks of :func:`window_block` ``(N)`` members (one block on a GPU). A block of
    one member (large ``N`` on a CPU) is not padded: it is vectorized over its oscillators.

    Args:
        w: ``(B, N(N-1)/2)`` the members' weights (their dtype is the window's).
        phases: ``(B, N)`` the phases at the start of the window.
        omega: ``(N,)`` natural frequencies.
        dt: Euler step.
        n_steps: Euler steps.

    Returns:
        ``(phases_end (N, B), rsum (B,))``: the phases after the window (not wrapped) and the
        sum of ``r`` after each step.
    """
    B, dtype = w.shape[0], w.dtype
    N = phases.shape[1]
    omega = jnp.asarray(omega, dtype)[:, None]
    index = pair_index(N)

    def window(w, phases):  # (b, P), (b, N) -> (N, b), (b,); b whole lanes (padded_members)
        padded = jnp.concatenate([w, jnp.zeros((w.shape[0], 1), dtype)], axis=-1)
        phi, rsum, _ = integrate(padded.T[index], omega, phases.T, dt, n_steps, False)
        return phi, rsum

    bs = window_block(N)
    Bp = B if bs == 1 else padded_members(B)  # a block of one member vectorizes over oscillators, not members
    wp, php = pad_members(w, phases.astype(dtype), Bp)
    bs = bs or Bp  # None: the whole ensemble in one window
    nb = Bp // bs if Bp > bs else 0
    parts = []
    if nb:  # whole blocks, one after the other (lax.map), then the rest (a multiple of LANES)
        blocks = (wp[: nb * bs].reshape(nb, bs, -1), php[: nb * bs].reshape(nb, bs, -1))
        phi, rsum = jax.lax.map(lambda a: window(*a), blocks)
        parts.append((jnp.moveaxis(phi, 0, 1).reshape(N, nb * bs), rsum.reshape(nb * bs)))
    if nb * bs < Bp:
        parts.append(window(wp[nb * bs :], php[nb * bs :]))
    return jnp.concatenate([p[0] for p in parts], axis=1)[:, :B], jnp.concatenate([p[1] for p in parts])[:B]


def fused(w: jax.Array, phases: jax.Array, omega, dt, n_steps: int):
    """:func:`vectorized`'s window as one Pallas kernel per block of members.

    :func:`ensemble.kuramoto_fused.window_on_platform`, padded to whole kernel blocks; compiled
    for a GPU, interpreted elsewhere (chosen per platform when lowered).

    Args:
        w: ``(B, N(N-1)/2)`` the members' weights (their dtype is the window's).
        phases: ``(B, N)`` the phases at the start of the window.
        omega: ``(N,)`` natural frequencies (made static: one compilation per set).
        dt: Euler step.
        n_steps: Euler steps.

    Returns:
        ``(phases_end (N, B), rsum (B,))``, as :func:`vectorized`.
    """
    B, dtype = w.shape[0], w.dtype
    wp, php = pad_members(w, phases.astype(dtype), kf.padded_to_blocks(B))
    phi, rsum = kf.window_on_platform(wp.T, php.T, omega=tuple(float(o) for o in np.asarray(omega)),
                                      dt=float(dt), n_steps=int(n_steps))
    return phi[:, :B], rsum[:B]


__all__ = ["WINDOW_BLOCK", "LANES", "MIN_LANES", "padded_members", "window_block", "pad_members", "vectorized", "fused"]
