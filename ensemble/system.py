"""The contract between a dynamical system and :func:`ensemble.evolve`.

A *system* is any object with two methods, ``init_state`` and ``measure``, written for **one
member**; :func:`ensemble.evolve` runs them for every member at once (``vmap``) and over the
iterations (``lax.scan``). :class:`System` spells the contract as a :class:`typing.Protocol`:
a class does not need to inherit from it, only to have the methods. For a system that is only
a loss of the parameters, :func:`ensemble.from_loss` builds one in a line.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import jax

__all__ = ["System"]

PyTree = Any


@runtime_checkable
class System(Protocol):
    """A dynamical system whose parameters learn by eq. (4): the two methods every system has.

    ``params`` is one member's parameter pytree (what learns), ``state`` its carried state
    (e.g. oscillator phases; ``()`` when nothing is carried) and ``key`` a PRNG key of that
    member and iteration. Both methods must be pure and traceable by JAX (``jax.numpy``, no
    Python branches on values): they are compiled once and run for all members.

    Two methods are optional, and :func:`ensemble.evolve` uses them when present:

    - ``validate(params) -> None``: raise :class:`ValueError` on unsuitable parameters (called
      once per :func:`ensemble.evolve`, outside the compiled program, with the first member's
      parameters: one member's pytree, no member axis; not called when ``state=`` is given);
    - ``measure_ensemble(params, state, keys) -> (signals, state)``: :meth:`measure` for all
      members at once (leading axis ``B`` on every leaf, signals of shape ``(B,)``), used
      instead of ``vmap(measure)``. It must give the numbers of ``vmap(measure)``; it exists so
      that a system can choose a faster memory layout.

    Examples:
        A quadratic bowl whose two parameters learn to move towards ``(1, -2)``; eight
        members start at the origin, where ``E = 5``:

        >>> import jax, jax.numpy as jnp
        >>> import ensemble
        >>> from ensemble import learning
        >>> class Bowl:
        ...     def init_state(self, params, key):
        ...         return ()
        ...     def measure(self, params, state, key):
        ...         w = params["w"]
        ...         E = jnp.sum((w - jnp.array([1.0, -2.0])) ** 2)
        ...         return {"E": E}, state
        >>> isinstance(Bowl(), ensemble.System)
        True
        >>> params = ensemble.replicate({"w": jnp.zeros(2)}, 8)
        >>> hyper = learning.DiscreteHyper(tau=1.0, S=0.01, m=1)
        >>> run = ensemble.evolve(Bowl(), learning.discrete(), params, hyper,
        ...                       key=jax.random.key(0), n_iterations=1000)
        >>> run.final["E"].shape
        (8,)
        >>> bool((run.final["E"] < 2.5).all())
        True
    """

    def init_state(self, params: PyTree, key: jax.Array) -> PyTree:
        """The carried state of one member before its first iteration.

        Args:
            params: one member's parameters.
            key: a PRNG key of that member.

        Returns:
            A pytree of arrays (``()`` for a system that carries nothing).
        """
        ...

    def measure(self, params: PyTree, state: PyTree, key: jax.Array) -> tuple[Mapping[str, jax.Array], PyTree]:
        """One processing interval of one member with fixed ``params``.

        Args:
            params: one member's parameters.
            state: the carried state from the previous interval (or :meth:`init_state`).
            key: a PRNG key of that member and iteration.

        Returns:
            ``(signals, state)``: ``signals`` maps names to scalars and must hold the error
            ``"E"`` that drives learning (every signal is recorded in the run's traces);
            ``state`` is the carried state for the next interval.
        """
        ...
