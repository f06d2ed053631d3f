"""Generate notebooks/03_your_own_system.ipynb (run from the repository root)."""
import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
md("""# Autonomous learning on your own system

The learning map of Bilen & Kaluza (eq. 4) needs nothing from a system but its error `E` after each
processing interval:

    w(n+1) = w(n) - (1/tau) [E(n) - E(n-m)] [w(n) - w(n-m)] + S E(n) xi(n).

This notebook brings two systems of its own: a static loss (one evaluation per iteration) and a
driven, damped oscillator whose drive must learn to produce a target amplitude (a window of
integration per iteration, its state carried on). Each study is one batched call: a (tau, S) grid
times an ensemble. The sizes are small so that it runs in seconds on a laptop CPU."""),
code("""import warnings

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import ensemble
from ensemble import learning

ensemble.cpu.use_cores()  # one XLA CPU device per core, before any computation (CPU only)"""),
md("""## 1. A static loss: `ensemble.from_loss`

Any function of one member's parameters is a system. `ensemble.grid` lays a hyperparameter grid out
as members (`g.tau`, `g.S` are per-member arrays) and `g.unflatten` puts results back on the grid.
`run.final` is `E` measured on the final weights (the last trace record is `E` *before* the last
update); diverged members are NaN there and never picked by `run.best`. With `record=ensemble.Record(best=True)`
the scan also keeps each member's lowest `E` of every iteration and the weights it was measured on
(`run.best_so_far`): a member's `E` fluctuates, so its best is often below its final value."""),
code("""def loss(p):                                   # one member's parameters -> E
    return jnp.sum((p["x"] - 1.0) ** 2)        # E(0) = 3 from x = 0

g = ensemble.grid(tau=[0.3, 1, 3, 10], S=[0.003, 0.01, 0.03, 0.1], members=16)   # 256 members
run = ensemble.evolve(ensemble.from_loss(loss), learning.discrete(1), ensemble.replicate({"x": jnp.zeros(3)}, g.size),
                      learning.DiscreteHyper(g.tau, g.S, 1), key=jax.random.key(0), n_iterations=300,
                      record=ensemble.Record(best=True))
E = g.unflatten(run.final["E"])                                     # (4, 4, 16)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)            # all-NaN cells: every member diverged
    median = np.nanmedian(E, axis=-1)
diverged = g.unflatten(run.diverged).mean(axis=-1)
best = run.best(3)
print("median final E (rows tau, columns S):\\n", np.round(median, 3))
print("diverged fraction:\\n", diverged)
print("best members:", best, "E", run.final["E"][best], "tau", run.hyper.tau[best], "S", run.hyper.S[best])
print("their best-so-far E:", run.best_so_far["E"][best], "at iterations", run.best_so_far["iteration"][best])
print(run.summary())"""),
code("""fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for ax, data, title in ((axes[0], np.log10(median), "log10 median final E"), (axes[1], diverged, "fraction diverged")):
    im = ax.imshow(data, origin="lower", cmap="viridis")
    ax.set_xticks(range(4), [f"{s:g}" for s in g.values["S"]]); ax.set_xlabel("S")
    ax.set_yticks(range(4), [f"{t:g}" for t in g.values["tau"]]); ax.set_ylabel("tau")
    ax.set_title(title); fig.colorbar(im, ax=ax)
fig.tight_layout()"""),
md("""**Choosing tau and S.** The drift multiplies the last step by `-dE/tau`: once `|dE|/tau` exceeds about 1
the feedback amplifies the noise and the member diverges (`evolve` warns when most members do).
The noise step is `S E` per parameter, so both constants scale with `E`: scale `E` to order 1,
then sweep `tau` from `S` to `100 S`. The fastest learners sit right next to the divergent cells,
which is why a grid and `run.best` beat a guess (the documentation's how-to *Choosing tau and S*)."""),
md("""## 2. A driven oscillator that must reach a target amplitude

A damped oscillator `x'' + c x' + x = F cos(Omega t)` is driven with amplitude `F` and frequency
`Omega`, the two learned parameters. One learning iteration integrates a window of `T` time units
from the carried state `(x, v, t)` and measures the RMS of `x` over it; the error is
`E = (rms - A0)^2`. A system is any object with `init_state(params, key)` and
`measure(params, state, key) -> ({"E": ...}, state)`; `evolve` checks that contract once before
compiling, and a changed system (another `A0`) is never resumed from an old checkpoint."""),
code("""class DrivenOscillator:
    def __init__(self, A0=1.0, c=0.3, dt=0.05, T=10.0):
        self.A0, self.c, self.dt, self.n = A0, c, dt, int(round(T / dt))

    def init_state(self, params, key):
        return jnp.zeros(3, jnp.float32)                       # x, v, t

    def measure(self, params, state, key):
        F, Omega = params["drive"][0], params["drive"][1]

        def step(s, _):                                         # semi-implicit Euler
            x, v, t = s[0], s[1], s[2]
            v = v + self.dt * (-self.c * v - x + F * jnp.cos(Omega * t))
            x = x + self.dt * v
            return jnp.stack([x, v, t + self.dt]), x * x

        state, x2 = jax.lax.scan(step, state, None, length=self.n)
        rms = jnp.sqrt(jnp.mean(x2))
        return {"E": (rms - self.A0) ** 2, "rms": rms}, state

B = 64
drive0 = jnp.tile(jnp.array([0.2, 0.5], jnp.float32), (B, 1))   # F = 0.2, Omega = 0.5: rms far below A0 = 1
g2 = ensemble.grid(tau=[0.3, 1.0, 3.0, 10.0], members=16)
osc = ensemble.evolve(DrivenOscillator(), learning.discrete(1), {"drive": drive0},
                      learning.DiscreteHyper(g2.tau, 0.3, 1), key=jax.random.key(1), n_iterations=400,
                      record=ensemble.Record(every=4))
print(osc.summary())
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    rms = np.nanmedian(g2.unflatten(osc.final["rms"]), axis=-1)
print("median final rms by tau:", {float(t): round(float(r), 3) for t, r in zip(g2.values["tau"], rms)})
print("diverged by tau:", g2.unflatten(osc.diverged).sum(axis=-1))"""),
code("""fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for k, tau in enumerate(g2.values["tau"]):
    members = slice(16 * k, 16 * (k + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        axes[0].semilogy(osc.iterations, np.nanmedian(osc.traces["E"][:, members], axis=1), label=f"tau {tau:g}")
axes[0].set_xlabel("iteration"); axes[0].set_ylabel("median E"); axes[0].legend()
# The best member by its mean E over the last 100 iterations (25 records), not by one final window,
# which a lucky fluctuation can win; diverged members never count.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    late = np.nanmean(osc.traces["E"][-25:], axis=0)
b = int(np.argmin(np.where(osc.diverged | np.isnan(late), np.inf, late)))
axes[1].plot(osc.iterations, osc.traces["rms"][:, b]); axes[1].axhline(1.0, color="k", ls=":")
axes[1].set_xlabel("iteration"); axes[1].set_ylabel("rms of x")
axes[1].set_title(f"member {b}, lowest mean E over the last 100 iterations:\\n"
                  f"F, Omega = {np.round(np.asarray(osc.params['drive'][b]), 3)}", fontsize=9)
fig.tight_layout()"""),
md("""**What to take away.** The same two calls (`grid`, `evolve`) serve a static loss and a dynamical
system with carried state; the learning never sees the system's insides, only `E`. Per-member
constants that must not be learned can live in `params` behind `learning.masked(lmap, mask)`, and a
second `evolve` with the same system and map reuses the compiled program."""),
]
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nbf.write(nb, "notebooks/03_your_own_system.ipynb")
