"""Threefry-2x32 written out in ``jax.numpy``: the same bits as jax's threefry, fused by XLA.

jax lowers its ``threefry2x32`` primitive on CPU as a rolled loop (to keep compile times short),
which XLA cannot fuse with what consumes the bits: the hash alone ran at about 3 ns per 32-bit
word on a Zen 4 core, against 0.8 ns for the 20 rounds written out here. Every function below
gives jax's numbers bit for bit (integer arithmetic, the same on every CPU and GPU); the tests
check them against jax's own functions and against the Random123 known-answer vectors.

* :func:`hash2x32` is the primitive: Threefry-2x32 with 20 rounds (Salmon et al., SC11).
* :func:`counter_bits` is jax's classic ``random_bits`` (``threefry_2x32(key, iota(n))``), and
  :func:`counter_bits_apart` the same words computed apart from their consumers (what the
  learning maps use).
* :func:`fold_in` and :func:`split` are ``jax.random.fold_in`` and ``jax.random.split`` on raw
  key data, for either setting of ``jax_threefry_partitionable``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry2x32_p

Array = jax.Array

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
"""The rotation distances of Threefry-2x32, four rounds each, alternating."""
PARITY = 0x1BD11BDA
"""Threefry's key-schedule constant."""


def _rotl(x: Array, d: int) -> Array:
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def hash2x32(k0, k1, x0, x1) -> tuple[Array, Array]:
    """Threefry-2x32, 20 rounds: ``(y0, y1)`` for key ``(k0, k1)`` and counter ``(x0, x1)``.

    Args:
        k0, k1, x0, x1: uint32 arrays that broadcast together.

    Returns:
        Two uint32 arrays of the broadcast shape, bit for bit ``threefry2x32_p``'s.
    """
    args = [jnp.asarray(a, jnp.uint32) for a in (k0, k1, x0, x1)]
    shape = jnp.broadcast_shapes(*(a.shape for a in args))
    k0, k1, x0, x1 = (jnp.broadcast_to(a, shape) for a in args)
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(PARITY))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for d in ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, d) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def counter_bits(k0, k1, n: int) -> Array:
    """jax's classic ``random_bits``: ``threefry_2x32((k0, k1), iota(n))`` as a ``(2, ceil(n/2))``
    array whose first ``n`` entries, laid end to end, are the ``n`` words.

    Counter ``i`` and counter ``i + ceil(n/2)`` form one hash call (the second is 0 past ``n - 1``
    when ``n`` is odd). ``k0`` and ``k1`` are scalars, or arrays of shape ``(..., 1)`` for a batch
    of keys (the result is then ``(..., 2, ceil(n/2))``).
    """
    return jnp.stack(hash2x32(k0, k1, *_counters(n)), axis=-2)


def _counters(n: int) -> tuple[Array, Array]:
    """The counter pairs of :func:`counter_bits`: ``(iota(h), iota(h) + h)``, ``h = ceil(n/2)``,
    the last second counter 0 for an odd ``n`` (jax pads the counters with a 0)."""
    h = (n + 1) // 2
    x0 = jax.lax.iota(jnp.uint32, h)
    x1 = x0 + np.uint32(h)
    if n % 2:
        x1 = jnp.where(x1 == np.uint32(n), np.uint32(0), x1)
    return x0, x1


BRANCH_FROM = 64
"""Words per key from which the CPU computes :func:`counter_bits_apart` in a branch of its own;
below, jax's primitive computes them (a loop of its own on the CPU). Both give the same bits. On a
2-core CPU the branch made the 35-10-5 network's learning step (415 words) about 1.4x faster on one
device and no slower on two; for a Kuramoto network of 10 oscillators (45 words) it was about 1.1x
faster on one device but 1.3x slower on two (the default layout), where the primitive is as fast
as before."""


def counter_bits_apart(k0, k1, n: int, then=lambda bits: bits) -> Array:
    """``then(counter_bits(k0, k1, n))``, computed apart from the code that consumes it: on CPU
    (from :data:`BRANCH_FROM` words) in a branch of a conditional that XLA cannot see through,
    otherwise from jax's ``threefry2x32`` primitive (a kernel of its own on GPU, a loop of its own
    on CPU) behind an optimization barrier.

    Fused with its consumers, the hash is slow on CPU: every consumer's element evaluates it
    again, and a consumer that reads the ``(2, n/2)`` halves laid end to end becomes branchy code
    that XLA does not vectorize (up to 10x slower than the words written to memory first). Apart,
    ``then`` (the normals' transform) also sees exactly the hash's words, whatever consumes them:
    XLA cannot fold a constant of ``then`` into the consumer's arithmetic. Same bits either way.
    """
    cpu = _in_branch if n >= BRANCH_FROM else _primitive
    return jax.lax.platform_dependent(jnp.asarray(k0, jnp.uint32), jnp.asarray(k1, jnp.uint32),
                                      cpu=partial(cpu, n=n, then=then), default=partial(_primitive, n=n, then=then))


def _in_branch(k0, k1, *, n, then):
    pairs = jnp.broadcast_shapes(jnp.shape(k0), jnp.shape(k1), ((n + 1) // 2,))
    shape = jax.eval_shape(then, jax.ShapeDtypeStruct(pairs[:-1] + (2, pairs[-1]), jnp.uint32))  # not the hash again
    take = jax.lax.optimization_barrier(jnp.bool_(True))  # a predicate XLA can read, it would inline
    return jax.lax.cond(take, lambda: then(counter_bits(k0, k1, n)), lambda: jnp.zeros(shape.shape, shape.dtype))


def _primitive(k0, k1, *, n, then):
    x0, x1 = _counters(n)
    shape = jnp.broadcast_shapes(jnp.shape(k0), jnp.shape(k1), x0.shape)
    args = (jnp.broadcast_to(a, shape) for a in (k0, k1, x0, x1))
    return jax.lax.optimization_barrier(then(jnp.stack(threefry2x32_p.bind(*args), axis=-2)))


def fold_in(data: Array, i) -> Array:
    """``jax.random.fold_in`` on raw threefry key data ``(..., 2)`` and an integer ``i``
    (taken modulo 2**32, as jax does): ``(..., 2)`` uint32."""
    i = jnp.asarray(i).astype(jnp.uint32)
    y0, y1 = hash2x32(data[..., 0], data[..., 1], np.uint32(0), i)
    return jnp.stack([y0, y1], axis=-1)


def split(data: Array, num: int = 2) -> Array:
    """``jax.random.split`` on raw threefry key data ``(..., 2)``: ``(..., num, 2)`` uint32.

    Follows ``jax_threefry_partitionable`` as jax does, read when traced: key ``j`` is the hash
    of the counter ``(0, j)`` when it is on (jax's default), and words ``2j, 2j + 1`` of
    :func:`counter_bits` over ``2 num`` words when it is off.
    """
    k0, k1 = data[..., 0:1], data[..., 1:2]
    if jax.config.jax_threefry_partitionable:
        y0, y1 = hash2x32(k0, k1, np.uint32(0), jax.lax.iota(jnp.uint32, num))
        return jnp.stack([y0, y1], axis=-1)
    words = counter_bits(k0, k1, 2 * num)
    return words.reshape(words.shape[:-2] + (num, 2))
