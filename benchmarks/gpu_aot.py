"""The GPU programs compiled for an H200 on a machine without a GPU (deviceless AOT).

XLA's CUDA plugin can compile for a GPU it does not see, from a *target config* (the device's
compute capability, SM count, memory; :data:`H200`). This compiles exactly what ``evolve`` runs
on a GPU, the benchmark problems' chunk (:mod:`benchmarks.accelerator`, accelerator layout), and
reads off the compiled program what needs no device:

- ``compiled``: it compiles (Triton kernel to PTX included), and ``compile_s`` on this machine;
- ``bytes_per_member``: XLA's buffer assignment (arguments, outputs, temporaries) per member, so
  whether 1e6 members fit in the H200's 141 GB;
- ``kernels_per_iteration`` (GPU kernel launches per learning iteration, loops unrolled by their
  trip counts) and, for Kuramoto, ``kernels_per_euler_step`` and ``bytes_per_euler_step``: the
  bytes each kernel of the Euler loop's body reads and writes, summed, per member (every kernel
  moves its operands and results through memory: the traffic model of the vectorized window);
- ``ptxas`` (with ``nvidia-cuda-nvcc`` installed): registers and spills per thread of the fused
  Kuramoto kernel, from ``ptxas -v`` on the PTX that XLA emitted;
- ``sass`` (with ``nvidia-cuda-nvdisasm`` installed, or an ``nvdisasm`` on PATH): the
  fused kernel's machine code for sm_90a, its Euler loop counted by :func:`sass_loop`, and the
  issue-bound ceiling that count allows (:func:`issue_bound`); ``kuramoto_fused_variants``: the
  same for the window alone in each of ``accelerator.FUSED_VARIANTS``.

Run it with ``make gpu-aot`` (a second venv with ``jax-cuda13-plugin`` and ``jax-cuda13-pjrt``
of the installed jax version, ``nvidia-cuda-nvcc`` for ptxas and ``nvidia-cuda-nvdisasm``; nothing in ``make test`` needs
the plugin, the CPU-only check is ``tests/test_gpu_lowering.py``)::

    .venv-cuda/bin/python -m benchmarks.gpu_aot --sizes 1000,1000000 --json benchmarks/results_gpu_aot.json

The numbers are a compiler's plan, not a measurement: the device run (``benchmarks/gpu_check.sh``)
measures throughput.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

H200 = """
gpu_device_info {
  threads_per_block_limit: 1024 threads_per_warp: 32 shared_memory_per_block: 49152
  shared_memory_per_core: 233472 threads_per_core_limit: 2048 core_count: 132 fpus_per_core: 128
  block_dim_limit_x: 2147483647 block_dim_limit_y: 65535 block_dim_limit_z: 65535
  memory_bandwidth: 4800000000000 l2_cache_size: 62914560 clock_rate_ghz: 1.98
  device_memory_size: 150754820096 shared_memory_per_block_optin: 232448
  cuda_compute_capability { major: 9 minor: 0 }
  registers_per_core_limit: 65536 registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 12 }
runtime_version { major: 13 minor: 0 patch: 0 }
device_description_str: "NVIDIA H200"
"""
"""Target config of the H200 (text proto of ``stream_executor.GpuTargetConfigProto``): sm_90,
132 SMs, 141 GB (143,771 MiB seen by nvidia-smi on the lent machine), 4.8 TB/s, 60 MB L2; CUDA
13 and cuDNN 9.12 as on the lent machine's image. Ours, from the public specifications."""

_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4,
                "s64": 8, "u64": 8, "f64": 8}
_ARRAY = re.compile(r"\b(" + "|".join(_DTYPE_BYTES) + r")\[([\d,]*)\]")
_INSTR = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (.*?) ([a-z][\w-]*)\((.*?)\)(.*)$")
_SLICING = {"gather", "dynamic-slice", "slice"}
_IN_PLACE = re.compile(r"dynamic[_-]update[_-]slice|scatter")
_FREE = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast", "after-all", "partition-id",
         "replica-id", "iota"}


def _bytes(type_text: str) -> int:
    total = 0
    for dtype, dims in _ARRAY.findall(type_text):
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * _DTYPE_BYTES[dtype]
    return total


