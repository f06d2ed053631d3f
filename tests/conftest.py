"""Test setup: 4 emulated CPU devices, float64 available (references are float64), strict shapes."""

import os

# Append, so that a user's own XLA_FLAGS (e.g. --xla_cpu_max_isa=AVX2) keep the 4 devices.
_flags = os.environ.get("XLA_FLAGS", "")
if "--xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_force_host_platform_device_count=4".strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def assert_same_angles():
    """``check(got, want, atol)``: ``got`` are wrapped phases (in ``[-pi, pi]`` to float32
    rounding) and equal ``want`` (wrapped or not) modulo whole turns within ``atol``."""

    def check(got, want, atol, err_msg=""):
        got = np.asarray(got, np.float64)
        assert np.all(np.abs(got) <= np.pi * (1 + 1e-6)), f"phases not wrapped: max |phase| {np.abs(got).max()} {err_msg}"
        gap = np.abs(np.remainder(got - np.asarray(want, np.float64) + np.pi, 2 * np.pi) - np.pi)
        assert gap.max() <= atol, f"phases differ by up to {gap.max():.3g} (mod 2 pi) > {atol} {err_msg}"

    return check
