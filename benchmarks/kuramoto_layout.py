#!/usr/bin/env python
"""Kuramoto layout experiment: a 50-step Euler window of 1024 N = 10 networks with the member
axis leading ``(B, N)`` (what ``vmap`` produces) vs minor ``(N, B)``.

Usage: ``PYTHONPATH=. python benchmarks/kuramoto_layout.py``. Same arithmetic as
``ensemble.kuramoto_model.integrate`` (fixed-order multiply-add chains), without the learning map.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

B, N, S = 1024, 10, 50
BEST = {}


def bench(name, f, *args):
    g = jax.jit(f)
    jax.block_until_ready(g(*args))
    best = BEST.get(name, 1e9)
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(g(*args))
        best = min(best, time.perf_counter() - t0)
    BEST[name] = best


W = jnp.ones((B, N, N)) * 0.1
om = jnp.linspace(-0.5, 0.5, N)
ph = jnp.asarray(np.random.rand(B, N), jnp.float32)


def member_major(W, ph):
    def body(c, _):
        phi, s, co, rs = c
        a = W[:, :, 0] * s[:, 0:1]
        b = W[:, :, 0] * co[:, 0:1]
        for j in range(1, N):
            a = a + W[:, :, j] * s[:, j : j + 1]
            b = b + W[:, :, j] * co[:, j : j + 1]
        phi = phi + 0.01 * (om + (co * a - s * b) / N)
        s, co = jnp.sin(phi), jnp.cos(phi)
        C = co.sum(-1)
        Sx = s.sum(-1)
        return (phi, s, co, rs + jnp.sqrt(C * C + Sx * Sx) / N), None

    return jax.lax.scan(body, (ph, jnp.sin(ph), jnp.cos(ph), jnp.zeros(B)), None, length=S)[0]


def member_minor(Wt, pht):  # Wt (N, N, B), pht (N, B)
    def body(c, _):
        phi, s, co, rs = c
        a = Wt[:, 0] * s[0]
        b = Wt[:, 0] * co[0]
        for j in range(1, N):
            a = a + Wt[:, j] * s[j]
            b = b + Wt[:, j] * co[j]
        phi = phi + 0.01 * (om[:, None] + (co * a - s * b) / N)
        s, co = jnp.sin(phi), jnp.cos(phi)
        C = co.sum(0)
        Sx = s.sum(0)
        return (phi, s, co, rs + jnp.sqrt(C * C + Sx * Sx) / N), None

    return jax.lax.scan(body, (pht, jnp.sin(pht), jnp.cos(pht), jnp.zeros(B)), None, length=S)[0]


for _ in range(4):  # interleaved rounds: the machine's load changes between them
    bench("member axis leading (B, N)", member_major, W, ph)
    bench("member axis minor (N, B)", member_minor, jnp.transpose(W, (1, 2, 0)), ph.T)
for name, best in BEST.items():
    print(f"{name:35s} {B * S / best:.3g} steps/s (best of 4 interleaved rounds)")
