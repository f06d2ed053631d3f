"""Input validation at the public boundary.

Every check raises ``ValueError`` naming the argument and the allowed range.
Checks look only at concrete values: inside ``jit``/``vmap`` (tracers) they
are skipped, so the hot loops pay nothing for them.
"""

from __future__ import annotations

import functools

import os
import sys
import warnings
from typing import Any

import jax
import numpy as np


def _concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _values(name: str, x: Any) -> np.ndarray | None:
    if not _concrete(x):
        return None
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def finite(name: str, x: Any, members: bool = False) -> None:
    """``x`` (array or pytree) holds only finite numbers; the message names the leaf (and, with
    ``members``, the first member along the leading axis) that does not."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(x)[0]:
        arr = _values(name, leaf)
        if arr is not None and not np.all(np.isfinite(arr)):
            where = f"{name}{jax.tree_util.keystr(path)}" if path else name
            if members and arr.ndim >= 1:
                bad = np.flatnonzero(~np.all(np.isfinite(arr.reshape(arr.shape[0], -1)), axis=1))
                where += f" of member {int(bad[0])}" + (f" (and {bad.size - 1} more)" if bad.size > 1 else "")
            raise ValueError(f"{name} must be finite (no NaN or inf): {where} is not")


def positive(name: str, x: Any) -> None:
    """Every entry of ``x`` is finite and > 0."""
    arr = _values(name, x)
    if arr is not None and not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"{name} must be > 0 and finite, got {_show(arr)}")


def nonnegative(name: str, x: Any) -> None:
    """Every entry of ``x`` is finite and >= 0."""
    arr = _values(name, x)
    if arr is not None and not np.all(np.isfinite(arr) & (arr >= 0)):
        raise ValueError(f"{name} must be >= 0 and finite, got {_show(arr)}")


def log_range(config: Any, name: str) -> None:
    """A config's log-spaced grid ``{name}_min`` .. ``{name}_max`` over ``n_{name}`` points: both
    ends finite and > 0, ``{name}_max >= {name}_min``, ``n_{name}`` an integer >= 1."""
    lo, hi = getattr(config, f"{name}_min"), getattr(config, f"{name}_max")
    positive(f"{name}_min", lo)
    positive(f"{name}_max", hi)
    if hi < lo:
        raise ValueError(f"{name}_max must be >= {name}_min ({lo}), got {hi}")
    integer_at_least(f"n_{name}", getattr(config, f"n_{name}"), 1)


def integer_at_least(name: str, x: Any, low: int, high: int | None = None) -> None:
    """Every entry of ``x`` is an integer in ``[low, high]``."""
    arr = _values(name, x)
    if arr is None:
        return
    ok = np.all(np.isfinite(arr)) and np.all(np.equal(np.mod(arr, 1), 0)) and np.all(arr >= low)
    if ok and high is not None:
        ok = np.all(arr <= high)
    if not ok:
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {rng}, got {_show(arr)}")


def _raw_key_shape() -> tuple:
    """Shape of a raw key of JAX's default PRNG implementation (``(2,)`` for threefry)."""
    return tuple(jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape)


@functools.lru_cache(maxsize=256)
def _seed_key(seed: int, impl: str) -> Any:
    """``jax.random.key(seed)``, kept (a key is immutable; making one is a device computation)."""
    return jax.random.key(seed)


def prng_key(name: str, key: Any) -> Any:
    """One PRNG key: a typed key (``jax.random.key(seed)``), a raw ``uint32[2]`` key
    (``jax.random.PRNGKey(seed)``), or an int seed (made into ``jax.random.key(seed)``)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        return _seed_key(int(key), str(jax.config.jax_default_prng_impl))
    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape == ():
            return key
        got = f"an array of {key.shape} keys"
    elif hasattr(key, "dtype") and np.dtype(key.dtype) == np.uint32 and np.shape(key) == _raw_key_shape():
        return key  # a raw key of the default implementation (jax.random.PRNGKey)
    else:
        got = f"{type(key).__name__} of shape {np.shape(key)}" if hasattr(key, "shape") else repr(key)
    raise ValueError(f"{name} must be one PRNG key (jax.random.key(seed)) or an int seed, got {got}; each member's "
                     f"key is made from it (member i draws from fold_in({name}, i))")


def shape(name: str, x: Any, expected: tuple, what: str = "") -> None:
    """``x`` has exactly the shape ``expected`` (entries ``None`` match anything)."""
    got = tuple(np.shape(x))
    if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
        want = str(tuple("*" if e is None else e for e in expected)).replace("'", "")
        raise ValueError(f"{name} must have shape {want}{what}, got {got}")


def _show(arr: np.ndarray) -> str:
    flat = arr.reshape(-1)
    if flat.size == 1 or (flat.size and np.all(flat == flat[0])):
        return repr(flat[0].item())
    if np.any(np.isfinite(flat)):
        return f"an array with min {np.nanmin(flat).item()!r}, max {np.nanmax(flat).item()!r}"
    return "non-finite values"


def warn(message: str, category: type = RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside this package (the user's line)."""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)
