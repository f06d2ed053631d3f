"""The fixed cost of a repeated ``evolve`` call: what a notebook user pays per call before any work.

For three small problems (a quadratic loss through ``from_loss``, the 35-10-5 network, the N = 10
Kuramoto network), each at 64 members: the best wall time of a cached ``evolve`` (the same system,
map and shapes as the call before, so nothing compiles) against the compiled chunk it runs
(:class:`ensemble.CompiledChunk`, the same iterations); the difference is the fixed overhead:
input checks, the system's identity, the state, placement and results.

    python -m benchmarks.overhead [--json benchmarks/overhead_cpu.json]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp

import ensemble
from ensemble import learning

from .common import best_of, device_name, kuramoto_problem, log, network_problem

B, N_IT, REPEATS = 64, 10, 7


def problems() -> dict:
    quadratic = (ensemble.from_loss(lambda p: jnp.sum((p["x"] - 1.0) ** 2)), learning.discrete(1),
                 ensemble.replicate({"x": jnp.zeros(3)}, B), learning.DiscreteHyper(tau=3.0, S=0.01, m=1))
    return {"quadratic": quadratic, "network": network_problem(B, robust=False), "kuramoto": kuramoto_problem(B)}


def measure(name: str, system, lmap, params, hyper) -> dict:
    call = lambda: jax.block_until_ready(  # noqa: E731
        ensemble.evolve(system, lmap, params, hyper, key=0, n_iterations=N_IT).traces["E"])
    call()  # compiles
    chunk = ensemble.CompiledChunk(system, lmap, params, hyper, key=0, devices=len(jax.devices()))
    run_chunk = lambda: jax.block_until_ready(chunk(N_IT))  # noqa: E731
    run_chunk()
    evolve_s, chunk_s = best_of(call, REPEATS), best_of(run_chunk, REPEATS)
    out = {"members": B, "iterations": N_IT, "evolve_ms": 1e3 * evolve_s, "chunk_ms": 1e3 * chunk_s,
           "overhead_ms": 1e3 * (evolve_s - chunk_s)}
    log(f"{name}: evolve {out['evolve_ms']:.2f} ms, its chunk {out['chunk_ms']:.2f} ms, "
        f"fixed overhead {out['overhead_ms']:.2f} ms")
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    ensemble.cpu.use_cores()
    results = {"device": device_name(), "method": __doc__.split("\n\n")[1].replace("\n", " "),
               "problems": {name: measure(name, *problem) for name, problem in problems().items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        log(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
