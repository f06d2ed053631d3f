"""What a system or a learning map *is*, by content, the same in every process: the key of the
compiled-chunk cache and part of a checkpoint's fingerprint.

:func:`identify` walks everything the object's computation can read:

* every attribute of a NamedTuple, dataclass or plain object, and the class's own attributes
  (methods and constants);
* arrays by content (numpy, JAX, and anything with ``__array__``);
* functions by their code, defaults and closure cells, **and the globals their code names**
  (a data set or target at module level, a notebook variable), followed through the functions
  they call; for a module of the user's own, the attributes the code names;
* the functions and types of installed libraries (jax, numpy, optax, anything under
  ``site-packages`` or the standard library) by name only: their code is versioned elsewhere.

So ``learning.discrete(5)`` built twice has one identity, ``weight_control(base, leaf="v")`` and
``leaf="w"`` two, and a loss that reads a global ``T`` gets a new identity when ``T`` is rebound,
changed in place, or its ``def`` is run again with other values around it.

Anything the walk cannot read by content (an object with no attributes whose ``repr`` is only an
address, such as a ``numpy.random.Generator``, a lock or a file; or nesting deeper than
:data:`MAX_DEPTH`) is listed in :attr:`Identity.problems`; the driver then neither reuses a
compiled chunk nor resumes a checkpoint for it. An object may declare its identity itself with
an attribute ``__ensemble_fingerprint__`` (a string, or a method returning one); the walk then
takes that string and looks no further inside the object.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import sys
import sysconfig
import types
import weakref
from typing import Any, NamedTuple

import numpy as np

NAMED_ONLY = ("jax", "jaxlib", "numpy", "optax", "builtins", "math", "operator", "functools", "typing")
"""Modules whose functions and types are described by name only (besides everything installed
under ``site-packages`` or the standard library, :func:`_library_module`)."""

HOOK = "__ensemble_fingerprint__"
"""Attribute by which an object declares its own identity (a string, or a method returning one)."""

MAX_DEPTH = 200
"""Deepest nesting walked; anything deeper counts as not fingerprintable."""


class Identity(NamedTuple):
    """The result of :func:`identify`.

    Attributes:
        digest: sha256 (hex) of the description.
        problems: one line per part that could not be read by content (empty when all could).
    """

    digest: str
    problems: tuple[str, ...]


def _library_paths() -> tuple[str, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    return tuple(sorted(os.path.realpath(p) + os.sep for p in paths if p))


_LIBRARY_PATHS = _library_paths()


@functools.lru_cache(maxsize=4096)
def _library_module(name: str) -> bool:
    """True for a module of an installed library (named only); False for this package and for
    the user's own code (``__main__``, a notebook, modules outside ``site-packages``)."""
    top = name.split(".")[0]
    if top == "ensemble" or not name or name == "__main__":
        return False
    if top in NAMED_ONLY:
        return True
    module = sys.modules.get(name) or sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if module is None:
        return False
    if file is None:  # built-in and namespace modules
        return isinstance(module, types.ModuleType) and name in sys.builtin_module_names
    return os.path.realpath(file).startswith(_LIBRARY_PATHS)


def _named_only(obj: Any) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and _library_module(module)


def _named_type(obj: type) -> bool:
    """Types described by name: the libraries'. This package's types and the user's are
    described by their methods and class attributes."""
    return _named_only(obj)


_ARRAY_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}


def _array(x: Any) -> tuple:
    import jax

    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if isinstance(x, jax.Array):  # immutable: its digest is computed once per array object
        hit = _ARRAY_DIGESTS.get(id(x))
        if hit is not None and hit[0]() is x:
            return ("array", str(x.dtype), tuple(x.shape), hit[1])
    a = np.ascontiguousarray(np.asarray(x))
    sha = hashlib.sha256(a.tobytes()).hexdigest()
    if isinstance(x, jax.Array):
        try:
            ref = weakref.ref(x, lambda _, i=id(x): _ARRAY_DIGESTS.pop(i, None))
            _ARRAY_DIGESTS[id(x)] = (ref, sha)
        except TypeError:
            pass
    return ("array", str(a.dtype), a.shape, sha)


def _code_names(code: types.CodeType) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


