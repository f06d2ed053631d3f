"""The GPU benchmark: ``benchmarks/run.py`` calls :func:`main` when JAX computes on
an accelerator, or with ``--accelerator`` (a CPU dry run, tiny sizes).

Writes one JSON (default ``benchmarks/results_gpu.json``) with, for ``network`` (eq. 4),
``robust_network`` (eq. 8) and ``kuramoto`` (eq. 13), the same problems as the CPU benchmark:

- ``by_members``: ``[{members, throughput, compile_s, seconds_per_chunk}]`` for each ensemble size
  that fits (1e3 to 1e6 by default; the first size that runs out of memory ends the list) and
  ``throughput``, the best of them (network-iterations/s; oscillator-network Euler steps/s);
- ``state_bytes_per_member`` (the carried state: parameters, delay buffers, system state) and
  ``evolve_bytes_per_member`` (``ensemble.driver.bytes_per_member``, what ``evolve`` budgets);
- ``bytes_per_unit``: bytes that cross the memory bus per unit of throughput, on a GPU from the
  program compiled for the H200 (``benchmarks/results_gpu_aot.json``, :mod:`benchmarks.gpu_aot`:
  every kernel's operands and results) where that file has the kernel, else
  (``bytes_per_unit_source``) from the state; ``bytes_per_unit_model`` is always the state model: for the networks the whole
  state read and written once per iteration; for Kuramoto, per Euler step, the ``N x N``
  coupling matrix read and the ``N`` phases read and written, plus the state per window;
- ``fraction_of_bandwidth``: ``bytes_per_unit x throughput / peak``, ``peak`` the device's
  nominal bandwidth where known (H200 4.8 TB/s), else the measured copy bandwidth (both kept);
  above 1 where the working set stays in the 60 MB L2 between kernels;
- ``variants`` (``kuramoto_fused``): the fused window alone at the best size in each of
  :data:`FUSED_VARIANTS` (its own polynomial ``sin``/``cos`` or libdevice's, with or without
  PTX FMAs);
- ``layout_ab``: at the largest size, the throughput with the CPU layout's cache blocks forced
  (``ensemble.layout.use("cpu")``) against the accelerator layout;
- ``short_runs``: 10 iterations of 64 members of each kernel compared with the CPU's
  (``benchmarks/short_runs_cpu.json``): largest absolute difference of every trace;
- ``figures``: every study's wall time at full size, the paper's nine first (``figures_wall_s``,
  the sum of those nine, None if any did not finish inside the budget), written with its JSON and
  PNG to ``--figures-out``; a study that fails is recorded with its error.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common as bench
from ensemble import driver, layout, studies

NOMINAL_BANDWIDTH = {"H200": 4.8e12, "H100": 3.35e12, "A100": 2.0e12, "L4": 3.0e11, "T4": 3.2e11}
"""Nominal memory bandwidth (bytes/s) by device kind (substring of ``device_kind``)."""
NOMINAL_FP32 = {"H200": 6.7e13, "H100": 6.7e13, "A100": 1.95e13, "L4": 3.0e13, "T4": 8.1e12}
"""Nominal float32 (non-tensor-core) FLOP/s by device kind."""
KERNELS = ("network", "robust_network", "kuramoto", "kuramoto_fused")
SHORT_RUNS = dict(members=64, n_iterations=10)
CPU_SHORT_RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "short_runs_cpu.json")
GPU_AOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results_gpu_aot.json")
ITERATIONS_PER_CALL = {"network": 20, "robust_network": 10, "kuramoto": 4, "kuramoto_fused": 4}


def log(*a):
    bench.log(*a)


def problem(name: str, B: int):
    """``(system, map, params, hyper)`` of benchmark kernel ``name`` (:data:`KERNELS`) at ``B`` members."""
    if name not in KERNELS:
        raise ValueError(f"name must be one of {KERNELS}, got {name!r}")
    if name.startswith("kuramoto"):
        system, lmap, params, hyper = bench.kuramoto_problem(B)
        return (system._replace(kernel="fused") if name == "kuramoto_fused" else system), lmap, params, hyper
    return bench.network_problem(B, name == "robust_network")


def unit_factor(name: str) -> int:
    """Throughput units per member-iteration (Euler steps for Kuramoto)."""
    return problem("kuramoto", 1)[0].n_steps if name.startswith("kuramoto") else 1


def state_bytes(name: str) -> int:
    return driver.state_bytes_per_member(*problem(name, 1)[:3])


def bytes_per_unit(name: str) -> float:
    """Traffic model from the state alone (module docstring)."""
    per_iteration = 2 * state_bytes(name)
    if name == "kuramoto_fused":  # weights and phases read once, phases written once per window
        return per_iteration / unit_factor(name)
    if name != "kuramoto":
        return float(per_iteration)
    N, n_steps = bench.KU["N"], unit_factor(name)
    return 4.0 * (N * N + 2 * N) + per_iteration / n_steps


def compiled_bytes_per_unit(name: str, B: int, path: str = GPU_AOT) -> float | None:
    """Bytes per unit that the program compiled for the H200 moves (``benchmarks/gpu_aot.py``:
    every kernel's operands and results, loops by their trip counts), at the compiled ensemble
    size nearest ``B``; None without that file or kernel."""
    if not os.path.exists(path):
        return None
    rows = [r for r in json.load(open(path)).get("kernels", {}).get(name, []) if r.get("bytes_per_iteration")]
    if not rows:
        return None
    row = min(rows, key=lambda r: abs(np.log(r["members"] / B)))
    return row["bytes_per_iteration"] / unit_factor(name)


def copy_bandwidth(n_floats: int) -> float:
    """Bytes/s of ``x + 1`` on ``n_floats`` float32 (read and write)."""
    x = jnp.zeros(n_floats, jnp.float32)
    f = jax.jit(lambda x: x + 1.0)
    jax.block_until_ready(f(x))
    t = bench.best_of(lambda: jax.block_until_ready(f(x)), 3)
    return 2 * 4 * n_floats / t


def _out_of_memory(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in ("RESOURCE_EXHAUSTED", "Out of memory", "out of memory", "OOM"))


def by_members(name: str, sizes, repeats: int) -> list[dict]:
    rows = []
    for B in sizes:
        try:
            c = bench.Chunk(*problem(name, B))
            r = c.throughput(ITERATIONS_PER_CALL[name], repeats)
        except Exception as exc:  # noqa: BLE001 - an ensemble that does not fit ends the list
            if not _out_of_memory(exc):
                raise
            log(f"  {name} B={B}: out of memory, stop")
            rows.append({"members": B, "throughput": None, "error": "out of memory"})
            break
        thr = r["member_iterations_per_s"] * unit_factor(name)
        rows.append({"members": B, "throughput": thr, "compile_s": r["compile_s_est"],
                     "seconds_per_chunk": r["seconds_per_chunk"]})
        log(f"  {name:15s} B={B:8d}: {thr:10.3g}/s  compile ~{r['compile_s_est']:.1f}s")
        del c
    return rows


def layout_ab(name: str, B: int, repeats: int) -> dict:
    """Throughput with the CPU layout forced against the accelerator layout, at ``B`` members
    (only where the CPU layout has blocks: from ``block_from`` members for the networks, above
    the window block at N (``layout.CPU.window_block_for``) for Kuramoto; the layouts are the same
    program below)."""
    cpu = layout.CPU
    if name == "kuramoto_fused":
        return {"members": B, "skipped": "the fused window has no CPU blocks"}
    if (name == "kuramoto" and B <= cpu.window_block_for(bench.KU["N"])) or (name != "kuramoto" and B < cpu.block_from):
        return {"members": B, "skipped": "the CPU layout has no blocks at this size"}
    out = {"members": B}
    for lay in ("accelerator", "cpu"):
        with layout.use(lay):
            c = bench.Chunk(*problem(name, B))
            out[lay] = c.throughput(ITERATIONS_PER_CALL[name], repeats)["member_iterations_per_s"] * unit_factor(name)
            del c
    out["accelerator_over_cpu_layout"] = out["accelerator"] / out["cpu"]
    return out


FUSED_VARIANTS = {"polynomial, fma": dict(sincos_impl="polynomial", ptx_fma=True),
                  "polynomial, no fma": dict(sincos_impl="polynomial", ptx_fma=False),
                  "libdevice, fma": dict(sincos_impl="libdevice", ptx_fma=True)}
"""The fused window's variants timed by :func:`fused_variants`; the first is the default."""


def fused_window_args() -> tuple[int, int, dict]:
    """``(N, n_steps, keyword arguments of kuramoto_fused.window)`` of the benchmark's window."""
    system = problem("kuramoto_fused", 1)[0]
    return system.N, system.n_steps, dict(omega=tuple(float(o) for o in system.omega), dt=float(system.dt),
                                          n_steps=system.n_steps)


def fused_variants(B: int, repeats: int) -> dict:
    """The fused window alone (no learning step) at ``B`` members in each of
    :data:`FUSED_VARIANTS`: oscillator-network Euler steps/s, and each over the default."""
    from ensemble import kuramoto as ku
    from ensemble import kuramoto_fused as kf

    N, n_steps, kw = fused_window_args()
    Bp = kf.padded_to_blocks(B)
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.uniform(0.5, 1.0, (ku.n_pairs(N), Bp)), jnp.float32)
    ph = jnp.asarray(rng.uniform(-np.pi, np.pi, (N, Bp)), jnp.float32)
    out = {"members": Bp, "steps_per_s": {}}
    for label, variant in FUSED_VARIANTS.items():
        f = jax.jit(lambda w, ph, v=variant: kf.window_on_platform(w, ph, **v, **kw))
        jax.block_until_ready(f(w, ph))
        out["steps_per_s"][label] = Bp * n_steps / bench.best_of(lambda: jax.block_until_ready(f(w, ph)), repeats)
    default = out["steps_per_s"][next(iter(FUSED_VARIANTS))]
    out["over_default"] = {k: v / default for k, v in out["steps_per_s"].items()}
    return out


