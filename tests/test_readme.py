"""The README's Python examples run as written (the feed-forward one with fewer iterations) and give
the shapes their comments promise; the README keeps its shape (the quick start first, links that
resolve)."""

import os
import re
import warnings

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def text() -> str:
    return open(README, encoding="utf-8").read()


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", text(), flags=re.S)


def run_example(code: str) -> dict:
    """Exec ``code`` with every DeprecationWarning of ``ensemble`` an error: the README shows the
    current API only (the option objects, never the flat keywords)."""
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning, module=r"ensemble\b.*")
        warnings.filterwarnings("error", message=r".*is deprecated", category=DeprecationWarning)
        exec(compile(code, README, "exec"), ns)
    return ns


def test_the_readme_has_its_examples():
    first, second = examples()[:2]
    assert "ensemble.from_loss" in first and "ensemble.grid" in first and "run.best" in first
    assert "feedforward" in second and "n_iterations=20_000" in second and "progress=True" in second


def test_the_quick_start_comes_first():
    """``make demo`` and ``make test`` right after the opening paragraph."""
    lines = text().splitlines()
    blank = [i for i, line in enumerate(lines) if not line.strip()]
    after_paragraph = lines[blank[1] + 1:blank[1] + 5]  # the title, a blank, the paragraph, a blank, then this
    assert any(line.startswith("make demo") for line in after_paragraph), after_paragraph
    assert any(line.startswith("make test") for line in after_paragraph), after_paragraph


def test_the_readme_links_resolve():
    """Images and links into docs/ point at files that exist (checked here, as GitHub renders them)."""
    targets = re.findall(r"\]\(((?:docs|notebooks)/[^)#\s]*)", text())
    assert "docs/figures/fig2a.png" in targets or "docs/figures/fig5.png" in targets
    missing = [t for t in targets if not os.path.exists(os.path.join(ROOT, t))]
    assert not missing, missing


@pytest.mark.filterwarnings("ignore:.*members diverged:RuntimeWarning")  # the grid reaches into the divergent corner
def test_readme_own_loss_example_runs():
    ns = run_example(examples()[0])
    run, g, best = ns["run"], ns["g"], ns["best"]
    E = g.unflatten(run.final["E"])
    assert E.shape == (4, 4, 16) and len(best) == 5 and run.summary()["members"] == 256
    assert np.all(np.isfinite(run.final["E"][best])) and not run.diverged[best].any()
    assert np.all(run.final["E"][best] < 3.0)  # E(0) = 3 at x = 0: the best members learned
    assert set(np.asarray(run.hyper.tau)[best]) <= {0.3, 1, 3, 10}


def test_readme_feedforward_example_runs():
    code = examples()[1]
    short = code.replace("n_iterations=20_000", "n_iterations=300").replace("progress=True", "progress=False")
    assert short != code
    run = run_example(short)["run"]
    assert run.traces["E"].shape == (4, 192)  # iteration 0, then 99, 199, 299 (the README's 20,000: 201 records)
    assert run.iterations.tolist() == [0, 99, 199, 299] and run.diverged.shape == (192,)
    assert all(leaf.shape[0] == 192 for leaf in __import__("jax").tree_util.tree_leaves(run.params))
