"""A canonical description of any object, the same in every process: what a system or a learning
map *is*, for checkpoint fingerprints and the compiled-chunk cache.

:func:`digest` covers every attribute of a NamedTuple, dataclass or plain object (arrays by
content), and the code and closure of functions (so ``learning.discrete(5)`` called twice gives
the same digest, ``weight_control(base, leaf="v")`` and ``leaf="w"`` do not, and a user's
system whose ``measure`` changed does not). Functions and types of the libraries we build on
(jax, numpy, optax, ...) and this package's types are named, not inspected.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import types
from typing import Any

import numpy as np

NAMED_ONLY = ("jax", "jaxlib", "numpy", "optax", "builtins", "math", "operator", "functools", "typing")
"""Modules whose functions and types are described by name only (their code is versioned elsewhere)."""


def _named_only(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in NAMED_ONLY


def _named_type(obj: type) -> bool:
    """Types described by name: the libraries', and this package's (its instances are described
    attribute by attribute, and its functions with their closures)."""
    return _named_only(obj) or (obj.__module__ or "").split(".")[0] == "ensemble"


def _array(x: Any) -> tuple:
    import jax

    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    a = np.ascontiguousarray(np.asarray(x))
    return ("array", str(a.dtype), a.shape, hashlib.sha256(a.tobytes()).hexdigest())


def _code(code: types.CodeType, seen: set, depth: int) -> tuple:
    consts = tuple(_code(c, seen, depth + 1) if isinstance(c, types.CodeType) else describe(c, seen, depth + 1) for c in code.co_consts)
    return ("code", code.co_name, code.co_code.hex(), consts, code.co_names)


def describe(obj: Any, _seen: set | None = None, _depth: int = 0) -> Any:
    """A nested tuple of plain values that identifies ``obj`` by content (see module docstring)."""
    import jax

    seen = set() if _seen is None else _seen
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return (type(obj).__name__, repr(obj))
    if _depth > 40 or id(obj) in seen:
        return ("cycle", type(obj).__qualname__)
    if isinstance(obj, (np.ndarray, np.generic)) or (isinstance(obj, jax.Array) and not isinstance(obj, jax.core.Tracer)):
        return _array(obj)
    seen = seen | {id(obj)}
    d = _depth + 1
    if isinstance(obj, (tuple, list)):
        return (type(obj).__qualname__, tuple(describe(x, seen, d) for x in obj))
    if isinstance(obj, dict):
        return ("dict", tuple(sorted(((describe(k, seen, d), describe(v, seen, d)) for k, v in obj.items()), key=repr)))
    if isinstance(obj, (set, frozenset)):
        return ("set", tuple(sorted((describe(x, seen, d) for x in obj), key=repr)))
    if isinstance(obj, types.ModuleType):
        return ("module", obj.__name__)
    if isinstance(obj, type):
        if _named_type(obj):
            return ("type", obj.__module__, obj.__qualname__)
        methods = tuple((k, describe(v, seen, d)) for k, v in sorted(vars(obj).items()) if isinstance(v, (types.FunctionType, staticmethod, classmethod, property)))
        return ("type", obj.__module__, obj.__qualname__, methods)
    if isinstance(obj, (staticmethod, classmethod)):
        return (type(obj).__name__, describe(obj.__func__, seen, d))
    if isinstance(obj, property):
        return ("property", describe(obj.fget, seen, d))
    if isinstance(obj, functools.partial):
        return ("partial", describe(obj.func, seen, d), describe(obj.args, seen, d), describe(obj.keywords, seen, d))
    if isinstance(obj, types.MethodType):
        return ("method", describe(obj.__func__, seen, d), describe(obj.__self__, seen, d))
    if isinstance(obj, types.FunctionType):
        if _named_only(obj):
            return ("function", obj.__module__, obj.__qualname__)
        cells = tuple(describe(c.cell_contents, seen, d) if _cell_full(c) else ("empty",) for c in (obj.__closure__ or ()))
        return ("function", obj.__module__, obj.__qualname__, _code(obj.__code__, seen, d), describe(obj.__defaults__, seen, d),
                describe(obj.__kwdefaults__, seen, d), cells)
    if dataclasses.is_dataclass(obj):
        fields = tuple((f.name, describe(getattr(obj, f.name), seen, d)) for f in dataclasses.fields(obj))
        return ("dataclass", describe(type(obj), seen, d), fields)
    if callable(obj) and _named_only(obj):  # jitted functions, numpy ufuncs, ...
        return ("callable", getattr(obj, "__module__", ""), getattr(obj, "__qualname__", type(obj).__qualname__))
    state = getattr(obj, "__dict__", None)
    slots = {s: getattr(obj, s) for s in getattr(type(obj), "__slots__", ()) if isinstance(s, str) and hasattr(obj, s)}
    if state is not None or slots:
        return ("object", describe(type(obj), seen, d), describe({**(state or {}), **slots}, seen, d))
    text = repr(obj)
    return ("other", type(obj).__module__, type(obj).__qualname__, "" if " at 0x" in text else text)


def _cell_full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def digest(obj: Any) -> str:
    """sha256 (hex) of :func:`describe` of ``obj``."""
    return hashlib.sha256(repr(describe(obj)).encode()).hexdigest()
