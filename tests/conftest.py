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


def pytest_configure(config):
    config.addinivalue_line("markers", "invariance: a member's bits do not depend on ensemble, grid, chunks, devices "
                            "(also run under other CPU ISAs by tests/test_isa.py)")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