def short_runs() -> dict:
    """Traces of 10 iterations of 64 members per kernel, float32 (same seeds everywhere)."""
    out = {}
    for name in ("network", "robust_network", "kuramoto"):
        system, lmap, params, hyper = problem(name, SHORT_RUNS["members"])
        run = driver.evolve(system, lmap, params, hyper, key=jax.random.key(0), n_iterations=SHORT_RUNS["n_iterations"])
        out[name] = {k: np.asarray(v, float).tolist() for k, v in run.traces.items()}
    return out


def compare_short_runs(here: dict, path: str = CPU_SHORT_RUNS) -> dict:
    if not os.path.exists(path):
        return {"error": f"no CPU reference {path}"}
    ref = json.load(open(path))["traces"]
    diffs = {f"{name}.{k}": float(np.nanmax(np.abs(np.asarray(v) - np.asarray(ref[name][k]))))
             for name, tr in here.items() for k, v in tr.items()}
    worst = max(diffs.values())
    return {"max_abs_diff": diffs, "worst": worst, "within_1e-5": bool(worst <= 1e-5)}


PAPER_STUDIES = ("fig1", "fig2a", "fig2b", "fig3", "fig4", "fig5", "fig6", "fig7", "cmp")
"""The nine studies of the paper, whose summed wall time is ``figures_wall_s``."""


