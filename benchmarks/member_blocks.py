#!/usr/bin/env python
"""What the member blocks cost: a user's system run in fixed blocks of members (the CPU layout's
``member_block``, which keeps a member's bits whatever the ensemble) against plain ``vmap`` over
all members (``member_block=None``, no such guarantee where ``measure`` reduces).

Usage::

    python -m benchmarks.member_blocks [--json FILE] [--quick]

Four systems written as a user would (``tests/test_member_blocks.py`` checks three of them):
``sphere`` (E = |x - 1|^2 in 3-d, one evaluation), ``logistic`` (a mean log-loss over 200 points
in 10-d), ``ornstein_uhlenbeck`` (40 noisy Euler steps per iteration, carried state) and
``phases`` (six coupled phase oscillators, 30 Euler steps with ``W @ sin``). Each is timed
through :func:`ensemble.evolve` (compiled once before, then the best of three runs of at least
0.3 s) at several ensemble sizes, both layouts alternating in one process, on all local
devices (one per core, as the command line does). Reported: member-iterations/s of each and
``blocks / plain`` (above 1: the blocks are faster).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

if __name__ == "__main__":  # one XLA CPU device per core, before JAX starts (as the command line does)
    from ensemble import cpu

    cpu.use_cores()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import ensemble  # noqa: E402
from ensemble import layout, learning  # noqa: E402

_rng = np.random.default_rng(0)
DATA_X = jnp.asarray(_rng.normal(size=(200, 10)), jnp.float32)
DATA_Y = jnp.asarray(_rng.integers(0, 2, 200), jnp.float32)


def sphere(p):
    return jnp.sum((p["x"] - 1.0) ** 2)


def logistic(p):
    z = DATA_X @ p["w"] + p["b"]
    return jnp.mean(jnp.logaddexp(0.0, z) - DATA_Y * z)


class OrnsteinUhlenbeck:
    def init_state(self, params, key):
        return jax.random.normal(key, (), params["k"].dtype)

    def measure(self, params, x, key):
        k, mu = params["k"][0], params["k"][1]
        dW = jax.random.normal(key, (40,), x.dtype) * jnp.sqrt(0.05)

        def step(x, dw):
            x = x - k * (x - mu) * 0.05 + 0.3 * dw
            return x, x

        x, xs = jax.lax.scan(step, x, dW)
        return {"E": (jnp.mean(xs) - 1.0) ** 2}, x


class Phases:
    omega = jnp.linspace(-0.5, 0.5, 6)

    def init_state(self, params, key):
        return jax.random.uniform(key, (6,), params["W"].dtype, 0.0, 2 * np.pi)

    def measure(self, params, th, key):
        W = params["W"]

        def step(th, _):
            s, c = jnp.sin(th), jnp.cos(th)
            th = th + 0.05 * (self.omega + c * (W @ s) - s * (W @ c))
            return th, jnp.abs(jnp.mean(jnp.exp(1j * th)))

        th, r = jax.lax.scan(step, th, None, length=30)
        return {"E": (jnp.mean(r) - 0.9) ** 2}, th


SYSTEMS = {
    "sphere": (ensemble.from_loss(sphere), {"x": jnp.zeros(3)}, 30.0),
    "logistic": (ensemble.from_loss(logistic), {"w": jnp.zeros(10), "b": jnp.zeros(())}, 30.0),
    "ornstein_uhlenbeck": (OrnsteinUhlenbeck(), {"k": jnp.array([1.0, 0.0])}, 10.0),
    "phases": (Phases(), {"W": jnp.full((6, 6), 0.2)}, 1.0),
}
LAYOUTS = {"blocks": layout.CPU, "plain": dataclasses.replace(layout.CPU, member_block=None)}


def timed(name: str, B: int, lay, n_iterations: int) -> float:
    """Seconds of one ``evolve`` of ``n_iterations`` (compiled already)."""
    system, one, tau = SYSTEMS[name]
    params = ensemble.replicate(one, B)
    hyper = learning.DiscreteHyper(np.full(B, tau), 0.01, 1)
    with layout.use(lay):
        t = time.perf_counter()
        run = ensemble.evolve(system, learning.discrete(1), params, hyper, key=jax.random.key(0), n_iterations=n_iterations,
                              record=ensemble.Record(every=n_iterations), chunks=ensemble.Chunks(size=n_iterations))
        jax.block_until_ready(run.state)
        return time.perf_counter() - t


def measure(name: str, B: int, rounds: int, min_time: float) -> dict:
    n = 64
    while True:  # an iteration count that takes min_time once compiled
        timed(name, B, LAYOUTS["plain"], n)  # compiles for this n
        if timed(name, B, LAYOUTS["plain"], n) >= min_time or n >= 1 << 20:
            break
        n *= 4
    timed(name, B, LAYOUTS["blocks"], n)  # compiles the blocks for this n
    best = {k: float("inf") for k in LAYOUTS}
    for _ in range(rounds):  # alternating rounds
        for k, lay in LAYOUTS.items():
            best[k] = min(best[k], timed(name, B, lay, n))
    rate = {k: B * n / v for k, v in best.items()}
    return {"members": B, "n_iterations": n, **{f"{k}_member_it_per_s": round(v, 1) for k, v in rate.items()},
            "blocks_over_plain": round(rate["blocks"] / rate["plain"], 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--quick", action="store_true", help="fewer sizes and rounds (about a minute)")
    p.add_argument("--block", type=int, help="members per block to time (default: the CPU layout's)")
    args = p.parse_args(argv)
    if args.block:
        LAYOUTS["blocks"] = dataclasses.replace(layout.CPU, member_block=args.block)
    sizes = (1, 64, 4096) if args.quick else (1, 16, 64, 1024, 16384)
    rounds, min_time = (2, 0.15) if args.quick else (3, 0.3)
    out = {"machine": platform.processor() or platform.machine(), "devices": len(jax.local_devices()),
           "member_block": LAYOUTS["blocks"].member_block, "jax": jax.__version__, "results": {}}
    for name in SYSTEMS:
        rows = []
        for B in sizes:
            row = measure(name, B, rounds, min_time)
            rows.append(row)
            print(f"{name:20s} B={B:6d}  blocks {row['blocks_member_it_per_s']:.3g}  plain {row['plain_member_it_per_s']:.3g}"
                  f"  blocks/plain {row['blocks_over_plain']:.2f}", flush=True)
        out["results"][name] = rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
