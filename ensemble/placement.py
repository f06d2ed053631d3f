"""Where members run: devices, cache blocks, member groups that fit in memory, and processes.

An ensemble is a batch of independent members, so it can be split any way without changing a
bit: over the local devices (the member axis sharded, each device running the one-device
program on its own contiguous members), into cache blocks on a CPU, into groups run one after
the other when the whole ensemble does not fit in memory, and over processes or hosts
(:mod:`ensemble.hosts`).
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _cache, _checks
from . import layout as _layout
from .state import init_state

PyTree = Any

BLOCK_MEMBERS = _layout.CPU.block_members
"""Target members per cache block on a CPU (the CPU layout's ``block_members``,
:mod:`ensemble.layout`).

An ensemble with at least :data:`BLOCK_FROM` members per device runs each chunk block by block
(all iterations of the chunk for members 0-255, then 256-511, ...; on several devices each
device does so with its own members), so the block's parameters and delay buffers stay in
cache. The block is the divisor of the members per device closest to this, between half and
twice it (4,900 members: blocks of 245). Members are independent, so the results are the same
bit for bit. The value was chosen by timing block sizes on CPUs (the numbers are in
``benchmarks/``). A GPU runs one program over all members instead."""
BLOCK_FROM = _layout.CPU.block_from
"""Fewest members per device that are run in cache blocks on a CPU (fewer fit in cache as a whole)."""


def block_size(n_members: int, n_devices: int) -> int | None:
    """Cache-block size of the layout in force (:func:`ensemble.layout.block_size`).

    Args:
        n_members: the ensemble size ``B``.
        n_devices: local devices the members are sharded over.

    Returns:
        Members per block, or None (no blocks: one program over each device's members).
    """
    return _layout.block_size(n_members, n_devices)


def n_devices_for(n_members: int, devices: int | None = None) -> int:
    """How many local devices the member axis is sharded over.

    Args:
        n_members: the ensemble size ``B``.
        devices: the devices asked for (must divide ``B``), or None for the most local devices
            that divide ``B``.

    Returns:
        The device count.

    Raises:
        ValueError: ``devices`` is not in ``[1, local devices]`` or does not divide ``n_members``.
    """
    available = len(jax.local_devices())
    if devices is not None:
        _checks.integer_at_least("devices", devices, 1, available)
        if n_members % int(devices):
            raise ValueError(f"devices ({devices}) must divide the number of members ({n_members})")
        return int(devices)
    return max(d for d in range(1, available + 1) if n_members % d == 0)


def shard(tree: PyTree, n_members: int, devices: int | None) -> PyTree:
    """Place every leaf with a leading member axis on a 1-d mesh of devices; replicate the rest.

    Args:
        tree: any pytree of arrays.
        n_members: the length of the member axis ``B``.
        devices: devices to shard over (None: :func:`n_devices_for`).

    Returns:
        ``tree`` with every leaf placed.
    """
    n = n_devices_for(n_members, devices)
    mesh = Mesh(np.array(jax.local_devices()[:n]), ("members",))
    split, whole = NamedSharding(mesh, PartitionSpec("members")), NamedSharding(mesh, PartitionSpec())

    where = jax.tree_util.tree_map(lambda x: split if jnp.ndim(x) >= 1 and jnp.shape(x)[0] == n_members else whole, tree)
    return jax.device_put(tree, where)  # one call for every leaf


def host_view(tree: PyTree) -> PyTree:
    """``tree`` with every array that lives on one CPU device as a numpy array (a view where jax
    allows one). Placed on several devices, or cut, a numpy array is sliced on the host; a device
    array compiles a slicing program for each new shape (tens of milliseconds each in a first call).
    Arrays on other platforms, on several devices, and tracers are left as they are."""

    def view(x):
        if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer) and not jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            devices = x.devices()
            if len(devices) == 1 and next(iter(devices)).platform == "cpu":
                return np.asarray(x)
        return x

    return jax.tree_util.tree_map(view, tree)


MEMORY_FRACTION = 0.5
"""Share of a device's memory (host RAM for the CPU) that one group of members may fill."""


def memory_budget() -> int:
    """Bytes one group of members may fill: :data:`MEMORY_FRACTION` of the local devices' memory
    (host RAM for the CPU; 8 GiB where neither can be read)."""
    dev = jax.local_devices()[0]
    stats = None
    try:
        stats = dev.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = None
    if stats and stats.get("bytes_limit"):
        total = int(stats["bytes_limit"]) * len(jax.local_devices())
    else:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = 8 << 30
    return int(total * MEMORY_FRACTION)


def state_bytes_per_member(system, lmap, params: PyTree, ids: tuple | None = None) -> int:
    """Bytes of one member's carried state (params, delay buffers, system state; keys not
    counted), from shapes only.

    Args:
        system: the system.
        lmap: the learning map.
        params: stacked parameters (leading axis ``B``; only the first member is read).
        ids: the identities of ``system`` and ``lmap`` if already read (:mod:`ensemble._cache`).

    Returns:
        Bytes per member.
    """
    one = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct((1,) + jnp.shape(x)[1:], jnp.result_type(x)), params)

    def count() -> int:
        shapes = jax.eval_shape(lambda p: init_state(system, lmap, p, jax.random.key(0)), one)
        return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes)
                   if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key))

    return _cache.shape_work("state bytes", _cache.identities(system, lmap) if ids is None else ids, one, count)


