"""The GPU programs, lowered for CUDA on the CPU (issues 12 and 16).

No GPU is needed to *lower* a program for one: JAX emits the StableHLO a CUDA machine would
compile, with each Pallas kernel as its Triton custom call. That catches, before any device run,
what only a GPU would otherwise reveal: a Pallas kernel sent to the wrong GPU backend (a bare
``pallas_call`` lowers to Mosaic GPU since jax 0.7, which has no per-thread ``sqrt``), a
primitive with no GPU lowering, a host callback inside the compiled loop (a device-host sync per
step; JAX refuses to lower a Python callback for a platform other than the host's, so one fails
here), or cache blocks of members left in the GPU program. Compiling the lowered program (Triton
to PTX) still needs the CUDA plugin: ``benchmarks/gpu_aot.py`` does that without a GPU.
"""

import re

import jax
import pytest

from benchmarks import accelerator
from benchmarks.common import KU
from ensemble import driver, layout
from ensemble import _program, placement

B = 4096  # above the CPU layout's block_from: the CPU program runs 16 cache blocks of 256
CPU_BLOCK = re.compile(rf"tensor<(?:\d+x)*{layout.CPU.block_members}x")


def chunk_lowered_for(platform: str, name: str, lay: str = "accelerator", members: int = B) -> str:
    """The chunk of a benchmark problem, traced and lowered under the layout ``lay``."""
    system, lmap, params, hyper = accelerator.problem(name, members)
    with layout.use(lay):  # the layout shapes the trace (the Kuramoto window reads it), not only the jit
        fn = _program.make_chunk(system, lmap, 1, placement.block_size(members, 1), 1)
        state = driver.init_state(system, lmap, params, jax.random.key(0))
        hyper = driver.broadcast_hyper(hyper, members)
        return fn.trace(state, hyper, 2).lower(lowering_platforms=(platform,)).as_text()


@pytest.mark.parametrize("name", accelerator.KERNELS)
@pytest.mark.slow
def test_every_benchmark_chunk_lowers_for_cuda_as_one_program_over_all_members(name):
    gpu = chunk_lowered_for("cuda", name)
    assert gpu.count("xla.gpu.triton") == (1 if name == "kuramoto_fused" else 0)  # the fused window, compiled
    # its multiply-adds as PTX FMAs (inline asm in the Triton IR), for CUDA only
    assert ("fma.rn.f32" in gpu) == (name == "kuramoto_fused")
    if name == "kuramoto_fused":
        assert "fma.rn.f32" not in chunk_lowered_for("rocm", name)
    # No member blocks in the accelerator layout: no tensor with a 256-member block axis, and one
    # while loop fewer than the CPU layout (its lax.map over blocks) in the same program; two fewer
    # for the vectorized Kuramoto window where the CPU layout's window block at its N is smaller
    # than the cache block (issue 27: a lax.map over window blocks inside each cache block).
    assert not CPU_BLOCK.search(gpu)
    blocked = chunk_lowered_for("cuda", name, "cpu")
    assert CPU_BLOCK.search(blocked)
    window_maps = int(name == "kuramoto" and layout.CPU.window_block_for(KU["N"]) < layout.CPU.block_members)
    assert gpu.count("stablehlo.while") == blocked.count("stablehlo.while") - 1 - window_maps


@pytest.mark.slow
def test_fused_window_is_interpreted_when_lowered_for_the_cpu():
    text = chunk_lowered_for("cpu", "kuramoto_fused", members=256)
    assert "triton" not in text and "mosaic" not in text.lower()
