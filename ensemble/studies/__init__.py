"""The paper's studies (SPEC §4), one module each: ``Config``, ``run(config) -> Result``, ``plot(result, path)``.

Example:
    >>> from ensemble import studies
    >>> result = studies.fig2a.run(studies.fig2a.Config.quick())
    >>> studies.fig2a.plot(result, "fig2a.png")
"""

from __future__ import annotations

import os
from types import ModuleType

from . import cmp, compare, fig1, fig2a, fig2b, fig3, fig4, fig5, fig6, fig7, kmap
from .._files import RunLock, writable_folder
from ._common import Result, RunOptions, write_json
from ._kuramoto import REGIMES, KuramotoConfig

STUDIES: dict[str, ModuleType] = {
    "fig1": fig1, "fig2a": fig2a, "fig2b": fig2b, "fig3": fig3, "fig4": fig4,
    "fig5": fig5, "fig6": fig6, "fig7": fig7, "cmp": cmp, "kmap": kmap,
    "compare": compare,
}
PLANNED: tuple[str, ...] = ()


def get(study: str) -> ModuleType:
    """The module of study ``study``; ValueError naming the known ids otherwise."""
    if study in STUDIES:
        return STUDIES[study]
    if study in PLANNED:
        raise ValueError(f"study {study!r} is not implemented yet; available: {', '.join(STUDIES)}")
    raise ValueError(f"study must be one of {', '.join(STUDIES)}, got {study!r}")


def with_regime(study: str, regime: str | None, overrides: dict) -> dict:
    """``overrides`` on top of the named Kuramoto regime's settings (``_kuramoto.REGIMES``), those
    the study's ``Config`` has (``tau_factor`` only for cmp); ``regime`` None: ``overrides``."""
    if regime is None:
        return dict(overrides)
    module = get(study)
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}")
    if not issubclass(module.Config, KuramotoConfig):
        raise ValueError(f"regime applies to the Kuramoto studies (fig5, fig6, fig7, cmp, kmap), not {study}")
    fields = module.Config.__dataclass_fields__
    return {**{k: v for k, v in REGIMES[regime].items() if k in fields}, **overrides}


def reproduce(
    study: str,
    out: str,
    *,
    quick: bool = False,
    progress: bool = False,
    resume: bool = False,
    chunk: int | None = None,
    checkpoint_dir: str | None = None,
    regime: str | None = None,
    **overrides,
) -> Result:
    """Run a study and write ``out/<study>.json`` and ``out/<study>.png``.

    Args:
        study: study id. out: output folder (created). quick: the small size.
        progress: progress bars. resume: continue from the checkpoints in
            ``checkpoint_dir`` (default ``out/checkpoints``), written after every chunk.
        chunk: iterations per chunk (default: about 10 chunks per run).
        regime: a named setting of the Kuramoto studies (``_kuramoto.REGIMES``: ``"graded"``,
            the default, ``"locked"`` or ``"below"``, version 0.2's), applied before ``overrides``.
        overrides: Config fields to change (e.g. ``members=64``, ``seed=3``).

    Raises:
        ValueError: bad arguments, an ``out`` that cannot be written (checked first), a
            damaged checkpoint. ``ensemble._files.LockedError``: another run of the same study
            writes to the same folder. ``ensemble._files.WriteError``: a file could not be
            written (the previous checkpoint stays valid). ``ensemble.Interrupted``: Ctrl-C.
    """
    module = get(study)
    overrides = with_regime(study, regime, {k: v for k, v in overrides.items() if v is not None})
    unknown = set(overrides) - set(module.Config.__dataclass_fields__)
    if unknown:
        raise ValueError(f"overrides must be fields of {study}.Config, got {sorted(unknown)}")
    config = module.Config.quick(**overrides) if quick else module.Config(**overrides)
    config.validate()
    RunOptions(chunk=chunk)  # checks chunk before anything is written
    writable_folder("out", out)  # before computing: no long run is lost at its end
    checkpoint_dir = writable_folder("checkpoint_dir", checkpoint_dir or os.path.join(out, "checkpoints"))
    with RunLock(os.path.join(checkpoint_dir, f"{study}.lock"), f"run of {study}"):
        result = module.run(config, RunOptions(progress, checkpoint_dir, resume, chunk))
        write_json(result, os.path.join(out, f"{study}.json"))
        module.plot(result, os.path.join(out, f"{study}.png"))
    return result


__all__ = ["STUDIES", "Result", "RunOptions", "get", "reproduce", "with_regime", "fig1", "fig2a", "fig2b", "fig3", "fig4", "fig5", "fig6", "fig7", "cmp", "kmap", "compare"]
