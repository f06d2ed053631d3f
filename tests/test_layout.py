"""One layout policy per platform (issue 12): asked for each platform name on a CPU, and the
accelerator layout (no cache blocks, one window over all members) run here gives the CPU
layout's numbers bit for bit."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import driver, evolve, feedforward as ff, kuramoto as ku, layout, learning, patterns
from ensemble import _program, placement


@pytest.mark.parametrize("platform, want", [
    ("cpu", layout.CPU), ("CPU", layout.CPU),
    ("gpu", layout.ACCELERATOR), ("cuda", layout.ACCELERATOR), ("rocm", layout.ACCELERATOR),
    ("tpu", layout.ACCELERATOR), ("METAL", layout.ACCELERATOR),
])
def test_policy_per_platform_name(platform, want):
    assert layout.for_platform(platform) == want


def test_policy_values_and_errors(monkeypatch):
    assert (layout.CPU.block_members, layout.CPU.block_from) == (256, 2048)
    assert layout.CPU.window_block == ((1, 256), (7, 128), (12, 64), (32, 32), (64, 16), (350, 1))
    for N in range(1, 2001):  # one member, a power of two of whole SIMD lanes, or whole LANES
        b = layout.CPU.window_block_for(N)
        assert b == 1 or b % ku.LANES == 0 or (b >= ku.MIN_LANES and b & (b - 1) == 0), N
    assert layout.ACCELERATOR.block_members is None and layout.ACCELERATOR.window_block is None
    assert layout.ACCELERATOR.window_block_for(1000) is None
    assert layout.block_size(65536, 1, layout.CPU) == 256 and layout.block_size(65536, 1, layout.ACCELERATOR) is None
    with pytest.raises(ValueError, match="^platform must"):
        layout.for_platform("")
    with pytest.raises(ValueError, match="^layout must"):
        with layout.use("gpu"):  # a platform name is not a layout name
            pass
    assert layout.current() == layout.for_platform(jax.default_backend())
    with layout.use("accelerator") as lay:
        assert layout.current() is lay is layout.ACCELERATOR
        with layout.use(layout.CPU):
            assert layout.current() is layout.CPU
        assert layout.current() is layout.ACCELERATOR
    monkeypatch.setenv("ENSEMBLE_LAYOUT", "accelerator")
    assert layout.current() is layout.ACCELERATOR
    monkeypatch.setenv("ENSEMBLE_LAYOUT", "fast")
    with pytest.raises(ValueError, match="ENSEMBLE_LAYOUT"):
        layout.current()


def test_window_block_by_oscillator_count():
    """The CPU layout's Kuramoto window block by N (issue 27): 256 members below 7 oscillators, 128
    from 7 to 11, 64 from 12, 32 from 32, 16 from 64, one member from 350; a number applies at
    every N; a malformed table is refused."""
    assert [layout.CPU.window_block_for(N) for N in (2, 6, 7, 11, 12, 31, 32, 63, 64, 349, 350, 1000)] == [
        256, 256, 128, 128, 64, 64, 32, 32, 16, 16, 1, 1]
    assert ku.window_block(10) == layout.CPU.window_block_for(10) == 128 and ku.WINDOW_BLOCK == 256
    fixed = dataclasses.replace(layout.CPU, window_block=32)
    assert {fixed.window_block_for(N) for N in (2, 10, 300)} == {32}
    with layout.use(fixed):
        assert ku.window_block(100) == 32
    table = layout.Layout("cpu", None, None, window_block=((5, 128), (20, 64)))
    assert [table.window_block_for(N) for N in (2, 5, 19, 20)] == [128, 128, 128, 64]
    assert dataclasses.replace(layout.CPU) == layout.CPU and hash(dataclasses.replace(layout.CPU)) == hash(layout.CPU)
    for bad in (0, True, (), ((10, 64), (5, 128)), ((10, 64, 1),), [(1, 64)], ((1, 0),), 64.0):
        with pytest.raises(ValueError, match="^window_block must be"):
            layout.Layout("cpu", None, None, window_block=bad)


def test_compiled_chunks_are_cached_per_layout():
    system, lmap = ff.Task(*patterns.vowels()), learning.discrete(2)
    with layout.use("cpu"):
        a = _program.chunk_for(system, lmap, 1, None, 1).program
    with layout.use("accelerator"):
        b = _program.chunk_for(system, lmap, 1, None, 1).program
    with layout.use("cpu"):
        assert _program.chunk_for(system, lmap, 1, None, 1).program is a
    assert a is not b


@pytest.mark.invariance
@pytest.mark.slow
def test_layouts_give_the_same_bits_network():
    """Driver cache blocks (a small CPU layout: blocks of 2 from 4 members) against one program."""
    X, Y = patterns.vowels()
    keys = driver.member_keys(jax.random.key(1), np.arange(8))
    params = jax.vmap(lambda k: ff.init(k, 35, 10, 5))(keys)
    hyper = learning.DiscreteHyper(np.linspace(0.05, 0.5, 8), 0.3, 2)
    common = dict(key=jax.random.key(5), n_iterations=12, record_every=3, chunk=6, devices=1)
    small_blocks = layout.Layout("cpu", block_members=2, block_from=4, window_block=64)
    with layout.use(small_blocks):
        assert placement.block_size(8, 1) == 2
        blocked = evolve(ff.Task(X, Y), learning.discrete(2), params, hyper, **common)
    with layout.use("accelerator"):
        whole = evolve(ff.Task(X, Y), learning.discrete(2), params, hyper, **common)
    np.testing.assert_array_equal(blocked.traces["E"], whole.traces["E"])
    for a, b in zip(jax.tree_util.tree_leaves(blocked.state._replace(member_keys=None)),
                    jax.tree_util.tree_leaves(whole.state._replace(member_keys=None))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.invariance
@pytest.mark.slow
def test_layouts_give_the_same_bits_kuramoto():
    """259 members: windows in blocks of 128 plus a padded rest (CPU) against one window of 320."""
    N = 7
    B = 2 * layout.CPU.window_block_for(N) + 3
    rng = np.random.default_rng(0)
    system = ku.Oscillators(ku.default_omega(N), dt=0.05, T=0.5, R0=0.7)
    lmap = ku.weight_control(learning.discrete(1))
    hyper = ku.ControlledHyper(learning.DiscreteHyper(0.5, 0.3, 1), 0.1, 0.8)
    params = {"w": jnp.asarray(rng.uniform(-0.5, 1.5, (B, ku.n_pairs(N))), jnp.float32)}
    common = dict(key=jax.random.key(4), n_iterations=3, devices=1)
    runs = {}
    for name in ("cpu", "accelerator"):
        with layout.use(name):
            runs[name] = evolve(system, lmap, params, hyper, **common)
    for k in ("E", "R", "M"):
        np.testing.assert_array_equal(runs["cpu"].traces[k], runs["accelerator"].traces[k])
    np.testing.assert_array_equal(np.asarray(runs["cpu"].state.system), np.asarray(runs["accelerator"].state.system))
