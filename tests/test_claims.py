"""The claims table: verdicts from study JSONs, and the committed docs/paper/claims.md is
what the committed docs/results give."""

import json
import os

import pytest

from ensemble import claims, cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(folder, study, **data):
    folder.mkdir(exist_ok=True)
    (folder / f"{study}.json").write_text(json.dumps(data))


def test_verdicts_from_json_numbers_and_missing_ones(tmp_path):
    write(tmp_path, "fig5", summary={"error_fall": 150.0, "M_relative_gap": 0.2, "final_R": 0.69, "R0": 0.7})
    write(tmp_path, "cmp", summary={"discrete_median_time_to_target": 100.0, "continuous_median_time_to_target": None})
    rows = {(r["claim"].study, r["claim"].text): r for r in claims.evaluate(str(tmp_path))}
    assert rows["fig5", "E falls by orders of magnitude"]["passes"] is True
    assert rows["fig5", "M settles near M0"]["passes"] is False
    assert rows["fig5", "the final r(t) hovers around R0"]["value"] == pytest.approx(0.01)
    assert rows["cmp", "the discrete map reaches the target with less simulated time"]["passes"] is True  # continuous never
    assert all(r["passes"] is None for (study, _), r in rows.items() if study == "fig3")  # no fig3.json
    text = claims.table({"a": str(tmp_path)})
    assert "150 pass" in text and "0.2 **fail**" in text and "\\|final M - M0\\|" in text
    assert text.strip().splitlines()[-1].endswith("| 3 of 4 |")


def test_committed_claims_table_is_up_to_date():
    """Regenerate from docs/results: the committed docs/paper/claims.md must match (python -m ensemble claims)."""
    columns = {name: os.path.join(ROOT, path) for name, path in cli.DEFAULT_CLAIMS_COLUMN.items()
               if os.path.isdir(os.path.join(ROOT, path))}
    want = claims.HEADER + claims.table(columns)
    with open(os.path.join(ROOT, "docs", "paper", "claims.md")) as f:
        assert f.read() == want, "docs/paper/claims.md is stale: run python -m ensemble claims"


def test_cli_claims_column_errors(tmp_path, capsys):
    assert cli.main(["claims", "--column", "nodir", "--out", str(tmp_path / "c.md")]) == 2
    assert cli.main(["claims", "--column", f"x={tmp_path / 'missing'}", "--out", str(tmp_path / "c.md")]) == 2
    write(tmp_path / "r", "fig5", summary={"error_fall": 5.0})
    assert cli.main(["claims", "--column", f"mine={tmp_path / 'r'}", "--out", str(tmp_path / "c.md")]) == 0
    assert "| mine |" in (tmp_path / "c.md").read_text()


def test_claims_without_a_results_folder_or_with_an_unwritable_out_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no docs/results here
    assert cli.main(["claims"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no results folder") and "--column NAME=DIR" in err and err.count("\n") == 1
    write(tmp_path / "res", "fig5", summary={"error_fall": 150.0})
    assert cli.main(["claims", "--column", f"a={tmp_path / 'res'}", "--out", str(tmp_path / "no" / "x.md")]) == 1
    assert capsys.readouterr().err.startswith("error: cannot write ")
