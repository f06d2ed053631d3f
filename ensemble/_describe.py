"""What a system or a learning map *is*, by content, the same in every process: the key of the
compiled-chunk cache and part of a checkpoint's fingerprint.

:func:`identify` walks everything the object's computation can read:

* every attribute of a NamedTuple, dataclass or plain object (slots too), and the class's own
  attributes (methods and constants) and bases;
* arrays by content (numpy, JAX, PRNG keys, anything with ``__array__``; object arrays element by
  element);
* functions by their code, defaults and closure cells, **and the globals their code loads** (a
  data set or target at module level, a notebook variable), followed through the functions they
  call; for a module of the user's own, the attributes the code names on it (and on its
  submodules);
* the functions and types of installed libraries (jax, numpy, optax, anything under
  ``site-packages`` or the standard library) by name, not code: their code is versioned
  elsewhere. Their settings still count: closure cells and defaults (``optax.sgd(0.1)`` is not
  ``optax.sgd(0.5)``), and the attributes of a library's callable object (``np.vectorize(f)``).

So ``learning.discrete(5)`` built twice has one identity, ``weight_control(base, leaf="v")`` and
``leaf="w"`` two, and a loss that reads a global ``T`` gets a new identity when ``T`` is rebound,
changed in place, or its ``def`` is run again with other values around it. Inputs the code does
not name cannot be seen: environment variables, files, ``globals()[name]`` lookups.

Anything the walk cannot read by content (an object with no attributes whose ``repr`` is only an
address, such as a ``numpy.random.Generator`` or a lock; a file; a ``random.Random``; nesting
deeper than :data:`MAX_DEPTH`) is listed in :attr:`Identity.problems`; the driver then neither
reuses a compiled chunk nor resumes a checkpoint for it. An object may declare its identity
with an attribute ``__ensemble_fingerprint__`` (a string, or a method returning one): set on the
object itself (a function, an instance) it stands for the whole object; set on a class it stands
for the class's code, and the instance's own attributes are still read.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import hashlib
import inspect
import io
import os
import random
import sys
import sysconfig
import threading
import types
import weakref
from typing import Any, NamedTuple

import numpy as np

NAMED_ONLY = ("jax", "jaxlib", "numpy", "optax", "builtins", "math", "operator", "functools", "typing")
"""Modules whose functions and types are described by name (besides everything installed
under ``site-packages`` or the standard library, :func:`_library_module`)."""

HOOK = "__ensemble_fingerprint__"
"""Attribute by which an object declares its own identity (a string, or a method returning one)."""

MAX_DEPTH = 200
"""Deepest nesting walked; anything deeper counts as not fingerprintable."""

CODE_CACHE_SIZE = 4096
"""Descriptions of code objects kept across walks (oldest dropped first)."""
_CODES: dict = {}
_CODES_LOCK = threading.Lock()

OPAQUE = (io.IOBase, random.Random, threading.Thread, types.GeneratorType, types.CoroutineType)
"""Types whose state lives outside their attributes (in C or the operating system)."""


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
    """True for a module of an installed library (described by name); False for this package and
    for the user's own code (``__main__``, a notebook, modules outside ``site-packages``)."""
    top = name.split(".")[0]
    if top == "ensemble" or not name or name == "__main__":
        return False
    if top in NAMED_ONLY:
        return True
    module = sys.modules.get(name) or sys.modules.get(top)
    if module is None:
        return False
    file = getattr(module, "__file__", None)
    if file is None:  # built-in and namespace modules
        return name in sys.builtin_module_names
    return os.path.realpath(file).startswith(_LIBRARY_PATHS)


def _named_only(obj: Any) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and _library_module(module)


_ARRAY_DIGESTS: dict[int, tuple[weakref.ref, tuple]] = {}


def _array(x: Any) -> tuple:
    """An array by dtype, shape and the sha256 of its bytes (a PRNG key array by its key data)."""
    import jax

    cached = isinstance(x, jax.Array)  # immutable: its digest is computed once per array object
    if cached:
        hit = _ARRAY_DIGESTS.get(id(x))
        if hit is not None and hit[0]() is x:
            return hit[1]
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        with jax.ensure_compile_time_eval():  # a concrete value, even while a computation is traced
            a = np.asarray(jax.random.key_data(x))
        kind = f"key<{jax.random.key_impl(x)}>"
    else:
        a = np.asarray(x)
        kind = str(a.dtype)
    a = np.ascontiguousarray(a)
    out = ("array", kind, a.shape, hashlib.sha256(a.tobytes()).hexdigest())
    if cached:
        try:
            _ARRAY_DIGESTS[id(x)] = (weakref.ref(x, lambda _, i=id(x): _ARRAY_DIGESTS.pop(i, None)), out)
        except TypeError:
            pass
    return out


