"""The traffic count of benchmarks/gpu_aot.py (bytes each compiled kernel reads and writes, loops
by their trip counts), on programs compiled for the CPU whose traffic is known by hand."""

import json

import jax
import jax.numpy as jnp
import pytest

from benchmarks import accelerator, gpu_aot


def test_loop_traffic_is_the_body_times_the_trip_count():
    f = jax.jit(lambda x: jax.lax.fori_loop(0, 7, lambda i, x: jnp.sin(x) * 2.0, x))
    comps = gpu_aot.parse_hlo(f.lower(jnp.ones(1000, jnp.float32)).compile().as_text())
    body = gpu_aot.innermost_loop(comps)
    k_body, b_body = gpu_aot.loop_cost(comps, body)
    assert 8000 <= b_body <= 8000 + 64  # sin(x) * 2 reads and writes 1000 float32; the counter a few bytes
    kernels, moved = gpu_aot.loop_cost(comps)
    assert kernels >= 7 * k_body and 7 * b_body <= moved <= 7 * b_body + 2 * 8000 + 64  # plus copies in and out


def test_an_in_place_update_moves_only_its_slice():
    g = jax.jit(lambda buf, v, i: jax.lax.dynamic_update_slice(buf, v, (i, 0)), donate_argnums=0)
    text = g.lower(jnp.zeros((100, 1000), jnp.float32), jnp.ones((1, 1000), jnp.float32), 3).compile().as_text()
    kernels, moved = gpu_aot.loop_cost(gpu_aot.parse_hlo(text))
    assert kernels == 1 and 4000 <= moved <= 4100  # the 4 kB row, not the 400 kB buffer twice


def test_compiled_bytes_per_unit_takes_the_nearest_compiled_size(tmp_path):
    path = tmp_path / "aot.json"
    rows = [{"members": 1000, "bytes_per_iteration": 100.0}, {"members": 1_000_000, "bytes_per_iteration": 80.0}]
    path.write_text(json.dumps({"kernels": {"network": rows, "kuramoto": rows}}))
    assert accelerator.compiled_bytes_per_unit("network", 5000, str(path)) == 100.0
    assert accelerator.compiled_bytes_per_unit("network", 400_000, str(path)) == 80.0
    steps = accelerator.unit_factor("kuramoto")
    assert accelerator.compiled_bytes_per_unit("kuramoto", 1000, str(path)) == 100.0 / steps
    assert accelerator.compiled_bytes_per_unit("robust_network", 1000, str(path)) is None
    assert accelerator.compiled_bytes_per_unit("network", 1000, str(tmp_path / "none.json")) is None


def test_a_fusion_that_slices_a_buffer_reads_only_the_slice():
    h = jax.jit(lambda buf, i: jax.lax.dynamic_index_in_dim(buf, i, keepdims=False) * 2.0)
    text = h.lower(jnp.zeros((100, 1000), jnp.float32), 3).compile().as_text()
    comps = gpu_aot.parse_hlo(text)
    kernels, moved = gpu_aot.loop_cost(comps)
    assert kernels >= 1 and 8000 <= moved <= 8100  # one 4 kB row read, 4 kB written, not the 400 kB buffer


@pytest.mark.slow
def test_unknown_kernels_and_bad_sizes_are_refused_by_name():
    import os
    import subprocess
    import sys

    import pytest

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    for args, word in ((["--kernels", "network,warp"], "--kernels"), (["--sizes", "1000,0"], "--sizes")):
        done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_aot", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and f"{word} must" in done.stderr, done.stderr
    with pytest.raises(ValueError, match="^name must be one of"):
        accelerator.problem("warp", 8)


SASS = """
        /*0000*/                   LDG.E R2, desc[UR4][R6.64] ;
.L_x_9:
        /*0010*/                   FMUL R3, R2, 0.5 ;
        /*0020*/                   FSETP.GE.AND P1, PT, |R2|, 105615, PT ;
        /*0030*/                   BSSY B0, `(.L_x_1) ;
        /*0040*/              @!P1 BRA `(.L_x_1) ;
        /*0050*/                   I2F.F64.S64 R4, R8 ;
        /*0060*/                   DMUL R4, R4, UR6 ;
        /*0070*/                   F2F.F32.F64 R3, R4 ;
.L_x_1:
        /*0080*/                   BSYNC B0 ;
        /*0090*/                   FFMA R2, R3, R3, R2 ;
        /*00a0*/                   MUFU.SQRT R5, R2 ;
        /*00b0*/                   FADD R2, R2, R5 ;
        /*00c0*/                   MUFU.SQRT R5, R2 ;
        /*00d0*/               @P2 BRA `(.L_x_9) ;
        /*00e0*/                   STG.E desc[UR4][R6.64], R2 ;
        /*00f0*/                   EXIT ;
"""


def test_sass_loop_counts_the_fast_path_of_the_loop_per_step():
    """A loop of 13 instructions, 3 of them a skipped double-precision (slow) block, two ``r``
    (``MUFU.SQRT``) per pass: 10 fast-path instructions, 5 per Euler step."""
    got = gpu_aot.sass_loop(SASS)
    assert got["loop_instructions"] == 13 and got["fast_path_instructions"] == 10
    assert got["steps_per_pass"] == 2 and got["fast_path_per_step"] == 5.0
    assert got["by_opcode_per_step"]["MUFU.SQRT"] == 1.0 and "DMUL" not in got["by_opcode_per_step"]
    assert gpu_aot.sass_loop("        /*0000*/  EXIT ;") is None
    # an H200 at full issue: 132 SMs x 4 schedulers x 32 lanes x 1.98 GHz per instruction
    assert gpu_aot.issue_bound(1000) == pytest.approx(132 * 4 * 32 * 1.98e9 / 1000)
