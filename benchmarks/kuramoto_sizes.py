#!/usr/bin/env python
"""Kuramoto windows by oscillator count: the library's window block against a hand-written
plain-JAX window, N = 5 to 1,000.

Usage::

    python -m benchmarks.kuramoto_sizes [--quick] [--json benchmarks/kuramoto_sizes_cpu.json]

For each ``N`` (``SIZES``: 10, 30, 100, 300 and 1,000, 5, 7, 12 and 15 around the thresholds of
the CPU layout's block, and 50 just above ``ROLLED_FROM``, where the window's sums become
compiled loops; float32, dt = 0.01, T = 0.5: 50 Euler steps per learning iteration, 1,024
members, fewer at large ``N``, see ``MEMBERS``), in one process, every variant compiled first
and then timed in alternating rounds (best of the rounds, each sample at least ``2 * MIN_TIME``,
``MIN_TIME`` with ``--quick``):

* **library**: the compiled chunk ``evolve`` runs (:class:`benchmarks.common.Chunk`: eq. (13)
  on ``discrete(1)``, one record per iteration, the learning map included) with the Kuramoto
  window in blocks of ``BLOCKS`` members (32 to 256) below ``ROLLED_FROM`` oscillators and of
  ``BLOCKS_ROLLED`` (1 to 64) from it (``layout.use(dataclasses.replace(layout.CPU,
  window_block=b))``), and with the CPU layout as it is (``"auto"``: the block the layout
  chooses for this ``N``), on all local devices (``evolve``'s default; one per core) and on one
  device;
* **library window**: the library's window alone, ``jit(Oscillators.measure_ensemble)``, one
  device, the CPU layout: the same work as the hand-written window;
* **hand**: the same Euler window written as an expert would in plain JAX, no library code:
  member axis leading, ``(B, N, N)`` weights, the coupling ``cos th * (W sin th) - sin th * (W cos th)``
  as two ``jnp.einsum`` batched mat-vecs (``einsum``) or as one batched matmul of ``W`` with
  ``[sin th, cos th]`` (``matmul``), ``jnp.sin``/``jnp.cos``, ``r`` from the carried ``sin``/``cos``,
  ``lax.scan`` over the steps, ``jit``; one device (a plain ``jit``; XLA's matmul may use every
  core), the window only (no learning).

Reported per variant: oscillator-network Euler steps/s, per oscillator pair (steps/s *
N(N-1)/2), the first call's seconds and the compile estimate (first call - a timed call), the
bytes per member (weights + phases as stored, the ``(N, N)`` matrix a window streams per step,
and for the library the whole carried state), and per ``N`` whether every block gave the same
bits (a fresh run of each), the ratios library / hand, and a roofline: FLOPs per step
(``benchmarks.run.kuramoto_costs``, about ``4 N^2``) against a measured float32 matmul peak, and
weight bytes per step (``4 N^2`` if not cached) against a measured memory bandwidth.

Where the library's first compile at an ``N`` above 100 would exceed ``--max-compile`` seconds
(probed in a subprocess that is killed at that limit), the library is skipped at that ``N``
with a note and only the hand-written window is timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
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

from benchmarks.common import MIN_TIME, Chunk, device_name, log  # noqa: E402
from benchmarks.run import kuramoto_costs, matmul_peak  # noqa: E402
from ensemble import kuramoto as ku  # noqa: E402
from ensemble import layout, learning  # noqa: E402

SIZES = (5, 7, 10, 12, 15, 30, 50, 100, 300, 1000)
BLOCKS = (32, 64, 128, 256)  # below ROLLED_FROM oscillators (sums as unrolled chains)
BLOCKS_ROLLED = (1, 16, 32, 64)  # from ROLLED_FROM (sums in compiled loops)
MEMBERS = {300: 256, 1000: 64}  # members per N (default 1024): 1,024 members of N = 1,000 hold 2 GB of weights
DT, T = 0.01, 0.5
PROBLEM = dict(R0=0.8, tau=1.0, S=0.1, m=1, gamma=0.1, M0=0.5)


# ------------------------------------------------------------------ problems


def problem(N: int, B: int):
    """The library's Kuramoto benchmark problem (``benchmarks.common.kuramoto_problem``) at ``N`` oscillators."""
    k = PROBLEM
    system = ku.Oscillators(ku.default_omega(N), dt=DT, T=T, R0=k["R0"])
    params = {"w": jnp.broadcast_to(ku.uniform_weights(N, k["M0"]), (B, ku.n_pairs(N)))}
    lmap = ku.weight_control(learning.discrete(k["m"]))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(k["tau"], k["S"], k["m"]), k["gamma"], k["M0"])
    return system, lmap, params, hyper


