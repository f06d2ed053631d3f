"""ensemble.cpu.use_cores: one XLA CPU device per core, set before JAX starts."""

import os
import subprocess
import sys

import pytest

from ensemble import cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import jax
from ensemble import cpu
n = cpu.use_cores()
print(n, len(jax.devices("cpu")), cpu.use_cores())
"""


def _run(env_extra: dict) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES", "ENSEMBLE_CPU_DEVICES")}
    env.update(env_extra, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.slow
def test_use_cores_sets_the_cpu_device_count_once_in_a_fresh_process():
    # asked count, then devices JAX made, then a second call (backend running: no-op)
    assert _run({"ENSEMBLE_CPU_DEVICES": "3"}) == ["3", "3", "0"]
    assert _run({}) == [str(cpu.cores()), str(cpu.cores()), "0"]
    # an explicit setting wins
    assert _run({"ENSEMBLE_CPU_DEVICES": "3", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}) == ["0", "2", "0"]


def test_use_cores_rejects_bad_counts_and_is_a_no_op_once_jax_runs():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n must be"):
            cpu.use_cores(bad)
    import jax.numpy as jnp

    jnp.zeros(1).block_until_ready()  # backend running (and conftest forces 4 devices)
    assert cpu.use_cores(2) == 0
    os.environ["ENSEMBLE_CPU_DEVICES"] = "many"
    try:
        with pytest.raises(ValueError, match="ENSEMBLE_CPU_DEVICES"):
            cpu.use_cores()
    finally:
        del os.environ["ENSEMBLE_CPU_DEVICES"]


@pytest.mark.slow
def test_cli_refuses_a_bad_device_count_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(PYTHONPATH=ROOT, ENSEMBLE_CPU_DEVICES="many")
    out = subprocess.run([sys.executable, "-m", "ensemble", "reproduce", "fig1", "--out", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: ENSEMBLE_CPU_DEVICES must be an integer, got 'many'"
    ]


@pytest.mark.slow
def test_use_cores_after_the_first_computation_warns():
    code = ("import jax.numpy as jnp, warnings; jnp.zeros(1).block_until_ready()\n"
            "from ensemble import cpu\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    print(cpu.use_cores(2), '|', w[0].message if w else 'no warning')")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES", "ENSEMBLE_CPU_DEVICES")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("0 | use_cores() came after JAX's first computation, so JAX keeps its 1 CPU device(s)"), out
