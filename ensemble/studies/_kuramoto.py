"""What the Kuramoto studies (Figs. 5-7, cmp) share: settings, the system, initial ensembles.

Every value here is a reconstruction: the paper's M0, R0, tau, S, gamma, m and T
were lost (SPEC §3). The defaults are chosen by the calibration sweeps recorded
in ``docs/calibration.md``; change them here, in one place.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .. import kuramoto as ku
from .. import learning
from .._checks import integer_at_least, nonnegative, positive


@dataclasses.dataclass(frozen=True)
class KuramotoConfig:
    """Settings every Kuramoto study shares (reconstructions; see ``docs/calibration.md``).

    Attributes:
        members: ensemble size (per grid point where there is a grid). seed: root seed.
        N: oscillators. omega_spread: natural frequencies evenly spaced in [-spread, spread].
        dt: Euler step (time units). T: window of one learning iteration (time units).
        R0: target mean order parameter. M0: target mean absolute weight (eq. 14);
            the initial weights are all M0.
        error: eq. (12) form, "squared" (E = (R - R0)^2) or "absolute" (|R - R0|).
        tau, S, m: eq. (4) constants. gamma: weight-control strength of eq. (13).
        n_iterations: learning iterations. record_every: iterations between records.
        tolerance: success means |R - R0| <= tolerance for the final weights, frozen,
            over ``check_windows`` windows.
    """

    members: int = 100
    seed: int = 0
    N: int = 10
    omega_spread: float = 0.5
    dt: float = 0.01
    T: float = 20.0
    R0: float = 0.6
    M0: float = 0.5
    error: str = "squared"
    tau: float = 1.0
    S: float = 0.1
    m: int = 1
    gamma: float = 0.1
    n_iterations: int = 500
    record_every: int = 1
    tolerance: float = 0.03
    check_windows: int = 10

    def validate(self) -> None:
        integer_at_least("members", self.members, 1)
        integer_at_least("seed", self.seed, 0)
        integer_at_least("N", self.N, 2)
        nonnegative("omega_spread", self.omega_spread)
        positive("dt", self.dt)
        positive("T", self.T)
        if not 0 <= self.R0 <= 1:
            raise ValueError(f"R0 must be in [0, 1], got {self.R0!r}")
        nonnegative("M0", self.M0)
        if self.error not in ku.ERROR_FORMS:
            raise ValueError(f"error must be one of {ku.ERROR_FORMS}, got {self.error!r}")
        positive("tau", self.tau)
        nonnegative("S", self.S)
        integer_at_least("m", self.m, 1)
        nonnegative("gamma", self.gamma)
        integer_at_least("n_iterations", self.n_iterations, 1)
        integer_at_least("record_every", self.record_every, 1)
        positive("tolerance", self.tolerance)
        integer_at_least("check_windows", self.check_windows, 1)

    def oscillators(self, T: float | None = None) -> ku.Oscillators:
        """The system of one learning iteration (window ``T``, default ``self.T``)."""
        return ku.Oscillators(ku.default_omega(self.N, self.omega_spread), self.dt,
                              self.T if T is None else T, self.R0, self.error)

    def hyper(self, gamma=None) -> ku.ControlledHyper:
        """Eq. (13) hyperparameters (scalars; the driver broadcasts them)."""
        return ku.ControlledHyper(learning.DiscreteHyper(self.tau, self.S, self.m),
                                  self.gamma if gamma is None else gamma, self.M0)

    def initial_weights(self, n_members: int | None = None, dtype=jnp.float32):
        """``(params, run_key)``: every member starts at ``w_ij = M0``; its phases come from the run key."""
        B = self.members if n_members is None else n_members
        params = {"w": jnp.tile(ku.uniform_weights(self.N, self.M0, dtype)[None], (B, 1))}
        return params, jax.random.key(self.seed)


__all__ = ["KuramotoConfig"]