def bytes_per_member(system, lmap, params: PyTree, n_records: int, ids: tuple | None = None) -> int:
    """Estimated device bytes of one member: its state (:func:`state_bytes_per_member`) held
    three times (input, output, temporaries) plus its traces.

    Args:
        system: the system.
        lmap: the learning map.
        params: stacked parameters (leading axis ``B``).
        n_records: records the run keeps.
        ids: the identities of ``system`` and ``lmap`` if already read.

    Returns:
        Bytes per member.
    """
    n_signals = max(1, len(lmap.reads)) + 2
    return 3 * state_bytes_per_member(system, lmap, params, ids) + 4 * n_signals * int(n_records)


def group_size(member_batch: int | None, B: int, system, lmap, params: PyTree, n_records: int,
               ids: tuple | None = None) -> int:
    """Members per group, as :func:`ensemble.evolve` chooses them.

    Args:
        member_batch: ``Placement.member_batch``, or None.
        B: the ensemble size.
        system: the system.
        lmap: the learning map.
        params: stacked parameters (leading axis ``B``).
        n_records: records the run keeps.
        ids: the identities of ``system`` and ``lmap`` if already read.

    Returns:
        ``member_batch`` (at most ``B``), else all ``B`` when they fit in :data:`MEMORY_FRACTION`
        of the device memory (:func:`bytes_per_member`), else the most that fit.
    """
    if member_batch is not None:
        return min(int(member_batch), B)
    per = bytes_per_member(system, lmap, params, n_records, ids)
    fits = max(1, memory_budget() // max(per, 1))
    return B if fits >= B else int(fits)


def member_slice(tree: PyTree, lo: int, hi: int, B: int) -> PyTree:
    """Members ``[lo, hi)`` of every leaf with a leading member axis ``B`` (other leaves as they are)."""
    return jax.tree_util.tree_map(lambda x: x[lo:hi] if jnp.ndim(x) >= 1 and jnp.shape(x)[0] == B else x, tree)


def groups(B: int, size: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: members ``range(B)`` in consecutive groups of at most ``size``."""
    return [(lo, min(B, lo + size)) for lo in range(0, B, size)]


__all__ = ["BLOCK_MEMBERS", "BLOCK_FROM", "MEMORY_FRACTION", "block_size", "n_devices_for", "shard", "memory_budget",
           "state_bytes_per_member", "bytes_per_member", "group_size"]