def hand_window(variant: str, N: int, dt: float, n_steps: int):
    """The Euler window in plain JAX, member axis leading: ``(W (B, N, N), th (B, N), omega (N,))
    -> (th_end (B, N), rsum (B,))``, jitted."""
    inv_n = 1.0 / N

    def coupling(W, s, c):
        if variant == "einsum":
            a, b = jnp.einsum("bij,bj->bi", W, s), jnp.einsum("bij,bj->bi", W, c)
        else:  # "matmul": one batched matmul of W with [sin, cos]
            ab = jnp.matmul(W, jnp.stack([s, c], -1))
            a, b = ab[..., 0], ab[..., 1]
        return c * a - s * b

    def window(W, th, omega):
        def step(carry, _):
            th, s, c, rsum = carry
            th = th + dt * (omega + coupling(W, s, c) * inv_n)
            s, c = jnp.sin(th), jnp.cos(th)
            r = jnp.sqrt(jnp.mean(c, -1) ** 2 + jnp.mean(s, -1) ** 2)
            return (th, s, c, rsum + r), None

        init = (th, jnp.sin(th), jnp.cos(th), jnp.zeros(th.shape[0], th.dtype))
        (th, _, _, rsum), _ = jax.lax.scan(step, init, None, length=n_steps)
        return th, rsum

    return jax.jit(window)


# ------------------------------------------------------------------ variants


class Library:
    """The library's compiled chunk at one window block (None: the CPU layout as it is)."""

    def __init__(self, N: int, B: int, block: int | None, devices: int, n_it: int):
        self.layout = layout.CPU if block is None else dataclasses.replace(layout.CPU, window_block=block)
        self.name = f"library_{'auto' if block is None else block}" + ("" if devices > 1 else "_1dev")
        self.block, self.devices, self.n_it = block, devices, n_it
        self.steps_per_call = B * n_it * round(T / DT)
        with layout.use(self.layout):
            self.chunk = Chunk(*problem(N, B), devices=devices)
            t0 = time.perf_counter()
            self.chunk.call(n_it)  # compiles
            self.first_call_s = time.perf_counter() - t0
        leaves = jax.tree_util.tree_leaves(self.chunk.state)
        self.state_bytes_per_member = sum(x.nbytes for x in leaves if hasattr(x, "nbytes")) / B

    def __call__(self):
        with layout.use(self.layout):
            self.chunk.call(self.n_it)

    def fresh_final(self) -> list:
        """The parameters after one call from the initial state (the bitwise check)."""
        with layout.use(self.layout):
            self.chunk.state = self.chunk.fresh_state()
            self.chunk.call(self.n_it)
        return [np.asarray(x) for x in jax.tree_util.tree_leaves(self.chunk.state.params)]


class LibraryWindow:
    """The library's window alone (``jit(Oscillators.measure_ensemble)``, the CPU layout, one
    device): the same work as the hand-written window, without learning."""

    def __init__(self, N: int, B: int):
        self.name = "library_window_1dev"
        self.steps_per_call = B * round(T / DT)
        system, _, params, _ = problem(N, B)
        rng = np.random.default_rng(0)
        self.args = (params, jnp.asarray(rng.uniform(-np.pi, np.pi, (B, N)), jnp.float32),
                     jax.random.split(jax.random.key(0), B))
        self.fn = jax.jit(system.measure_ensemble)
        with layout.use(layout.CPU):
            t0 = time.perf_counter()
            jax.block_until_ready(self.fn(*self.args))
            self.first_call_s = time.perf_counter() - t0

    def __call__(self):
        with layout.use(layout.CPU):
            jax.block_until_ready(self.fn(*self.args))


class Hand:
    """The hand-written plain-JAX window on ``B`` members."""

    def __init__(self, variant: str, N: int, B: int):
        self.name = f"hand_{variant}"
        n_steps = round(T / DT)
        self.steps_per_call = B * n_steps
        rng = np.random.default_rng(0)
        W = np.full((N, N), PROBLEM["M0"], np.float32)
        np.fill_diagonal(W, 0.0)
        self.args = (jnp.broadcast_to(jnp.asarray(W), (B, N, N)) + 0.0,
                     jnp.asarray(rng.uniform(-np.pi, np.pi, (B, N)), jnp.float32),
                     jnp.asarray(ku.default_omega(N), jnp.float32))
        self.fn = hand_window(variant, N, DT, n_steps)
        t0 = time.perf_counter()
        jax.block_until_ready(self.fn(*self.args))
        self.first_call_s = time.perf_counter() - t0

    def __call__(self):
        jax.block_until_ready(self.fn(*self.args))


