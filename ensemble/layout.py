"""How an ensemble is laid out on the hardware, one policy per platform.

A CPU core has a small cache and one program at a time: the ensemble runs best in *cache
blocks*, a few hundred members that run a whole chunk (the driver) or a whole Kuramoto window
(:meth:`ensemble.kuramoto.Oscillators.measure_ensemble`) before the next block starts, so their
weights and delay buffers stay in cache. A GPU (or TPU) is the opposite: thousands of threads
want one program over *all* members at once, and a ``lax.map`` over blocks of 256 would run
256-member programs one after the other, far too small to fill it.

:func:`current` gives the layout of the platform JAX computes on (``jax.default_backend()``);
:func:`for_platform` the layout of any platform name; :func:`use` forces one (tests and
benchmarks run the accelerator layout on a CPU to check it and to time it). Members are
independent and every Kuramoto window runs on whole SIMD lanes in both layouts
(:func:`ensemble.kuramoto_window.padded_members`), so on one machine the layouts give the same
numbers bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Iterator

import jax


@dataclasses.dataclass(frozen=True)
class Layout:
    """A layout policy: how the members are cut into blocks on one platform (:data:`CPU`,
    :data:`ACCELERATOR`).

    Attributes:
        name: ``"cpu"`` or ``"accelerator"``.
        block_members: target members per driver cache block (the block is the divisor of the
            members per device closest to it, between half and twice it); None: no blocks, one
            program over all members.
        block_from: fewest members per device that are run in cache blocks.
        window_block: members per block of a Kuramoto window (a multiple of
            :data:`ensemble.kuramoto_window.LANES`); None: the whole (padded) ensemble in one window.
        member_block: members per block of a system's ``measure`` and ``init_state`` (a system
            without its own ``measure_ensemble``): every block is the same compiled code, so a
            member's numbers do not depend on the ensemble size, member groups or devices, even
            where ``measure`` reduces (``jnp.mean``, ``@``). None: ``vmap`` over all members at
            once, and no such guarantee for a system whose ``measure`` reduces.
    """

    name: str
    block_members: int | None
    block_from: int | None
    window_block: int | None
    member_block: int | None = None


CPU = Layout("cpu", block_members=256, block_from=2048, window_block=256, member_block=16)
"""The CPU layout: cache blocks of 256 members from 2,048 members per device, Kuramoto windows in
blocks of 256 members, and a system's ``measure`` in blocks of 16 members (one AVX-512 vector of
float32). The block sizes were chosen by timing several sizes on CPUs (the numbers are in
``benchmarks/``); no block size changes a result."""
ACCELERATOR = Layout("accelerator", block_members=None, block_from=None, window_block=None, member_block=None)
"""The accelerator layout (GPU, TPU): no blocks, one vectorized program over all members."""

_FORCED: list[Layout] = []


def for_platform(platform: str) -> Layout:
    """The layout of a platform name.

    Args:
        platform: ``"cpu"`` gives :data:`CPU`; ``"gpu"``, ``"cuda"``, ``"rocm"``, ``"tpu"``,
            ``"METAL"`` (any other name) give :data:`ACCELERATOR`.

    Returns:
        A :class:`Layout`.

    Raises:
        ValueError: ``platform`` is not a non-empty string.
    """
    if not isinstance(platform, str) or not platform:
        raise ValueError(f"platform must be a platform name such as 'cpu' or 'gpu', got {platform!r}")
    return CPU if platform.lower() == "cpu" else ACCELERATOR


def _named(layout: Layout | str) -> Layout:
    if isinstance(layout, Layout):
        return layout
    if layout in ("cpu", "accelerator"):
        return CPU if layout == "cpu" else ACCELERATOR
    raise ValueError(f"layout must be a Layout, 'cpu' or 'accelerator', got {layout!r}")


def current() -> Layout:
    """The layout in force: the innermost :func:`use`, else ``ENSEMBLE_LAYOUT`` (``cpu`` or
    ``accelerator``), else that of ``jax.default_backend()``."""
    if _FORCED:
        return _FORCED[-1]
    env = os.environ.get("ENSEMBLE_LAYOUT", "").strip()
    if env:
        try:
            return _named(env)
        except ValueError:
            raise ValueError(f"ENSEMBLE_LAYOUT must be 'cpu' or 'accelerator', got {env!r}") from None
    return for_platform(jax.default_backend())


@contextlib.contextmanager
def use(layout: Layout | str) -> Iterator[Layout]:
    """Force a layout inside a ``with`` block (chunks compiled there are cached under it).

    Args:
        layout: a :class:`Layout`, ``"cpu"`` or ``"accelerator"``.

    Example::

        with ensemble.layout.use("accelerator"):
            run = ensemble.evolve(...)   # no cache blocks, even on a CPU
    """
    lay = _named(layout)
    _FORCED.append(lay)
    try:
        yield lay
    finally:
        _FORCED.pop()


def block_size(n_members: int, n_devices: int, layout: Layout | None = None) -> int | None:
    """Driver cache-block size for ``n_members`` members on ``n_devices`` devices.

    Args:
        n_members: the ensemble size ``B``.
        n_devices: local devices the members are sharded over.
        layout: the layout (default: :func:`current`).

    Returns:
        The divisor of the members per device closest to ``layout.block_members`` (between half
        and twice it), or None: no blocks (fewer than ``block_from`` members per device, no
        such divisor, or a layout without blocks).
    """
    lay = current() if layout is None else layout
    if lay.block_members is None or n_members % n_devices:
        return None
    local = n_members // n_devices
    if local < lay.block_from:
        return None
    lo, hi = max(1, lay.block_members // 2), 2 * lay.block_members
    divisors = [b for b in range(lo, hi + 1) if local % b == 0]
    return min(divisors, key=lambda b: (abs(b - lay.block_members), b)) if divisors else None


__all__ = ["Layout", "CPU", "ACCELERATOR", "for_platform", "current", "use", "block_size"]
