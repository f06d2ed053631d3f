"""The traffic count of benchmarks/gpu_aot.py (bytes each compiled kernel reads and writes, loops
by their trip counts), on programs compiled for the CPU whose traffic is known by hand."""

import json

import jax
import jax.numpy as jnp

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