def parse_hlo(text: str) -> dict:
    """``{computation: [(name, opcode, own bytes, operand names, attributes)]}`` of an optimized
    HLO module's text (``compiled.as_text()``), the entry under ``"ENTRY"``; a parameter's
    operand is its index."""
    comps, cur = {}, None
    for line in text.splitlines():
        head = re.match(r"^(ENTRY )?%([\w.\-]+) .*\{\s*$", line)
        if head:
            cur = comps["ENTRY" if head.group(1) else head.group(2)] = []
            continue
        m = _INSTR.match(line) if cur is not None else None
        if m:
            name, type_text, op, operands, attrs = m.groups()
            args = [operands.strip()] if op == "parameter" else re.findall(r"%([\w.\-]+)", operands)
            cur.append((name, op, _bytes(type_text), args, attrs))
    return comps


def _reads(comps: dict, fusion_attrs: str, operand_bytes: list[int]) -> list[int]:
    """Bytes a fusion reads of each operand: all of it, or only the slices its body takes where
    the body uses that operand only through ``gather``, ``dynamic-slice`` or ``slice``."""
    called = re.search(r"calls=%([\w.\-]+)", fusion_attrs)
    body = comps.get(called.group(1)) if called else None
    if not body:
        return operand_bytes
    index = {name: int(args[0]) for name, op, _, args, _ in body if op == "parameter"}
    sliced: dict[int, int] = {}
    whole: set[int] = set()
    for _, op, own, args, _ in body:
        for pos, a in enumerate(args if op != "parameter" else ()):
            if a in index:
                if op in _SLICING and pos == 0:
                    sliced[index[a]] = sliced.get(index[a], 0) + own
                else:
                    whole.add(index[a])
    return [min(b, sliced[i]) if i in sliced and i not in whole else b for i, b in enumerate(operand_bytes)]


def loop_cost(comps: dict, comp: str = "ENTRY") -> tuple[int, int]:
    """``(kernels, bytes)`` of one execution of computation ``comp``: every instruction that is a
    GPU kernel (fusions, copies, custom calls, unfused ops) counted once with the bytes of its
    results and of the operands it reads (a fusion that only gathers or slices an operand, the
    slices; an in-place update, a dynamic-update-slice or scatter, without the buffer it
    updates); a ``while`` counted as its body times its known trip count. An upper bound on the
    memory traffic where data stays in cache between kernels."""
    sizes = {name: b for name, _, b, _, _ in comps[comp]}
    kernels = moved = 0
    for name, op, own, operands, attrs in comps[comp]:
        if op == "while":
            body = re.search(r"body=%([\w.\-]+)", attrs).group(1)
            trips = re.search(r'known_trip_count":\{"n":"(\d+)"', attrs)
            k, b = loop_cost(comps, body)
            n = int(trips.group(1)) if trips else 1
            kernels, moved = kernels + n * k, moved + n * b
        elif op not in _FREE:
            kernels += 1
            full = [sizes.get(o, 0) for o in operands]
            ins = _reads(comps, attrs, full) if op == "fusion" else full
            step = own + sum(ins)
            if _IN_PLACE.search(name) and full:  # updates a buffer in place: only the slice moves
                big = max(range(len(full)), key=full.__getitem__)
                step -= ins[big] + min(full[big], own)
            moved += step
    return kernels, moved


def innermost_loop(comps: dict) -> str | None:
    """The body of the deepest ``while`` (the Kuramoto window's Euler loop)."""
    def depth(comp):
        bodies = [re.search(r"body=%([\w.\-]+)", a).group(1) for _, op, _, _, a in comps[comp] if op == "while"]
        best = (0, None)
        for b in bodies:
            d, inner = depth(b)
            best = max(best, (d + 1, inner or b), key=lambda x: x[0])
        return best
    return depth("ENTRY")[1]


def _ptxas() -> str | None:
    """The ptxas of this venv's nvidia-cuda-nvcc (make gpu-aot installs it), else one on PATH."""
    return next(iter(glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages", "nvidia", "cu*", "bin",
                                            "ptxas"))), None) or shutil.which("ptxas")


