"""Every failure of a long run ends in one clear line and a state that resumes correctly (issue 11):
damaged checkpoints, unwritable --out, Ctrl-C, disk full / permission denied, two runs at once."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import jax
import numpy as np
import pytest

from ensemble import _files, checkpoint, cli, driver, evolve, feedforward as ff, learning, patterns, studies

X, Y = patterns.vowels()


def net_params(B):
    return jax.vmap(lambda k: ff.init(k, 35, 10, 5))(driver.member_keys(jax.random.key(1), np.arange(B)))


def assert_same(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

COMMON = dict(key=jax.random.key(4), n_iterations=40, record_every=5, chunk=10)
HYPER = learning.DiscreteHyper(0.1, 0.3, 2)


def run(**kw):
    return evolve(ff.Task(X, Y), learning.discrete(2), net_params(4), HYPER, **{**COMMON, **kw})


class Stop(Exception):
    pass


def stop_at(iteration):
    def on_chunk(state, traces, info):
        if info.done >= iteration + 1:
            raise Stop

    return on_chunk


def one_line(text):
    return text.count("\n") == 1 and "Traceback" not in text


# ------------------------------------------------------------ damaged checkpoints


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "missing"])
def test_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, damage):
    ref = run()
    path = str(tmp_path / "ck")
    with pytest.raises(Stop):
        run(checkpoint=path, on_chunk=stop_at(29))
    assert os.path.exists(path + ".prev.npz")  # the checkpoint of iteration 20
    data = open(path + ".npz", "rb").read()
    if damage == "missing":
        os.remove(path + ".npz")
    else:
        bad = {"truncate": data[: len(data) // 2], "empty": b"",
               "flip": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:]}[damage]  # inside the first array: CRC
        open(path + ".npz", "wb").write(bad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seen = []
        resumed = run(checkpoint=path, resume=True, on_chunk=lambda s, t, info: seen.append(int(info.iterations[-1])))
    assert any("previous checkpoint" in str(w.message) for w in caught)
    assert seen == [29, 39]  # resumed from iteration 20, the previous chunk
    np.testing.assert_array_equal(resumed.traces["E"], ref.traces["E"])
    assert_same(resumed.state, ref.state)


def test_damaged_checkpoint_without_a_good_previous_one_is_refused(tmp_path):
    path = str(tmp_path / "ck")
    with pytest.raises(Stop):
        run(checkpoint=path, on_chunk=stop_at(19))
    for f in (path + ".npz", path + ".prev.npz"):
        open(f, "wb").write(open(f, "rb").read()[:300])
    with pytest.raises(checkpoint.DamagedCheckpoint, match=r"ck\.npz is damaged .*previous one .*delete both"):
        run(checkpoint=path, resume=True)
    os.remove(path + ".prev.npz")
    with pytest.raises(ValueError, match=r"ck\.npz is damaged .*no previous checkpoint"):
        run(checkpoint=path, resume=True)


def test_cli_damaged_checkpoint_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    def damaged(*a, **k):
        raise checkpoint.DamagedCheckpoint("checkpoint x.npz is damaged or unreadable (File is not a zip file)")

    monkeypatch.setattr(studies, "reproduce", damaged)
    assert cli.main(["reproduce", "fig2a", "--out", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "x.npz is damaged" in err


# ------------------------------------------------------------ --out


@pytest.mark.parametrize("out", ["/proc/ensemble-test/x", "FILE/sub"])
def test_unwritable_out_is_refused_before_computing(tmp_path, capsys, monkeypatch, out):
    (tmp_path / "FILE").write_text("a file, not a folder")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    ran = []
    monkeypatch.setattr(studies.fig2a, "run", lambda *a, **k: ran.append(1))
    assert cli.main(["reproduce", "fig2a", "--out", out, "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and err.startswith("error: out: cannot write to folder") and out in err
    assert not ran


# ------------------------------------------------------------ disk full / permission denied


def failing_replace(monkeypatch, suffix, err=errno.ENOSPC, after=0):
    """os.replace fails with ``err`` for targets ending in ``suffix`` (after ``after`` successes)."""
    real, calls = os.replace, []

    def fake(src, dst, *a, **k):
        if str(dst).endswith(suffix):
            calls.append(dst)
            if len(calls) > after:
                raise OSError(err, os.strerror(err))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(_files.os, "replace", fake)


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ref = run()
    path = str(tmp_path / "ck")
    with monkeypatch.context() as m:
        failing_replace(m, "ck.npz", after=2)  # chunks 1 and 2 saved, the third write fails
        with pytest.raises(_files.WriteError, match=r"cannot write .*ck\.npz: No space left on device"):
            run(checkpoint=path)
    assert sorted(os.listdir(tmp_path)) == ["ck.json", "ck.npz", "ck.prev.npz"]  # no temporary file left
    assert json.load(open(path + ".json"))["iterations_done"] == 20
    resumed = run(checkpoint=path, resume=True)
    np.testing.assert_array_equal(resumed.traces["E"], ref.traces["E"])
    assert_same(resumed.state, ref.state)


@pytest.mark.parametrize("suffix,err", [("fig1.json", errno.ENOSPC), ("fig1.png", errno.EACCES)])
def test_cli_write_failure_of_json_or_png_is_one_line_exit_1(tmp_path, capsys, monkeypatch, suffix, err):
    failing_replace(monkeypatch, suffix, err)
    assert cli.main(["reproduce", "fig1", "--out", str(tmp_path), "--quiet"]) == 1
    msg = capsys.readouterr().err
    assert one_line(msg) and f"cannot write {tmp_path / suffix}: {os.strerror(err)}" in msg and "--resume" in msg
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


# ------------------------------------------------------------ two runs at once


def test_second_run_into_the_same_folder_is_refused(tmp_path, capsys):
    lock = str(tmp_path / "checkpoints" / "fig1.lock")
    with _files.RunLock(lock):
        assert cli.main(["reproduce", "fig1", "--out", str(tmp_path), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert one_line(err) and "another run of fig1" in err and lock in err and f"pid {os.getpid()}" in err
        assert not os.path.exists(tmp_path / "fig1.json")
    assert cli.main(["reproduce", "fig1", "--out", str(tmp_path), "--quiet"]) == 0  # released: runs
    assert os.path.exists(tmp_path / "fig1.json")


def test_lock_of_a_killed_process_is_not_stale(tmp_path):
    lock = str(tmp_path / "run.lock")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"from ensemble._files import RunLock\nimport time\nwith RunLock({lock!r}):\n"
         " print('held', flush=True)\n time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(_files.LockedError, match=f"pid {holder.pid}"):
        with _files.RunLock(lock):
            pass
    holder.kill()
    holder.wait()
    with _files.RunLock(lock):  # the operating system released it with the process
        pass


# ------------------------------------------------------------ Ctrl-C


def test_ctrl_c_in_evolve_names_what_is_checkpointed(tmp_path):
    def interrupt(state, traces, info):
        if info.done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(driver.Interrupted) as info:
        run(checkpoint=str(tmp_path / "ck"), on_chunk=interrupt)
    assert (info.value.done, info.value.total) == (20, 40) and isinstance(info.value, KeyboardInterrupt)


def test_ctrl_c_mid_write_finishes_the_file_then_interrupts(tmp_path):
    """A SIGINT inside a write (here in the middle of an npz) waits until the file is complete
    and renamed, then arrives: no torn file, and no library cleanup error instead of the interrupt."""
    path = str(tmp_path / "a.npz")

    def write(f):
        with zipfile.ZipFile(f, "w") as z:
            with z.open("a.npy", "w") as member:
                member.write(b"x" * 10)
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the zip member is open
                member.write(b"y" * 10)

    # Python's own Ctrl-C handler, whatever an earlier test in this worker left installed (an
    # asyncio loop's signal handler, say): the premise of the test
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _files.atomic_write(path, write)
    finally:
        signal.signal(signal.SIGINT, before)
    with zipfile.ZipFile(path) as z:
        assert z.read("a.npy") == b"x" * 10 + b"y" * 10
    assert os.listdir(tmp_path) == ["a.npz"]  # no temporary file left


@pytest.mark.slow
def test_cli_ctrl_c_is_one_line_exit_130_and_resumes(tmp_path):
    """A real SIGINT to the command line mid-run; then --resume finishes from the checkpoint
    (that a resumed run equals an uninterrupted one is tested after SIGKILL in test_long_runs)."""
    out = str(tmp_path / "int")
    # the child restores Python's Ctrl-C handler (a shell may start it with SIGINT ignored)
    cli_with_sigint = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                       "from ensemble.cli import main; sys.exit(main())")
    args = [sys.executable, "-c", cli_with_sigint, "reproduce", "fig2b", "--quick", "--chunk", "200", "--members", "2",
            "--out", out]
    env = {**os.environ, "XLA_FLAGS": ""}
    proc = subprocess.Popen(args + ["--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    info = os.path.join(out, "checkpoints", "fig2b.json")
    deadline = time.time() + 300
    while not os.path.exists(os.path.join(out, "checkpoints", "fig2b.prev.npz")) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert one_line(err) and err.startswith("interrupted: fig2b stopped (") and "--resume" in err
    assert not os.path.exists(os.path.join(out, "fig2b.json"))
    done = json.load(open(info))["iterations_done"]
    assert 0 < done < 20000 and f"({done} of 20000 iterations" in err
    resumed = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and os.path.exists(os.path.join(out, "fig2b.json"))
    assert f"evolve 2 members: {done + 200}/20000 iterations" in resumed.stderr.splitlines()[0]  # it continued, not restarted