def figures(out: str, quick: bool, budget_s: float, after=lambda rows: None) -> dict:
    """Every study, the paper's nine first, one after the other until the budget is spent
    (``after(rows)`` after each). A study that fails is recorded with its error and the next one
    runs (``compare`` needs evosax, which a GPU image may lack)."""
    rows, t_all = {}, time.perf_counter()
    order = list(PAPER_STUDIES) + [s for s in studies.STUDIES if s not in PAPER_STUDIES]
    for study in order:
        if time.perf_counter() - t_all > budget_s:
            rows[study] = {"wall_s": None, "skipped": "time budget spent"}
            continue
        t0 = time.perf_counter()
        try:
            result = studies.reproduce(study, out, quick=quick)
        except Exception as exc:  # noqa: BLE001 - record it, run the next study
            rows[study] = {"wall_s": None, "error": f"{type(exc).__name__}: {exc}"[:500]}
            log(f"  {study}: failed: {rows[study]['error'][:200]}")
        else:
            rows[study] = {"wall_s": round(time.perf_counter() - t0, 2), "diverged": result.summary.get("diverged")}
            log(f"  {study}: {rows[study]['wall_s']} s")
        after(rows)
    done = all(rows[s]["wall_s"] is not None for s in PAPER_STUDIES)
    return {"quick": quick, "by_study": rows,
            "figures_wall_s": round(sum(rows[s]["wall_s"] for s in PAPER_STUDIES), 2) if done else None}


