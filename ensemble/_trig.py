"""``sin`` and ``cos`` of float32 phases in one pass, for the Kuramoto windows.

XLA computes ``jnp.sin`` and ``jnp.cos`` separately, each with its own range reduction that
also serves huge arguments. A window needs both of the same phases at every Euler step, and its
phases are wrapped to ``[-pi, pi]`` between windows
(:func:`ensemble.kuramoto_model.wrap_phases`), so one reduction by ``pi/2`` shared by both and
two short polynomials suffice: within 1e-7 of the exact values for ``|x| < 1e5`` (XLA's are
within 3.3e-8), and a Kuramoto iteration is faster on a CPU, where XLA's are scalar library
calls (timings in ``benchmarks/``). Both windows use it (:func:`sin_cos`): the vectorized one
(:func:`ensemble.kuramoto_model.integrate`) and the fused kernel (:mod:`ensemble.kuramoto_fused`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

# Cephes sinf / cosf on [-pi/4, pi/4]
_SIN = (-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4)
_COS = (4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5)


def two_pi_parts(dtype) -> tuple:
    """``2 pi`` as three numbers of ``dtype`` whose sum is ``2 pi`` to float64 precision, the
    first two with few enough significant bits (8 for float32, 26 for float64) that ``k`` times
    them is exact for ``|k| < 2^16`` (float32) or ``2^27`` (float64)."""
    bits = 8 if np.dtype(dtype).itemsize <= 4 else 26

    def head(x):  # x rounded to `bits` significant bits
        e = int(np.floor(np.log2(abs(x)))) - bits + 1
        return float(np.ldexp(np.round(np.ldexp(x, -e)), e))

    c1 = head(2 * np.pi)
    c2 = head(2 * np.pi - c1)
    c3 = (2 * np.pi - c1 - c2) + 2.4492935982947064e-16  # + (2 pi - float64(2 pi))
    return tuple(np.asarray(c, dtype) for c in (c1, c2, c3))


def mul_add(a, b, c):
    """``a * b + c`` (two roundings; XLA may contract it)."""
    return a * b + c


def _polynomial(x, mul_add=mul_add):
    """``(sin x, cos x)`` of float32 ``x`` (any shape): Cody-Waite reduction by ``pi/2`` in three
    exact parts, then Cephes' ``sinf``/``cosf`` polynomials on ``[-pi/4, pi/4]``, every
    multiply-add through ``mul_add(a, b, c) = a * b + c`` (the fused kernel passes a one-rounding
    FMA). Within 1e-7 of the exact values for ``|x| < 1e5``; beyond, the reduction loses
    accuracy, where float32 phases no longer resolve an Euler step anyway."""
    dtype = x.dtype
    c = lambda v: jnp.asarray(v, dtype)  # noqa: E731
    p1, p2, p3 = (part / 4 for part in two_pi_parts(dtype))  # pi/2 in three exact parts
    fma = mul_add
    k = jnp.floor(x * c(2 / np.pi) + c(0.5))  # the nearest quadrant (Triton lowers no round)
    r = fma(-k, p3, fma(-k, p2, fma(-k, p1, x)))
    z = r * r
    s = fma(r * z, fma(z, fma(z, c(_SIN[2]), c(_SIN[1])), c(_SIN[0])), r)
    co = fma(z * z, fma(z, fma(z, c(_COS[2]), c(_COS[1])), c(_COS[0])), fma(c(-0.5), z, c(1.0)))
    q = k.astype(jnp.int32)
    swap = (q & 1) == 1
    sin_x = jnp.where(swap, co, s)
    cos_x = jnp.where(swap, s, co)
    sin_x = jnp.where((q & 2) == 2, -sin_x, sin_x)
    cos_x = jnp.where(((q + 1) & 2) == 2, -cos_x, cos_x)
    return sin_x, cos_x


def sin_cos(x, mul_add=mul_add):
    """``(sin x, cos x)``, the one ``sin``/``cos`` entry point of the Kuramoto model and both its
    windows: for float32 the polynomial (one shared reduction, every multiply-add through
    ``mul_add``; the fused kernel passes a one-rounding PTX FMA), for any other dtype
    ``jnp.sin``/``jnp.cos`` (float64 keeps XLA's, which the float64 reference tests compare against)."""
    if x.dtype == jnp.float32:
        return _polynomial(x, mul_add)
    return jnp.sin(x), jnp.cos(x)
