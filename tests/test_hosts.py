"""Several processes: a process's block of members, its part saved, the parts joined and checked
bitwise against one process; and two real processes under a jax.distributed coordinator."""

import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import Placement, Record, evolve, hosts, learning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Quadratic:
    def validate(self, params):
        if params["x"].shape != (3,):
            raise ValueError("x must have shape (3,)")

    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": jnp.sum((params["x"] - 1.0) ** 2), "x0": params["x"][0]}, state


def run(ids):
    params = {"x": jnp.zeros((len(ids), 3))}
    return evolve(Quadratic(), learning.discrete(1), params, learning.DiscreteHyper(20.0, 0.05, 1), key=7,
                  n_iterations=12, record=Record(every=3), placement=Placement(members=ids))


def test_process_members_split_range_b_into_contiguous_blocks():
    blocks = [hosts.process_members(10, p, 3) for p in range(3)]
    np.testing.assert_array_equal(np.concatenate(blocks), np.arange(10))
    assert [len(b) for b in blocks] == [3, 3, 4]
    with pytest.raises(ValueError, match="process_index"):
        hosts.process_members(10, 3, 3)


@pytest.mark.invariance
@pytest.mark.slow
def test_parts_joined_are_bitwise_one_process_and_differences_name_what_differs(tmp_path):
    for p in (1, 0):  # written in any order
        ids = hosts.process_members(9, p, 2)
        hosts.save_part(str(tmp_path), run(ids), ids, process_index=p)
    joined = hosts.join_parts(str(tmp_path))
    whole = run(np.arange(9))
    assert joined.parts == 2 and hosts.differences(joined, whole) == []
    other = evolve(Quadratic(), learning.discrete(1), {"x": jnp.zeros((9, 3))}, learning.DiscreteHyper(20.0, 0.06, 1),
                   key=7, n_iterations=12, record=Record(every=3))
    assert hosts.differences(joined, other) == ["traces['E']", "traces['x0']", "params['x']"]


def test_a_missing_or_doubled_part_is_refused(tmp_path):
    ids = hosts.process_members(9, 1, 2)
    hosts.save_part(str(tmp_path), run(ids), ids, process_index=1)
    with pytest.raises(ValueError, match="do not hold members 0..B-1 exactly once"):
        hosts.join_parts(str(tmp_path))
    with pytest.raises(ValueError, match="no part"):
        hosts.join_parts(str(tmp_path / "empty"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_with_a_jax_distributed_coordinator_join_to_the_single_process_ensemble(tmp_path):
    """examples/multihost.py under a real coordinator on localhost: two processes, each its block of
    64 members, then the join checked bitwise against one process (exit status 0)."""
    script, out = os.path.join(ROOT, "examples", "multihost.py"), str(tmp_path / "parts")
    env = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    coordinator = f"localhost:{free_port()}"
    procs = [subprocess.Popen([sys.executable, script, "--out", out, "--coordinator", coordinator, "--num-processes", "2",
                               "--process-id", str(p)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for p in (0, 1)]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "process 0 of 2: members 0-31" in logs[0] and "process 1 of 2: members 32-63" in logs[1]
    check = subprocess.run([sys.executable, script, "--out", out, "--gather", "--check"], env=env, capture_output=True,
                           text=True, timeout=240)
    assert check.returncode == 0 and "bitwise equal to the single-process run: True" in check.stdout, check.stdout + check.stderr
    assert jax.process_count() == 1  # this process never joined the coordinator


def test_parts_of_another_system_and_more_processes_than_members_are_refused(tmp_path):
    class Shifted(Quadratic):
        def measure(self, params, state, key):
            return {"E": jnp.sum((params["x"] - 2.0) ** 2), "x0": params["x"][0]}, state

    a, b = hosts.process_members(6, 0, 2), hosts.process_members(6, 1, 2)
    hosts.save_part(str(tmp_path), run(a), a, process_index=0)
    other = evolve(Shifted(), learning.discrete(1), {"x": jnp.zeros((3, 3))}, learning.DiscreteHyper(20.0, 0.05, 1), key=7,
                   n_iterations=12, record=Record(every=3), placement=Placement(members=b))
    hosts.save_part(str(tmp_path), other, b, process_index=1)
    with pytest.raises(ValueError, match="ran another system"):
        hosts.join_parts(str(tmp_path))
    with pytest.raises(ValueError, match="process_count"):
        hosts.process_members(2, 0, 3)
    with pytest.raises(ValueError, match="ids"):
        hosts.save_part(str(tmp_path), run(a), a - 5)
