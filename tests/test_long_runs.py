"""Long runs: checkpoints, resume after a crash or SIGKILL, sharding, progress."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import ensemble
from ensemble import checkpoint, driver, evolve, feedforward as ff, layout, learning, patterns
from ensemble import _progress, placement

X, Y = patterns.vowels()


def net_params(B, ids=None):
    ids = np.arange(B) if ids is None else np.asarray(ids)
    return jax.vmap(lambda k: ff.init(k, 35, 10, 5))(driver.member_keys(jax.random.key(1), ids))


def assert_same(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_save_load_round_trip_with_keys(tmp_path):
    state = driver.init_state(ff.Task(X, Y), learning.discrete(3), net_params(4), jax.random.key(0))
    traces = {"E": np.random.default_rng(0).uniform(size=(5, 4)).astype(np.float32)}
    path = str(tmp_path / "ck" / "run")
    checkpoint.save(path, state, traces, np.arange(5), {"a": 1})
    assert sorted(os.listdir(tmp_path / "ck")) == ["run.json", "run.npz"]  # no temporary files left
    loaded, tr, its = checkpoint.load(path, state, {"a": 1})
    assert_same(loaded, state)
    np.testing.assert_array_equal(tr["E"], traces["E"])
    np.testing.assert_array_equal(its, np.arange(5))
    assert json.loads((tmp_path / "ck" / "run.json").read_text())["iterations_done"] == 5


def test_load_refuses_other_config_version_or_structure(tmp_path, monkeypatch):
    state = driver.init_state(ff.Task(X, Y), learning.discrete(3), net_params(4), jax.random.key(0))
    path = str(tmp_path / "run")
    checkpoint.save(path, state, {}, np.arange(0), {"seed": 1})
    with pytest.raises(ValueError, match="different run .*seed"):
        checkpoint.load(path, state, {"seed": 2})
    other = driver.init_state(ff.Task(X, Y), learning.discrete(3), net_params(8), jax.random.key(0))
    with pytest.raises(ValueError, match="checkpoint .* array"):
        checkpoint.load(path, other, {"seed": 1})
    monkeypatch.setattr(checkpoint, "__version__", "999.0")
    with pytest.raises(ValueError, match="written by ensemble"):
        checkpoint.load(path, state, {"seed": 1})


class Crash(Exception):
    pass


def test_resume_after_crash_is_bitwise_identical(tmp_path):
    common = dict(key=jax.random.key(4), n_iterations=60, record=ensemble.Record(every=5))
    hyper = learning.DiscreteHyper(0.1, 0.3, 2)
    ref = evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, chunks=ensemble.Chunks(size=10), **common)
    path = str(tmp_path / "ck")

    def crash_after_three(state, traces, info):
        assert (info.total, info.iterations[-1]) == (common["n_iterations"], info.done - 1)
        if info.done >= 30:
            raise Crash

    with pytest.raises(Crash):
        evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, checkpoint=path,
               chunks=ensemble.Chunks(size=10, on_chunk=crash_after_three), **common)
    assert json.loads(open(path + ".json").read())["iterations_done"] == 30
    seen = []
    resumed = evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper,
                     checkpoint=ensemble.Checkpointing(path, resume=True),
                     chunks=ensemble.Chunks(size=10, on_chunk=lambda s, t, info: seen.append(info.iterations[-1])), **common)
    assert seen == [39, 49, 59]  # only the missing chunks ran
    np.testing.assert_array_equal(resumed.traces["E"], ref.traces["E"])
    np.testing.assert_array_equal(resumed.iterations, ref.iterations)
    assert_same(resumed.state, ref.state)
    # a checkpoint of another run (other seed) is refused
    with pytest.raises(ValueError, match="different run"):
        evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, checkpoint=ensemble.Checkpointing(path, resume=True),
               **{**common, "key": jax.random.key(5)})
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"):
        evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, resume=True, **common)


CHILD = """
import sys
from ensemble import studies
studies.reproduce("fig2a", sys.argv[1], resume=True, chunk=200, members=4, n_iterations=6000, record_every=100,
                  backprop_iterations=50, seed=3)
