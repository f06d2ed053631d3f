"""What :func:`ensemble.evolve` accepts: the system contract, the hyperparameters, the member count.

Every check raises one ValueError that names what is wrong, before anything is compiled.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, helpers
from .learning import LearningMap
from .state import n_members as leading_axis

PyTree = Any


def require_named_tuple(hyper: Any, name: str = "hyper") -> None:
    if not (isinstance(hyper, tuple) and hasattr(hyper, "_fields")):
        raise ValueError(
            f"{name} must be the learning map's NamedTuple of hyperparameters (e.g. learning.DiscreteHyper(tau, S, m)), "
            f"got {type(hyper).__name__}"
        )


def hyper_as_given(hyper: Any, n_members: int) -> Any:
    """Every field of ``hyper`` broadcast to ``(n_members,)`` as numpy, in the dtype it was given
    (a Python float stays float64)."""
    fields = [hyper_as_given(v, n_members) if isinstance(v, tuple) and hasattr(v, "_fields")
              else np.broadcast_to(np.asarray(v), (n_members,)) for v in hyper]
    return type(hyper)(*fields)


def broadcast_hyper_host(hyper: Any, n_members: int) -> Any:
    """:func:`broadcast_hyper` as numpy arrays, in the dtypes jax would give them: the same values,
    without a device computation per field (what ``evolve`` places on the devices itself)."""
    return _broadcast(hyper, n_members, "hyper", lambda a: np.asarray(a, jax.dtypes.canonicalize_dtype(a.dtype)))


def broadcast_hyper(hyper: Any, n_members: int, _prefix: str = "hyper") -> Any:
    """Broadcast every field of a hyperparameter NamedTuple to shape ``(n_members,)``.

    A field that is itself a NamedTuple (e.g. the base map's hyperparameters
    inside :class:`ensemble.kuramoto.ControlledHyper`) is broadcast recursively.

    Args:
        hyper: the map's hyperparameter NamedTuple; each field a scalar or ``(n_members,)``.
        n_members: the ensemble size ``B``.

    Returns:
        A NamedTuple of the same type with every field a ``(n_members,)`` jax array.

    Raises:
        ValueError: ``hyper`` is not a NamedTuple, or a field is not numeric or of another shape
            (the message names the field).
    """
    return _broadcast(hyper, n_members, _prefix, jnp.asarray)


def _broadcast(hyper: Any, n_members: int, _prefix: str, to: Callable) -> Any:
    require_named_tuple(hyper, _prefix)
    fields = []
    for name, value in zip(hyper._fields, hyper):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            fields.append(_broadcast(value, n_members, f"{_prefix}.{name}", to))
            continue
        arr = np.asarray(value)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{_prefix}.{name} must be a number or an array of numbers, got {value!r}")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n_members):
            raise ValueError(f"{_prefix}.{name} must be a scalar or have shape ({n_members},), got {arr.shape}")
        fields.append(to(np.array(np.broadcast_to(arr, (n_members,)))))  # contiguous: placed, not compiled
    return type(hyper)(*fields)



def check_system(system, lmap: LearningMap, member_params: PyTree) -> dict:
    """Check the system contract on one member's parameters, as :func:`evolve` does first.

    Shapes only (``jax.eval_shape``, no compilation): a :class:`ValueError` naming what is wrong
    instead of an error deep inside the compiled loop.

    Args:
        system: the system (:class:`ensemble.System`).
        lmap: the learning map (its ``reads`` must be among the signals).
        member_params: one member's parameters (no member axis).

    Returns:
        The signals' shapes: ``{name: jax.ShapeDtypeStruct}``.

    Raises:
        ValueError: a missing method, a failing ``init_state`` or ``measure``, signals that are
            not real scalars or lack what the map reads, or a state that changes structure.
    """
    missing = [m for m in ("init_state", "measure") if not callable(getattr(system, m, None))]
    if missing:
        raise ValueError(
            f"system must have init_state(params, key) -> state and measure(params, state, key) -> (signals, state); "
            f"{type(system).__name__} lacks {', '.join(missing)}"
        )
    key = jax.random.key(0)
    try:
        state = jax.eval_shape(system.init_state, member_params, key)
    except Exception as exc:
        raise ValueError(f"system.init_state(params, key) failed on one member's params: {type(exc).__name__}: {exc}") from exc
    try:
        out = jax.eval_shape(system.measure, member_params, state, key)
    except Exception as exc:
        raise ValueError(f"system.measure(params, state, key) failed on one member's params: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Mapping)):
        raise ValueError(
            "system.measure must return (signals, state) with signals a dict of scalars such as {'E': E}; "
            f"got {type(out).__name__}{'' if not isinstance(out, tuple) else f' of length {len(out)}'}"
        )
    signals, new_state = out
    bad = {k: v.shape for k, v in signals.items() if getattr(v, "shape", None) != ()}
    if bad:
        raise ValueError(f"system.measure's signals must be scalars for one member, got shapes {bad}")
    bad = {k: str(v.dtype) for k, v in signals.items() if not jnp.issubdtype(v.dtype, jnp.floating)
           and not jnp.issubdtype(v.dtype, jnp.integer) and v.dtype != bool}
    if bad:
        raise ValueError(f"system.measure's signals must be real numbers, got dtypes {bad} (take abs or the real part)")
    missing = [s for s in lmap.reads if s not in signals]
    if missing:
        raise ValueError(f"system must measure the signals {lmap.reads} for the {lmap.name} map; missing {missing}")
    if jax.tree_util.tree_structure(new_state) != jax.tree_util.tree_structure(state) or any(
        (a.shape, a.dtype) != (b.shape, b.dtype)
        for a, b in zip(jax.tree_util.tree_leaves(new_state), jax.tree_util.tree_leaves(state))
    ):
        shapes = lambda t: jax.tree_util.tree_map(lambda a: f"{a.dtype}{list(a.shape)}", t)  # noqa: E731
        raise ValueError("system.measure must return a state with the structure, shapes and dtypes of init_state's: "
                         f"init_state gives {shapes(state)}, measure returns {shapes(new_state)}")
    return dict(signals)



def refuse_copies(ids: np.ndarray, hyper: Any, params: PyTree) -> None:
    """ValueError when two members are copies: one id (so one noise stream), the same
    hyperparameters and the same initial parameters. An id may repeat with other
    hyperparameters or parameters: the same noise at another sweep point."""
    ids = np.asarray(ids)
    if np.unique(ids).size == ids.size:
        return
    rows = [np.ascontiguousarray(np.asarray(x).reshape(len(ids), -1)) for x in jax.tree_util.tree_leaves((tuple(hyper), params))]
    first: dict = {}
    for i, member_id in enumerate(ids.tolist()):
        h = hashlib.sha256(repr(member_id).encode())
        for r in rows:
            h.update(r[i].tobytes())
        j = first.setdefault(h.digest(), i)
        if j != i:
            raise ValueError(
                f"members {j} and {i} are copies: the same id {member_id} (so the same noise), the same "
                "hyperparameters and initial parameters. Give each member its own id (e.g. range(B)); an id "
                "may repeat only with other hyperparameters or parameters (the same noise at another sweep point)"
            )


def hyper_per_member(hyper: Any) -> bool:
    """True when some field of ``hyper`` (recursively) is given per member (an array, not a scalar)."""
    return any(np.ndim(x) >= 1 for x in jax.tree_util.tree_leaves(tuple(hyper)))


def one_member_reading(system, params: PyTree) -> bool:
    """True when the system also accepts the whole of ``params`` as one member's parameters
    (validate, init_state and measure with scalar signals, shapes only)."""
    try:
        if hasattr(system, "validate"):
            system.validate(params)
        key = jax.random.key(0)
        state = jax.eval_shape(system.init_state, params, key)
        signals, _ = jax.eval_shape(system.measure, params, state, key)
        return all(getattr(v, "shape", None) == () for v in signals.values())
    except Exception:  # noqa: BLE001 - any failure means the reading does not work
        return False


def member_count(system, params: PyTree, hyper: Any, n_members, members=None) -> int:
    """The ensemble size ``B``: the leading axis of ``params``, when nothing else can be meant.

    It is settled by ``Placement(n_members=)``, by member ids or hyperparameters given per member, by
    parameters made with :func:`ensemble.replicate`, or by the system refusing the other reading
    (the whole of ``params`` as one member's parameters); when both readings work, ValueError
    shows them."""
    B = leading_axis(params)
    if n_members is not None:
        _checks.integer_at_least("n_members", n_members, 1)
        if int(n_members) != B:
            raise ValueError(f"n_members ({n_members}) must equal the leading (member) axis of params ({B})")
        return B
    if (members is not None or hyper_per_member(hyper) or helpers.stacked_members(params) == B
            or not one_member_reading(system, params)):
        return B
    whole = jax.tree_util.tree_map(lambda x: tuple(jnp.shape(x)), params)
    each = jax.tree_util.tree_map(lambda x: tuple(jnp.shape(x)[1:]), params)
    raise ValueError(
        f"params can be read two ways and the system accepts both: {B} member{'s' if B > 1 else ''} with shapes "
        f"{each}, or one member with shapes {whole}. Say which: placement=Placement(n_members={B}) for the first reading, or "
        "ensemble.replicate(params, B) to run one member's parameters B times (hyperparameters given per member "
        "also settle it)"
    )


def warn_unused_delay(lmap, hyper: Any) -> None:
    """Warn when no member uses the longest delay the map keeps (usually ``m`` left at its default of 1)."""
    def delays(h):
        for name, value in zip(h._fields, h):
            if isinstance(value, tuple) and hasattr(value, "_fields"):
                yield from delays(value)
            elif name == "m":
                yield value

    for m in delays(hyper):
        values = _checks._values("m", m)
        if values is not None and values.size and np.all(np.mod(values, 1) == 0) and 1 <= int(values.max()) < lmap.max_delay:
            _checks.warn(
                f"every member's delay m is at most {int(values.max())}, but the map keeps {lmap.max_delay} past "
                f"iterations ({lmap.name}, max_delay={lmap.max_delay}): if m was left at its default of 1, pass m; else "
                f"build the map with max_delay={int(values.max())}"
            )