def main(json_path: str, *, sizes=(1_000, 10_000, 100_000, 1_000_000), repeats: int = 3, copy_floats: int = 1 << 28,
         figures_out: str | None = None, figures_quick: bool = False, figures_budget_s: float = 300.0,
         write_cpu_reference: bool = False) -> dict:
    t0 = time.perf_counter()
    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    res: dict = {"device": bench.device_name(), "device_kind": kind, "platform": dev.platform, "dtype": "float32",
                 "layout": layout.current().name, "sizes": list(sizes)}
    log(f"device: {res['device']}, layout {res['layout']}")

    def write():
        res["wall_time_s"] = time.perf_counter() - t0
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        tmp = json_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=2)
        os.replace(tmp, json_path)

    measured = copy_bandwidth(copy_floats)
    nominal = next((v for k, v in NOMINAL_BANDWIDTH.items() if k in str(kind)), None)
    peak = nominal or measured
    res["bandwidth"] = {"measured_copy_bytes_per_s": measured, "nominal_bytes_per_s": nominal, "peak_used": peak}
    log(f"copy bandwidth {measured / 1e9:.0f} GB/s (nominal {nominal})")
    for name in KERNELS:
        try:
            rows = by_members(name, sizes, repeats)
        except Exception as exc:  # noqa: BLE001 - e.g. a kernel that does not compile here: keep the others
            res[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            log(f"{name}: failed: {res[name]['error'][:300]}")
            write()
            continue
        ok = [r for r in rows if r["throughput"] is not None]
        if not ok:
            res[name] = {"by_members": rows, "error": "no ensemble size fit in memory"}
            write()
            continue
        best = max(ok, key=lambda r: r["throughput"])
        model = bytes_per_unit(name)
        # the compiled program's traffic is the GPU's (compiled for an H200); a CPU dry run keeps the model
        compiled = compiled_bytes_per_unit(name, best["members"]) if dev.platform == "gpu" else None
        bpu = compiled or model
        res[name] = {
            "throughput": best["throughput"],
            "best_members": best["members"],
            "unit": "oscillator-network Euler steps/s" if name == "kuramoto" else "network-iterations/s",
            "by_members": rows,
            "compile_s_est": best["compile_s"],
            "state_bytes_per_member": state_bytes(name),
            "evolve_bytes_per_member": driver.bytes_per_member(*problem(name, 1)[:3], 1),
            "bytes_per_unit": bpu,
            "bytes_per_unit_source": "compiled program (results_gpu_aot.json)" if compiled else "state model",
            "fraction_of_bandwidth": bpu * best["throughput"] / peak,
            "bytes_per_unit_model": model,
            "fraction_of_bandwidth_model": model * best["throughput"] / peak,
        }
        if name == "kuramoto_fused":
            from ensemble import kuramoto_fused as kf

            flops = kf.flops_per_step(bench.KU["N"])
            fp32 = next((v for k, v in NOMINAL_FP32.items() if k in str(kind)), None)
            vec = {r["members"]: r["throughput"] for r in res["kuramoto"].get("by_members", [])}
            res[name].update(
                flops_per_step=flops,
                nominal_fp32_flops_per_s=fp32,
                fraction_of_fp32_peak=flops * best["throughput"] / fp32 if fp32 else None,
                vs_vectorized={str(r["members"]): r["throughput"] / vec[r["members"]] for r in ok if vec.get(r["members"])},
                vs_vectorized_best=(best["throughput"] / res["kuramoto"]["throughput"]
                                    if "throughput" in res["kuramoto"] else None),
            )
        if name == "kuramoto_fused":
            try:
                res[name]["variants"] = fused_variants(best["members"], repeats)
            except Exception as exc:  # noqa: BLE001 - keep the measurements above
                res[name]["variants"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            log(f"{name}: variants {res[name]['variants']}")
        try:
            res[name]["layout_ab"] = ab = layout_ab(name, ok[-1]["members"], repeats)
        except Exception as exc:  # noqa: BLE001 - keep the measurements above
            res[name]["layout_ab"] = ab = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        log(f"{name:15s} best {best['throughput']:.3g}/s at {best['members']} members; "
            f"{100 * res[name]['fraction_of_bandwidth']:.1f}% of bandwidth; layout A/B {ab}")
        write()
    here = short_runs()
    if write_cpu_reference:
        with open(CPU_SHORT_RUNS, "w") as f:
            json.dump({"device": res["device"], **SHORT_RUNS, "traces": here}, f)
        res["short_runs"] = {"written": CPU_SHORT_RUNS}
    else:
        res["short_runs"] = compare_short_runs(here)
    log(f"short runs vs CPU: {res['short_runs']}")
    write()
    if figures_out:
        res["figures"] = {"by_study": {}, "figures_wall_s": None, "quick": figures_quick}

        def partial(rows):
            res["figures"]["by_study"] = rows
            write()

        res["figures"] = figures(figures_out, figures_quick, figures_budget_s, partial)
        res["figures_wall_s"] = res["figures"]["figures_wall_s"]
    write()
    log(f"wrote {json_path} ({res['wall_time_s']:.0f} s)")
    return res