class _Walk:
    """One walk: the objects on the current path (cycles) and the problems found."""

    def __init__(self):
        self.problems: list[str] = []
        self.memo: dict[int, Any] = {}  # functions and types already described in this walk

    def problem(self, path: tuple, what: str) -> tuple:
        where = "".join(path) or "the object"
        self.problems.append(f"{where}: {what}")
        return ("unfingerprintable", what)

    def code(self, code: types.CodeType, seen: frozenset, depth: int, path: tuple) -> tuple:
        consts = tuple(self.code(c, seen, depth + 1, path) if isinstance(c, types.CodeType) else self.describe(c, seen, depth + 1, path)
                       for c in code.co_consts)
        return ("code", code.co_name, code.co_code.hex(), consts, code.co_names)

    def globals_read(self, fn: types.FunctionType, seen: frozenset, depth: int, path: tuple) -> tuple:
        """The globals ``fn``'s code names (builtins and attribute names that are not globals are
        skipped), and for a user module among them, the attributes the code names on it."""
        names = _code_names(fn.__code__)
        space = fn.__globals__
        out = []
        for name in sorted(names):
            if name not in space:
                continue
            value = space[name]
            p = path + (f" -> global {name!r}",)
            if isinstance(value, types.ModuleType) and not _library_module(value.__name__):
                attrs = tuple((a, self.describe(getattr(value, a), seen, depth + 1, p + (f".{a}",)))
                              for a in sorted(names) if not a.startswith("__") and hasattr(value, a))
                out.append((name, ("module", value.__name__, attrs)))
            else:
                out.append((name, self.describe(value, seen, depth + 1, p)))
        return tuple(out)

    def describe(self, obj: Any, seen: frozenset = frozenset(), depth: int = 0, path: tuple = ()) -> Any:
        import jax

        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return (type(obj).__name__, repr(obj))
        if id(obj) in seen:
            return ("cycle", type(obj).__qualname__)
        if depth > MAX_DEPTH:
            return self.problem(path, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(obj, (np.ndarray, np.generic)) or (isinstance(obj, jax.Array) and not isinstance(obj, jax.core.Tracer)):
            return _array(obj)
        if not isinstance(obj, type) and not isinstance(obj, types.ModuleType):
            try:
                declared = getattr(obj, HOOK, None)
            except Exception:  # noqa: BLE001 - a __getattr__ that raises something else
                declared = None
            if declared is not None:
                value = declared() if callable(declared) else declared
                if not isinstance(value, (str, bytes, int)):
                    raise ValueError(f"{HOOK} must be (or return) a string, got {type(value).__name__} on {type(obj).__qualname__}")
                return ("declared", type(obj).__module__, type(obj).__qualname__, repr(value))
        if id(obj) in self.memo:
            return self.memo[id(obj)]
        out = self._describe(obj, seen | {id(obj)}, depth + 1, path)
        if isinstance(obj, (types.FunctionType, type)):  # described once per walk, by the digest of its description
            out = self.memo[id(obj)] = ("sha256", hashlib.sha256(repr(out).encode()).hexdigest())
        return out

    def _describe(self, obj: Any, seen: frozenset, d: int, path: tuple) -> Any:
        if isinstance(obj, (tuple, list)):
            items = tuple(self.describe(x, seen, d, path + (f"[{i}]",)) for i, x in enumerate(obj))
            if type(obj) in (tuple, list):
                return (type(obj).__name__, items)
            return ("sequence", self.describe(type(obj), seen, d, path), items)  # a NamedTuple: its methods too
        if isinstance(obj, dict):
            items = ((self.describe(k, seen, d, path), self.describe(v, seen, d, path + (f"[{k!r}]",))) for k, v in obj.items())
            return ("dict", tuple(sorted(items, key=repr)))
        if isinstance(obj, (set, frozenset)):
            return ("set", tuple(sorted((self.describe(x, seen, d, path) for x in obj), key=repr)))
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if isinstance(obj, type):
            if _named_type(obj):
                return ("type", obj.__module__, obj.__qualname__)
            bases = tuple(self.describe(b, seen, d, path) for b in obj.__bases__ if b is not object)
            attrs = tuple((k, self.describe(v, seen, d, path + (f".{k}",))) for k, v in sorted(vars(obj).items())
                          if isinstance(v, (types.FunctionType, staticmethod, classmethod, property))
                          or not (k.startswith("__") or k.startswith("_abc")))
            return ("type", obj.__module__, obj.__qualname__, bases, attrs)
        if isinstance(obj, _C_CALLABLES):  # code in C: tuple.__new__, len, str.join, ...
            owner = getattr(obj, "__self__", None) or getattr(obj, "__objclass__", None)
            where = owner.__qualname__ if isinstance(owner, type) else getattr(owner, "__name__", getattr(obj, "__module__", ""))
            return ("builtin", str(where), getattr(obj, "__qualname__", getattr(obj, "__name__", "")))
        if isinstance(obj, (staticmethod, classmethod)):
            return (type(obj).__name__, self.describe(obj.__func__, seen, d, path))
        if isinstance(obj, property):
            return ("property", self.describe(obj.fget, seen, d, path))
        if isinstance(obj, functools.partial):
            return ("partial", self.describe(obj.func, seen, d, path), self.describe(obj.args, seen, d, path),
                    self.describe(obj.keywords, seen, d, path))
        if isinstance(obj, types.MethodType):
            return ("method", self.describe(obj.__func__, seen, d, path), self.describe(obj.__self__, seen, d, path))
        if isinstance(obj, types.FunctionType):
            if _named_only(obj):
                return ("function", obj.__module__, obj.__qualname__)
            p = path + (f" -> {obj.__qualname__}",) if path else (obj.__qualname__,)
            cells = tuple(self.describe(c.cell_contents, seen, d, p + (f" -> closure {n!r}",)) if _cell_full(c) else ("empty",)
                          for n, c in zip(obj.__code__.co_freevars, obj.__closure__ or ()))
            return ("function", obj.__module__, obj.__qualname__, self.code(obj.__code__, seen, d, p),
                    self.describe(obj.__defaults__, seen, d, p), self.describe(obj.__kwdefaults__, seen, d, p), cells,
                    self.globals_read(obj, seen, d, p))
        if dataclasses.is_dataclass(obj):
            fields = tuple((f.name, self.describe(getattr(obj, f.name), seen, d, path + (f".{f.name}",)))
                           for f in dataclasses.fields(obj))
            return ("dataclass", self.describe(type(obj), seen, d, path), fields)
        if callable(obj) and _named_only(obj):  # numpy ufuncs, the libraries' jitted functions, ...
            return ("callable", getattr(obj, "__module__", ""), getattr(obj, "__qualname__", type(obj).__qualname__))
        wrapped = getattr(obj, "__wrapped__", None)
        if callable(obj) and wrapped is not None:  # jax.jit(f), functools.wraps, lru_cache, ...
            return ("wrapped", type(obj).__module__, type(obj).__qualname__, self.describe(wrapped, seen, d, path))
        if hasattr(obj, "__array__") and not callable(obj):
            try:
                return ("as array", type(obj).__qualname__, _array(np.asarray(obj)))
            except Exception:  # noqa: BLE001 - falls through to the attributes
                pass
        state = getattr(obj, "__dict__", None)
        slots = {s: getattr(obj, s) for s in getattr(type(obj), "__slots__", ()) if isinstance(s, str) and hasattr(obj, s)}
        if state is not None or slots:
            attrs = {**(state or {}), **slots}
            items = tuple((k, self.describe(v, seen, d, path + (f".{k}",))) for k, v in sorted(attrs.items(), key=lambda kv: repr(kv[0])))
            return ("object", self.describe(type(obj), seen, d, path), items)
        text = repr(obj)
        if " at 0x" in text.lower() or type(obj).__repr__ is object.__repr__:
            return self.problem(path, f"a {type(obj).__module__}.{type(obj).__qualname__}, which has no attributes to "
                                      "read and no repr but its address")
        return ("other", type(obj).__module__, type(obj).__qualname__, text)


_C_CALLABLES = (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodWrapperType,
                types.MethodDescriptorType, types.ClassMethodDescriptorType)


def _cell_full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def describe(obj: Any) -> Any:
    """A nested tuple of plain values that identifies ``obj`` by content (see the module docstring)."""
    return _Walk().describe(obj)


def identify(obj: Any, name: str = "") -> Identity:
    """The :class:`Identity` of ``obj``; problems are reported under ``name`` (e.g. ``"system"``)."""
    walk = _Walk()
    desc = walk.describe(obj, path=(name,) if name else ())
    return Identity(hashlib.sha256(repr(desc).encode()).hexdigest(), tuple(dict.fromkeys(walk.problems)))


def digest(obj: Any) -> str:
    """sha256 (hex) of :func:`describe` of ``obj``."""
    return identify(obj).digest