def timed_rounds(variants: list, rounds: int, min_time: float) -> dict:
    """Best seconds per call of each variant over ``rounds`` alternating rounds (samples of >= ``min_time``)."""
    reps, best = {}, {}
    for v in variants:  # calls per sample
        t0 = time.perf_counter()
        v()
        t1 = time.perf_counter() - t0
        reps[v.name], best[v.name] = max(1, math.ceil(min_time / max(t1, 1e-9))), t1
    for _ in range(rounds):
        for v in variants:
            k = reps[v.name]
            t0 = time.perf_counter()
            for _ in range(k):
                v()
            best[v.name] = min(best[v.name], (time.perf_counter() - t0) / k)
    return best


# ------------------------------------------------------------------ compile probe


def probe_compile(N: int, limit: float) -> float | None:
    """Seconds of the library's first compile at ``N`` (64 members, the CPU layout, one device),
    in a subprocess killed after ``limit`` seconds (None: it did not finish in time)."""
    cmd = [sys.executable, "-m", "benchmarks.kuramoto_sizes", "--probe-compile", str(N)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=limit + 15)  # + JAX start-up
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    s = float(proc.stdout.strip().splitlines()[-1])
    return s if s <= limit else None


def probe_worker(N: int) -> float:
    c = Chunk(*problem(N, 64), devices=1)
    return c.compile_time(1)


# ------------------------------------------------------------------ machine


def memory_bandwidth(n_floats: int, repeats: int) -> dict:
    """Bytes/s of ``x * c`` in place (the buffer donated) on ``n_floats`` float32: one read and one
    write each, one device."""
    f = jax.jit(lambda x: x * 1.0000001, donate_argnums=0)
    x = jax.block_until_ready(f(jnp.ones((n_floats,), jnp.float32)))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = jax.block_until_ready(f(x))
        best = min(best, time.perf_counter() - t0)
    return {"floats": n_floats, "seconds": best, "bytes_per_s": 8 * n_floats / best}


# ------------------------------------------------------------------ one N


def n_iterations(N: int, B: int) -> int:
    """Learning iterations per chunk call: about 0.1 s of work at a rough 3e9 pair-steps/s."""
    steps = 0.1 * 3e9 / max(ku.n_pairs(N), 1)
    return int(min(100, max(1, round(steps / (B * round(T / DT))))))


def measure_n(N: int, B: int, blocks, devices_list, rounds: int, min_time: float, library: bool, peak: float,
              bandwidth: float) -> dict:
    n_steps = round(T / DT)
    pairs = ku.n_pairs(N)
    n_it = n_iterations(N, B)
    out = {"N": N, "members": B, "n_steps": n_steps, "dt": DT, "T": T, "chunk_iterations": n_it,
           "pairs": pairs, "auto_block": layout.CPU.window_block_for(N),
           "bytes_per_member": {"weights_and_phases_stored": 4 * (pairs + N), "window_matrix_and_phases": 4 * (N * N + N)},
           "variants": {}}
    variants = []
    if blocks is None:
        blocks = BLOCKS if N < ku.ROLLED_FROM else BLOCKS_ROLLED
    out["blocks"] = list(blocks)
    if library:
        for d in devices_list:
            for b in list(blocks) + [None]:
                v = Library(N, B, b, d, n_it)
                variants.append(v)
                log(f"  N={N:4d} {v.name:18s} first call {v.first_call_s:6.1f} s")
        v = LibraryWindow(N, B)
        variants.append(v)
        log(f"  N={N:4d} {v.name:18s} first call {v.first_call_s:6.1f} s")
    for name in ("einsum", "matmul"):
        v = Hand(name, N, B)
        variants.append(v)
        log(f"  N={N:4d} {v.name:18s} first call {v.first_call_s:6.1f} s")
    best = timed_rounds(variants, rounds, min_time)
    for v in variants:
        sps = v.steps_per_call / best[v.name]
        row = {"steps_per_s": sps, "pair_steps_per_s": sps * pairs, "seconds_per_call": best[v.name],
               "first_call_s": v.first_call_s, "compile_s_est": max(v.first_call_s - best[v.name], 0.0)}
        if isinstance(v, Library):
            row.update(block=v.block, devices=v.devices, state_bytes_per_member=v.state_bytes_per_member,
                       block_window_weight_bytes=4 * N * N * (v.block or out["auto_block"] or B))
        out["variants"][v.name] = row
        log(f"  N={N:4d} {v.name:18s} {sps:10.3g} steps/s  {sps * pairs:10.3g} pair-steps/s")
    costs = kuramoto_costs(N, n_steps)
    step_flops = costs["flops"]
    roof = {"flops_per_step": step_flops, "weight_bytes_per_step": 4 * N * N,
            "compute_bound_steps_per_s": peak / step_flops, "bandwidth_bound_steps_per_s": bandwidth / (4 * N * N)}
    out["roofline"] = roof
    hands = {k: v for k, v in out["variants"].items() if k.startswith("hand_")}
    hand_best = max(hands, key=lambda k: hands[k]["steps_per_s"])
    out["hand_best"] = hand_best
    if library:
        lib = {k: v for k, v in out["variants"].items() if k.startswith("library_")}
        for d in devices_list:
            sfx = "" if d > 1 else "_1dev"
            rows = {b: lib[f"library_{b}{sfx}"] for b in blocks}
            bb = max(rows, key=lambda b: rows[b]["steps_per_s"])
            auto = lib[f"library_auto{sfx}"]
            out["devices_" + str(d)] = {
                "best_block": bb,
                "best_over_256": rows[bb]["steps_per_s"] / rows[256]["steps_per_s"] if 256 in rows else None,
                "auto_over_256": auto["steps_per_s"] / rows[256]["steps_per_s"] if 256 in rows else None,
                "auto_over_hand": auto["steps_per_s"] / hands[hand_best]["steps_per_s"],
                "best_over_hand": rows[bb]["steps_per_s"] / hands[hand_best]["steps_per_s"],
                "block_over_hand": {str(b): rows[b]["steps_per_s"] / hands[hand_best]["steps_per_s"] for b in blocks},
                "auto_fraction_of_compute_bound": auto["steps_per_s"] / roof["compute_bound_steps_per_s"],
                "auto_fraction_of_bandwidth_bound": auto["steps_per_s"] / roof["bandwidth_bound_steps_per_s"],
            }
        out["window_over_hand"] = out["variants"]["library_window_1dev"]["steps_per_s"] / hands[hand_best]["steps_per_s"]
        finals = [v.fresh_final() for v in variants if isinstance(v, Library)]
        out["bitwise_identical_across_blocks_and_devices"] = all(
            all(np.array_equal(a, b) for a, b in zip(finals[0], f)) for f in finals[1:])
        log(f"  N={N:4d} bitwise identical across blocks and devices: {out['bitwise_identical_across_blocks_and_devices']}")
    return out


