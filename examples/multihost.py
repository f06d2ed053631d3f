"""Split one ensemble over several processes or hosts with ``jax.distributed`` (worked example).

Each process runs its own block of member ids (``ensemble.driver.process_members``) on its
local devices and writes ``OUT/part-<p>.npz``; ``--gather`` joins the parts in process order.
Because member ``i`` depends only on ``fold_in(key, i)``, the joined ensemble is bitwise the
one a single process computes (``--check`` verifies that).

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
import glob
import os

import jax
import numpy as np

from ensemble import driver, evolve, feedforward as ff, learning, patterns

MEMBERS, ITERATIONS, RECORD = 64, 200, 20


def run(ids: np.ndarray):
    """The fig2a-style ensemble restricted to member ids ``ids``."""
    X, Y = patterns.vowels()
    k_init, k_run = jax.random.split(jax.random.key(0))
    params = jax.vmap(lambda k: ff.init(k, 35, 10, 5))(driver.member_keys(k_init, ids))
    return evolve(ff.Task(X, Y), learning.discrete(8), params, learning.DiscreteHyper(0.1, 0.2, 8),
                  key=k_run, members=ids, n_iterations=ITERATIONS, record_every=RECORD)


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
        parts = sorted(glob.glob(os.path.join(a.out, "part-*.npz")), key=lambda p: int(p.split("-")[-1][:-4]))
        loaded = [np.load(p) for p in parts]
        E = np.concatenate([z["E"] for z in loaded], axis=1)
        ids = np.concatenate([z["ids"] for z in loaded])
        print(f"joined {len(parts)} parts: {E.shape[1]} members, median final E {np.median(E[-1]):.4f}")
        if a.check:
            ref = run(np.arange(MEMBERS))
            same = np.array_equal(ids, np.arange(MEMBERS)) and np.array_equal(E, ref.traces["E"])
            print("bitwise equal to the single-process run:", same)
            raise SystemExit(0 if same else 1)
        return
    if a.num_processes > 1:
        jax.distributed.initialize(a.coordinator, num_processes=a.num_processes, process_id=a.process_id)
    ids = driver.process_members(MEMBERS)
    out = run(ids)
    path = os.path.join(a.out, f"part-{jax.process_index()}.npz")
    np.savez(path, E=out.traces["E"], ids=ids)
    print(f"process {jax.process_index()} of {jax.process_count()}: members {ids[0]}-{ids[-1]} -> {path}")


if __name__ == "__main__":
    main()
