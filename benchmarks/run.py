#!/usr/bin/env python
"""Performance benchmarks of ``ensemble`` against numpy baselines.

Usage::

    python -m benchmarks.run [--json FILE] [--quick]

Measures in one process, float32, on the device JAX sees:

1. ``network``: eq. (4) learning of the 35-10-5 network on the vowels, ensemble 1024,
   ``learning.discrete(5)``, tau = 0.1, S = 0.3, m = 5 -> network-iterations/s;
2. ``robust_network``: eq. (8) with ``Task(X, Y, eps=0.1)`` (all single hidden-node
   deletions every iteration) -> network-iterations/s;
3. ``kuramoto``: N = 10, dt = 0.01, ensemble 1024, eq. (13) with an eq. (4) base map,
   window T = 0.5 (50 Euler steps per learning iteration) -> oscillator-network Euler steps/s;
4. baselines in the same run: ``benchmarks/numpy_reference.py`` vectorized over members
   (``vs_numpy``), the same code one member at a time in a Python loop (``vs_loop``),
   and for Kuramoto the PyPI package ``kuramoto`` one system at a time (``vs_pypi_kuramoto``);
   the same learning written by hand in plain JAX, as an expert would (``benchmarks/hand_jax.py``,
   one ``jit``, one device: ``vs_hand`` for the library's default, ``one_device_vs_hand``), for
   the network and Kuramoto; ratios above 1 mean the library is faster;
5. scaling: throughput vs ensemble size, compile time vs chunk length, and throughput
   with the members sharded over 1, 2, 4 devices (a subprocess with
   ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` on CPU; with ``--quick``, one device
   against all local ones in this process), with a bitwise check of the results.

The process first asks for one XLA CPU device per core (:func:`ensemble.cpu.use_cores`, as
the command line does; ``--one-device`` turns that off). Each kernel's ``throughput`` is then
what ``evolve`` does by default, the members sharded over all local devices, and
``throughput_one_device`` the same chunk on one device.
6. ceiling: analytic FLOPs / transcendentals / random words per member-step of each
   kernel, and the fraction of a measured float32 matmul peak each kernel reaches.

Timing habits (diffrax FAQ): compile once (a warm-up call, timed separately), call the
compiled chunk with ``block_until_ready``, each sample at least ``MIN_TIME`` seconds
(several chunk calls if one is shorter), best of several samples.
The library's hot loop is timed exactly as :func:`ensemble.evolve` runs it: the
compiled chunk (:class:`ensemble.CompiledChunk`), state donated and carried
from call to call, one record per iteration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import hand_jax  # noqa: E402
from benchmarks import numpy_reference as ref  # noqa: E402
from benchmarks.common import (B_MAIN, KU, N1, N2, N3, NET_HYPER, ROBUST, Chunk, best_of, chunk_length,  # noqa: E402
                               device_name, kuramoto_problem, log, net_params, network_problem)
from ensemble import cpu, patterns  # noqa: E402

# ------------------------------------------------------------------ baselines


def _numpy_network_inputs(B: int, robust: bool):
    """Vowels, ``B`` members' initial weights as numpy arrays, and the map's keyword arguments."""
    X, Y = patterns.vowels()
    p = net_params(B)
    kw = dict(tau=NET_HYPER["tau"], S=NET_HYPER["S"], m=NET_HYPER["m"], max_delay=5)
    if robust:
        kw.update(ROBUST)
    return X, Y, np.asarray(p["hidden"]), np.asarray(p["output"]), kw


def numpy_network(B: int, n_it: int, robust: bool, repeats: int) -> float:
    """Member-iterations/s of the vectorized numpy reference on ``B`` members."""
    X, Y, hidden, output, kw = _numpy_network_inputs(B, robust)
    t = best_of(lambda: ref.network_run(hidden, output, X, Y, n_it, **kw), repeats)
    return B * n_it / t


def loop_network(n_members: int, n_it: int, robust: bool, repeats: int) -> float:
    """Member-iterations/s of the same numpy code run one member at a time (``B = 1``) in a Python loop."""
    X, Y, hidden, output, kw = _numpy_network_inputs(n_members, robust)

    def run():
        for i in range(n_members):
            ref.network_run(hidden[i : i + 1], output[i : i + 1], X, Y, n_it, seed=i, **kw)

    t = best_of(run, repeats)
    return n_members * n_it / t


def hand_network(B: int, n_it: int, repeats: int) -> float:
    """Member-iterations/s of eq. (4) on the network written by hand in plain JAX
    (:mod:`benchmarks.hand_jax`, one ``jit``, one device), after a warm-up call."""
    X, Y, hidden, output, kw = _numpy_network_inputs(B, False)
    prog = hand_jax.network_program(X, Y, (hidden.shape[1:], output.shape[1:]), tau=kw["tau"], S=kw["S"], m=kw["m"])
    box = [hand_jax.network_state(hidden, output, m=kw["m"])]

    def run():
        box[0], E = prog(box[0], n_it)
        jax.block_until_ready((box[0], E))

    run()
    return B * n_it / best_of(run, repeats)


def hand_kuramoto(B: int, n_it: int, repeats: int) -> float:
    """Member-iterations/s of eq. (13) written by hand in plain JAX (:mod:`benchmarks.hand_jax`)."""
    k = KU
    system, _, params, _ = kuramoto_problem(B)
    prog = hand_jax.kuramoto_program(k["N"], system.omega, dt=k["dt"], n_steps=system.n_steps, R0=k["R0"], tau=k["tau"],
                                     S=k["S"], m=k["m"], gamma=k["gamma"], M0=k["M0"])
    phases = np.random.default_rng(0).uniform(-np.pi, np.pi, (B, k["N"])).astype(np.float32)
    box = [hand_jax.kuramoto_state(np.asarray(params["w"]), phases, m=k["m"])]

    def run():
        box[0], E = prog(box[0], n_it)
        jax.block_until_ready((box[0], E))

    run()
    return B * n_it / best_of(run, repeats)


def kuramoto_baseline(B: int, n_it: int, repeats: int, window=None, one_at_a_time: bool = False) -> float:
    """Member-iterations/s of the numpy reference of eq. (13) (vectorized, or a loop over members)."""
    k = KU
    system, _, params, _ = kuramoto_problem(B)
    w0 = np.asarray(params["w"], np.float32)
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, (B, k["N"])).astype(np.float32)
    kw = dict(tau=k["tau"], S=k["S"], m=k["m"], max_delay=k["m"], gamma=k["gamma"], M0=k["M0"], window=window)
    args = (system.omega, k["dt"], system.n_steps, k["R0"], n_it)
    if one_at_a_time:

        def run():
            for i in range(B):
                ref.kuramoto_run(w0[i : i + 1], phases[i : i + 1], *args, seed=i, **kw)
    else:

        def run():
            ref.kuramoto_run(w0, phases, *args, **kw)

    t = best_of(run, repeats)
    return B * n_it / t


def pypi_kuramoto_window():
    """A window integrator built on the PyPI ``kuramoto`` package, one system at a time (None if missing).

    ``Kuramoto(coupling=(N-1)/N, dt, T=n_steps*dt, natfreqs=omega).run(adj_mat=W, angles_vec=phases)``
    integrates ``dphi_i/dt = omega_i + (coupling / #nonzero w_.i) sum_j w_ji sin(phi_j - phi_i)`` with
    scipy's ``odeint`` (LSODA, adaptive) and returns the phases at ``int(T/dt)`` times in
    ``[0, T]``; with every ``w_ij != 0`` the factor is ``1/N`` as in the library. ``r`` is
    computed from that time series with numpy (faster than the package's per-sample
    ``phase_coherence``), and the simulated time is the same as the library's window.
    """
    try:
        from kuramoto import Kuramoto
    except Exception:  # noqa: BLE001 - optional baseline
        return None, None
    import importlib.metadata

    def window(W, phases, omega, dt, n_steps):
        N = phases.shape[-1]
        out_phases, Rs = np.empty_like(phases), np.empty(phases.shape[0], phases.dtype)
        for b in range(W.shape[0]):
            model = Kuramoto(coupling=(N - 1) / N, dt=dt, T=n_steps * dt, natfreqs=omega.astype(np.float64))
            act = model.run(adj_mat=W[b].astype(np.float64), angles_vec=phases[b].astype(np.float64))  # (N, times)
            r = np.abs(np.mean(np.exp(1j * act[:, 1:]), axis=0))
            out_phases[b], Rs[b] = act[:, -1], r.mean()
        return out_phases, Rs

    return window, importlib.metadata.version("kuramoto")


# ------------------------------------------------------------------ ceiling


def network_costs(robust: bool) -> dict:
    """Analytic operation counts per member-iteration of the network kernels (how: see README).

    Multiply and add count one FLOP each (no FMA credit); the logistic is ``1/(1+exp(-z))``:
    3 FLOPs and one ``exp``; each of the ``K D`` noise values is one 32-bit threefry word
    (threefry-2x32, ~55 integer ops per word) and one ``erf_inv`` (counted as a transcendental).
    """
    P, D = 5, N2 * (N1 + 1) + N3 * (N2 + 1)
    K = 2 if robust else 1
    flops = P * N2 * 2 * N1 + P * N2  # hidden pre-activations (multiply-add chain + threshold)
    flops += 3 * P * N2  # hidden logistic
    flops += P * N3 * 2 * N2 + P * N3 + 3 * P * N3  # output pre-activations + logistic
    flops += 3 * P * N3 + 1  # error: difference, square, sum, mean
    transc = P * N2 + P * N3
    if robust:
        n = N2 * P * N3
        flops += 2 * n + 3 * n + 3 * n + N2 * 2  # damaged pre-activations, logistic, errors, Theta + mean
        transc += n
    flops += 3 * D + 2 * K * D + 4 * K  # move: w + drift (w - w_d) + sum_k s_k g_k xi_k; drift
    transc += K * D  # erf_inv of each noise value
    return {"flops": flops, "transcendentals": transc, "random_words": K * D, "threefry_int_ops": 55 * K * D, "parameters": D}


def kuramoto_costs(N: int, n_steps: int) -> dict:
    """Analytic counts per oscillator-network Euler step (map work amortized over the window)."""
    step = 2 * N * (2 * N - 1)  # W sin, W cos as multiply-add chains over the full (N, N) matrix
    step += 3 * N + 4 * N  # coupling c*a - s*b; phi += dt (omega + coupling / N)
    step += 2 * (N - 1) + 4 + 1  # order parameter: two sums, C^2 + S^2, sqrt, / N; window sum
    D = N * (N - 1) // 2
    per_window = 5 * D + 2 * D + 6  # base map move + control term + E, M
    return {
        "flops": step + per_window / n_steps,
        "transcendentals": 2 * N + 1 + D / n_steps,
        "random_words": D / n_steps,
        "threefry_int_ops": 55 * D / n_steps,
    }


TRANSCENDENTAL_FLOPS = 20  # rough cost of one vectorized exp/sin/cos/erf_inv polynomial, for the weighted fraction


def matmul_peak(n: int, repeats: int) -> dict:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    jax.block_until_ready(f(a, b))
    t = best_of(lambda: jax.block_until_ready(f(a, b)), repeats)
    return {"n": n, "seconds": t, "flops_per_s": 2 * n**3 / t}


def ceiling(costs: dict, steps_per_s: float, peak: float) -> dict:
    weighted = costs["flops"] + TRANSCENDENTAL_FLOPS * costs["transcendentals"] + costs["threefry_int_ops"]
    return {
        **costs,
        "achieved_flops_per_s": steps_per_s * costs["flops"],
        "fraction_of_peak": steps_per_s * costs["flops"] / peak,
        "weighted_ops": weighted,
        "fraction_of_peak_weighted": steps_per_s * weighted / peak,
    }


# ------------------------------------------------------------------ devices worker


def devices_worker(quick: bool) -> dict:
    """Run in a subprocess with 4 forced host devices: network throughput on 1, 2, 4 devices, bitwise check."""
    n_dev = len(jax.local_devices())
    out = {"local_devices": n_dev, "throughput": {}, "bitwise_identical": None}
    finals = {}
    n_check = 5
    for d in (1, 4) if quick else (1, 2, 4):
        if d > n_dev:
            continue
        c = Chunk(*network_problem(B_MAIN, False), devices=d)
        t0 = time.perf_counter()
        c.call(n_check)  # warm-up (compiles) and the run compared across device counts
        first = time.perf_counter() - t0
        finals[d] = [np.asarray(x) for x in jax.tree_util.tree_leaves(c.state.params)]
        n_it = 10
        t = best_of(lambda: c.call(n_it), 2 if quick else 3)
        out["throughput"][str(d)] = {"member_iterations_per_s": B_MAIN * n_it / t, "first_call_s": first}
    ref_final = finals[min(finals)]
    out["bitwise_identical"] = all(all(np.array_equal(a, b) for a, b in zip(ref_final, f)) for f in finals.values())
    return out


def same_run(a: Chunk, b: Chunk, n_it: int) -> bool:
    """Run both compiled chunks ``n_it`` iterations from the initial state: bitwise equal?"""
    out = []
    for c in (a, b):
        c.state = c.fresh_state()
        c.call(n_it)
        out.append([np.asarray(x) for x in jax.tree_util.tree_leaves(c.state.params)])
    return all(np.array_equal(x, y) for x, y in zip(*out))


def run_devices(quick: bool) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    cmd = [sys.executable, os.path.abspath(__file__), "--devices-worker"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ main


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--quick", action="store_true", help="short run (about a minute on 2 cores)")
    ap.add_argument("--devices-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--figure", help="write the scaling figure here (default: docs/figures/scaling.png for a full run, "
                                      "none with --quick, whose numbers are not the curated ones)")
    ap.add_argument("--one-device", action="store_true", help="do not ask for one CPU device per core (ensemble.cpu.use_cores)")
    ap.add_argument("--accelerator", action="store_true",
                    help="the GPU benchmark (benchmarks/accelerator.py) even on a CPU: a dry run with --sizes small")
    ap.add_argument("--sizes", default="1000,10000,100000,1000000", help="GPU benchmark: ensemble sizes, comma-separated")
    ap.add_argument("--figures-out", help="GPU benchmark: also run every study at full size into this folder, timed")
    ap.add_argument("--figures-quick", action="store_true", help="GPU benchmark: the studies at quick size (dry runs)")
    ap.add_argument("--figures-budget", type=float, default=300.0, help="GPU benchmark: seconds after which no study starts")
    ap.add_argument("--copy-floats", type=int, default=1 << 28, help="GPU benchmark: floats of the bandwidth probe")
    ap.add_argument("--write-cpu-reference", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.devices_worker:
        print(json.dumps(devices_worker(args.quick)))
        return {}
    if not args.one_device:
        cpu.use_cores()  # as the command line does: one XLA CPU device per core
    if args.accelerator or jax.default_backend() != "cpu":
        from benchmarks import accelerator

        sizes = tuple(int(x) for x in args.sizes.split(","))
        return accelerator.main(args.json or os.path.join(ROOT, "benchmarks", "results_gpu.json"), sizes=sizes,
                                repeats=2 if args.quick else 3, copy_floats=args.copy_floats,
                                figures_out=args.figures_out, figures_quick=args.figures_quick,
                                figures_budget_s=args.figures_budget, write_cpu_reference=args.write_cpu_reference)
    quick = args.quick
    reps = 3 if quick else 5
    t_start = time.perf_counter()
    res: dict = {"device": device_name(), "dtype": "float32", "quick": quick, "ensemble": B_MAIN}
    log(f"device: {res['device']}")

    # -- the three kernels at 1024 members
    n_local = len(jax.local_devices())
    for name, robust in (("network", False), ("robust_network", True)):
        c = Chunk(*network_problem(B_MAIN, robust))
        n_it = 10 if robust else 20
        r = c.throughput(n_it, reps)
        thr1, thr = r["member_iterations_per_s"], None
        if n_local > 1:
            cN = Chunk(*network_problem(B_MAIN, robust), devices=n_local)
            thr = cN.throughput(n_it, reps)["member_iterations_per_s"]
            if not robust:
                net_sharded = cN
        thr = thr or thr1  # what evolve does by default: the members sharded over all local devices
        np_thr = numpy_network(B_MAIN, 3, robust, 2 if quick else 3)
        loop_thr = loop_network(4 if quick else 8, 10, robust, 1 if quick else 2)
        hand_thr = None if robust else hand_network(B_MAIN, n_it, 2 * reps)  # twice the samples: its best
        res[name] = {
            "throughput": thr,
            "unit": "network-iterations/s",
            "throughput_one_device": thr1,
            "local_devices": n_local,
            "vs_numpy": thr / np_thr,
            "vs_loop": thr / loop_thr,
            "numpy_throughput": np_thr,
            "loop_throughput": loop_thr,
            "hand_throughput": hand_thr,
            "vs_hand": None if hand_thr is None else thr / hand_thr,
            "one_device_vs_hand": None if hand_thr is None else thr1 / hand_thr,
            **{k: r[k] for k in ("chunk_iterations", "compile_s_est")},
        }
        log(
            f"{name:15s} {thr:10.3g} network-it/s ({thr1:.3g} on one device)"
            f"  numpy {np_thr:9.3g} (x{thr / np_thr:.1f})  loop {loop_thr:9.3g} (x{thr / loop_thr:.0f})"
            f"  compile ~{r['compile_s_est']:.1f}s"
        )
        if not robust:
            net_chunk, net_thr = c, thr1

    system, lmap, params, hyper = kuramoto_problem(B_MAIN)
    n_steps = system.n_steps
    c = Chunk(system, lmap, params, hyper)
    r = c.throughput(4, reps)
    thr1 = r["member_iterations_per_s"] * n_steps
    thr = thr1
    if n_local > 1:  # evolve's default: sharded over all local devices
        thr = Chunk(system, lmap, params, hyper, devices=n_local).throughput(4, reps)["member_iterations_per_s"] * n_steps
    np_thr = kuramoto_baseline(B_MAIN, 2, 2 if quick else 3) * n_steps
    loop_thr = kuramoto_baseline(4 if quick else 8, 2, 1 if quick else 2, one_at_a_time=True) * n_steps
    hand_thr = hand_kuramoto(B_MAIN, 4, 2 * reps) * n_steps
    res["kuramoto"] = {
        "hand_throughput": hand_thr,
        "vs_hand": thr / hand_thr,
        "one_device_vs_hand": thr1 / hand_thr,
        "throughput": thr,
        "unit": "oscillator-network Euler steps/s",
        "throughput_one_device": thr1,
        "local_devices": n_local,
        "vs_numpy": thr / np_thr,
        "vs_loop": thr / loop_thr,
        "numpy_throughput": np_thr,
        "loop_throughput": loop_thr,
        "steps_per_iteration": n_steps,
        "N": KU["N"],
        "dt": KU["dt"],
        "T": KU["T"],
        "compile_s_est": r["compile_s_est"],
        "vs_pypi_kuramoto": None,
    }
    window, version = pypi_kuramoto_window()
    if window is not None:
        pypi_thr = kuramoto_baseline(2 if quick else 4, 1, 1, window=window, one_at_a_time=True) * n_steps
        res["kuramoto"].update(vs_pypi_kuramoto=thr / pypi_thr, pypi_kuramoto_throughput=pypi_thr, pypi_kuramoto_version=version)
    log(
        f"{'kuramoto':15s} {thr:10.3g} steps/s ({thr1:.3g} on one device)"
        f"  numpy {np_thr:9.3g} (x{thr / np_thr:.1f})  loop {loop_thr:9.3g} (x{thr / loop_thr:.0f})"
        + (f"  pypi kuramoto {pypi_thr:.3g} (x{thr / pypi_thr:.0f})" if window is not None else "  (pypi kuramoto not installed)")
    )

    # -- scaling with the ensemble size (eq. 4 network)
    sizes = [64, 1024, 4096] if quick else [64, 256, 1024, 4096, 16384, 65536]
    per_size = {}
    for B in sizes:
        if B == B_MAIN:
            per_size[B] = net_thr
        else:
            cB = Chunk(*network_problem(B, False))
            # at least 20 iterations per call: evolve's chunks are long, and cache blocks need
            # several iterations per block to pay off
            repeats = 2 if (quick or B >= 16384) else 3
            per_size[B] = cB.throughput(chunk_length(B, net_thr, lo=20), repeats)["member_iterations_per_s"]
            del cB
        log(f"  scaling B={B:6d}: {per_size[B]:10.3g} network-it/s ({per_size[B] / net_thr:.2f} of B=1024)")
    res["scaling"] = {
        "ensemble_sizes": sizes,
        "throughput": [per_size[B] for B in sizes],
        "unit": "network-iterations/s",
        "efficiency_at_65536": per_size[65536] / per_size[B_MAIN] if 65536 in per_size else None,
        "efficiency_definition": (
            "network-iterations/s at 65536 members / at 1024 (= time per member-iteration at 1024 / at 65536)"
        ),
    }

    # -- compile time vs chunk length (static scan length: compiled once per length)
    lengths = [10, 1000] if quick else [10, 100, 1000, 10000]
    comp = {n: net_chunk.compile_time(n) for n in lengths}
    res["scaling"]["compile_s_vs_chunk_iterations"] = {str(n): comp[n] for n in lengths}
    log("  compile time vs chunk iterations: " + ", ".join(f"{n}: {comp[n]:.2f}s" for n in lengths))

    # -- devices (full: a subprocess with 4 forced CPU devices, since the device count is fixed
    # when JAX starts; quick: the two network chunks above, one device against all local ones)
    if quick and n_local > 1:
        dev = {"local_devices": n_local, "quick": True,
               "throughput": {"1": {"member_iterations_per_s": res["network"]["throughput_one_device"]},
                              str(n_local): {"member_iterations_per_s": res["network"]["throughput"]}},
               "bitwise_identical": same_run(net_chunk, net_sharded, 20)}
    else:
        dev = run_devices(quick)
    res["scaling"]["devices"] = dev
    if "throughput" in dev:
        log(
            "  devices: "
            + ", ".join(f"{d}: {v['member_iterations_per_s']:.3g}" for d, v in dev["throughput"].items())
            + f" network-it/s; bitwise identical: {dev['bitwise_identical']}"
        )
    else:
        log("  devices: failed: " + dev.get("error", "")[-300:])

    # -- ceiling
    peak = matmul_peak(1024 if quick else 2048, reps)
    res["ceiling"] = {
        "matmul_peak": peak,
        "transcendental_flops_weight": TRANSCENDENTAL_FLOPS,
        "network": ceiling(network_costs(False), res["network"]["throughput"], peak["flops_per_s"]),
        "robust_network": ceiling(network_costs(True), res["robust_network"]["throughput"], peak["flops_per_s"]),
        "kuramoto": ceiling(kuramoto_costs(KU["N"], n_steps), res["kuramoto"]["throughput"], peak["flops_per_s"]),
    }
    log(f"  matmul peak ({peak['n']}^2 float32): {peak['flops_per_s'] / 1e9:.1f} GFLOP/s")
    for k in ("network", "robust_network", "kuramoto"):
        cc = res["ceiling"][k]
        log(
            f"  {k:15s} {cc['flops']:8.0f} flops {cc['transcendentals']:6.0f} transc"
            f" {cc['random_words']:6.0f} rand-words per step: "
            f"{cc['achieved_flops_per_s'] / 1e9:.2f} GFLOP/s = {100 * cc['fraction_of_peak']:.1f}% of peak "
            f"({100 * cc['fraction_of_peak_weighted']:.1f}% weighted)"
        )

    res["wall_time_s"] = time.perf_counter() - t_start
    log(f"total {res['wall_time_s']:.0f}s")
    figure = args.figure or (None if args.quick else os.path.join(ROOT, "docs", "figures", "scaling.png"))
    if figure:
        write_figure(res, figure)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


def write_figure(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = res["scaling"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(sc["ensemble_sizes"], sc["throughput"], "o-", label="ensemble (JAX)")
    ax.axhline(res["network"]["numpy_throughput"], color="C1", ls="--", label="numpy, vectorized (1024)")
    ax.axhline(res["network"]["loop_throughput"], color="C2", ls=":", label="numpy, one member at a time")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("ensemble size (members)")
    ax.set_ylabel("network-iterations / s")
    ax.set_title(f"eq. (4), 35-10-5 network, float32\n{res['device']}", fontsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
