"""Probe runs behind the graded regime (docs/paper/evidence-kuramoto.md, "regime"): fig5 with
its defaults and in variants of the Lorentzian regime, literal and clipped eq. (4), 48 members.

    python examples/kuramoto_regimes.py [NAME ...]     # about 30 s per setting on 2 CPU cores
    python examples/kuramoto_regimes.py fig6 clip      # Fig. 6 in the graded regime (70 s)
    python examples/kuramoto_regimes.py fig7 clip      # Fig. 7 in the graded regime (35 s)
"""
import sys
import time
import warnings
import numpy as np
warnings.simplefilter("ignore")
from ensemble import cpu  # noqa: E402
cpu.use_cores()
from ensemble.studies import fig5  # noqa: E402
base = dict(members=48, n_iterations=8000, record_every=100, final_span=10)
lor = dict(frequencies="lorentzian", omega_spread=0.25, R0=0.7, M0=0.8, error="squared", warmup_time=0.0,
           tau=0.1, S=3.0, gamma=0.1, T=20.0, m=1, r_time=60.0)
configs = {
    "default": dict(),
    "lor": lor,
    "lor_clip0.5": {**lor, "clip": 0.5},
    "lor_tau0.03_clip0.5": {**lor, "tau": 0.03, "clip": 0.5},
    "lor_S1": {**lor, "S": 1.0},
    "lor_M06_R06_clip": {**lor, "M0": 0.6, "R0": 0.6, "clip": 0.5},
    "lor_M06_R07_clip": {**lor, "M0": 0.6, "R0": 0.7, "clip": 0.5},
    "lor_clip_30k": {**lor, "clip": 0.5, "n_iterations": 30000},
    "lor_clip_S10": {**lor, "clip": 0.5, "S": 10.0},
}
if "fig6" in sys.argv or "fig7" in sys.argv:
    from ensemble.studies import fig6, fig7

    lor = dict(frequencies="lorentzian", omega_spread=0.25, R0=0.7, M0=0.8, error="squared", warmup_time=0.0,
               tau=0.1, S=3.0, gamma=0.1, T=20.0, m=1, clip=0.5 if "clip" in sys.argv else None)
    if "fig6" in sys.argv:
        t = time.perf_counter()
        r = fig6.run(fig6.Config(**{**lor, "members": 24, "n_iterations": 8000, "record_every": 100,
                                    "n_gamma": 5, "gamma_min": 1e-3, "gamma_max": 10.0}))
        a = r.arrays
        print(f"fig6 {time.perf_counter()-t:.0f}s gamma {np.round(a['gamma'], 4)}")
        for k in ("mean_R", "mean_M", "success_fraction"):
            print(f"  {k}: {np.round(np.asarray(a[k], float), 3)}")
        print(" ", {k: v for k, v in r.summary.items() if k.startswith(("compromise", "best", "diverged"))}, flush=True)
    if "fig7" in sys.argv:
        t = time.perf_counter()
        r = fig7.run(fig7.Config(**{**lor, "members": 24, "n_iterations": 4000, "record_every": 100,
                                    "windows": (1.0, 2.0, 5.0, 10.0, 20.0)}))
        a = r.arrays
        print(f"fig7 {time.perf_counter()-t:.0f}s T {a['T']}")
        for k in ("mean_R", "mean_M", "median_M_all", "success_fraction", "diverged"):
            print(f"  {k}: {np.round(np.asarray(a[k], float), 3)}", flush=True)
    sys.exit()
pick = sys.argv[1:] or list(configs)
for name in pick:
    t = time.perf_counter()
    r = fig5.run(fig5.Config(**{**base, **configs[name]}))
    s = r.summary
    E0, Ef = np.asarray(r.arrays["initial_errors"]), np.asarray(r.arrays["final_errors"])
    fall = E0 / Ef
    print(f"{name:22s} {time.perf_counter()-t:5.0f}s div {s['diverged']:2d}/48 succ {s['success_fraction']:.2f} "
          f"median fall {np.nanmedian(fall):7.3g} >=100x {np.nanmean(fall >= 100):.2f} "
          f"E0 med {np.nanmedian(E0):.3g} best fall {s['error_fall']:.3g} final R {s['final_R']:.3f} "
          f"M med {np.nanmedian(r.arrays['final_M_members']):.3f} (M0 {s['M0']})", flush=True)