_FUNCTION_FLAGS = inspect.CO_OPTIMIZED | inspect.CO_NEWLOCALS
_CO_HAS_DOCSTRING = 0x4000000  # Python 3.14+


def _has_docstring(code: types.CodeType, doc: str | None) -> bool:
    """Whether ``code.co_consts[0]`` is the docstring of the function whose code this is.

    For a function object, its ``__doc__`` says (``doc``). For code found inside another code
    object: from Python 3.14 its flag says; before, CPython puts a ``def`` body's docstring, or
    None, first in its constants (lambdas and comprehensions have no docstring).
    """
    consts = code.co_consts
    if not consts or not isinstance(consts[0], str):
        return False
    if doc is not None:
        return consts[0] is doc
    if sys.version_info >= (3, 14):
        return bool(code.co_flags & _CO_HAS_DOCSTRING)
    return (code.co_flags & _FUNCTION_FLAGS) == _FUNCTION_FLAGS and not code.co_name.startswith("<")


def _codes(code: types.CodeType):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _codes(c)


@functools.lru_cache(maxsize=4096)
def _names(code: types.CodeType) -> tuple[frozenset, frozenset]:
    """``(globals loaded, every name)`` of ``code`` and the code nested in it: the globals are the
    names of ``LOAD_GLOBAL``/``LOAD_NAME``; every name (``co_names``) includes attribute names."""
    loaded, every = set(), set()
    for c in _codes(code):
        every |= set(c.co_names)
        loaded |= {i.argval for i in dis.get_instructions(c) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    return frozenset(n for n in loaded if isinstance(n, str)), frozenset(every)


_C_CALLABLES = (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodWrapperType,
                types.MethodDescriptorType, types.ClassMethodDescriptorType)


def _slots(obj: Any) -> dict:
    out = {}
    for cls in type(obj).__mro__:
        names = cls.__dict__.get("__slots__", ())
        for s in (names,) if isinstance(names, str) else names:
            if isinstance(s, str) and s not in ("__dict__", "__weakref__") and hasattr(obj, s):
                out.setdefault(s, getattr(obj, s))
    return out


def _cell_full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


class _Walk:
    """One walk: the objects on the current path (cycles), every object described so far (each
    once, kept alive so that no id is reused), and the problems found."""

    def __init__(self):
        self.problems: list[str] = []
        self.memo: dict[int, tuple[Any, Any]] = {}
        self.stack: list[int] = []
        self.names: frozenset = frozenset()  # names the code being described uses (user modules' attributes)
        self.lenient = 0  # > 0 inside a library's settings: what cannot be read is skipped, not a problem

    def problem(self, path: tuple, what: str) -> tuple:
        if self.lenient:
            return ("opaque", what)
        where = "".join(path) or "the object"
        if len(where) > 240:
            where = "..." + where[-240:]
        self.problems.append(f"{where}: {what}")
        return ("unfingerprintable", what)

    def describe(self, obj: Any, path: tuple = ()) -> Any:
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return (type(obj).__name__, repr(obj))
        key = id(obj)
        if key in self.stack:
            return ("cycle", len(self.stack) - self.stack.index(key))
        hit = self.memo.get(key)
        if hit is not None:
            return hit[1]
        if len(self.stack) >= MAX_DEPTH:
            return self.problem(path, f"nested deeper than {MAX_DEPTH} levels")
        self.stack.append(key)
        try:
            out = self._describe(obj, path)
        finally:
            self.stack.pop()
        if not (isinstance(out, tuple) and out and out[0] == "array"):
            out = ("sha256", hashlib.sha256(repr(out).encode()).hexdigest())
        self.memo[id(obj)] = (obj, out)
        return out

    def attributes(self, obj: Any, path: tuple) -> tuple:
        state = {**(getattr(obj, "__dict__", None) or {}), **_slots(obj)}
        return tuple((k, self.describe(v, path + (f".{k}",))) for k, v in sorted(state.items(), key=lambda kv: repr(kv[0])))

    def code(self, code: types.CodeType, path: tuple, doc: str | None = None) -> tuple:
        """The code's name and the sha256 of its bytes, names and constants; the docstring of the
        function (``doc``, or that of a function defined inside it) is left out: it never changes
        what the code computes. A code object and its constants never change, so its description
        is kept (:data:`_CODES`) for later walks."""
        key = (id(code), _has_docstring(code, doc))
        hit = _CODES.get(key)
        if hit is not None and hit[0] is code:
            return hit[1]
        consts = code.co_consts
        if key[1]:
            consts = consts[1:]
        consts = tuple(self.code(c, path) if isinstance(c, types.CodeType) else self.describe(c, path) for c in consts)
        out = ("code", code.co_name, hashlib.sha256(repr((code.co_code.hex(), consts, code.co_names)).encode()).hexdigest())
        with _CODES_LOCK:
            _CODES[key] = (code, out)  # the code object kept alive: its id is not reused
            while len(_CODES) > CODE_CACHE_SIZE:
                _CODES.pop(next(iter(_CODES)))
        return out

    def function(self, fn: types.FunctionType, path: tuple) -> tuple:
        """Closure, defaults; and for the user's code (not a library's) the code itself and the
        globals it loads."""
        library = _named_only(fn)
        loaded, every = _names(fn.__code__)
        p = path + (f" -> {fn.__qualname__}",) if path else (fn.__qualname__,)
        saved, self.names = self.names, every
        lenient, self.lenient = self.lenient, (self.lenient + 1 if library else 0)  # the user's code always counts
        try:
            cells = tuple(self.describe(c.cell_contents, p + (f" -> closure {n!r}",)) if _cell_full(c) else ("empty",)
                          for n, c in zip(fn.__code__.co_freevars, fn.__closure__ or ()))
            settings = (self.describe(fn.__defaults__, p), self.describe(fn.__kwdefaults__, p), cells)
            if library:
                return ("function", fn.__module__, fn.__qualname__, settings)
            space = fn.__globals__
            read = tuple((n, self.describe(space[n], p + (f" -> global {n!r}",))) for n in sorted(loaded) if n in space)
            return ("function", fn.__module__, fn.__qualname__, self.code(fn.__code__, p, fn.__doc__), settings, read)
        finally:
            self.names, self.lenient = saved, lenient

    def _describe(self, obj: Any, path: tuple) -> Any:
        kind = type(obj)
        if kind is types.FunctionType and HOOK not in obj.__dict__:  # the commonest nodes first
            return self.function(obj, path)
        if kind is tuple:
            return ("tuple", tuple(self.describe(x, path + (f"[{i}]",)) for i, x in enumerate(obj)))
        import jax

        if isinstance(obj, np.ndarray) and obj.dtype == object:
            return ("object array", obj.shape, tuple(self.describe(x, path) for x in obj.ravel()))
        if isinstance(obj, (np.ndarray, np.generic)) or (isinstance(obj, jax.Array) and not isinstance(obj, jax.core.Tracer)):
            return _array(obj)
        if not isinstance(obj, (type, types.ModuleType)):
            try:
                declared = getattr(obj, HOOK, None)
            except Exception:  # noqa: BLE001 - a __getattr__ that raises something else
                declared = None
            if declared is not None:
                value = declared() if callable(declared) else declared
                if not isinstance(value, (str, bytes, int)):
                    raise ValueError(f"{HOOK} must be (or return) a string or an int, got {type(value).__name__} "
                                     f"on {type(obj).__qualname__}")
                if HOOK in (getattr(obj, "__dict__", None) or {}):  # the object's own: it stands for all of it
                    return ("declared", type(obj).__module__, type(obj).__qualname__, repr(value))
                return ("declared", type(obj).__module__, type(obj).__qualname__, repr(value), self.attributes(obj, path))
        if isinstance(obj, (tuple, list)):
            items = tuple(self.describe(x, path + (f"[{i}]",)) for i, x in enumerate(obj))
            if type(obj) in (tuple, list):
                return (type(obj).__name__, items)
            return ("sequence", self.describe(type(obj), path), items)  # a NamedTuple: its methods too
        if isinstance(obj, dict):
            items = ((self.describe(k, path), self.describe(v, path + (f"[{k!r}]",))) for k, v in obj.items())
            return ("dict", tuple(sorted(items, key=repr)))
        if isinstance(obj, (set, frozenset)):
            return ("set", tuple(sorted((self.describe(x, path) for x in obj), key=repr)))
        if isinstance(obj, types.ModuleType):
            if _library_module(obj.__name__):
                return ("module", obj.__name__)
            attrs = tuple((a, self.describe(getattr(obj, a), path + (f".{a}",)))
                          for a in sorted(self.names) if not a.startswith("__") and hasattr(obj, a))
            return ("module", obj.__name__, attrs)
        if isinstance(obj, type):
            if _named_only(obj):
                return ("type", obj.__module__, obj.__qualname__)
            bases = tuple(self.describe(b, path) for b in obj.__bases__ if b is not object)
            attrs = tuple((k, self.describe(v, path + (f".{k}",))) for k, v in sorted(vars(obj).items())
                          if isinstance(v, (types.FunctionType, staticmethod, classmethod, property))
                          or not (k.startswith("__") or k.startswith("_abc")))
            return ("type", obj.__module__, obj.__qualname__, bases, attrs)
        if isinstance(obj, _C_CALLABLES):  # code in C: tuple.__new__, len, [].append, ...
            owner = getattr(obj, "__self__", None)
            if owner is None:
                owner = getattr(obj, "__objclass__", None)
            name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "")
            if owner is None or isinstance(owner, (type, types.ModuleType)):
                return ("builtin", getattr(owner, "__name__", str(getattr(obj, "__module__", ""))), name)
            return ("builtin method", name, self.describe(owner, path))
        if isinstance(obj, OPAQUE):
            return self.problem(path, f"a {type(obj).__module__}.{type(obj).__qualname__}, whose state is not in its attributes")
        if isinstance(obj, (staticmethod, classmethod)):
            return (type(obj).__name__, self.describe(obj.__func__, path))
        if isinstance(obj, property):
            return ("property", self.describe(obj.fget, path))
        if isinstance(obj, functools.partial):
            return ("partial", self.describe(obj.func, path), self.describe(obj.args, path), self.describe(obj.keywords, path))
        if isinstance(obj, types.MethodType):
            return ("method", self.describe(obj.__func__, path), self.describe(obj.__self__, path))
        if isinstance(obj, types.FunctionType):
            return self.function(obj, path)
        if dataclasses.is_dataclass(obj):
            fields = tuple((f.name, self.describe(getattr(obj, f.name), path + (f".{f.name}",))) for f in dataclasses.fields(obj))
            return ("dataclass", self.describe(type(obj), path), fields)
        if callable(obj) and (_named_only(obj) or _named_only(type(obj))):  # a library's callable object
            self.lenient += 1
            try:  # its settings (np.vectorize's function, a jitted function's wrapped code, ...)
                return ("callable", type(obj).__module__, type(obj).__qualname__, getattr(obj, "__qualname__", ""),
                        self.attributes(obj, path))
            finally:
                self.lenient -= 1
        if hasattr(obj, "__array__") and not callable(obj):
            try:
                return ("as array", type(obj).__qualname__, _array(np.asarray(obj)))
            except Exception:  # noqa: BLE001 - falls through to the attributes
                pass
        if getattr(obj, "__dict__", None) is not None or _slots(obj):
            return ("object", self.describe(type(obj), path), self.attributes(obj, path))
        text = repr(obj)
        if " at 0x" in text.lower() or type(obj).__repr__ is object.__repr__:
            return self.problem(path, f"a {type(obj).__module__}.{type(obj).__qualname__}, which has no attributes to "
                                      "read and no repr but its address")
        return ("other", type(obj).__module__, type(obj).__qualname__, text)