def ptxas_stats(ptx_path: str, arch: str = "sm_90a") -> dict | None:
    """Registers and spills per thread of every kernel in a PTX file (``ptxas -v``)."""
    ptxas = _ptxas()
    if ptxas is None:
        return None
    out = subprocess.run([ptxas, f"-arch={arch}", "-v", "-O3", ptx_path, "-o", os.devnull], capture_output=True,
                         text=True, check=True).stderr
    regs = re.search(r"Used (\d+) registers", out)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", out)
    return {"arch": arch, "registers_per_thread": int(regs.group(1)) if regs else None,
            "spill_store_bytes": int(spills.group(1)) if spills else None,
            "spill_load_bytes": int(spills.group(2)) if spills else None,
            "ptxas": subprocess.run([ptxas, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]}


_SASS = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_BRA = re.compile(r"^(@!?U?P\w+ )?BRA(?:\.\w+)* `?\(?(\.L_x_\d+)")


def sass_loop(text: str) -> dict | None:
    """The innermost-largest loop of ``nvdisasm -c`` output: its instructions, those on the fast
    path (without the regions that a forward conditional branch skips and that hold ``DMUL``:
    libdevice's ``sinf``/``cosf`` Payne-Hanek reduction for arguments of 1e5 and more, never
    taken for wrapped phases), Euler steps per loop pass (``MUFU.SQRT``: one ``r`` per step), and
    the fast path's instructions per step by opcode."""
    ins, labels, pending = [], {}, []
    for line in text.splitlines():
        m = re.match(r"^\s*(\.L_x_\d+):", line)
        if m:
            pending.append(m.group(1))
            continue
        m = _SASS.search(line)
        if m:
            for lab in pending:
                labels[lab] = len(ins)
            pending = []
            ins.append(m.group(2))
    loops = []
    for i, t in enumerate(ins):
        m = _BRA.match(t)
        if m and labels.get(m.group(2), i + 1) <= i:
            loops.append((labels[m.group(2)], i))
    if not loops:
        return None
    start, end = max(loops, key=lambda se: se[1] - se[0])
    slow: set[int] = set()
    for i in range(start, end + 1):
        m = _BRA.match(ins[i])
        if m and m.group(1):
            j = labels.get(m.group(2), -1)
            if i < j <= end + 1 and any(ins[k].startswith("DMUL") or " DMUL" in ins[k] for k in range(i + 1, j)):
                slow.update(range(i + 1, j))
    fast = [ins[i] for i in range(start, end + 1) if i not in slow]
    opcode = lambda t: t.split()[1] if t.startswith("@") else t.split()[0]  # noqa: E731
    steps = sum(opcode(t).startswith("MUFU.SQRT") for t in fast) or 1
    counts: dict[str, int] = {}
    for t in fast:
        counts[opcode(t)] = counts.get(opcode(t), 0) + 1
    return {"loop_instructions": end - start + 1, "fast_path_instructions": len(fast), "steps_per_pass": steps,
            "fast_path_per_step": len(fast) / steps,
            "by_opcode_per_step": {k: v / steps for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}}


def issue_bound(instructions_per_step: float, sms: int = 132, clock_hz: float = 1.98e9) -> float:
    """Member-steps per second if every scheduler issued one warp instruction per cycle (4 per SM,
    32 threads each) and nothing else limited: the ceiling of an arithmetic-bound kernel."""
    return sms * 4 * 32 * clock_hz / instructions_per_step


def _nvdisasm() -> str | None:
    """The nvdisasm of this venv's nvidia-cuda-nvdisasm (make gpu-aot installs it), else one on PATH."""
    return next(iter(glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages", "nvidia", "cu*", "bin",
                                            "nvdisasm"))), None) or shutil.which("nvdisasm")


def sass_stats(ptx_path: str, arch: str = "sm_90a") -> dict | None:
    """:func:`sass_loop` of the fused kernel compiled by ``ptxas`` and disassembled by ``nvdisasm``."""
    ptxas = _ptxas()
    nvdisasm = _nvdisasm()
    if ptxas is None or nvdisasm is None:
        return None
    cubin = ptx_path + ".cubin"
    subprocess.run([ptxas, f"-arch={arch}", "-O3", ptx_path, "-o", cubin], capture_output=True, check=True)
    loop = sass_loop(subprocess.run([nvdisasm, "-c", cubin], capture_output=True, text=True, check=True).stdout)
    if loop:
        loop["issue_bound_steps_per_s"] = issue_bound(loop["fast_path_per_step"])
    return loop


