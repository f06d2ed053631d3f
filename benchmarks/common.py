"""What the benchmark scripts share: the timed problems, the timing habit, the library's
compiled chunk with timing helpers, and the device's name. Run the benchmarks with
``python -m benchmarks.run``."""

from __future__ import annotations

import math
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from ensemble import CompiledChunk, learning, member_keys, patterns
from ensemble import feedforward as ff
from ensemble import kuramoto as ku

MIN_TIME = 0.1  # seconds per timing sample
B_MAIN = 1024
N1, N2, N3 = 35, 10, 5
NET_HYPER = dict(tau=0.1, S=0.3, m=5)
ROBUST = dict(eps=0.1, tau_R=0.1, S_R=0.3)
KU = dict(N=10, dt=0.01, T=0.5, R0=0.8, tau=1.0, S=0.1, m=1, gamma=0.1, M0=0.5)


_T0 = time.perf_counter()


def log(*a):
    print(f"[{time.perf_counter() - _T0:5.1f}s]", *a, flush=True)


# ------------------------------------------------------------------ timing


def best_of(fn, repeats: int, min_time: float = MIN_TIME) -> float:
    """Best seconds per call of ``fn`` (which blocks) over ``repeats`` samples of >= ``min_time`` each."""
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter() - t0
    k = max(1, math.ceil(min_time / max(t1, 1e-9)))
    best = t1 if k == 1 else math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        best = min(best, (time.perf_counter() - t0) / k)
    return best


class Chunk(CompiledChunk):
    """The library's compiled chunk (:class:`ensemble.CompiledChunk`: the program ``evolve`` runs,
    blocked as ``evolve`` blocks it, state donated and carried from call to call, one record per
    iteration) with the benchmarks' timing helpers; on one device unless ``devices`` says more."""

    def __init__(self, system, lmap, params, hyper, devices=None, key=0):
        super().__init__(system, lmap, params, hyper, key=key, devices=1 if devices is None else devices)

    def call(self, n_it: int):
        return self(n_it)

    def compile_time(self, n_it: int) -> float:
        return self.compile_seconds(n_it)

    def throughput(self, n_it: int, repeats: int) -> dict:
        """Member-iterations/s at chunk length ``n_it``; the first call (compile + run) is the warm-up."""
        t0 = time.perf_counter()
        self.call(n_it)
        first = time.perf_counter() - t0
        t = best_of(lambda: self.call(n_it), repeats)
        return {
            "member_iterations_per_s": self.B * n_it / t,
            "chunk_iterations": n_it,
            "seconds_per_chunk": t,
            "first_call_s": first,
            "compile_s_est": max(first - t, 0.0),
        }


def chunk_length(B: int, per_member_it_s: float, min_time: float = MIN_TIME, lo: int = 2, hi: int = 200) -> int:
    """Iterations per chunk so that one call lasts about ``min_time`` at the estimated speed."""
    return int(min(hi, max(lo, math.ceil(min_time * per_member_it_s / B))))


# ------------------------------------------------------------------ problems


def net_params(B: int, seed: int = 1):
    keys = member_keys(jax.random.key(seed), np.arange(B))
    return jax.vmap(lambda k: ff.init(k, N1, N2, N3))(keys)


def network_problem(B: int, robust: bool):
    X, Y = patterns.vowels()
    if robust:
        h = NET_HYPER
        return (
            ff.Task(X, Y, eps=ROBUST["eps"]),
            learning.biparametric(5),
            net_params(B),
            learning.BiparametricHyper(h["tau"], h["S"], ROBUST["tau_R"], ROBUST["S_R"], h["m"]),
        )
    return ff.Task(X, Y), learning.discrete(5), net_params(B), learning.DiscreteHyper(**NET_HYPER)


def kuramoto_problem(B: int):
    k = KU
    system = ku.Oscillators(ku.default_omega(k["N"]), dt=k["dt"], T=k["T"], R0=k["R0"])
    params = {"w": jnp.broadcast_to(ku.uniform_weights(k["N"], k["M0"]), (B, ku.n_pairs(k["N"])))}
    lmap = ku.weight_control(learning.discrete(k["m"]))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(k["tau"], k["S"], k["m"]), k["gamma"], k["M0"])
    return system, lmap, params, hyper


def device_name() -> str:
    d = jax.devices()[0]
    kind = getattr(d, "device_kind", d.platform)
    host = platform.processor() or platform.machine()
    return f"{d.platform}:{kind} x{len(jax.devices())} (host {host}, {os.cpu_count()} cores, jax {jax.__version__})"

