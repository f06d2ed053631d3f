"""Studies and the command line, at tiny sizes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ensemble import studies
from ensemble.studies import fig2a

TINY = dict(members=4, n_iterations=200, record_every=20, backprop_iterations=60)


def test_fig2a_json_has_the_contract_keys(tmp_path):
    result = studies.reproduce("fig2a", str(tmp_path), **TINY)
    data = json.loads((tmp_path / "fig2a.json").read_text())
    assert (tmp_path / "fig2a.png").stat().st_size > 1000
    s = data["summary"]
    for key in [
        "al_final_median_error", "al_all_correct_fraction", "backprop_final_median_error", "reach_level",
        "al_iterations_to_reach", "backprop_iterations_to_reach", "diverged",
    ]:
        assert key in s
    assert data["config"]["members"] == 4 and data["config"]["seed"] == 0 and data["version"]
    assert len(data["al"]["p50"]) == 11 and len(data["backprop"]["p50"]) == 60  # iteration 0 and 10 records
    # the summary is computed from the arrays it ships
    assert s["al_final_median_error"] == pytest.approx(np.median(data["al_final_errors"]))
    assert s["reach_level"] == pytest.approx(s["al_final_median_error"])
    assert 0 <= s["al_all_correct_fraction"] <= 1 and s["diverged"] == 0
    assert s["backprop_final_median_error"] < 0.25  # back-propagation lowers E from the initial ~0.25
    assert result.summary == s
    # the Run behind it: per-member traces and final params, not in the JSON
    al = result.runs["al"]
    assert al.traces["E"].shape == (11, 4) and al.params["hidden"].shape[0] == 4
    assert al.iterations[0] == 0 and data["al"]["iterations"][0] == 0
    np.testing.assert_allclose(al.traces["E"][-1], data["al_final_errors"], rtol=1e-6)
    assert "runs" not in data


@pytest.mark.slow
def test_fig2a_same_seed_same_json(tmp_path):
    a = studies.reproduce("fig2a", str(tmp_path / "a"), **TINY)
    studies.reproduce("fig2a", str(tmp_path / "b"), **TINY)
    ja, jb = (json.loads((tmp_path / d / "fig2a.json").read_text()) for d in "ab")
    ja.pop("wall_time_s"), jb.pop("wall_time_s")
    assert ja == jb
    c = fig2a.run(fig2a.Config(**{**TINY, "seed": 1}))
    assert c.summary["al_final_median_error"] != a.summary["al_final_median_error"]


def test_fig1_writes_bitmaps(tmp_path):
    studies.reproduce("fig1", str(tmp_path))
    data = json.loads((tmp_path / "fig1.json").read_text())
    assert np.asarray(data["bitmaps"]).shape == (15, 7, 5) and data["chars"][0] == "A"


def test_reproduce_rejects_unknown_study_and_bad_config(tmp_path):
    with pytest.raises(ValueError, match="^study must be one of"):
        studies.reproduce("fig99", str(tmp_path))
    with pytest.raises(ValueError, match="^members must"):
        studies.reproduce("fig2a", str(tmp_path), members=0)
    with pytest.raises(ValueError, match="^tau must"):
        studies.reproduce("fig2a", str(tmp_path), tau=-1.0)
    with pytest.raises(ValueError, match="^overrides must"):
        studies.reproduce("fig2a", str(tmp_path), nonsense=1)
    with pytest.raises(ValueError, match="^S_max must be >= S_min"):
        studies.reproduce("fig3", str(tmp_path), S_min=0.5, S_max=0.1)
    with pytest.raises(ValueError, match="^n_tau must"):
        studies.reproduce("fig3", str(tmp_path), n_tau=0)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ensemble", *args], capture_output=True, text=True, timeout=300)


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    for args, needle in [(("reproduce", "fig99", "--out", str(tmp_path)), "study"),
                         (("reproduce", "fig2a", "--members", "0", "--out", str(tmp_path)), "members")]:
        proc = _cli(*args)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
        assert "Traceback" not in proc.stderr


def test_cli_reproduce_fig1(tmp_path):
    proc = _cli("reproduce", "fig1", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fig1.json").exists() and (tmp_path / "fig1.png").exists()


@pytest.mark.slow
def test_fig3_grid_layout_and_keys(tmp_path):
    from ensemble.studies import fig3

    cfg = dict(members=2, n_tau=3, n_S=2, n_iterations=40, record_every=20, tau_min=0.05, tau_max=0.5, S_min=0.1, S_max=0.5)
    result = studies.reproduce("fig3", str(tmp_path), **cfg)
    assert result.runs["p15"].traces["E"].shape == (3, 3 * 2 * 2)  # iteration 0, then 2 records
    np.testing.assert_allclose(result.runs["p5"].hyper.tau, np.repeat(np.geomspace(0.05, 0.5, 3), 4), rtol=1e-6)
    data = json.loads((tmp_path / "fig3.json").read_text())
    np.testing.assert_allclose(data["tau"], np.geomspace(0.05, 0.5, 3))
    for name in ("p5", "p15"):  # the stability border: one tau_c per S, growing with S
        tau_c = np.asarray(data["tau_c"][name])
        assert tau_c.shape == (2,) and np.all(tau_c > 0) and tau_c[1] > tau_c[0]
    np.testing.assert_allclose(data["S"], [0.1, 0.5])
    for key in ("p5", "p15"):
        surf = np.asarray(data["mean_error"][key])
        assert surf.shape == (3, 2)  # indexed [tau][S]
        i, j = data["summary"][f"{key}_best_index"]
        assert surf[i, j] == surf.min()
    # the surface is the mean over each grid point's members of the final errors of one batched sweep
    from ensemble import patterns

    config = fig3.Config(**cfg)
    X, Y = patterns.vowels()
    final = fig3.sweep(X, Y, np.geomspace(0.05, 0.5, 3), np.array([0.1, 0.5]), config).final
    assert np.mean(final[2, 0]) == pytest.approx(data["mean_error"]["p5"][2][0], rel=1e-6)
    assert final.shape == (3, 2, 2)


def test_fig4_threshold_gives_the_target_mean_robustness():
    from ensemble.studies.fig4 import threshold_for_mean_robustness

    rng = np.random.default_rng(0)
    damaged = rng.uniform(0, 1, (37, 10))
    for target in (0.1, 0.5, 0.83):
        eps = threshold_for_mean_robustness(damaged, target)
        mean_R = np.mean((damaged < eps).mean(axis=1))  # eq. (7) per member, then the ensemble mean
        assert mean_R == pytest.approx(round(target * damaged.size) / damaged.size)
    with pytest.raises(ValueError, match="^damaged"):
        threshold_for_mean_robustness(np.array([[np.nan, 0.1]]), 0.5)


@pytest.mark.slow
def test_fig4_and_fig2b_json_keys(tmp_path):
    result = studies.reproduce("fig4", str(tmp_path), members=4, n_iterations=60, record_every=20)
    assert set(result.runs) == {"testing", "robust"} and result.runs["robust"].traces["R"].shape == (4, 4)
    data = json.loads((tmp_path / "fig4.json").read_text())
    s = data["summary"]
    for key in ("eps", "testing_mean_R", "robust_mean_R", "robust_functional_fraction", "diverged"):
        assert key in s
    assert s["testing_mean_R"] == pytest.approx(0.5)
    R = np.asarray(data["robust"]["R"], float)
    assert s["robust_mean_R"] == pytest.approx(np.nanmean(R))
    assert np.asarray(data["testing"]["damaged_E"]).shape == (4, 10)
    studies.reproduce("fig2b", str(tmp_path), members=2, n_iterations=60, record_every=20)
    data = json.loads((tmp_path / "fig2b.json").read_text())
    assert len(data["E"]) == len(data["R"]) == 4 and data["summary"]["eps"] == 0.1
    with pytest.raises(ValueError, match="^target_R must"):
        studies.reproduce("fig4", str(tmp_path), target_R=1.5)


def test_cli_set_changes_any_config_field(monkeypatch, capsys, tmp_path):
    from ensemble import cli, studies

    seen = {}

    def fake(study, out, **kw):
        seen.update(kw, study=study)
        raise KeyboardInterrupt  # stop before running anything

    monkeypatch.setattr(studies, "reproduce", fake)
    args = ["reproduce", "fig3", "--out", str(tmp_path), "--quick", "--set", "tau_min=0.02", "--set", "n_tau=3", "--members", "2"]
    assert cli.main(args) == 130
    assert seen["tau_min"] == 0.02 and seen["n_tau"] == 3 and seen["members"] == 2 and seen["quick"]
    capsys.readouterr()
    assert cli.main(["reproduce", "fig3", "--out", str(tmp_path), "--set", "n_tau=2.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--set n_tau: cannot read '2.5' as int" in err
    assert cli.main(["reproduce", "fig3", "--out", str(tmp_path), "--set", "gamma=1"]) == 2
    assert "FIELD one of members" in capsys.readouterr().err
