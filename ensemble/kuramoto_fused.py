"""The Kuramoto window as one fused kernel per block of members (Pallas).

The vectorized window (:func:`ensemble.kuramoto_window.vectorized`) is a ``lax.scan`` of Euler steps
over ``(N, B)`` arrays: on a GPU every step is a pass over memory (the coupling matrix and the
phases of every member are read and written again), about 500 bytes per oscillator-network step
for N = 10. Here one kernel runs a whole window for a block of members: each member's weights
and phases are loaded once, the Euler steps run in registers (one GPU thread per member, the
loops over oscillators unrolled), and the final phases and the window's sum of ``r`` are written
once, the design of DiffEqGPU.jl's ``EnsembleGPUKernel``.

Select it with ``Oscillators(..., kernel="fused")``. On a GPU it compiles through Pallas' Triton
lowering; on a CPU it runs in Pallas' interpret mode (correct but slow: for tests), and the
vectorized window stays the default there.

The arithmetic is the vectorized window's, operation for operation: the same Euler update
``phi + dt (omega + (c_i (W s)_i - s_i (W c)_i) / N)``, the sums over ``j`` and over the
oscillators of ``r`` in index order, ``r`` of the carried ``sin``/``cos``, and in float32 the
same ``sin`` and ``cos`` (:func:`ensemble._trig.sin_cos`, within 1e-7 of the exact values). Only
the diagonal terms ``0 * s_i`` of ``W s`` are left out (they add an exact zero). What differs:
on an NVIDIA GPU every multiply-add is one FMA (``ptx_fma``), where XLA contracts as it chooses,
and XLA fuses and orders the vectorized window's operations its own way. So the two paths agree
to float32 rounding (within 1e-5 over a window and over a few learning iterations), and are
not promised to be bitwise equal.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp

from . import _trig
from .kuramoto_model import pair_index

BLOCK = 128
"""Members per kernel instance (program): a power of two, one GPU thread per member, in
``BLOCK / 32`` warps (4)."""


SINCOS = ("polynomial", "libdevice")
"""How the kernel evaluates ``sin`` and ``cos``: ``"polynomial"`` (the default, :func:`ensemble._trig.sin_cos`:
one reduction shared by both, two short polynomials, no branches; float32 only, a float64
window uses ``jnp.sin``/``jnp.cos``) or ``"libdevice"``
(``jnp.sin``/``jnp.cos``, on a GPU CUDA's ``sinf``/``cosf`` with their branch to a slow path for
arguments of 1e5 and more). The polynomial was chosen because it compiles the Euler step to far
fewer instructions and registers per thread (the compiled code is compared in ``benchmarks/``)."""

def _ptx_fma(a, b, c):
    """``a * b + c`` with one rounding: PTX ``fma.rn.f32``, inline in a Triton kernel for an NVIDIA
    GPU (Triton does not contract multiply-adds itself)."""
    from jax.experimental.pallas import triton as pltriton

    a, b, c = jnp.broadcast_arrays(a, b, c)
    return pltriton.elementwise_inline_asm("fma.rn.f32 $0, $1, $2, $3;", args=[a, b, c], constraints="=r,r,r,r",
                                           pack=1, result_shape_dtypes=[jax.ShapeDtypeStruct(a.shape, a.dtype)])[0]


def _pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def padded_to_blocks(B: int, block: int = BLOCK) -> int:
    """Members the fused window computes for ``B`` members: whole blocks of ``block``.

    Args:
        B: the ensemble size.
        block: members per kernel instance.

    Returns:
        ``B`` rounded up to a multiple of ``block``.
    """
    return -(-int(B) // block) * block


@functools.partial(jax.jit, static_argnames=("omega", "dt", "n_steps", "block", "interpret", "sincos_impl", "ptx_fma"))
def window(w_pairs: jax.Array, phases: jax.Array, *, omega: tuple, dt: float, n_steps: int, block: int = BLOCK,
           interpret: bool = False, sincos_impl: str = "polynomial", ptx_fma: bool = False):
    """One window for ``B`` members, member axis minor.

    Args:
        w_pairs: ``(P, B)`` the upper-triangle weights (``P = N(N-1)/2``, row-major ``i < j``)
            of each member.
        phases: ``(N, B)`` the phases at the start of the window.
        omega: the ``N`` natural frequencies (static floats).
        dt: Euler step (static).
        n_steps: Euler steps (static).
        block: members per kernel instance (a power of two dividing ``B``).
        interpret: run in Pallas' interpret mode (any backend; a CPU needs it).
        sincos_impl: how ``sin`` and ``cos`` are evaluated (:data:`SINCOS`).
        ptx_fma: compiled for an NVIDIA GPU, float32: every multiply-add of the step (the row
            sums, the Euler update, the polynomials) one PTX ``fma.rn.f32``, which Triton does not
            contract by itself (``window_on_platform`` sets it for CUDA).

    Returns:
        ``(phases_end (N, B), rsum (B,))``, rsum the sum of ``r`` after each of the steps.

    Raises:
        ValueError: shapes that do not match, a ``block`` that is not a power of two dividing
            ``B``, or an unknown ``sincos_impl``.
    """
    from jax.experimental import pallas as pl

    P, B = w_pairs.shape
    N = phases.shape[0]
    if P != N * (N - 1) // 2 or len(omega) != N:
        raise ValueError(f"w_pairs must have N(N-1)/2 = {N * (N - 1) // 2} rows and omega N = {N} entries, "
                         f"got {P} and {len(omega)}")
    if block & (block - 1) or B % block:
        raise ValueError(f"block must be a power of two dividing the members ({B}), got {block}")
    if sincos_impl not in SINCOS:
        raise ValueError(f"sincos_impl must be one of {SINCOS}, got {sincos_impl!r}")
    dtype = phases.dtype
    use_ptx_fma = bool(ptx_fma) and not interpret and dtype == jnp.float32
    # Triton blocks are powers of two in every dimension: pad the rows (never read).
    Pp, Np = _pow2(max(P, 1)), _pow2(N)
    w_in = jnp.zeros((Pp, B), dtype).at[:P].set(w_pairs.astype(dtype))
    ph_in = jnp.zeros((Np, B), dtype).at[:N].set(phases)
    pair = pair_index(N)  # (i, j) -> position of w_ij in the upper vector

    def kernel(w_ref, ph_ref, ph_out_ref, rsum_ref):
        w = [w_ref[k, :] for k in range(P)]
        dt_ = jnp.asarray(dt, dtype)
        inv_n = jnp.asarray(1.0 / N, dtype)
        om = [jnp.asarray(o, dtype) for o in omega]

        def order(c, s):
            C, S = c[0], s[0]
            for j in range(1, N):
                C, S = C + c[j], S + s[j]
            return jnp.sqrt(C * C + S * S) / jnp.asarray(N, dtype)

        fma = _ptx_fma if use_ptx_fma else _trig.mul_add

        def row_dot(i, x):
            acc = None
            for j in range(N):
                if j != i:
                    acc = w[int(pair[i, j])] * x[j] if acc is None else fma(w[int(pair[i, j])], x[j], acc)
            return acc

        def sin_cos(phi):
            if sincos_impl == "polynomial":  # float32: the polynomial, as the vectorized window's
                pairs = [_trig.sin_cos(p, fma) for p in phi]
            else:
                pairs = [(jnp.sin(p), jnp.cos(p)) for p in phi]
            return tuple(a for a, _ in pairs), tuple(b for _, b in pairs)

        def body(step, carry):
            phi, s, c, rsum = carry
            r = order(c, s)
            rsum = jnp.where(step > 0, rsum + r, rsum)
            phi = tuple(fma(dt_, fma(c[i] * row_dot(i, s) - s[i] * row_dot(i, c), inv_n, om[i]), phi[i])
                        for i in range(N))
            return (phi, *sin_cos(phi), rsum)

        phi = tuple(ph_ref[i, :] for i in range(N))
        init = (phi, *sin_cos(phi), jnp.zeros(phi[0].shape, dtype))
        phi, s, c, rsum = jax.lax.fori_loop(0, n_steps, body, init)
        rsum = rsum + order(c, s)
        for i in range(N):
            ph_out_ref[i, :] = phi[i]
        for i in range(N, Np):
            ph_out_ref[i, :] = jnp.zeros(phi[0].shape, dtype)
        rsum_ref[...] = rsum

    ph_out, rsum = pl.pallas_call(
        kernel,
        out_shape=(jax.ShapeDtypeStruct((Np, B), dtype), jax.ShapeDtypeStruct((B,), dtype)),
        grid=(B // block,),
        in_specs=[pl.BlockSpec((Pp, block), lambda b: (0, b)), pl.BlockSpec((Np, block), lambda b: (0, b))],
        out_specs=(pl.BlockSpec((Np, block), lambda b: (0, b)), pl.BlockSpec((block,), lambda b: (b,))),
        interpret=interpret,
        # Triton, named: since jax 0.7 a bare pallas_call lowers to Mosaic GPU on NVIDIA, which
        # has no per-thread ``sqrt`` (the GPU lowering is tested for CUDA on a CPU).
        compiler_params=None if interpret else _triton().CompilerParams(num_warps=max(1, block // 32), num_stages=1),
        name="kuramoto_window",
    )(w_in, ph_in)
    return ph_out[:N], rsum


def _triton():
    """Pallas' Triton backend module, or None where this jax has none (jax 0.11 deprecates it)."""
    try:
        from jax.experimental.pallas import triton
    except ImportError:
        return None
    return triton if hasattr(triton, "CompilerParams") else None


