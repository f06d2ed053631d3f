"""The paper's claims, checked against study JSONs: ``python -m ensemble claims``.

Each :class:`Claim` reads one number from a study's JSON (``<dir>/<study>.json``) and compares
it with a target. The targets are ours: the paper states its claims in words ("orders of
magnitude", "clearly higher", "much faster"), so every threshold below is a reconstruction and
is printed next to the verdict. :func:`table` puts one column per results folder (a regime, a
variant), so the same claims can be read across settings.
"""

from __future__ import annotations

import json
import math
import os
from typing import Callable, NamedTuple

from ._files import atomic_write


class Claim(NamedTuple):
    """One claim of the paper, as a number read from a study's JSON and a target.

    Attributes:
        study: the study id (``"fig2a"``, ...), whose ``<study>.json`` is read.
        text: the claim in the paper's words.
        metric: what is measured, in words.
        target: the threshold, in words.
        value: ``json -> float``, the measurement.
        passes: ``value -> bool``, the verdict.
    """

    study: str
    text: str
    metric: str
    target: str
    value: Callable[[dict], float]
    passes: Callable[[float], bool]


def _s(key: str) -> Callable[[dict], float]:
    return lambda d: d["summary"][key]


def _mean_M_ratio(end: int) -> Callable[[dict], float]:
    return lambda d: d["mean_M"][end] / d["summary"]["M0"]


def _R_gap(end: int) -> Callable[[dict], float]:
    return lambda d: abs(d["mean_R"][end] - d["summary"]["R0"])


def _time_ratio(discrete, continuous) -> float:
    """``discrete / continuous`` with None (fewer than half the members reach the target) as infinity."""
    if discrete is None and continuous is None:
        raise TypeError("neither scheme's median reaches the target")
    if continuous is None:
        return 0.0
    if discrete is None:
        return math.inf
    return discrete / continuous


def _compromise_interior(d: dict) -> float:
    g = d["gamma"]
    return float(g[0] < d["summary"]["compromise_gamma"] < g[-1])


CLAIMS: tuple[Claim, ...] = (
    Claim("fig2a", "the error falls to a small value", "median final E / E of the trivial output",
          "<= 0.1", lambda d: d["summary"]["al_final_median_error"] / d["summary"]["trivial_error"], lambda v: v <= 0.1),
    Claim("fig2a", "the networks learn the task", "members with all five vowels right", ">= 0.9",
          _s("al_all_correct_fraction"), lambda v: v >= 0.9),
    Claim("fig2a", "back-propagation gets there much faster", "iterations ratio to the AL median", ">= 10",
          _s("speedup_backprop"), lambda v: v >= 10),
    Claim("fig2b", "R stays 0 while E is high and rises once E nears eps",
          "first iteration with R > 0 minus first with E < eps (shown member)", ">= 0",
          lambda d: d["summary"]["first_iteration_R_positive"] - d["summary"]["first_iteration_E_below_eps"],
          lambda v: v >= 0),
    Claim("fig2b", "E stays below eps while robustness is learned", "records with E < eps after R rose", ">= 0.9",
          _s("fraction_below_eps_after_R_rises"), lambda v: v >= 0.9),
    Claim("fig3", "an interior minimum of the mean final E over (tau, S)", "both minima (P = 5, 15) interior", "= 1",
          lambda d: float(d["summary"]["p5_best_is_interior"] and d["summary"]["p15_best_is_interior"]), lambda v: v == 1),
    Claim("fig3", "at nearly the same place for P = 5 and P = 15", "grid cells between the minima", "<= 1",
          _s("optimum_distance_cells"), lambda v: v <= 1),
    Claim("fig4", "the robust ensemble is clearly more robust", "mean R robust / testing", ">= 1.3",
          _s("robustness_ratio"), lambda v: v >= 1.3),
    Claim("fig5", "E falls by orders of magnitude", "E(0) / final E of the shown member", ">= 100",
          _s("error_fall"), lambda v: v >= 100),
    Claim("fig5", "M settles near M0", "|final M - M0| / M0 (shown member)", "<= 0.1",
          _s("M_relative_gap"), lambda v: v <= 0.1),
    Claim("fig5", "the final r(t) hovers around R0", "|frozen final R - R0| (shown member)", "<= 0.03",
          lambda d: abs(d["summary"]["final_R"] - d["summary"]["R0"]), lambda v: v <= 0.03),
    Claim("fig6", "small gamma: M well above M0", "mean M / M0 at the smallest gamma", ">= 1.25",
          _mean_M_ratio(0), lambda v: v >= 1.25),
    Claim("fig6", "large gamma: M at M0", "mean M / M0 at the largest gamma", "within 10%",
          _mean_M_ratio(-1), lambda v: abs(v - 1) <= 0.1),
    Claim("fig6", "small gamma: R at R0; large gamma: R far from it",
          "|mean R - R0| at the largest gamma minus at the smallest", "> 0.03",
          lambda d: _R_gap(-1)(d) - _R_gap(0)(d), lambda v: v > 0.03),
    Claim("fig6", "a compromise gamma in between", "compromise gamma inside the grid", "= 1",
          _compromise_interior, lambda v: v == 1),
    Claim("fig7", "short windows: M well above M0", "median M / M0 of all members at the shortest T", ">= 1.25",
          lambda d: d["median_M_all"][0] / d["summary"]["M0"], lambda v: v >= 1.25),
    Claim("fig7", "long windows: M back at M0", "median M / M0 of all members at the longest T", "within 10%",
          lambda d: d["median_M_all"][-1] / d["summary"]["M0"], lambda v: abs(v - 1) <= 0.1),
    Claim("fig7", "learning works already for short windows", "success at the shortest T / at the longest T", ">= 0.5",
          lambda d: d["summary"]["shortest_T_success_fraction"] / max(d["summary"]["longest_T_success_fraction"], 1e-12),
          lambda v: v >= 0.5),
    Claim("cmp", "the discrete map reaches the target with less simulated time",
          "median time to target, discrete / continuous (a median that is never reached counts as infinite)",
          "< 1", lambda d: _time_ratio(d["summary"]["discrete_median_time_to_target"],
                                       d["summary"]["continuous_median_time_to_target"]),
          lambda v: v < 1),
)
"""The claims checked, in table order; every target is our reconstruction."""


