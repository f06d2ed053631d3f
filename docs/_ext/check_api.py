"""After ``mkdocs build``: every public module of ``ensemble`` and every name in its ``__all__``
has an entry in the site's API reference (the inventory ``objects.inv``); exit 1 naming the
missing ones. ``make docs`` runs it.

    python docs/_ext/check_api.py site/objects.inv
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import zlib


def inventory(path: str) -> set[str]:
    with open(path, "rb") as f:
        raw = f.read()
    body = zlib.decompress(raw.split(b"\n", 4)[4]).decode()
    return {line.split(" ")[0] for line in body.splitlines()}


def public_modules() -> list[str]:
    import ensemble
    import ensemble.studies

    names = [f"ensemble.{m.name}" for m in pkgutil.iter_modules(ensemble.__path__) if not m.name.startswith("_")]
    names += [f"ensemble.studies.{m.name}" for m in pkgutil.iter_modules(ensemble.studies.__path__)
              if not m.name.startswith("_")]
    return ["ensemble"] + sorted(names)


def missing(documented: set[str]) -> tuple[list[str], int]:
    gaps, checked = [], 0
    for name in public_modules():
        module = importlib.import_module(name)
        if name != "ensemble" and name not in documented:
            gaps.append(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.ismodule(obj) or attr == "__version__":
                continue
            checked += 1
            home = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', attr)}"
            if f"{name}.{attr}" not in documented and home not in documented:
                gaps.append(f"{name}.{attr}")
    return gaps, checked


if __name__ == "__main__":
    gaps, checked = missing(inventory(sys.argv[1] if len(sys.argv) > 1 else "site/objects.inv"))
    if gaps:
        sys.exit(f"not in the API reference: {', '.join(gaps)}")
    print(f"API reference: {len(public_modules())} modules, {checked} public names, all documented")