def window_on_platform(w_pairs: jax.Array, phases: jax.Array, *, ptx_fma: bool = True, **kwargs):
    """:func:`window`, compiled through Triton for a GPU and interpreted on any other platform.

    Compiled where the program is lowered for an NVIDIA (with ``ptx_fma``, by default) or AMD
    GPU. The choice is made per platform when the program is lowered
    (``lax.platform_dependent``), not from ``jax.default_backend()``: a program placed on the CPU
    of a GPU machine still runs, and a CPU can lower the GPU program. Where this jax has no
    Triton backend, the window is interpreted everywhere, with a warning.

    Args:
        w_pairs: ``(P, B)`` the upper-triangle weights of each member.
        phases: ``(N, B)`` the phases at the start of the window.
        ptx_fma: on an NVIDIA GPU, every multiply-add one PTX ``fma.rn.f32``.
        **kwargs: the other keywords of :func:`window` (``omega``, ``dt``, ``n_steps``, ...).

    Returns:
        ``(phases_end (N, B), rsum (B,))``, as :func:`window`.
    """
    interpreted = functools.partial(window, interpret=True, **kwargs)
    if _triton() is None:
        warnings.warn("this jax has no Pallas Triton backend: the fused Kuramoto window runs in interpret mode "
                      "(correct, slow); use kernel='vectorized'", RuntimeWarning, stacklevel=2)
        return interpreted(w_pairs, phases)
    cuda = functools.partial(window, interpret=False, ptx_fma=ptx_fma, **kwargs)
    rocm = functools.partial(window, interpret=False, **kwargs)
    return jax.lax.platform_dependent(w_pairs, phases, cuda=cuda, rocm=rocm, default=interpreted)


def flops_per_step(N: int) -> int:
    """Floating-point operations of one Euler step of one member in this kernel (multiply and add
    one each; ``sin``, ``cos``, ``sqrt`` not counted): two row sums of ``N - 1`` products per
    oscillator, the update, and ``r``.

    Args:
        N: number of oscillators.
    """
    return N * (2 * (2 * (N - 1) - 1) + 7) + 2 * (N - 1) + 5


__all__ = ["BLOCK", "SINCOS", "window", "window_on_platform", "padded_to_blocks", "flops_per_step"]