def fused_variants(dump: str, on_gpu, members: int = 4096) -> dict:
    """Registers, spills and :func:`sass_stats` of the fused window alone (the benchmark's
    window) in each of ``benchmarks.accelerator.FUSED_VARIANTS``, compiled for the H200."""
    import jax
    import jax.numpy as jnp

    from benchmarks import accelerator
    from ensemble import kuramoto as ku
    from ensemble import kuramoto_fused as kf

    N, _, kw = accelerator.fused_window_args()
    args = (jax.ShapeDtypeStruct((ku.n_pairs(N), members), jnp.float32, sharding=on_gpu),
            jax.ShapeDtypeStruct((N, members), jnp.float32, sharding=on_gpu))
    out = {}
    for label, variant in accelerator.FUSED_VARIANTS.items():
        before = set(glob.glob(os.path.join(dump, "*.ptx")))
        jax.jit(lambda w, ph, v=variant: kf.window(w, ph, **v, **kw)).trace(*args).lower().compile()
        ptx = [p for p in set(glob.glob(os.path.join(dump, "*.ptx"))) - before
               if ".entry kuramoto_window" in open(p).read()]
        out[label] = {"ptxas": ptxas_stats(ptx[0]), "sass": sass_stats(ptx[0])} if ptx else None
        print("kuramoto_fused variant", label, json.dumps(out[label])[:300], flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,1000000", help="ensemble sizes, comma-separated")
    ap.add_argument("--kernels", default=None, help="subset of benchmarks.accelerator.KERNELS, comma-separated")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    dump = tempfile.mkdtemp(prefix="gpu_aot_")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump}".strip()
    import jax
    jax.config.update("jax_platforms", "cpu")  # no GPU client: the compile-only one below
    from jax.experimental import topologies

    from benchmarks import accelerator
    from ensemble import driver, layout

    names = args.kernels.split(",") if args.kernels else list(accelerator.KERNELS)
    unknown = [n for n in names if n not in accelerator.KERNELS]
    if unknown:
        ap.error(f"--kernels must name some of {', '.join(accelerator.KERNELS)}, got {', '.join(unknown)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        ap.error(f"--sizes must be positive integers separated by commas, got {args.sizes!r}")

    try:
        topo = topologies.get_topology_desc(platform="cuda", target_config=H200, topology="1x1x1")
    except Exception as exc:  # noqa: BLE001 - the plugin is an optional install
        raise SystemExit(f"gpu_aot needs JAX's CUDA plugin (jax-cuda13-plugin and jax-cuda13-pjrt of jax "
                         f"{jax.__version__}): {type(exc).__name__}: {exc}")
    mesh = topologies.make_mesh(topo=topo, mesh_shape=(1,), axis_names=("x",))
    on_gpu = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    abstract = lambda tree: jax.tree_util.tree_map(  # noqa: E731
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=on_gpu), tree)

    res = {"device": "NVIDIA H200 (target config, no device)", "jax": jax.__version__, "kernels": {}}
    for name in names:
        rows = []
        for B in sizes:
            system, lmap, params, hyper = accelerator.problem(name, B)
            n_it = accelerator.ITERATIONS_PER_CALL[name]
            with layout.use("accelerator"):
                fn = driver.chunk_program(system, lmap, B, devices=1)
                state = jax.eval_shape(lambda p: driver.init_state(system, lmap, p, jax.random.key(0)), params)
                hyp = jax.eval_shape(lambda: driver.broadcast_hyper(hyper, B))
                t0 = time.perf_counter()
                compiled = fn.trace(abstract(state), abstract(hyp), n_it).lower().compile()
            row = {"members": B, "compiled": True, "compile_s": time.perf_counter() - t0}
            mem = compiled.memory_analysis()
            row["bytes_per_member"] = {
                "arguments": mem.argument_size_in_bytes / B, "outputs": mem.output_size_in_bytes / B,
                "temporaries": mem.temp_size_in_bytes / B, "donated": mem.alias_size_in_bytes / B,
                "peak": (mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
                         + mem.temp_size_in_bytes) / B}
            comps = parse_hlo(compiled.as_text())
            # the chunk's loops over records and over the iterations of a record have trip counts
            # known only at run time, so loop_cost counts their bodies once: one iteration
            kernels, moved = loop_cost(comps)
            row["kernels_per_iteration"] = kernels
            row["bytes_per_iteration"] = moved / B
            if name.startswith("kuramoto"):
                body = innermost_loop(comps)
                if name == "kuramoto" and body is not None:
                    k, b = loop_cost(comps, body)
                    row["kernels_per_euler_step"], row["bytes_per_euler_step"] = k, b / B
                row["triton_kernels"] = compiled.as_text().count("__triton") + compiled.as_text().count("xla.gpu.triton")
            rows.append(row)
            print(name, json.dumps(row), flush=True)
        res["kernels"][name] = rows
    ptx = [p for p in glob.glob(os.path.join(dump, "*.ptx")) if ".entry kuramoto_window" in open(p).read()]
    if ptx:
        res["kernels"].setdefault("kuramoto_fused", [])
        res["kuramoto_fused_ptxas"] = ptxas_stats(ptx[0])
        print("kuramoto_fused ptxas", res["kuramoto_fused_ptxas"])
        res["kuramoto_fused_sass"] = sass_stats(ptx[0])
        print("kuramoto_fused sass", res["kuramoto_fused_sass"])
    if "kuramoto_fused" in names:
        res["kuramoto_fused_variants"] = fused_variants(dump, on_gpu)
    shutil.rmtree(dump, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
