"""Command line: ``python -m ensemble <command>``.

- ``reproduce <study> --out DIR [--quick] [--members N] [--seed S] [--resume] [--set FIELD=VALUE]``:
  run one of the paper's studies (:func:`ensemble.studies.reproduce`), write ``DIR/<study>.json``
  and ``DIR/<study>.png``;
- ``list``: the study ids, each with the first paragraph of its docstring;
- ``claims [--column NAME=DIR] [--out FILE]``: check the paper's claims against study JSONs
  (:mod:`ensemble.claims`) and write the markdown table.

``python -m ensemble --help`` (or ``<command> --help``) lists every option. Exit status: 0 done,
2 bad input, 1 a file could not be written or another run holds the lock, 130 Ctrl-C (the last
checkpoint is kept: rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    from . import __version__, studies

    p = argparse.ArgumentParser(prog="python -m ensemble", description="Autonomous-learning ensembles (Bilen & Kaluza).")
    p.add_argument("--version", action="version", version=f"ensemble {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reproduce", help="run one of the paper's studies, write DIR/<study>.json and DIR/<study>.png")
    r.add_argument("study", help=f"study id: {', '.join(studies.STUDIES)}")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--quick", action="store_true", help="small size (about a minute on 2 CPU cores)")
    r.add_argument("--members", type=int, help="ensemble size (members per grid point)")
    r.add_argument("--seed", type=int, help="root seed")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--chunk", type=int, help="iterations per chunk; a checkpoint is written after each (default: ~10 chunks)")
    r.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoints (bitwise identical to an uninterrupted run)")
    r.add_argument("--regime", help="Kuramoto studies: a named setting, 'graded' (the default: Lorentzian frequencies), "
                   "'locked' (version 0.2's Figs. 5-7) or 'below' (version 0.2's cmp)")
    r.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change any field of the study's Config (repeatable), e.g. --set tau=0.2 --set n_iterations=5000")
    sub.add_parser("list", help="list the study ids")
    c = sub.add_parser("claims", help="check the paper's claims against study JSONs, write a markdown table")
    c.add_argument("--column", action="append", default=[], metavar="NAME=DIR",
                   help="a results folder as a column (repeatable; default: docs/results and its clip, normalized, "
                        "locked folders)")
    c.add_argument("--out", default=os.path.join("docs", "paper", "claims.md"),
                   help="markdown file to write (default docs/paper/claims.md)")
    return p


def _study_list(modules: dict, width: int = 100) -> str:
    """One entry per study: its id, then the first paragraph of its docstring, wrapped and
    indented to one column."""
    import textwrap

    pad = max(map(len, modules)) + 2
    lines = []
    for name, module in modules.items():
        first = " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())
        lines.append(textwrap.fill(first, width, initial_indent=name.ljust(pad), subsequent_indent=" " * pad,
                                   break_on_hyphens=False))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after ``python -m ensemble`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 done, 2 bad input, 1 an unwritable file or a locked folder, 130 Ctrl-C.
    """
    from . import cpu, studies

    args = _parser().parse_args(argv)
    if args.command == "reproduce":
        try:
            cpu.use_cores()  # one XLA CPU device per core (no-op once JAX runs, or when set explicitly)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.command == "claims":
        return _claims(args)
    if args.command == "list":
        print(_study_list(studies.STUDIES))
        return 0
    from ._files import LockedError, WriteError
    from .driver import Interrupted

    resume = f"rerun the same command with --resume to continue from {os.path.join(args.out, 'checkpoints')}"
    try:
        overrides = {"members": args.members, "seed": args.seed, **_parse_set(args.study, args.set)}
        result = studies.reproduce(
            args.study, args.out, quick=args.quick, progress=not args.quiet, resume=args.resume, chunk=args.chunk,
            regime=args.regime, **overrides,
        )
    except ValueError as exc:  # bad input, unwritable --out, damaged checkpoint
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except WriteError as exc:  # disk full, permission denied: the last checkpoint is intact
        print(f"error: {exc}; the last checkpoint is intact: fix that and {resume}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        where = (f"{exc.done} of {exc.total} iterations of the current run are checkpointed" if exc.checkpoint
                 else "nothing checkpointed")
        print(f"interrupted: {args.study} stopped ({where}); {resume}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"interrupted: {args.study} stopped; {resume}", file=sys.stderr)
        return 130
    print(studies.get(args.study).describe(result))
    print(f"wrote {os.path.join(args.out, args.study + '.json')} and {os.path.join(args.out, args.study + '.png')}")
    return 0


DEFAULT_CLAIMS_COLUMN = {
    "full size, defaults (graded regime)": os.path.join("docs", "results"),
    "graded, gain clipped to 0.5": os.path.join("docs", "results", "clip"),
    "graded, gain normalized": os.path.join("docs", "results", "normalized"),
    "version 0.2 regimes (locked; cmp below)": os.path.join("docs", "results", "locked"),
}
"""The default columns of ``python -m ensemble claims``: ``{column name: results folder}``, paths
relative to the working directory (the folders the repository's ``make figures`` and ``make
regimes`` write); a missing folder is left out."""


def _claims(args) -> int:
    from . import claims

    columns = {}
    for item in args.column:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            print(f"error: --column must be NAME=DIR, got {item!r}", file=sys.stderr)
            return 2
        if not os.path.isdir(path):
            print(f"error: --column {name}: no folder {path!r}", file=sys.stderr)
            return 2
        columns[name] = path
    if not columns:
        columns = {name: path for name, path in DEFAULT_CLAIMS_COLUMN.items() if os.path.isdir(path)}
    if not columns:
        print(f"error: no results folder: the default columns are {os.path.join('docs', 'results')} and its "
              "subfolders, relative to the repository root; elsewhere pass --column NAME=DIR "
              "(e.g. --column demo=results after make demo) and --out FILE", file=sys.stderr)
        return 2
    try:
        text = claims.write(args.out, columns)
    except OSError as exc:  # WriteError included: a folder that does not exist, permission denied
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(text.splitlines()[-1])
    print(f"wrote {args.out}")
    return 0


def _parse_set(study: str, items: list[str]) -> dict:
    """``["tau=0.2", "grid=0.1,1"]`` -> Config overrides, each value converted to the type of the
    field's default (int, float, bool, str, or a tuple of those from comma-separated values)."""
    from . import studies

    if not items:
        return {}
    config = studies.get(study).Config()
    fields = list(config.__dataclass_fields__)
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise ValueError(f"--set must be FIELD=VALUE with FIELD one of {', '.join(fields)}; got {item!r}")
        default = getattr(config, name)
        try:
            if isinstance(default, tuple):
                kind = type(default[0]) if default else float
                out[name] = tuple(_convert(kind, v.strip()) for v in text.split(",") if v.strip())
            else:
                out[name] = _convert(type(default), text.strip())
        except ValueError:
            raise ValueError(f"--set {name}: cannot read {text!r} as {type(default).__name__}") from None
    return out


def _convert(kind: type, text: str):
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if kind is int:
        value = float(text)
        if value != int(value):
            raise ValueError(text)
        return int(value)
    if kind in (float, str):
        return kind(text)
    return float(text) if kind is type(None) else kind(text)


__all__ = ["main", "DEFAULT_CLAIMS_COLUMN"]
