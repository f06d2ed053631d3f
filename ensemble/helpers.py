"""Helpers for bringing your own problem: a system from a loss, stacked parameters, grids.

Example (a 256-member (tau, S) grid on the 10-D Rosenbrock function)::

    import jax, jax.numpy as jnp, ensemble
    from ensemble import learning

    def rosenbrock(p):
        x = p["x"]
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    g = ensemble.grid(tau=[0.01, 0.03, 0.1, 0.3], S=[3e-5, 1e-4, 3e-4, 1e-3], members=16)
    run = ensemble.evolve(ensemble.from_loss(rosenbrock), learning.discrete(1),
                          ensemble.replicate({"x": jnp.zeros(10)}, g.size),
                          learning.DiscreteHyper(tau=g.tau, S=g.S, m=1), key=jax.random.key(0), n_iterations=5000)
    g.unflatten(run.final["E"])      # (4, 4, 16): E = 9 at the start; NaN in the divergent corner (large S, small tau)
"""

from __future__ import annotations

import inspect
import itertools
import weakref
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks


class LossSystem:
    """A system whose one processing interval is one evaluation of a loss: ``E = loss(params)``
    (or ``loss(params, key)`` for a noisy loss). No carried state. Made by :func:`from_loss`.

    Args:
        loss: the loss of one member's parameters.
        uses_key: call it as ``loss(params, key)`` (a noisy loss) rather than ``loss(params)``.
    """

    def __init__(self, loss: Callable, uses_key: bool):
        self.loss, self.uses_key = loss, uses_key

    def init_state(self, params, key):
        """No carried state: ``()``."""
        return ()

    def measure(self, params, state, key):
        """``({"E": loss(params)}, state)``, with ``key`` passed on to a noisy loss."""
        E = self.loss(params, key) if self.uses_key else self.loss(params)
        return {"E": jnp.asarray(E)}, state

    def __repr__(self) -> str:
        return f"from_loss({getattr(self.loss, '__qualname__', self.loss)!r})"


def from_loss(loss: Callable) -> LossSystem:
    """A system for :func:`ensemble.evolve` from a loss of one member's parameters.

    Args:
        loss: ``params -> E`` or ``(params, key) -> E`` (a scalar; ``key`` is this member's key of
            this iteration, for a noisy loss). ``params`` is one member's pytree, unstacked.

    Returns:
        A :class:`LossSystem` measuring the one signal ``"E"``.

    Raises:
        ValueError: ``loss`` is not callable or takes neither one nor two required arguments.

    Examples:
        >>> import jax.numpy as jnp
        >>> import ensemble
        >>> system = ensemble.from_loss(lambda p: jnp.sum(p["x"] ** 2))
        >>> signals, state = system.measure({"x": jnp.array([1.0, 2.0])}, system.init_state(None, None), None)
        >>> float(signals["E"]), state
        (5.0, ())
    """
    if not callable(loss):
        raise ValueError(f"loss must be callable, got {type(loss).__name__}")
    try:
        n = len([p for p in inspect.signature(loss).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])
    except (TypeError, ValueError):
        n = 1
    if n not in (1, 2):
        raise ValueError(f"loss must take (params) or (params, key), got a function of {n} required arguments")
    return LossSystem(loss, n == 2)


_STACKED: dict[int, tuple[weakref.ref, int]] = {}
"""Leaves made by :func:`replicate` (by ``id``, with a weak reference and their member count)."""


def _mark_stacked(tree: Any, n_members: int) -> Any:
    for leaf in jax.tree_util.tree_leaves(tree):
        try:
            _STACKED[id(leaf)] = (weakref.ref(leaf, lambda _, i=id(leaf): _STACKED.pop(i, None)), int(n_members))
        except TypeError:  # not weakly referable: the member count is then settled otherwise
            pass
    return tree


def stacked_members(params: Any) -> int | None:
    """The member count of parameters made by :func:`replicate` (every leaf of ``params``), else None."""
    counts = set()
    for leaf in jax.tree_util.tree_leaves(params):
        hit = _STACKED.get(id(leaf))
        if hit is None or hit[0]() is not leaf:
            return None
        counts.add(hit[1])
    return counts.pop() if len(counts) == 1 else None


def replicate(params: Any, n_members: int) -> Any:
    """Stack one member's parameters ``n_members`` times.

    Every leaf (an array or a Python number) gets a leading axis ``B = n_members``.
    :func:`ensemble.evolve` knows the result holds ``n_members`` members, whatever the shapes of
    its leaves (no ``Placement(n_members=)`` needed).

    Args:
        params: one member's parameters (any pytree of arrays or numbers).
        n_members: the ensemble size ``B`` (>= 1).

    Returns:
        The stacked parameters: a leaf of shape ``s`` becomes ``(B,) + s``.

    Raises:
        ValueError: ``n_members < 1``, or ``params`` already made by :func:`replicate`.

    Examples:
        >>> import jax.numpy as jnp
        >>> import ensemble
        >>> params = ensemble.replicate({"w": jnp.zeros((3, 2)), "b": 0.5}, 8)
        >>> params["w"].shape, params["b"].shape
        ((8, 3, 2), (8,))
    """
    _checks.integer_at_least("n_members", n_members, 1)
    already = stacked_members(params)
    if already is not None:
        raise ValueError(f"params are already stacked ({already} members, made by replicate): replicate stacks one "
                         "member's parameters")
    stacked = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(jnp.asarray(x), (int(n_members),) + jnp.shape(x)), params)
    return _mark_stacked(stacked, n_members)


