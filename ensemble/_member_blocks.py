"""A member's numbers that do not depend on how many members run beside it, for any system.

XLA compiles ``vmap(measure)`` for the whole batched shape, and for a reduction inside
``measure`` (a ``jnp.mean`` over a data set, a ``W @ x``) it picks tilings, vector widths and
summation orders from that shape: the same member can round differently alone, inside an
ensemble of 64, on one device or two. :func:`in_member_blocks` runs ``vmap(fn)`` on blocks of a
fixed number of members (the ensemble padded to whole blocks with copies of its first member),
one block after another in a loop whose trip count XLA is not allowed to see. Every block is
then the same compiled code, whatever the ensemble size, member group or device count, so a
member's result depends only on its own inputs.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def in_member_blocks(fn: Callable, block: int) -> Callable:
    """``vmap(fn)`` computed ``block`` members at a time.

    Args:
        fn: a function of one member's arguments (pytrees), as given to ``jax.vmap``.
        block: members per block (>= 1).

    Returns:
        A function of the stacked arguments (every leaf with the leading member axis ``B``) that
        returns ``vmap(fn)``'s result, each member computed by the one compiled block program.
    """
    vfn = jax.vmap(fn)
    block = int(block)

    def run(*args: Any) -> Any:
        B = jax.tree_util.tree_leaves(args)[0].shape[0]
        n_blocks = -(-B // block)
        # One member more than one block holds: a slice as long as the array it is cut from is no
        # slice at all, and XLA would compile the block's code in another form (other rounding).
        pad = n_blocks * block + (n_blocks == 1) - B

        def padded(x):
            return jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad,) + x.shape[1:])]) if pad else x

        args = jax.tree_util.tree_map(padded, args)
        shapes = jax.eval_shape(vfn, *jax.tree_util.tree_map(lambda x: x[:block], args))
        out = jax.tree_util.tree_map(lambda s: jnp.zeros((B + pad,) + s.shape[1:], s.dtype), shapes)

        def one_block(i, out):
            part = jax.tree_util.tree_map(lambda x: jax.lax.dynamic_slice_in_dim(x, i * block, block), args)
            return jax.tree_util.tree_map(lambda o, r: jax.lax.dynamic_update_slice_in_dim(o, r, i * block, 0), out, vfn(*part))

        # A trip count XLA can read lets it remove a one-trip loop and fuse its body with the code
        # around it (other code, other rounding); behind the barrier the loop always stays a loop.
        trips = jax.lax.optimization_barrier(jnp.int32(n_blocks))
        out = jax.lax.fori_loop(0, trips, one_block, out)
        return jax.tree_util.tree_map(lambda x: x[:B], out) if pad else out

    return run