def describe(obj: Any) -> Any:
    """A nested tuple of plain values that identifies ``obj`` by content (see the module docstring)."""
    return _Walk().describe(obj)


_REUSE: list[dict] = []


def identify(obj: Any, name: str = "") -> Identity:
    """The :class:`Identity` of ``obj``; problems are reported under ``name`` (e.g. ``"system"``).
    Inside :func:`once`, each object is walked only the first time."""
    if _REUSE and (id(obj), name) in _REUSE[-1]:
        return _REUSE[-1][(id(obj), name)][1]
    walk = _Walk()
    desc = walk.describe(obj, path=(name,) if name else ())
    out = Identity(hashlib.sha256(repr(desc).encode()).hexdigest(), tuple(dict.fromkeys(walk.problems)))
    if _REUSE:
        _REUSE[-1][(id(obj), name)] = (obj, out)
    return out


class once:
    """``with once():`` every :func:`identify` of the same object (and name) inside the block is
    walked once (for one :func:`ensemble.evolve` call, which needs the system's identity in
    several places). Nested blocks share the outermost one's results."""

    def __enter__(self):
        _REUSE.append(_REUSE[-1] if _REUSE else {})
        return self

    def __exit__(self, *exc):
        _REUSE.pop()
        return False


def digest(obj: Any) -> str:
    """sha256 (hex) of :func:`describe` of ``obj``."""
    return identify(obj).digest
