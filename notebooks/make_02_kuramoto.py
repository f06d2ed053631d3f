"""Generate notebooks/02_kuramoto.ipynb (run from the repository root)."""
import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
md("""# Autonomous learning of Kuramoto oscillator networks (Bilen & Kaluza, Figs. 5-7 and the comparison)

**The model.** `N` phase oscillators with natural frequencies `omega_i`, coupled by symmetric weights
`w_ij = w_ji` that may be negative:

    dphi_i/dt = omega_i + (1/N) sum_j w_ij sin(phi_j - phi_i),

integrated by Euler steps `dt`. Their synchrony is the order parameter `r(t) = |(1/N) sum_j exp(i phi_j)|`;
`R` is its time mean over a window of length `T`. The task: reach a prescribed synchrony `R0` with
the error of eq. (12), `E = (R - R0)^2`, while the mean absolute weight `M = mean_{i<j} |w_ij|` (eq. 14)
stays near `M0`.

**The discrete-time map (eqs. 4 + 13).** One learning iteration integrates one window `T` with fixed
weights, measures `E(n)`, then

    w(n+1) = w(n) - (1/tau) [E(n) - E(n-m)] [w(n) - w(n-m)] + S E(n) xi(n) - gamma (M(n) - M0) w(n).

**The continuous-time law (eq. 3).** The earlier formulation lets the weights move *during* the
integration, with `E(t)` from the running mean of `r` over `[t - T, t]` and a delay `T`:

    dw/dt = -(1/tau_c) [E(t) - E(t-T)] [w(t) - w(t-T)] + S_c E(t) xi(t) - gamma_c (M - M0) w,

integrated by Euler-Maruyama together with the phases (`ensemble.kuramoto.ContinuousOscillators`).

The paper's equations and constants were lost; what runs here is a reconstruction (the
documentation's pages *The reconstruction* and *Evidence: Kuramoto*, `docs/paper/`), in the
**graded regime**: natural frequencies at the quantiles of a Lorentzian of half-width 0.25, the
initial network uniform at `M0 = 0.8` (a low, fluctuating `R` of about 0.6), the target `R0 = 0.7`
above it. `SIZE = "quick"` runs every study at its quick size (a few minutes on a laptop CPU);
`SIZE = "full"` uses the full defaults. Under CI (env `CI` set) the runs are shrunk further so
the notebook executes in about a minute; numbers at that size are only a smoke test."""),
code("""import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import ensemble
from ensemble import evolve, learning, kuramoto as ku
from ensemble.studies import STUDIES

ensemble.cpu.use_cores()  # one XLA CPU device per core, before any computation (CPU only)

SIZE = os.environ.get("ENSEMBLE_NOTEBOOK_SIZE", "quick")  # "quick" or "full"
CI = bool(os.environ.get("CI"))


def config(study, **ci_overrides):
    \"\"\"The study's full config, or its quick one (smaller still under CI; unknown fields ignored).\"\"\"
    module = STUDIES[study]
    if SIZE == "full":
        return module.Config()
    fields = module.Config.__dataclass_fields__
    return module.Config.quick(**({k: v for k, v in ci_overrides.items() if k in fields} if CI else {}))


print("studies available:", ", ".join(STUDIES))"""),
md("""## The system on its own

Uniform weights `w_ij = K`. With frequencies evenly spaced in `[-0.5, 0.5]` (version 0.2's choice)
ten oscillators lock all at once near `K = 0.7`; with Lorentzian quantiles the synchrony grows
gradually with `K` and `r(t)` keeps fluctuating: the partial synchronization the paper's story
needs."""),
code("""N = 10
phases = np.random.default_rng(0).uniform(0, 2 * np.pi, N)
t = 0.05 * np.arange(1, 2001)
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
for ax, kind, spread in ((axes[0], "even", 0.5), (axes[1], "lorentzian", 0.25)):
    omega = ku.frequencies(N, kind, spread)
    for K in (0.6, 0.8, 1.2):
        _, r = ku.simulate(np.full((N, N), K), omega, phases, 0.05, 2000)
        ax.plot(t, np.asarray(r), lw=0.8, label=f"w_ij = {K:g}")
    ax.set(xlabel="time t", title=f"{kind} frequencies", ylim=(0, 1.02))
axes[0].set_ylabel("r(t)")
axes[1].legend(fontsize=8);"""),
md("""## Fig. 5: one learning run (eq. 4 + 13)

The paper's claim: `E` falls by orders of magnitude; `M` fluctuates around `M0` early and settles
as `E -> 0`; the final system's `r(t)` hovers around `R0`. """),
code("""r5 = STUDIES["fig5"].run(config("fig5", members=2, n_iterations=20, record_every=1))
print(STUDIES["fig5"].describe(r5))
STUDIES["fig5"].plot(r5);"""),
md("""## Fig. 6: the weight-control strength gamma

Large `gamma` pins `M` at `M0` but leaves `R` far from `R0`; small `gamma` lets `R` reach `R0` at
the price of `M >> M0`; in between, a compromise."""),
code("""r6 = STUDIES["fig6"].run(config("fig6", members=2, n_iterations=10, record_every=5))
print(STUDIES["fig6"].describe(r6))
STUDIES["fig6"].plot(r6);"""),
md("""## Fig. 7: the window length T

Short windows make `E` noisy and `M` grows well above `M0`; longer windows bring `M` back to
`M0`; learning works already for short `T`."""),
code("""r7 = STUDIES["fig7"].run(config("fig7", members=2, n_iterations=10, record_every=5))
print(STUDIES["fig7"].describe(r7))
STUDIES["fig7"].plot(r7);"""),
md("""## cmp: discrete map vs continuous law

Both schemes run the same members (same frequencies, `M0`, `R0`, initial weights and initial
phases) for the same simulated time. The continuous constants are the discrete ones matched window
by window (`tau_c = T tau`, `S_c = S / sqrt(T)`, `gamma_c = gamma / T`) times calibrated factors.
Both are compared at the window ends `t = kT`; the time to target is the first `t` with
`|R - R0| <= 0.03`, and a member succeeds if its final weights, frozen, keep the mean `R` over
ten windows within 0.03 of `R0`. The paper's claim: the discrete map reaches the target with less
simulated time. The continuous law's `tau_c` is ten times the matched value: the best of a sweep
of its constants (documentation, *Evidence: Kuramoto*), so neither scheme is compared untuned."""),
code("""cmp = STUDIES["cmp"]
rc = cmp.run(config("cmp", members=2, n_windows=4))
print(cmp.describe(rc))
cmp.plot(rc);"""),
md("""## kmap: where eq. (4) is stable

The drift of eq. (4) echoes the last step with the gain `-dE/tau`; once `m |dE| / tau` exceeds
about 1 the echoes grow and a member diverges. The stability law (`ensemble.stability`) measures
`tau_c = m sd(dE_m)` from a pilot with the drift off and predicts failure below `tau_c` and
stability above `3 tau_c`. `kmap` checks it on the Kuramoto network over a (tau, S) grid."""),
code("""km = STUDIES["kmap"]
rk = km.run(config("kmap", members=1, n_tau=2, S_values=(3.0,), n_iterations=10, pilot_members=4))
print(km.describe(rk))
km.plot(rk);"""),
md("""## Regimes and variants

Version 0.2's regimes stay available by name (`studies.reproduce(..., regime="locked")`: a
phase-locked network pushed to `R0 = 0.97`; `"below"`: the target below the uniform network's
synchrony), and so do two stabilized variants of eq. (4), not the paper's: the gain clipped
(`clip=0.5`) or normalized (`normalize=True`). `docs/paper/claims.md` lists which paper claim holds in
which setting."""),
md("""## Where this stands

How far the reconstructed equations get towards the paper's Kuramoto results is the calibration
evidence on the documentation's page *Evidence: Kuramoto*. Every study runs from the command line with checkpoints, e.g.
`python -m ensemble reproduce cmp --out results --resume`."""),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
nbf.write(nb, "notebooks/02_kuramoto.ipynb")
