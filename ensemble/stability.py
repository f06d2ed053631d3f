"""A stability law for eq. (4): how small ``tau`` may be.

The drift of eq. (4) moves the weights by ``g (w(n) - w(n-m))`` with the gain
``g = -(E(n) - E(n-m)) / tau``: it echoes the last ``m`` steps, scaled by ``g``. In ``m``
iterations ``m`` such echoes add up, so once ``m |dE| / tau`` exceeds about 1 the echo is larger
than the step it echoes, the steps grow geometrically and the member diverges (an unbounded
``E``) or saturates (a network's sigmoids). Before the drift does anything, ``dE`` comes from
the noise ``S E xi``: its spread over members, ``sd(dE_m)`` of ``E(m) - E(0)`` from the initial
weights with the drift off, is the scale ``tau`` must be measured in.

**The law.** With ``tau_c = m * sd(dE_m)``: members diverge for ``tau <= tau_c`` (all of them, in
the runs below) and are stable for ``tau >= 3 tau_c`` (at most a few percent diverge, from the
other edge, noise run-away at large ``tau``); in between lies the transition. Measured on the
sphere loss ``|x - 1|^2`` in 3-d from ``x = 0`` (64 members, 500 iterations), fraction diverged
at ``tau / sd(dE_m)`` = 0.3, 1, 2, 4, 10, 30, 100:

- ``S`` 0.003, ``m`` 1: 1.0, 1.0, 0.88, 0.0, 0.0, 0.0, 0.0; ``m`` 3: 1.0, 1.0, 1.0, 1.0, 0.11, 0, 0;
- ``S`` 0.01, ``m`` 1: 1.0, 1.0, 0.39, 0.02, 0, 0, 0; ``m`` 3: 1.0, 1.0, 1.0, 0.8, 0, 0, 0;
- ``S`` 0.03, ``m`` 1: 1.0, 0.81, 0.11, 0.02, 0.02, 0.05, 0.11; ``m`` 3: 1.0, 1.0, 0.69, 0.11, 0.03, 0.03, 0.11

(the sweep is recorded on the documentation's 'Evidence: feed-forward' page). For a smooth ``E``,
``sd(dE_m) ~ S E |grad E| sqrt(m)``, so ``tau_c`` grows like ``S``: the lower edge of the working
band is a line ``tau ~ S`` in the (tau, S) plane, the diagonal of Fig. 3.
"""

from __future__ import annotations

import jax
import numpy as np

from . import _checks, learning
from .driver import evolve
from .helpers import _tile
from .options import Placement

DRIFT_OFF_TAU = 1e30
"""``tau`` of the pilot run (:func:`noise_dE`): the gain ``dE / tau`` is then below float32
resolution, so only the noise moves the weights."""
STABLE_FACTOR = 3.0
"""``tau >= STABLE_FACTOR * tau_c`` is predicted stable (:func:`predict`); the factor is read off
the sweeps of the module docstring (beyond it at most a few percent of the members diverged)."""


def noise_dE(system, params, S, m: int, *, key: jax.Array, members=None) -> np.ndarray:
    """``E(m) - E(0)`` of each member under the noise of eq. (4) alone (``tau =``
    :data:`DRIFT_OFF_TAU`), one :func:`ensemble.evolve` call of ``m + 1`` iterations.

    Args:
        system: the system.
        params: stacked initial parameters (``B`` members).
        S: noise intensity, a scalar or ``(B,)``.
        m: the delay (>= 1).
        key: root PRNG key.
        members: the members' ids, as in :func:`ensemble.evolve` (default ``range(B)``).

    Returns:
        ``(B,)``, NaN where a member diverged.
    """
    _checks.integer_at_least("m", m, 1)
    m = int(m)
    B = int(jax.tree_util.tree_leaves(params)[0].shape[0])
    S = np.broadcast_to(np.asarray(S), (B,)) if np.ndim(S) == 0 else S  # per member: params are stacked
    run = evolve(system, learning.discrete(m), params, learning.DiscreteHyper(DRIFT_OFF_TAU, S, m), key=key,
                 n_iterations=m + 1, placement=Placement(members=members))
    E = run.traces["E"]
    return E[m] - E[0]


def critical_tau(system, params, S, m: int, *, key: jax.Array) -> float:
    """The stability law's ``tau_c = m * sd(dE_m)`` over the members of ``params`` (see the
    module docstring): ``tau <= tau_c`` diverges, ``tau >= 3 tau_c`` is stable.

    Args:
        system: the system.
        params: stacked initial parameters of a pilot ensemble (at least 2 members).
        S: noise intensity, a scalar.
        m: the delay (>= 1).
        key: root PRNG key.

    Returns:
        ``tau_c`` (in the units of ``tau``: iterations).
    """
    return float(critical_taus(system, params, [S], m, key=key)[0])


def critical_taus(system, params, S_values, m: int, *, key: jax.Array) -> np.ndarray:
    """:func:`critical_tau` at each of ``S_values`` in one batched run.

    The ``B`` members are tiled once per ``S``, each copy with its member's own id, so the
    numbers are those of one :func:`critical_tau` call per ``S``.

    Args:
        system: the system.
        params: stacked initial parameters of a pilot ensemble (at least 2 members).
        S_values: the noise intensities (>= 0).
        m: the delay (>= 1).
        key: root PRNG key.

    Returns:
        ``(len(S_values),)`` values of ``tau_c``.

    Raises:
        ValueError: no ``S_values``, a negative one, or fewer than 2 members that survive the
            noise alone at some ``S``.
    """

    S_values = np.asarray(S_values, float).reshape(-1)
    if S_values.size == 0:
        raise ValueError("S_values must hold at least one value")
    _checks.nonnegative("S_values", S_values)
    n, B = len(S_values), int(jax.tree_util.tree_leaves(params)[0].shape[0])
    S = np.repeat(S_values, B).astype(np.result_type(*(leaf.dtype for leaf in jax.tree_util.tree_leaves(params))))
    dE = noise_dE(system, _tile(params, n), S, m, key=key, members=np.tile(np.arange(B), n)).reshape(n, B)
    if (np.isfinite(dE).sum(axis=1) < 2).any():
        raise ValueError("the pilot run needs at least 2 members that do not diverge under the noise alone")
    return m * np.nanstd(dE, axis=1)


def predict(tau, tau_c: float) -> np.ndarray:
    """The law's verdict on each ``tau``.

    Args:
        tau: drift time scales, any shape.
        tau_c: the critical ``tau`` (:func:`critical_tau`), > 0.

    Returns:
        An array of ``"diverges"`` (``tau <= tau_c``), ``"stable"``
        (``tau >= STABLE_FACTOR tau_c``) or ``"transition"``, the shape of ``tau``.

    Examples:
        >>> from ensemble import stability
        >>> stability.predict([0.5, 2.0, 3.0], tau_c=1.0).tolist()
        ['diverges', 'transition', 'stable']
    """
    _checks.positive("tau_c", tau_c)
    tau = np.asarray(tau, float)
    return np.where(tau <= tau_c, "diverges", np.where(tau >= STABLE_FACTOR * tau_c, "stable", "transition"))


__all__ = ["noise_dE", "critical_tau", "critical_taus", "predict", "DRIFT_OFF_TAU", "STABLE_FACTOR"]
