"""One XLA CPU device per core, so that ``evolve`` shards an ensemble over all cores.

XLA runs one CPU device's program on about one core; the elementwise kernels of this
library do not spread a single device over several cores. With one CPU device per core,
:func:`ensemble.evolve` shards the member axis over them (results are bitwise the same
for any device count), which makes a run faster on a multi-core CPU (timings in
``benchmarks/``).

The device count can only be set before JAX starts its CPU backend, i.e. before the
first computation in the process. The command line (``python -m ensemble``) calls
:func:`use_cores` first; in a script or notebook call it right after the imports::

    import ensemble
    ensemble.cpu.use_cores()     # before any jax computation

It only affects the CPU platform (not GPUs) and leaves an explicit setting alone:
``XLA_FLAGS=--xla_force_host_platform_device_count=K``, ``JAX_NUM_CPU_DEVICES`` or
``ENSEMBLE_CPU_DEVICES=K`` (which sets K instead of the core count; 1 turns it off).
"""

from __future__ import annotations

import os

import jax


def cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_cores(n: int | None = None) -> int:
    """Ask JAX for ``n`` CPU devices, one per core; call it before any JAX computation.

    Args:
        n: the device count (default: ``ENSEMBLE_CPU_DEVICES`` if set, else :func:`cores`).

    Returns:
        The number of CPU devices requested, or 0 when nothing was changed: the count was
        already set (``XLA_FLAGS``, ``JAX_NUM_CPU_DEVICES``, an earlier call) or JAX's backends
        are already running (then the call warns).

    Raises:
        ValueError: ``n`` (or ``ENSEMBLE_CPU_DEVICES``) is not a positive integer.
    """
    if n is None:
        env = os.environ.get("ENSEMBLE_CPU_DEVICES", "").strip()
        if env:
            try:
                n = int(env)
            except ValueError:
                raise ValueError(f"ENSEMBLE_CPU_DEVICES must be an integer, got {env!r}") from None
        else:
            n = cores()
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return 0
    if os.environ.get("JAX_NUM_CPU_DEVICES") or jax.config.jax_num_cpu_devices != -1:
        return 0
    try:
        jax.config.update("jax_num_cpu_devices", int(n))
    except RuntimeError:  # backends already initialized
        import warnings

        warnings.warn(
            f"use_cores() came after JAX's first computation, so JAX keeps its {len(jax.devices('cpu'))} CPU device(s); "
            "call it right after the imports (in a notebook: restart the kernel, then call it first)",
            RuntimeWarning, stacklevel=2,
        )
        return 0
    return int(n)


__all__ = ["cores", "use_cores"]
