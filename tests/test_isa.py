"""The bitwise guarantees under every x86 instruction set the CPU has (issue 11).

XLA compiles for the host CPU; ``--xla_cpu_max_isa`` caps the instruction set it may use. The
main test run uses the widest one; here ``tests/isa_check.py`` (member alone / in a grid, chunks,
devices, member groups, the Kuramoto window alone / vmap / ensemble, continuous Kuramoto) runs in
a subprocess under each narrower one the CPU has: SSE4.2 (4 lanes, no FMA), AVX2 (8 lanes, FMA)
and AVX-512 (16 lanes), and one quick study must write the same JSON under AVX2 as under the
widest ISA (AVX-512 where the CPU has it). An ISA the CPU lacks is skipped.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ISAS = ("SSE4_2", "AVX2", "AVX512")
NEEDS = {"SSE4_2": {"sse4_2"}, "AVX2": {"avx2", "fma"}, "AVX512": {"avx512f", "avx512vl", "avx512bw", "avx512dq"}}


def cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


FLAGS = cpu_flags()
AVAILABLE = [isa for isa in ISAS if NEEDS[isa] <= FLAGS]
WIDEST = AVAILABLE[-1] if AVAILABLE else None
x86_linux = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not FLAGS, reason="x86 Linux only")


def env_for(isa: str | None, devices: bool = True) -> dict:
    flags = ("--xla_force_host_platform_device_count=4" if devices else "") + (f" --xla_cpu_max_isa={isa}" if isa else "")
    return {**os.environ, "XLA_FLAGS": flags.strip(), "PYTHONPATH": os.path.dirname(HERE)}


@x86_linux
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.slow
def test_invariances_hold_under_each_isa(isa):
    if isa not in AVAILABLE:
        pytest.skip(f"this CPU has no {isa}")
    if isa == WIDEST:
        pytest.skip(f"{isa} is this CPU's widest ISA: the main test run (pytest -m invariance) covers it")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "isa_check.py")], env=env_for(isa),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result) >= 6 and all(result.values()), result


@x86_linux
@pytest.mark.slow
def test_quick_kuramoto_study_same_json_under_avx2_and_the_widest_isa(tmp_path):
    """fig5 --quick shortened to 4,000 iterations (the member-minor Kuramoto window) under AVX2 and under the default (widest)
    ISA: the same JSON, wall time aside. On an AVX2-only CPU both runs would use AVX2: skipped
    there (the same-seed check across processes is test_sigkill_mid_run_then_resume_equals_uninterrupted)."""
    if "AVX2" not in AVAILABLE:
        pytest.skip("this CPU has no AVX2")
    if WIDEST == "AVX2":
        pytest.skip("AVX2 is this CPU's widest ISA: both runs would be the same")
    out = {}
    for name, isa in (("avx2", "AVX2"), ("widest", None)):
        d = str(tmp_path / name)
        code = f"from ensemble import studies; studies.reproduce('fig5', {d!r}, quick=True, n_iterations=4000)"
        cmd = [sys.executable, "-c", code]
        proc = subprocess.run(cmd, env=env_for(isa, devices=False), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = json.load(open(os.path.join(d, "fig5.json")))
        out[name].pop("wall_time_s")
    assert out["avx2"] == out["widest"]