# ------------------------------------------------------------------ main


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--quick", action="store_true", help="N = 10, 100; all local devices only; two rounds")
    ap.add_argument("--sizes", help="oscillator counts, comma-separated (default: SIZES; --quick 10,100)")
    ap.add_argument("--blocks", help="window blocks, comma-separated (default: BLOCKS below ROLLED_FROM oscillators, "
                    "BLOCKS_ROLLED from it)")
    ap.add_argument("--max-compile", type=float, default=60.0,
                    help="seconds: the library is skipped at an N > 100 whose first compile takes longer")
    ap.add_argument("--probe-compile", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe_compile:
        print(probe_worker(args.probe_compile), flush=True)
        return {}
    quick = args.quick
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else ((10, 100) if quick else SIZES)
    blocks = tuple(int(x) for x in args.blocks.split(",")) if args.blocks else None
    n_local = len(jax.local_devices())
    devices_list = (n_local,) if quick or n_local == 1 else (n_local, 1)
    rounds, min_time = (2, MIN_TIME) if quick else (4, 2 * MIN_TIME)
    t_start = time.perf_counter()
    res: dict = {"device": device_name(), "machine": _machine(), "dtype": "float32", "quick": quick,
                 "local_devices": n_local, "blocks": list(blocks) if blocks else None, "rounds": rounds, "min_time_s": min_time,
                 "layout_cpu": repr(layout.CPU), "sizes": {}}
    log(f"device: {res['device']} ({res['machine']})")
    peak = matmul_peak(1024 if quick else 2048, 3)
    bw = memory_bandwidth(1 << 26, 5)
    res["matmul_peak"], res["memory_bandwidth"] = peak, bw
    log(f"matmul peak {peak['flops_per_s'] / 1e9:.1f} GFLOP/s, memory bandwidth {bw['bytes_per_s'] / 1e9:.1f} GB/s")
    for N in sizes:
        B = MEMBERS.get(N, 1024)
        library, note = True, None
        if N > 100:
            s = probe_compile(N, args.max_compile)
            if s is None:
                library = False
                note = f"library skipped: its first compile at N = {N} (64 members, one device) exceeded {args.max_compile:.0f} s"
                log("  " + note)
        r = measure_n(N, B, blocks, devices_list, rounds, min_time, library, peak["flops_per_s"], bw["bytes_per_s"])
        if note:
            r["note"] = note
        res["sizes"][str(N)] = r
    res["wall_time_s"] = time.perf_counter() - t_start
    log(f"total {res['wall_time_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    return res


def _machine() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
