"""The compare study (issue 14) at a tiny size: every method starts from the same parameters,
spends the same budget, and its row is the best point of its own sweep."""

import json

import numpy as np
import pytest

from ensemble import studies
from ensemble.studies import compare

pytest.importorskip("evosax")  # the [compare] extra (installed by make test)

TINY = dict(runs=2, records=2, network_budget=88, kuramoto_budget=64, rosenbrock_budget=40, std_values=(0.1, 0.3),
            open_es_std=(0.1,), open_es_lr=(0.05,), backprop_factors=(1.0,))
SUBSET = dict(tasks=("kuramoto", "rosenbrock"), methods=("al", "snes", "backprop"))  # CI runs the quick size of these


@pytest.mark.slow
def test_same_start_same_budget_best_of_own_sweep(tmp_path, monkeypatch):
    result = studies.reproduce("compare", str(tmp_path), quick=True, **SUBSET)
    config = compare.Config.quick(**SUBSET)
    data = json.loads((tmp_path / "compare.json").read_text())
    assert (tmp_path / "compare.png").stat().st_size > 1000
    assert set(data["tasks"]) == {"kuramoto", "rosenbrock"}
    assert "backprop" in data["rosenbrock"] and "backprop" not in data["kuramoto"]  # no gradient of a window's R
    for task in ("kuramoto", "rosenbrock"):
        start = {m: data[task][m]["E"]["p50"][0] for m in data[task]}
        assert np.allclose(list(start.values()), next(iter(start.values())), rtol=1e-5), start  # same initial params
        budget = data["tasks"][task]["budget"]
        for method, a in data[task].items():
            assert len(a["evaluations"]) == config.records + 1 and a["evaluations"][0] == 0
            assert 0 < a["evaluations"][-1] <= budget
            rows = a["sweep"]
            assert len(rows) == len(compare.sweeps(config, compare.tasks(config)[task])[method])
            assert a["best_point"] == compare._best(rows)
            s = data["summary"][f"{task}.{method}"]
            assert s["solved_fraction"] == rows[a["best_point"]]["solved_fraction"]
            assert s["runs_per_point"] == config.runs
    assert compare.popsize(415) == 22 and data["tasks"]["kuramoto"]["popsize"] == compare.popsize(45) == 16
    assert data["tasks"]["kuramoto"]["cma_variant"] == "CMA-ES" and data["tasks"]["kuramoto"]["n_params"] == 45
    assert "autonomous (eq. 4)" in compare.describe(result)
    # every finished (task, method) was saved: a resumed run computes nothing and writes the same JSON
    monkeypatch.setattr(compare, "run_method", lambda *a, **k: pytest.fail("recomputed a saved part"))
    studies.reproduce("compare", str(tmp_path), quick=True, resume=True, **SUBSET)
    again = json.loads((tmp_path / "compare.json").read_text())
    assert again["summary"] == data["summary"] and again["kuramoto"] == data["kuramoto"]


def test_best_point_prefers_solved_then_low_E():
    rows = [dict(solved_fraction=0.5, median_final_E=0.1), dict(solved_fraction=0.5, median_final_E=0.01),
            dict(solved_fraction=0.25, median_final_E=0.0), dict(solved_fraction=0.5, median_final_E=None)]
    assert compare._best(rows) == 1


@pytest.mark.parametrize("change, name", [
    (dict(tasks=("mnist",)), "tasks"), (dict(methods=()), "methods"), (dict(runs=0), "runs"),
    (dict(std_values=(0.1, -1.0)), "std_values"), (dict(network_budget=0), "network_budget"),
])
def test_config_errors_name_the_argument(tmp_path, change, name):
    with pytest.raises(ValueError, match=f"^{name}( \\(.*\\))? must"):
        studies.reproduce("compare", str(tmp_path), **{**TINY, **change})
