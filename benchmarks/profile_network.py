#!/usr/bin/env python
"""Where the eq. (4) network step's time goes: time variants of one member-iteration.

Usage: ``PYTHONPATH=. python benchmarks/profile_network.py [--members 1024] [--iterations 50]``

Each variant is the ``vmap`` over members of one part of the step inside a ``lax.scan``
over iterations (compiled once, warm-up, best of 3, ``block_until_ready``), reported in
nanoseconds per member-iteration. The full step is the library's compiled chunk.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import Chunk, network_problem
from ensemble import driver, learning
from ensemble.learning import normal_like


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=1024)
    ap.add_argument("--iterations", type=int, default=50)
    a = ap.parse_args()
    B, n_it = a.members, a.iterations
    task, lmap, params, hyper = network_problem(B, False)
    keys = driver.member_keys(jax.random.key(1), np.arange(B))
    hyp = driver.broadcast_hyper(hyper, B)
    D = sum(x[0].size for x in jax.tree_util.tree_leaves(params))
    rows = []

    def timeit(name, body, carry):
        f = jax.jit(lambda c: jax.lax.scan(lambda c, _: (body(c), None), c, None, length=n_it)[0])
        c = jax.block_until_ready(f(carry))
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            c = jax.block_until_ready(f(c))
            best = min(best, time.perf_counter() - t0)
        ns = best / n_it / B * 1e9
        rows.append((name, ns))
        print(f"{name:52s} {ns:9.0f} ns/member-it", flush=True)

    ch = Chunk(task, lmap, params, hyper)
    ch.call(n_it)
    best = min(_t(lambda: ch.call(n_it)) for _ in range(3))
    full = best / n_it / B * 1e9
    print(f"{'full step (library chunk: measure + map + checks)':52s} {full:9.0f} ns/member-it", flush=True)

    def fwd(c):
        p, acc = c
        sig, _ = jax.vmap(lambda q: task.measure(q, (), None))(p)
        return jax.tree_util.tree_map(lambda x: x + 1e-7, p), acc + sig["E"]

    timeit("forward pass: measure E (35-10-5, 5 patterns)", fwd, (params, jnp.zeros(B)))

    def noise(c):
        p, n = c
        ks = jax.vmap(lambda k: jax.random.fold_in(k, n))(keys)
        xi = jax.vmap(normal_like)(ks, p)
        return jax.tree_util.tree_map(lambda x, y: x + y, p, xi), n + 1

    timeit(f"noise: fold_in + normal_like ({D} normals)", noise, (params, jnp.int32(0)))

    def bits_variant(partitionable: bool | None):
        def bits(c):
            acc, n = c
            ks = jax.vmap(lambda k: jax.random.fold_in(k, n))(keys)
            if partitionable is None:  # the library: one threefry-2x32 call per two words
                b = jax.vmap(lambda k: learning.random_bits(k, D))(ks)
            else:
                with jax.threefry_partitionable(partitionable):
                    b = jax.vmap(lambda k: jax.random.bits(k, (D,), jnp.uint32))(ks)
            return acc ^ b, n + 1

        return bits

    zero_bits = (jnp.zeros((B, D), jnp.uint32), jnp.int32(0))
    timeit(f"  of which threefry bits ({D} words, library)", bits_variant(None), zero_bits)
    timeit("  (jax.random.bits, partitionable: before 0cd08a9)", bits_variant(True), zero_bits)

    def inv(c):
        x, n = c
        u = jax.lax.bitcast_convert_type((x >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0
        y = jnp.float32(np.sqrt(2.0)) * jax.lax.erf_inv(2.0 * u - 1.0 + 2.0**-24)
        return x + jax.lax.bitcast_convert_type(y, jnp.uint32), n + 1

    timeit("  of which bits -> erf_inv normal", inv, (jnp.arange(B * D, dtype=jnp.uint32).reshape(B, D), jnp.int32(0)))

    def ring_variant(write_first: bool):
        def ring(c):
            p, s = c

            def one(q, st, h):
                L = st.signals.shape[0]
                read, write = jnp.mod(st.n - h.m, L), jnp.mod(st.n, L)
                hist = st.history
                if write_first:  # the library: L = max_delay + 1 slots, write w(n), then read w(n-m)
                    hist = jax.tree_util.tree_map(lambda x, y: x.at[write].set(y), hist, q)
                wd = jax.tree_util.tree_map(lambda x: x[read], hist)
                if not write_first:  # read w(n-m) from the old buffer, then write w(n) (copies the buffer)
                    hist = jax.tree_util.tree_map(lambda x, y: x.at[write].set(y), hist, q)
                new = jax.tree_util.tree_map(lambda x, y: x + 0.01 * (x - y), q, wd)
                return new, st._replace(history=hist, n=st.n + 1)

            return jax.vmap(one)(p, s, hyp)

        return ring

    timeit("ring buffer write-then-read + move (library)", ring_variant(True), (params, jax.vmap(lmap.init)(params)))
    timeit("ring buffer read-then-write + move (before 9097c1e)", ring_variant(False), (params, jax.vmap(lmap.init)(params)))

    def mapstep(c):
        p, s, n = c
        ks = jax.vmap(lambda k: jax.random.fold_in(k, n))(keys)
        p, s = jax.vmap(lambda q, st, h, k: lmap.step(q, st, {"E": jnp.float32(0.1)}, h, k))(p, s, hyp, ks)
        return p, s, n + 1

    timeit("map step (ring buffer + noise + move)", mapstep, (params, jax.vmap(lmap.init)(params), jnp.int32(0)))
    return full, rows


def _t(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
