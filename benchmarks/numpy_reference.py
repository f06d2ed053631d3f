"""Plain-numpy implementations of the benchmarked algorithms, the baselines of ``run.py``.

The same algorithms as the library, written the way a careful numpy user would:

* vectorized over a leading member axis ``B`` (``B = 1`` in a Python loop over
  members is the "single-system script" baseline);
* float32 throughout (numpy 2 keeps float32 with Python-float scalars);
* numpy's own normal generator (``Generator.standard_normal``) for the noise, so
  the noise values differ from the library's; with ``S = 0`` every map is
  deterministic and the traces agree with the library to rounding
  (``tests/test_benchmarks_reference.py``).

Algorithms (see ``ensemble.learning``, ``ensemble.feedforward``, ``ensemble.kuramoto``):

* eq. (4)/(8): ``w(n+1) = w(n) - sum_k (g_k(n) - g_k(n-m))/tau_k (w(n) - w(n-m)) + sum_k S_k g_k(n) xi_k``
  with ``g = (E,)`` or ``(E, 1 - R)``, ring buffers of length ``max_delay`` holding the
  last parameters and objectives, history before iteration 0 equal to ``w(0), g(0)``;
* the 35-10-5 logistic network, ``E`` = mean squared error over patterns and outputs,
  ``R`` = fraction of single hidden-node deletions with ``E_k < eps``;
* Kuramoto: Euler steps ``phi += dt (omega + (1/N) [cos phi (W sin phi) - sin phi (W cos phi)])``,
  ``R`` = mean over the window of ``r`` after each step, ``E = (R - R0)^2``, ``M = mean |w_ij|``,
  eq. (13) control ``- gamma (M(w(n)) - M0) w(n)`` after the base step.

Divergence handling (freezing non-finite members) is left out: the benchmarked
settings never diverge.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ------------------------------------------------------------------ learning map


class Delay:
    """Ring buffers of a batch of members: ``history (B, L, D)``, ``signals (B, L, K)``, counter ``n``."""

    def __init__(self, w: np.ndarray, max_delay: int, n_objectives: int, start=None):
        B = w.shape[0]
        self.history = np.repeat(w[:, None, :], max_delay, axis=1).astype(w.dtype)
        self.signals = np.zeros((B, max_delay, n_objectives), w.dtype)
        self.n = 0
        if start is not None:  # continue from given buffers: (history (B, L, D), signals (B, L, K), n)
            history, signals, self.n = start
            self.history[:], self.signals[:] = history, signals
        self.rows = np.arange(B)

    def step(self, w, g, taus, noise, m, rng):
        """One step of the shared delay map. ``w (B, D)``, ``g (B, K)``, ``taus``/``noise`` length K, ``m`` int or (B,)."""
        L = self.history.shape[1]
        if self.n == 0:
            self.signals[:] = g[:, None, :]
        read = np.mod(self.n - np.asarray(m), L)
        write = self.n % L
        w_delayed = self.history[self.rows, read]
        g_delayed = self.signals[self.rows, read]
        drift = -np.sum((g - g_delayed) / np.asarray(taus, w.dtype), axis=1)
        new = w + drift[:, None] * (w - w_delayed)
        for k in range(g.shape[1]):
            xi = rng.standard_normal(w.shape, dtype=w.dtype)
            new = new + (F32(noise[k]) * g[:, k])[:, None] * xi
        self.history[:, write] = w
        self.signals[:, write] = g
        self.n += 1
        return new


# ------------------------------------------------------------------ network


def network_signals(w: np.ndarray, shapes, X: np.ndarray, Y: np.ndarray, eps=None):
    """``E (B,)`` and, with ``eps``, ``R (B,)`` for flat parameters ``w (B, D)``.

    ``shapes = ((N2, N1 + 1), (N3, N2 + 1))``; column 0 of each matrix is the threshold weight.
    """
    (N2, N1p), (N3, N2p) = shapes
    B = w.shape[0]
    h = w[:, : N2 * N1p].reshape(B, N2, N1p)
    o = w[:, N2 * N1p :].reshape(B, N3, N2p)
    H = sigmoid(np.matmul(X, np.swapaxes(h[:, :, 1:], 1, 2)) + h[:, None, :, 0])  # (B, P, N2)
    pre = np.matmul(H, np.swapaxes(o[:, :, 1:], 1, 2)) + o[:, None, :, 0]  # (B, P, N3)
    E = np.mean((Y - sigmoid(pre)) ** 2, axis=(1, 2))
    if eps is None:
        return E, None
    # Deleting hidden node k removes H[:, :, k] * o[:, :, k] from every output pre-activation.
    pre_k = pre[:, None] - np.swapaxes(H, 1, 2)[:, :, :, None] * np.swapaxes(o[:, :, 1:], 1, 2)[:, :, None, :]
    E_k = np.mean((Y - sigmoid(pre_k)) ** 2, axis=(2, 3))  # (B, N2)
    R = np.mean((E_k < eps).astype(w.dtype), axis=1)
    return E, R


def network_run(hidden, output, X, Y, n_iterations, *, tau, S, m, max_delay, eps=None, tau_R=None, S_R=None, seed=0, start=None):
    """Eq. (4) (``eps is None``) or eq. (8) learning of a batch of networks.

    Args:
        hidden: ``(B, N2, N1 + 1)``; output: ``(B, N3, N2 + 1)`` (float32).
        tau, S: eq. (4)'s drift scale and noise (eq. (8): ``tau_E``, ``S_E``); tau_R, S_R: eq. (8)'s R terms.
        start: optional ring buffers to continue from, ``(history (B, L, D), signals (B, L, K), n)``
            with the flat parameter order ``[hidden.ravel(), output.ravel()]``.

    Returns:
        dict with ``E`` (and ``R``) traces ``(n_iterations, B)`` and the final ``hidden``, ``output``.
    """
    hidden, output = np.asarray(hidden, F32), np.asarray(output, F32)
    X, Y = np.asarray(X, F32), np.asarray(Y, F32)
    B = hidden.shape[0]
    shapes = (hidden.shape[1:], output.shape[1:])
    w = np.concatenate([hidden.reshape(B, -1), output.reshape(B, -1)], axis=1)
    K = 1 if eps is None else 2
    delay = Delay(w, max_delay, K, start)
    rng = np.random.default_rng(seed)
    taus = (tau,) if K == 1 else (tau, tau_R)
    noise = (S,) if K == 1 else (S, S_R)
    Es, Rs = [], []
    for _ in range(n_iterations):
        E, R = network_signals(w, shapes, X, Y, eps)
        g = E[:, None] if K == 1 else np.stack([E, 1 - R], axis=1)
        Es.append(E)
        if R is not None:
            Rs.append(R)
        w = delay.step(w, g, taus, noise, m, rng)
    n_h = int(np.prod(shapes[0]))
    out = {"E": np.stack(Es), "hidden": w[:, :n_h].reshape((B,) + shapes[0]), "output": w[:, n_h:].reshape((B,) + shapes[1])}
    if Rs:
        out["R"] = np.stack(Rs)
    return out


# ------------------------------------------------------------------ Kuramoto


def to_matrix(w_upper: np.ndarray, N: int) -> np.ndarray:
    """``(B, N(N-1)/2) -> (B, N, N)`` symmetric, zero diagonal (row-major ``triu_indices`` order)."""
    iu, ju = np.triu_indices(N, 1)
    W = np.zeros(w_upper.shape[:-1] + (N, N), w_upper.dtype)
    W[..., iu, ju] = w_upper
    W[..., ju, iu] = w_upper
    return W


def kuramoto_window(W, phases, omega, dt, n_steps):
    """Euler steps of a batch ``W (B, N, N)``, ``phases (B, N)``: ``(phases_end, R (B,))``."""
    N = phases.shape[-1]
    dt, inv_n = F32(dt), F32(1.0 / N)
    s, c = np.sin(phases), np.cos(phases)
    rsum = np.zeros(phases.shape[0], phases.dtype)
    for _ in range(n_steps):
        a = np.matmul(W, np.stack([s, c], axis=-1))  # (B, N, 2): W sin, W cos
        coupling = c * a[..., 0] - s * a[..., 1]
        phases = phases + dt * (omega + coupling * inv_n)
        s, c = np.sin(phases), np.cos(phases)
        rsum = rsum + np.sqrt(np.sum(c, axis=-1) ** 2 + np.sum(s, axis=-1) ** 2) / F32(N)
    return phases, rsum / F32(n_steps)


def kuramoto_run(
    w, phases, omega, dt, n_steps, R0, n_iterations, *, tau, S, m, max_delay, gamma, M0, seed=0, window=None, start=None
):
    """Eq. (13) learning (eq. (4) base map plus weight control) of a batch of Kuramoto networks.

    Args:
        w: ``(B, N(N-1)/2)`` weights; phases: ``(B, N)`` initial phases (float32).
        window: the integrator ``(W, phases, omega, dt, n_steps) -> (phases, R)``
            (default :func:`kuramoto_window`; ``run.py`` swaps in the PyPI ``kuramoto`` package).
        start: optional ring buffers to continue from (see :class:`Delay`).

    Returns:
        dict of traces ``E``, ``R``, ``M`` ``(n_iterations, B)``, the final ``w`` and ``phases``
        (wrapped to ``[-pi, pi]`` after every window, as the library's).
    """
    window = window or kuramoto_window
    w, phases = np.asarray(w, F32).copy(), np.asarray(phases, F32).copy()
    omega = np.asarray(omega, F32)
    N = phases.shape[-1]
    delay = Delay(w, max_delay, 1, start)
    rng = np.random.default_rng(seed)
    Es, Rs, Ms = [], [], []
    for _ in range(n_iterations):
        phases, R = window(to_matrix(w, N), phases, omega, dt, n_steps)
        phases = np.remainder(phases + F32(np.pi), F32(2 * np.pi)) - F32(np.pi)  # wrapped, as the library does
        E = (R - F32(R0)) ** 2
        M = np.mean(np.abs(w), axis=1)
        Es.append(E)
        Rs.append(R)
        Ms.append(M)
        new = delay.step(w, E[:, None], (tau,), (S,), m, rng)
        w = new - (F32(gamma) * (M - F32(M0)))[:, None] * w
    return {"E": np.stack(Es), "R": np.stack(Rs), "M": np.stack(Ms), "w": w, "phases": phases}
