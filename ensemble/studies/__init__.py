"""The paper's studies (Figs. 1-7) and our own (``cmp``, ``kmap``, ``compare``), one module each.

Every study module has ``Config`` (a frozen dataclass of its settings, with ``Config.quick()``
for a small size), ``run(config, options) -> Result``, ``plot(result, path)`` and
``describe(result)``. :data:`STUDIES` maps the ids to the modules; :func:`reproduce` runs one
and writes its JSON and figure, as ``python -m ensemble reproduce <study>`` does. Every
constant the paper does not state is our reconstruction.

Examples:
    >>> from ensemble import studies
    >>> sorted(studies.STUDIES)[:4]
    ['cmp', 'compare', 'fig1', 'fig2a']
    >>> config = studies.fig2a.Config.quick(members=8)
    >>> config.members, config.n_iterations
    (8, 20000)
    >>> result = studies.fig1.run()          # instant: the bitmaps and the layer sizes
    >>> result.summary["n_patterns"], result.summary["n_in"]
    (15, 35)

    A learning study (under a minute on 2 CPU cores at the quick size)::

        result = studies.fig2a.run(studies.fig2a.Config.quick())
        studies.fig2a.plot(result, "fig2a.png")
        studies.reproduce("fig2a", "results", quick=True)   # and results/fig2a.json
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
"""The studies by id: ``{"fig1": ensemble.studies.fig1, ...}``, in the order ``python -m ensemble list`` shows them."""


def get(study: str) -> ModuleType:
    """The module of a study.

    Args:
        study: a study id of :data:`STUDIES`.

    Returns:
        The study's module (``ensemble.studies.<study>``).

    Raises:
        ValueError: an unknown id (the message names the known ones).
    """
    if study in STUDIES:
        return STUDIES[study]
    raise ValueError(f"study must be one of {', '.join(STUDIES)}, got {study!r}")


def with_regime(study: str, regime: str | None, overrides: dict) -> dict:
    """The ``Config`` overrides of a named Kuramoto regime, then ``overrides`` on top.

    Args:
        study: a study id; the regime's settings are kept where its ``Config`` has the field
            (``tau_factor`` only for cmp).
        regime: ``"graded"`` (the default settings), ``"locked"`` or ``"below"`` (version 0.2's
            Figs. 5-7 and cmp), or None: ``overrides`` alone.
        overrides: ``Config`` fields to set.

    Returns:
        A dict of ``Config`` fields.

    Raises:
        ValueError: an unknown regime, or a regime for a study that is not a Kuramoto study.
    """
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
        study: a study id of :data:`STUDIES`.
        out: output folder (created).
        quick: the small size (``Config.quick()``).
        progress: show progress bars.
        resume: continue from the checkpoints in ``checkpoint_dir``, written after every chunk.
        chunk: iterations per chunk (default: about 10 chunks per run).
        checkpoint_dir: where the checkpoints go (default ``out/checkpoints``).
        regime: a named setting of the Kuramoto studies (``"graded"``, the default, ``"locked"``
            or ``"below"``, version 0.2's; see :func:`with_regime`), applied before ``overrides``.
        **overrides: ``Config`` fields to change (e.g. ``members=64``, ``seed=3``; None values
            are ignored).

    Returns:
        The study's ``Result``.

    Raises:
        ValueError: bad arguments, an ``out`` that cannot be written (checked first), a
            damaged checkpoint.
        ensemble.errors.LockedError: another run of the same study writes to the same folder.
        ensemble.errors.WriteError: a file could not be written (the previous checkpoint stays
            valid).
        ensemble.errors.Interrupted: Ctrl-C.
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


__all__ = ["STUDIES", "Result", "RunOptions", "get", "reproduce", "with_regime",
           "fig1", "fig2a", "fig2b", "fig3", "fig4", "fig5", "fig6", "fig7", "cmp", "kmap", "compare"]
