"""ensemble: autonomous learning of many small dynamical systems in parallel (JAX).

Modules: :mod:`ensemble.learning` (the maps of eqs. 3, 4, 8),
:mod:`ensemble.feedforward` (the network of Sec. III.A),
:mod:`ensemble.kuramoto` (the oscillator networks of Sec. III.B as systems; the model in
:mod:`ensemble.kuramoto_model`, the ensemble window in :mod:`ensemble.kuramoto_window`), :mod:`ensemble.patterns`
(the 5x7 bitmaps), :mod:`ensemble.driver` (the batched driver, :func:`ensemble.evolve`) and
:mod:`ensemble.studies` (the paper's figures); :func:`ensemble.cpu.use_cores` gives JAX one CPU
device per core (call it before any computation).
"""

__version__ = "0.2.0"

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
           "baselines", "checkpoint", "cpu", "errors", "feedforward", "hosts", "kuramoto", "kuramoto_model", "kuramoto_window", "layout", "learning", "options",
           "ordered", "patterns", "placement", "results", "stability", "state", "system"]
