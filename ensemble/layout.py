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

On a CPU a Kuramoto window's block depends on the oscillator count ``N``
(:meth:`Layout.window_block_for`): a block's weights, ``N^2`` floats per member, are read at every
Euler step of the window, and the step runs fastest while they stay in the core's caches.
:data:`CPU` therefore takes 256 members per block below 7 oscillators, 128 from 7 to 11, 64
(:data:`ensemble.kuramoto_window.LANES`) from 12, 32 from 32 (where the window's sums become
compiled loops, :data:`ensemble.kuramoto_model.ROLLED_FROM`), 16 from 64, and from 350 one
member at a time, vectorized over its oscillators instead of over members. The thresholds come
from timing blocks of 1 to 256 members at N = 5 to 1,000 (``python -m benchmarks.kuramoto_sizes``;
the numbers are in ``benchmarks/kuramoto_sizes_cpu.json`` and ``benchmarks/README.md``); no block
changes a result.
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
        window_block: members per block of a Kuramoto window (1: one member at a time,
            vectorized over its oscillators; otherwise the members share SIMD vectors, and the
            block is best a power of two from :data:`ensemble.kuramoto_window.MIN_LANES` or a
            multiple of :data:`ensemble.kuramoto_window.LANES`, so that the padded ensemble is
            whole blocks): one number for every oscillator count, or a
            table by oscillator count, ``((N_0, block_0), (N_1, block_1), ...)`` with
            ``N_0 < N_1 < ...``, where a window of ``N`` oscillators takes the block of the last
            pair with ``N_k <= N`` (:meth:`window_block_for` reads either); None: the whole
            (padded) ensemble in one window.
        member_block: members per block of a system's ``measure`` and ``init_state`` (a system
            without its own ``measure_ensemble``): every block is the same compiled code, so a
            member's numbers do not depend on the ensemble size, member groups or devices, even
            where ``measure`` reduces (``jnp.mean``, ``@``). None: ``vmap`` over all members at
            once, and no such guarantee for a system whose ``measure`` reduces.
    """

    name: str
    block_members: int | None
    block_from: int | None
    window_block: int | tuple[tuple[int, int], ...] | None
    member_block: int | None = None

    def __post_init__(self):
        wb = self.window_block
        if wb is None or (isinstance(wb, int) and not isinstance(wb, bool) and wb >= 1):
            return
        ok = isinstance(wb, tuple) and len(wb) >= 1 and all(
            isinstance(p, tuple) and len(p) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in p)
            for p in wb) and all(a[0] < b[0] for a, b in zip(wb, wb[1:]))
        if not ok:
            raise ValueError("window_block must be None, a positive int, or a tuple of (N, block) pairs of positive ints "
                             f"with increasing N, got {wb!r}")

    def window_block_for(self, N: int) -> int | None:
        """Members per block of a Kuramoto window of ``N`` oscillators.

        Args:
            N: the oscillator count.

        Returns:
            ``window_block`` if it is a number or None (None: the whole ensemble in one window);
            for a table, the block of its last pair ``(N_k, block)`` with ``N_k <= N`` (the first
            pair's block below them all).

        Examples:
            >>> from ensemble import layout
            >>> [layout.CPU.window_block_for(N) for N in (5, 7, 10, 12, 40, 100, 1000)]
            [256, 128, 128, 64, 32, 16, 1]
            >>> layout.ACCELERATOR.window_block_for(100) is None
            True
        """
        wb = self.window_block
        if wb is None or isinstance(wb, int):
            return wb
        block = wb[0][1]
        for n_from, b in wb:
            if N >= n_from:
                block = b
        return block


CPU = Layout("cpu", block_members=256, block_from=2048, window_block=((1, 256), (7, 128), (12, 64), (32, 32), (64, 16), (350, 1)),
             member_block=16)
"""The CPU layout: cache blocks of 256 members from 2,048 members per device, Kuramoto windows in
blocks of 256 members below 7 oscillators, 128 from 7, 64 from 12, 32 from 32, 16 from 64 and
one member from 350 (a block's ``N^2`` weights per member stay near the core: see the module's
docstring), and a system's ``measure`` in blocks of 16 members (one AVX-512 vector of float32). The
block sizes were chosen by timing several sizes on CPUs (the numbers are in ``benchmarks/``, the
window's in ``benchmarks/kuramoto_sizes_cpu.json``); no block size changes a result."""
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