def _tile(params: Any, n: int) -> Any:
    """Stacked ``params`` (``B`` members, ...) repeated ``n`` times along the member axis, copy
    after copy: member ``i`` of copy ``c`` is member ``c * B + i``."""
    tiled = jax.tree_util.tree_map(lambda x: jnp.tile(jnp.asarray(x), (int(n),) + (1,) * (jnp.ndim(x) - 1)), params)
    sizes = {jnp.shape(x)[0] for x in jax.tree_util.tree_leaves(tiled) if jnp.ndim(x)}
    return _mark_stacked(tiled, sizes.pop()) if len(sizes) == 1 else tiled


class Grid:
    """A grid of hyperparameter values times ``members`` members per point (made by :func:`grid`).

    Member ``i`` sits at grid point ``i // members`` (points in C order over the axes, the first
    axis slowest). ``grid.<name>`` is the ``(B,)`` float64 array of that hyperparameter, one value
    per member, to pass to the map's NamedTuple.

    Args:
        axes: ``{name: values}``, each a non-empty 1-d list (checked by :func:`grid`).
        members: members per grid point.

    Attributes:
        names: the axes' names, in order.
        values: ``{name: (n,) float64 array}``, the values of each axis.
        members: members per grid point.
        shape: ``(len(axis_1), ..., len(axis_k), members)``.
        size: the ensemble size ``B``, the product of ``shape``.
    """

    def __init__(self, axes: dict, members: int):
        self.names = tuple(axes)
        self.values = {k: np.asarray(v, float) for k, v in axes.items()}
        self.members = int(members)
        self.shape = tuple(len(v) for v in self.values.values()) + (self.members,)
        self.size = int(np.prod(self.shape))
        points = np.array(list(itertools.product(*self.values.values())), float).reshape(-1, len(self.names))
        self._columns = {k: np.repeat(points[:, j], self.members) for j, k in enumerate(self.names)}

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("_columns", {})
        if name in columns:
            return columns[name]
        raise AttributeError(f"grid has no axis {name!r}; axes: {', '.join(self.__dict__.get('names', ()))}")

    def unflatten(self, a, axis: int = -1) -> np.ndarray:
        """Reshape the member axis of ``a`` into the grid's :attr:`shape`.

        ``run.final["E"]`` ``(B,)`` -> ``(n_tau, n_S, members)``; ``run.traces["E"]``
        ``(n_records, B)`` -> ``(n_records, n_tau, n_S, members)``.

        Args:
            a: an array with a member axis of length :attr:`size`.
            axis: the member axis (default the last).

        Returns:
            ``a`` as numpy, that axis replaced by the grid's axes and ``members``.

        Raises:
            ValueError: the axis is not of length :attr:`size`.
        """
        a = np.asarray(a)
        axis = axis % a.ndim
        if a.shape[axis] != self.size:
            raise ValueError(f"a must have {self.size} members on axis {axis}, got shape {a.shape}")
        return a.reshape(a.shape[:axis] + self.shape + a.shape[axis + 1:])

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}={list(v)}" for k, v in self.values.items())
        return f"grid({axes}, members={self.members})"


def grid(members: int = 1, **axes) -> Grid:
    """A hyperparameter grid: every combination of the axes' values, ``members`` members at each.

    ``g = grid(tau=[...], S=[...], members=16)``: ``g.tau``, ``g.S`` are the ``(B,)`` per-member
    values, ``g.size`` is ``B``, ``g.unflatten(x)`` puts per-member results back on the grid.

    Args:
        members: members per grid point (>= 1).
        **axes: the axes, each ``name=values`` with a non-empty 1-d list of values; the first
            axis varies slowest.

    Returns:
        A :class:`Grid`.

    Raises:
        ValueError: no axis, an empty or not 1-d axis, or ``members < 1``.

    Examples:
        >>> import ensemble
        >>> g = ensemble.grid(tau=[1, 10], S=[0.01, 0.1, 1.0], members=4)
        >>> g.shape, g.size
        ((2, 3, 4), 24)
        >>> g.tau[:5].tolist(), g.S[:5].tolist()
        ([1.0, 1.0, 1.0, 1.0, 1.0], [0.01, 0.01, 0.01, 0.01, 0.1])
        >>> g.unflatten(list(range(24)))[1, 2].tolist()
        [20, 21, 22, 23]
    """
    _checks.integer_at_least("members", members, 1)
    if not axes:
        raise ValueError("grid needs at least one axis, e.g. grid(tau=[0.1, 1.0], members=8)")
    for k, v in axes.items():
        arr = np.asarray(v, float)
        if arr.ndim != 1 or arr.size < 1:
            raise ValueError(f"{k} must be a non-empty 1-d list of values, got shape {arr.shape}")
    return Grid(axes, members)


__all__ = ["from_loss", "replicate", "grid", "Grid", "LossSystem"]
