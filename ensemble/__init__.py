"""ensemble: autonomous learning of many small dynamical systems in parallel (JAX).

Many members of a dynamical system run at once while their parameters learn by eq. (4) of
Bilen & Kaluza. :func:`ensemble.evolve` is the one entry point; a system is any object with
the methods of :class:`ensemble.System`, and :func:`ensemble.from_loss`, :func:`ensemble.replicate`
and :func:`ensemble.grid` help bring your own problem.

Modules: :mod:`ensemble.learning` (the maps of eqs. 3, 4, 8),
:mod:`ensemble.feedforward` (the network of Sec. III.A) and :mod:`ensemble.patterns` (its 5x7
bitmaps), :mod:`ensemble.kuramoto` (the oscillator networks of Sec. III.B as systems; the model
in :mod:`ensemble.kuramoto_model`, the ensemble window in :mod:`ensemble.kuramoto_window`),
:mod:`ensemble.driver` (:func:`ensemble.evolve`, with its options in :mod:`ensemble.options`),
:mod:`ensemble.studies` (the paper's figures), :mod:`ensemble.errors` (the exceptions);
:func:`ensemble.cpu.use_cores` gives JAX one CPU device per core (call it before any computation).
"""

__version__ = "0.3.0"

from . import baselines, cpu, feedforward, kuramoto, kuramoto_model, kuramoto_window, layout, learning, ordered  # noqa: E402
from . import patterns, stability  # noqa: E402
from . import checkpoint, errors, hosts, options, placement, results, state, system  # noqa: E402
from .system import System  # noqa: E402
from .driver import ChunkInfo, CompiledChunk, EnsembleState, Interrupted, Run, evolve, member_keys  # noqa: E402
from .options import Checkpointing, Chunks, Placement, Record  # noqa: E402
from .helpers import from_loss, grid, replicate  # noqa: E402
from .invariance import InvarianceReport, check_member_invariance  # noqa: E402

__all__ = ["__version__", "evolve", "System", "Record", "Placement", "Checkpointing", "Chunks", "EnsembleState", "Run",
           "ChunkInfo", "Interrupted", "CompiledChunk", "member_keys", "from_loss", "grid", "replicate",
           "check_member_invariance", "InvarianceReport",
           "baselines", "checkpoint", "cpu", "errors", "feedforward", "hosts", "kuramoto", "kuramoto_model", "kuramoto_window",
           "layout", "learning", "options", "ordered", "patterns", "placement", "results", "stability", "state", "system"]
