"""The sweeps behind ``ensemble.stability`` (docs/paper/evidence-feedforward.md,
"stability law").

    python examples/stability_sweep.py            # sphere: fraction diverged vs tau / sd(dE_m)
    python examples/stability_sweep.py --network  # tau_c of the 35-10-5 network vs Fig. 3

About 3 minutes each on 2 CPU cores.
"""

import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import ensemble
from ensemble import learning, stability

warnings.simplefilter("ignore", RuntimeWarning)


def sphere_sweep():
    system = ensemble.from_loss(lambda p: jnp.sum((p["x"] - 1.0) ** 2))
    params = ensemble.replicate({"x": jnp.zeros(3)}, 64)
    factors = (0.3, 1, 2, 4, 10, 30, 100)
    for S in (0.003, 0.01, 0.03):
        for m in (1, 3):
            sd = float(np.std(stability.noise_dE(system, params, S, m, key=jax.random.key(1))))
            row = []
            for f in factors:
                run = ensemble.evolve(system, learning.discrete(m), params, learning.DiscreteHyper(f * sd, S, m),
                                      key=jax.random.key(2), n_iterations=500)
                row.append(round(float(run.diverged.mean()), 2))
            print(f"S {S} m {m}: sd(dE_m) {sd:.3g}; diverged at tau/sd {factors}: {row}", flush=True)
    m, S = 2, 0.005
    tau_c = stability.critical_tau(system, ensemble.replicate({"x": jnp.zeros(3)}, 32), S, m, key=jax.random.key(1))
    for c in (0.25, 0.5, 1.0):
        run = ensemble.evolve(system, learning.discrete(m, clip=c), ensemble.replicate({"x": jnp.zeros(3)}, 32),
                              learning.DiscreteHyper(0.5 * tau_c, S, m), key=jax.random.key(2), n_iterations=500)
        print(f"clip {c} at 0.5 tau_c (m 2, S 0.005): diverged {run.diverged.mean():.2f}, "
              f"median final E {np.nanmedian(run.final['E']):.3g}")


def network_vs_fig3():
    import json

    from ensemble import feedforward as ff, patterns
    from ensemble.studies import fig3

    cfg = fig3.Config()
    X, Y = patterns.vowels()
    params, _ = cfg.initial_networks(X, Y, 128)
    tau, S = cfg.grid()
    mean = np.array(json.load(open("docs/results/fig3.json"))["mean_error"]["p5"], float)
    for j, s in enumerate(S):
        tc = stability.critical_tau(ff.Task(X, Y), params, float(s), cfg.m, key=jax.random.key(0))
        best = tau[int(np.nanargmin(mean[:, j]))]
        print(f"S {s:.3g}: tau_c {tc:.3g}, best tau of Fig. 3 {best:.3g} ({best / tc:.2f} tau_c)")


if __name__ == "__main__":
    network_vs_fig3() if "--network" in sys.argv else sphere_sweep()
