"""The performance tables of ``docs/performance.md`` and ``benchmarks/README.md``, written from the
benchmark results.

Usage::

    python -m benchmarks.tables          # rewrite the tables in both pages
    python -m benchmarks.tables --check  # exit 1 if they differ from the JSON files

Each table sits between ``<!-- table:NAME -->`` and ``<!-- /table -->`` in a page and is made
from one file: ``main`` from ``benchmarks/results_cpu.json`` (``python -m benchmarks.run``),
``kuramoto_sizes`` from ``benchmarks/kuramoto_sizes_cpu.json`` (``python -m benchmarks.kuramoto_sizes``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = (os.path.join(ROOT, "docs", "performance.md"), os.path.join(ROOT, "benchmarks", "README.md"))
SOURCES = {"main": "benchmarks/results_cpu.json", "kuramoto_sizes": "benchmarks/kuramoto_sizes_cpu.json"}


def g(x: float) -> str:
    """Three significant digits, as ``1.23e5``."""
    return f"{x:.3g}".replace("e+0", "e").replace("e+", "e")


def ratio(x: float | None) -> str:
    return "-" if x is None else (f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x")


def main_table(res: dict) -> str:
    rows = ["| kernel | library (all devices) | one device | hand-written JAX | numpy, vectorized | Python loop | "
            "vs hand | one device vs hand | vs numpy | vs loop |", "|---|---|---|---|---|---|---|---|---|---|"]
    names = {"network": "network, eq. (4)", "robust_network": "robust network, eq. (8)", "kuramoto": "Kuramoto N = 10, eq. (13)"}
    for key, label in names.items():
        r = res[key]
        unit = "steps/s" if key == "kuramoto" else "it/s"
        hand = r.get("hand_throughput")
        rows.append(f"| {label} | **{g(r['throughput'])}** {unit} | {g(r['throughput_one_device'])} | "
                    f"{'-' if hand is None else g(hand)} | {g(r['numpy_throughput'])} | {g(r['loop_throughput'])} | "
                    f"**{ratio(r.get('vs_hand'))}** | {ratio(r.get('one_device_vs_hand'))} | {ratio(r['vs_numpy'])} | "
                    f"{ratio(r['vs_loop'])} |")
    head = (f"Machine: `{res['device']}`, float32, {res['ensemble']} members "
            f"(`python -m benchmarks.run --json benchmarks/results_cpu.json`, {res['wall_time_s']:.0f} s).")
    return head + "\n\n" + "\n".join(rows)


def kuramoto_sizes_table(res: dict) -> str:
    sizes = [n for n in res["sizes"] if "library_auto" in res["sizes"][n]["variants"]]
    cols = " | ".join(sizes)
    rows = [f"| oscillators $N$ | {cols} |", "|---" * (len(sizes) + 1) + "|"]

    def row(label, fn):
        rows.append(f"| {label} | " + " | ".join(fn(res["sizes"][n]) for n in sizes) + " |")

    auto = lambda r: r["variants"]["library_auto"]  # noqa: E731
    hand = lambda r: r["variants"][r["hand_best"]]  # noqa: E731
    row("members", lambda r: f"{r['members']:,}")
    row("block (members)", lambda r: str(r["auto_block"]))
    row("Euler steps/s, all devices", lambda r: g(auto(r)["steps_per_s"]))
    row("pairs x steps/s", lambda r: g(auto(r)["pair_steps_per_s"]))
    row("hand-written, pairs x steps/s", lambda r: g(hand(r)["pair_steps_per_s"]))
    row("**library / hand**", lambda r: f"**{ratio(auto(r)['steps_per_s'] / hand(r)['steps_per_s'])}**")
    row("window alone / hand, one device", lambda r: ratio(r.get("window_over_hand")))
    row("first call (compile)", lambda r: f"{auto(r)['first_call_s']:.1f} s")
    row("state, bytes per member", lambda r: f"{auto(r)['state_bytes_per_member'] / 1e3:,.1f} kB")
    row("bitwise the same in every block", lambda r: "yes" if r.get("bitwise_identical_across_blocks_and_devices") else "NO")
    head = (f"Machine: `{res['device']}` ({res['machine']}), float32, dt = 0.01, T = 0.5 "
            f"(`python -m benchmarks.kuramoto_sizes --json benchmarks/kuramoto_sizes_cpu.json`, {res['wall_time_s']:.0f} s).")
    return head + "\n\n" + "\n".join(rows)


MAKERS = {"main": main_table, "kuramoto_sizes": kuramoto_sizes_table}


def render(page: str) -> str:
    """``page`` with every ``<!-- table:NAME -->`` block rewritten from its JSON file."""
    def block(m):
        name = m.group(1)
        with open(os.path.join(ROOT, SOURCES[name])) as f:
            table = MAKERS[name](json.load(f))
        return f"<!-- table:{name} -->\n{table}\n<!-- /table -->"

    return re.sub(r"<!-- table:(\w+) -->.*?<!-- /table -->", block, page, flags=re.S)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the pages' tables differ from the JSON files")
    args = ap.parse_args(argv)
    stale = []
    for path in PAGES:
        with open(path) as f:
            page = f.read()
        new = render(page)
        if new == page:
            continue
        stale.append(path)
        if not args.check:
            with open(path, "w") as f:
                f.write(new)
    if args.check and stale:
        print(f"{', '.join(stale)}: tables differ from {', '.join(SOURCES.values())}; run python -m benchmarks.tables")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