"""


def _child(out):
    env = {**os.environ, "XLA_FLAGS": ""}
    return subprocess.Popen([sys.executable, "-c", CHILD, out], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    ref_dir, kill_dir = str(tmp_path / "ref"), str(tmp_path / "kill")
    assert _child(ref_dir).wait(timeout=600) == 0
    proc = _child(kill_dir)
    info = os.path.join(kill_dir, "checkpoints", "fig2a_al.json")
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until at least one chunk is on disk, then kill mid-run
        if os.path.exists(info) and json.load(open(info))["iterations_done"] >= 1000:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.load(open(info))["iterations_done"]
    assert 1000 <= done < 6000, "the kill should land mid-run"
    assert not os.path.exists(os.path.join(kill_dir, "fig2a.json"))
    assert _child(kill_dir).wait(timeout=600) == 0
    a, b = (json.load(open(os.path.join(d, "fig2a.json"))) for d in (ref_dir, kill_dir))
    a.pop("wall_time_s"), b.pop("wall_time_s")
    assert a == b


@pytest.mark.slow
def test_cli_resume_with_other_settings_is_one_line_exit_2(tmp_path):
    out = str(tmp_path)
    assert _child(out).wait(timeout=600) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "ensemble", "reproduce", "fig2a", "--quick", "--out", out, "--resume", "--quiet",
         "--chunk", "200"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "different run" in proc.stderr


@pytest.mark.invariance
@pytest.mark.parametrize("devices", [1, 2, 4])
@pytest.mark.slow
def test_sharded_over_devices_is_bitwise_identical(devices):
    assert len(jax.local_devices()) >= 4  # tests/conftest.py emulates 4 CPU devices
    hyper = learning.DiscreteHyper(np.linspace(0.05, 0.5, 8), 0.3, 3)
    common = dict(key=jax.random.key(2), n_iterations=30, record_every=3)
    ref = evolve(ff.Task(X, Y), learning.discrete(3), net_params(8), hyper, placement=ensemble.Placement(devices=1), **common)
    run = evolve(ff.Task(X, Y), learning.discrete(3), net_params(8), hyper, placement=ensemble.Placement(devices=devices),
                 **common)
    assert len(run.params["hidden"].sharding.device_set) == devices
    np.testing.assert_array_equal(run.traces["E"], ref.traces["E"])
    assert_same(run.params, ref.params)


@pytest.mark.invariance
@pytest.mark.slow
def test_member_identical_in_ensemble_of_1024_and_alone():
    hyper = learning.DiscreteHyper(0.1, 0.3, 2)
    common = dict(key=jax.random.key(8), n_iterations=8, record_every=2)
    big = evolve(ff.Task(X, Y), learning.discrete(2), net_params(1024), hyper, **common)
    for k in [5, 1023]:
        alone = evolve(ff.Task(X, Y), learning.discrete(2), net_params(1, ids=[k]), hyper,
                       placement=ensemble.Placement(members=[k]), **common)
        np.testing.assert_array_equal(alone.traces["E"][:, 0], big.traces["E"][:, k])


def test_devices_argument_validated():
    with pytest.raises(ValueError, match=r"^devices \(4\) must divide the number of members \(6\)"):
        evolve(ff.Task(X, Y), learning.discrete(1), net_params(6), learning.DiscreteHyper(0.1, 0.3, 1),
               key=jax.random.key(0), n_iterations=2, placement=ensemble.Placement(devices=4))


def test_progress_bar_reports_member_rate(capsys):
    evolve(ff.Task(X, Y), learning.discrete(1), net_params(4), learning.DiscreteHyper(0.1, 0.3, 1),
           key=jax.random.key(0), n_iterations=20, chunks=ensemble.Chunks(size=10), progress=True)
    err = capsys.readouterr().err  # not a terminal: one plain line per chunk, no carriage returns
    assert "20/20" in err and "member-it/s" in err and "\r" not in err
    assert err.count("\n") == 2 and "10/20 iterations" in err.splitlines()[0]


def test_time_left_comes_from_run_time_only(monkeypatch):
    """The first chunk (compilation) starts the clock: a 100 s compile and 1 s chunks of 10
    iterations leave 8 chunks = 8 s, not 8 x 50 s."""
    clock = iter([0.0, 100.0, 101.0, 102.0])
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: next(clock))
    rate = _progress.Rate(total=100, n_members=4)
    assert "compiled" in rate.update(10)
    assert rate.update(10) == "40 member-it/s, time left 8 s"
    assert rate.update(10) == "40 member-it/s, time left 7 s"


def test_progress_bar_on_a_terminal_uses_tqdm_with_the_run_time_estimate(monkeypatch, capsys):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = _progress.progress_bar(20, 4)
    assert isinstance(bar, _progress.TqdmProgress)
    bar.update(10)
    bar.update(10)
    bar.close()
    err = capsys.readouterr().err
    assert "20/20" in err and "member-it/s" in err and "time left" in err and "<" not in err  # no tqdm ETA


def test_finished_run_resumes_to_a_larger_n_iterations(tmp_path):
    common = dict(key=jax.random.key(4), record=ensemble.Record(every=5))
    chunk10 = ensemble.Chunks(size=10)
    hyper = learning.DiscreteHyper(0.1, 0.3, 2)
    ref = evolve(ff.Task(X, Y), learning.discrete(2), net_params(4), hyper, n_iterations=50, chunks=chunk10, **common)
    path = str(tmp_path / "ck")
    evolve(ff.Task(X, Y), learning.discrete(2), net_params(4), hyper, n_iterations=30, checkpoint=path, chunks=chunk10, **common)
    seen = []
    longer = evolve(ff.Task(X, Y), learning.discrete(2), net_params(4), hyper, n_iterations=50,
                    checkpoint=ensemble.Checkpointing(path, resume=True),
                    chunks=ensemble.Chunks(size=10, on_chunk=lambda s, t, info: seen.append(int(info.iterations[-1]))), **common)
    assert seen == [39, 49]  # only the new iterations ran
    np.testing.assert_array_equal(longer.traces["E"], ref.traces["E"])
    assert_same(longer.state, ref.state)
    with pytest.raises(ValueError, match=r"holds 50 iterations, more than the n_iterations \(30\)"):
        evolve(ff.Task(X, Y), learning.discrete(2), net_params(4), hyper, n_iterations=30,
               checkpoint=ensemble.Checkpointing(path, resume=True), chunks=chunk10, **common)


@pytest.mark.invariance
@pytest.mark.slow
def test_member_groups_are_bitwise_identical_and_checkpointed(tmp_path):
    hyper = learning.DiscreteHyper(np.linspace(0.05, 0.5, 7), 0.3, 2)
    common = dict(key=jax.random.key(4), n_iterations=12, record_every=3)
    ref = evolve(ff.Task(X, Y), learning.discrete(2), net_params(7), hyper, **common)
    prefix = str(tmp_path / "ck")
    run = evolve(ff.Task(X, Y), learning.discrete(2), net_params(7), hyper, placement=ensemble.Placement(member_batch=3),
                 checkpoint=prefix, **common)
    np.testing.assert_array_equal(run.traces["E"], ref.traces["E"])
    np.testing.assert_array_equal(run.iterations, ref.iterations)
    assert_same(run.params, ref.params)
    assert_same(run.state, ref.state)
    assert sorted(p.name for p in tmp_path.glob("*.npz") if not p.name.endswith(".prev.npz")) == [
        "ck.members-0-3.npz", "ck.members-3-6.npz", "ck.members-6-7.npz"]
    # A resume finds every group finished and returns the same numbers without running again.
    again = evolve(ff.Task(X, Y), learning.discrete(2), net_params(7), hyper, placement=ensemble.Placement(member_batch=3),
                   checkpoint=ensemble.Checkpointing(prefix, resume=True), **common)
    np.testing.assert_array_equal(again.traces["E"], ref.traces["E"])
    # Continuing a grouped run from its state equals continuing the whole ensemble.
    more = evolve(ff.Task(X, Y), learning.discrete(2), None, hyper, state=run.state, placement=ensemble.Placement(member_batch=4),
                  **common)
    ref_more = evolve(ff.Task(X, Y), learning.discrete(2), None, hyper, state=ref.state, **common)
    np.testing.assert_array_equal(more.traces["E"], ref_more.traces["E"])


@pytest.mark.slow
def test_member_batch_chosen_from_memory_budget(monkeypatch):
    per = driver.bytes_per_member(ff.Task(X, Y), learning.discrete(2), net_params(2), n_records=4)
    assert per > 3 * 4 * (415 * 4)  # params plus three delay slots, in float32, held three times
    monkeypatch.setattr(placement, "memory_budget", lambda: 3 * per)
    hyper = learning.DiscreteHyper(0.1, 0.3, 2)
    common = dict(key=jax.random.key(4), n_iterations=8, record_every=2)
    sizes = []
    run = evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper,
                 chunks=ensemble.Chunks(on_chunk=lambda s, t, i: sizes.append(s.diverged.shape[0]), size=8), **common)
    assert sizes == [3, 3, 2]
    monkeypatch.undo()
    ref = evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, **common)
    np.testing.assert_array_equal(run.traces["E"], ref.traces["E"])


def test_member_batch_validated():
    with pytest.raises(ValueError, match="member_batch"):
        evolve(ff.Task(X, Y), learning.discrete(1), net_params(4), learning.DiscreteHyper(0.1, 0.3, 1),
               key=jax.random.key(0), n_iterations=2, placement=ensemble.Placement(member_batch=0))


@pytest.mark.slow
def test_process_members_blocks_join_to_the_whole_ensemble():
    blocks = [driver.process_members(10, p, 3) for p in range(3)]
    np.testing.assert_array_equal(np.concatenate(blocks), np.arange(10))
    np.testing.assert_array_equal(driver.process_members(5), np.arange(5))  # one process here
    hyper = learning.DiscreteHyper(0.1, 0.3, 2)
    common = dict(key=jax.random.key(6), n_iterations=6, record_every=2)
    whole = evolve(ff.Task(X, Y), learning.discrete(2), net_params(10), hyper, **common)
    parts = [evolve(ff.Task(X, Y), learning.discrete(2), net_params(len(ids), ids), hyper,
                    placement=ensemble.Placement(members=ids), **common)
             for ids in blocks]
    np.testing.assert_array_equal(np.concatenate([p.traces["E"] for p in parts], axis=1), whole.traces["E"])
    with pytest.raises(ValueError, match="process_index"):
        driver.process_members(10, 3, 3)
    with pytest.raises(ValueError, match="n_members"):
        driver.process_members(0)


def test_cache_block_size_is_a_divisor_near_the_target():
    assert driver.BLOCK_MEMBERS == 256 and driver.BLOCK_FROM == 2048
    assert placement.block_size(65536, 1) == 256 and placement.block_size(65536, 2) == 256
    assert placement.block_size(4900, 1) == 245 and placement.block_size(4900, 2) == 245  # the fig3 grid
    assert placement.block_size(2 * 1031, 1) is None  # 2 x a prime: no divisor in [128, 512]
    assert placement.block_size(1024, 1) is None and placement.block_size(4096, 4) is None  # few members per device
    assert placement.block_size(4098, 4) is None  # not divisible by the devices
    for platform in ("gpu", "cuda", "rocm", "tpu"):  # one program over all members
        assert layout.block_size(65536, 1, layout.for_platform(platform)) is None


@pytest.mark.invariance
@pytest.mark.slow
def test_cache_blocks_are_bitwise_identical(monkeypatch):
    hyper = learning.DiscreteHyper(np.linspace(0.05, 0.5, 8), 0.3, 2)
    common = dict(key=jax.random.key(5), n_iterations=12, record_every=3, chunk=6, devices=1)
    ref = evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, **common)
    tiny = dataclasses.replace(layout.CPU, block_members=2, block_from=4, window_block=64)
    monkeypatch.setattr(layout, "_FORCED", [tiny])
    assert placement.block_size(8, 1) == 2 and placement.block_size(7, 1) == 1
    assert placement.block_size(8, 2) == 2 and placement.block_size(8, 4) is None and placement.block_size(6, 4) is None
    for devices in (1, 2):  # 4 blocks of 2 on one device; 2 blocks of 2 on each of two devices
        run = evolve(ff.Task(X, Y), learning.discrete(2), net_params(8), hyper, **{**common, "devices": devices})
        np.testing.assert_array_equal(run.traces["E"], ref.traces["E"])
        np.testing.assert_array_equal(run.iterations, ref.iterations)
        assert_same(run.state, ref.state)
