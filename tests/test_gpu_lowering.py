"""The GPU programs, lowered for CUDA on the CPU (issues 12 and 16).

No GPU is needed to *lower* a program for one: JAX emits the StableHLO a CUDA machine would
compile, with each Pallas kernel as its Triton custom call. That catches, before any device run,
what only a GPU would otherwise reveal: a Pallas kernel sent to the wrong GPU backend (a bare
``pallas_call`` lowers to Mosaic GPU since jax 0.7, which has no per-thread ``sqrt``), a
primitive with no GPU lowering, or a host callback inside the compiled loop (a device-host sync
per step; JAX refuses to lower a Python callback for a platform other than the host's, so one
fails these tests). Compiling the lowered program (Triton to PTX) still needs a CUDA machine.
"""

import jax
import pytest

from benchmarks import accelerator
from ensemble import driver, layout


def chunk_lowered_for(platform: str, name: str, B: int = 256):
    system, lmap, params, hyper = accelerator.problem(name, B)
    with layout.use("accelerator"):
        fn = driver._make_chunk(system, lmap, 1, driver._block_size(B, 1), 1)
    state = driver.init_state(system, lmap, params, jax.random.key(0))
    hyper = driver.broadcast_hyper(hyper, B)
    return fn.trace(state, hyper, 2).lower(lowering_platforms=(platform,)).as_text()


@pytest.mark.parametrize("name", accelerator.KERNELS)
def test_every_benchmark_chunk_lowers_for_cuda(name):
    text = chunk_lowered_for("cuda", name)
    triton = text.count("xla.gpu.triton")
    if name == "kuramoto_fused":
        assert triton == 1  # the window, compiled: one kernel in the scan body
    else:
        assert triton == 0


def test_fused_window_is_interpreted_when_lowered_for_the_cpu():
    text = chunk_lowered_for("cpu", "kuramoto_fused")
    assert "triton" not in text and "mosaic" not in text.lower()