def evaluate(results: str) -> list[dict]:
    """Every claim of :data:`CLAIMS` against the study JSONs in a folder.

    Args:
        results: the folder holding ``<study>.json`` files (``python -m ensemble reproduce``'s ``--out``).

    Returns:
        One dict per claim: ``{"claim": Claim, "value": float, "passes": bool}``; a missing study
        or key gives ``value`` None and ``passes`` None.
    """
    cache: dict[str, dict | None] = {}
    rows = []
    for c in CLAIMS:
        if c.study not in cache:
            path = os.path.join(results, f"{c.study}.json")
            cache[c.study] = json.load(open(path)) if os.path.exists(path) else None
        data, value, ok = cache[c.study], None, None
        if data is not None:
            try:
                value = float(c.value(data))
            except (KeyError, TypeError, IndexError, ZeroDivisionError):
                value = None
            if value is not None and not math.isnan(value):
                ok = bool(c.passes(value))
        rows.append({"claim": c, "value": value, "passes": ok})
    return rows


def _cell(row: dict) -> str:
    if row["value"] is None:
        return "-"
    v = row["value"]
    text = f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"
    return f"{text} {'pass' if row['passes'] else '**fail**'}"


def table(columns: dict[str, str]) -> str:
    """The claims as a markdown table: one row per claim, one column per results folder.

    Args:
        columns: ``{column name: results folder}``.

    Returns:
        The table, with a last row counting the claims that hold in each column.
    """
    evaluated = {name: evaluate(path) for name, path in columns.items()}
    head = "| study | the paper claims | measured as | target | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (4 + len(columns))]
    for i, c in enumerate(CLAIMS):
        cells = " | ".join(_cell(evaluated[name][i]) for name in columns)
        esc = lambda t: t.replace("|", "\\|")  # noqa: E731 - |x| inside a table cell
        lines.append(f"| {c.study} | {esc(c.text)} | {esc(c.metric)} | {esc(c.target)} | {cells} |")
    totals = " | ".join(f"{sum(r['passes'] is True for r in rows)} of {sum(r['passes'] is not None for r in rows)}"
                        for rows in evaluated.values())
    lines.append(f"| | **claims that hold** | | | {totals} |")
    return "\n".join(lines) + "\n"


HEADER = """# The paper's claims, measured

Generated by `python -m ensemble claims` from the study JSONs (do not edit by hand). Each
claim is one number from a study's JSON against a target; the paper states its claims in words,
so **every target is our reconstruction** (`ensemble/claims.py`). Columns are results folders:
`docs/results` is `make figures`, every study at full size with the default (reconstructed)
constants, the Kuramoto studies in the graded regime (Lorentzian frequencies, the literal
eq. (4); `ensemble/studies/_kuramoto.py`). The other columns are `make regimes`, the Kuramoto
studies at full size: `docs/results/clip` and `docs/results/normalized` with the two stabilized
variants of eq. (4) (the drift gain G clipped to [-0.5, 0.5], or normalized to G / (1 + |G|));
`docs/results/locked`, version 0.2's defaults (Figs. 5-7 with evenly spaced frequencies, a locked
network pushed to R0 0.97; cmp with the target R0 0.5 below the uniform network's synchrony).
A "-" is a study not run in that column.

"""
"""The text above the table in the file :func:`write` writes."""


def write(path: str, columns: dict[str, str]) -> str:
    """Write :data:`HEADER` and :func:`table` to a markdown file (atomically).

    Args:
        path: the file to write.
        columns: ``{column name: results folder}``, as for :func:`table`.

    Returns:
        The text written.
    """
    text = HEADER + table(columns)
    atomic_write(path, lambda f: f.write(text.encode()))
    return text


__all__ = ["Claim", "CLAIMS", "HEADER", "evaluate", "table", "write"]
