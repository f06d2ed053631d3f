"""Split one ensemble over several processes or hosts with ``jax.distributed`` (worked example).

Each process runs its own block of member ids (``ensemble.hosts.process_members``) on its
local devices and writes ``OUT/part-<p>.npz`` (``hosts.save_part``); ``--gather`` joins the parts
in member order (``hosts.join_parts``). Because member ``i`` depends only on ``fold_in(key, i)``,
the joined ensemble is bitwise the one a single process computes (``--check`` verifies that with
``hosts.differences``; the test suite runs exactly this with two processes).

Two processes on one machine (two terminals, or ``&``)::

    python examples/multihost.py --out parts --coordinator localhost:12355 --num-processes 2 --process-id 0 &
    python examples/multihost.py --out parts --coordinator localhost:12355 --num-processes 2 --process-id 1
    python examples/multihost.py --out parts --gather --check

On a cluster, start one process per host with the same ``--coordinator host:port``
(or call ``jax.distributed.initialize()`` with no arguments under SLURM / Cloud TPU,
where JAX reads them from the environment).
"""

from __future__ import annotations

import argparse
import os

import jax
import numpy as np

from ensemble import Placement, Record, evolve, feedforward as ff, hosts, learning, member_keys, patterns

MEMBERS, ITERATIONS, RECORD = 64, 200, 20


def run(ids: np.ndarray):
    """The fig2a-style ensemble restricted to member ids ``ids``."""
    X, Y = patterns.vowels()
    k_init, k_run = jax.random.split(jax.random.key(0))
    params = jax.vmap(lambda k: ff.init(k, 35, 10, 5))(member_keys(k_init, ids))
    return evolve(ff.Task(X, Y), learning.discrete(8), params, learning.DiscreteHyper(0.1, 0.2, 8),
                  key=k_run, n_iterations=ITERATIONS, record=Record(every=RECORD), placement=Placement(members=ids))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--coordinator")
    ap.add_argument("--num-processes", type=int, default=1)
    ap.add_argument("--process-id", type=int, default=0)
    ap.add_argument("--gather", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.gather:
        joined = hosts.join_parts(a.out)
        E = joined.traces["E"]
        print(f"joined {joined.parts} parts: {E.shape[1]} members, median final E {np.median(E[-1]):.4f}")
        if a.check:
            differ = hosts.differences(joined, run(np.arange(MEMBERS)))
            print("bitwise equal to the single-process run:", not differ, *(["(differ:", *differ, ")"] if differ else []))
            raise SystemExit(1 if differ else 0)
        return
    if a.num_processes > 1:
        jax.distributed.initialize(a.coordinator, num_processes=a.num_processes, process_id=a.process_id)
    ids = hosts.process_members(MEMBERS)
    path = hosts.save_part(a.out, run(ids), ids)
    print(f"process {jax.process_index()} of {jax.process_count()}: members {ids[0]}-{ids[-1]} -> {path}")


if __name__ == "__main__":
    main()
