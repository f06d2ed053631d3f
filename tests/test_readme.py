"""The README's Python examples run as written (the first one with fewer iterations) and give the
shapes their comments promise."""

import os
import re

import numpy as np
import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), flags=re.S)


def test_the_readme_has_its_examples():
    assert len(examples()) >= 2


@pytest.mark.filterwarnings("ignore:.*members diverged:RuntimeWarning")  # the grid reaches into the divergent corner
def test_readme_examples_run():
    first, second = examples()[:2]
    ns: dict = {}
    exec(first.replace("n_iterations=20_000", "n_iterations=300").replace("progress=True", "progress=False"), ns)
    run = ns["run"]
    assert run.traces["E"].shape == (4, 192)  # iteration 0, then 99, 199, 299 (the README's 20,000: 201 records)
    assert run.iterations.tolist() == [0, 99, 199, 299] and run.diverged.shape == (192,)
    ns = {}
    exec(second, ns)
    run, g = ns["run"], ns["g"]
    assert g.unflatten(run.final["E"]).shape == (4, 4, 16) and len(ns["best"]) == 5
    assert np.all(np.asarray(run.hyper.tau)[ns["best"]] > 0) and run.summary()["members"] == 256
