"""The benchmarked algorithms written by hand in plain JAX, as an expert would, no library code:
the baselines "hand" of ``run.py``.

Member axis leading, the whole learning loop in one ``jit``: a ``lax.scan`` over iterations whose
body measures every member with batched ``einsum``/``matmul`` and applies the delay map of
eq. (4) (eq. (13) adds the weight control) with a ring buffer of the last ``m`` parameters and
errors; the noise ``xi`` is ``jax.random.normal`` of each member's key folded with the iteration
(``jax.random.fold_in``), so every member has its own stream, as in the library; ``jnp.sin`` and
``jnp.cos``; the state donated from call to call. What they leave out, and the library does: the
fixed-order sums that make a member's numbers bitwise the same in any ensemble, the isolation of
diverging members, records of every signal, checkpoints. Same algorithms as
``benchmarks/numpy_reference.py``; ``tests/test_benchmarks_reference.py`` checks them against it
with ``S = 0``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _delay_step(w, hist, errs, E, n, key, tau, S, m):
    """Eq. (4) for ``w (B, D)`` with ring buffers ``hist (m, B, D)``, ``errs (m, B)`` of the
    last ``m`` parameters and errors (history before iteration 0: ``w(0)``, ``E(0)``)."""
    slot = n % m
    errs = jnp.where(n == 0, jnp.broadcast_to(E, errs.shape), errs)
    w_old, E_old = hist[slot], errs[slot]  # w(n - m), E(n - m)
    xi = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, n), w.shape[1:], w.dtype))(key)
    new = w - ((E - E_old) / tau)[:, None] * (w - w_old) + (S * E)[:, None] * xi
    return new, hist.at[slot].set(w), errs.at[slot].set(E)


def network_program(X, Y, shapes, *, tau, S, m):
    """``(state, n_it) -> (state, E (n_it, B))`` for the 35-10-5 network (eq. (4)), jitted with
    the state donated; ``state = (w (B, D), hist, errs, keys (B,), n)`` from :func:`network_state`."""
    X, Y = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32)
    (N2, N1p), (N3, N2p) = shapes
    n_h = N2 * N1p

    def error(w):
        B = w.shape[0]
        h, o = w[:, :n_h].reshape(B, N2, N1p), w[:, n_h:].reshape(B, N3, N2p)
        H = jax.nn.sigmoid(jnp.einsum("pi,bhi->bph", X, h[:, :, 1:]) + h[:, None, :, 0])
        out = jax.nn.sigmoid(jnp.einsum("bph,boh->bpo", H, o[:, :, 1:]) + o[:, None, :, 0])
        return jnp.mean((Y[None] - out) ** 2, axis=(1, 2))

    def step(state, _):
        w, hist, errs, keys, n = state
        E = error(w)
        w, hist, errs = _delay_step(w, hist, errs, E, n, keys, tau, S, m)
        return (w, hist, errs, keys, n + 1), E

    def run(state, n_it: int):
        return jax.lax.scan(step, state, None, length=n_it)

    return jax.jit(run, static_argnums=1, donate_argnums=0)


def network_state(hidden, output, seed: int = 0, m: int = 5):
    """The initial state of :func:`network_program` from ``hidden (B, N2, N1+1)``, ``output (B, N3, N2+1)``."""
    B = hidden.shape[0]
    w = jnp.concatenate([jnp.reshape(hidden, (B, -1)), jnp.reshape(output, (B, -1))], axis=1).astype(jnp.float32)
    keys = jax.random.split(jax.random.key(seed), B)
    return w, jnp.broadcast_to(w, (m,) + w.shape) + 0.0, jnp.zeros((m, B), jnp.float32), keys, jnp.int32(0)


def kuramoto_program(N: int, omega, *, dt, n_steps, R0, tau, S, m, gamma, M0):
    """``(state, n_it) -> (state, E (n_it, B))`` for eq. (13) on ``N`` oscillators, jitted with
    the state donated; ``state = (w (B, P), phases (B, N), hist, errs, keys, n)``."""
    iu, ju = np.triu_indices(N, 1)
    omega = jnp.asarray(omega, jnp.float32)[None]

    def window(w, th):
        B = w.shape[0]
        W = jnp.zeros((B, N, N), w.dtype).at[:, iu, ju].set(w).at[:, ju, iu].set(w)

        def euler(carry, _):
            th, s, c, rsum = carry
            ab = jnp.matmul(W, jnp.stack([s, c], -1))
            th = th + dt * (omega + (c * ab[..., 0] - s * ab[..., 1]) / N)
            s, c = jnp.sin(th), jnp.cos(th)
            return (th, s, c, rsum + jnp.sqrt(jnp.mean(c, -1) ** 2 + jnp.mean(s, -1) ** 2)), None

        (th, _, _, rsum), _ = jax.lax.scan(euler, (th, jnp.sin(th), jnp.cos(th), jnp.zeros(B, w.dtype)), None,
                                           length=n_steps)
        return jnp.mod(th + jnp.pi, 2 * jnp.pi) - jnp.pi, rsum / n_steps

    def step(state, _):
        w, th, hist, errs, keys, n = state
        th, R = window(w, th)
        E = (R - R0) ** 2
        M = jnp.mean(jnp.abs(w), axis=1)
        new, hist, errs = _delay_step(w, hist, errs, E, n, keys, tau, S, m)
        new = new - (gamma * (M - M0))[:, None] * w
        return (new, th, hist, errs, keys, n + 1), E

    def run(state, n_it: int):
        return jax.lax.scan(step, state, None, length=n_it)

    return jax.jit(run, static_argnums=1, donate_argnums=0)


def kuramoto_state(w, phases, seed: int = 0, m: int = 1):
    """The initial state of :func:`kuramoto_program` from ``w (B, P)`` and ``phases (B, N)``."""
    w = jnp.asarray(w, jnp.float32)
    B = w.shape[0]
    return (w + 0.0, jnp.asarray(phases, jnp.float32), jnp.broadcast_to(w, (m,) + w.shape) + 0.0,
            jnp.zeros((m, B), jnp.float32), jax.random.split(jax.random.key(seed), B), jnp.int32(0))
