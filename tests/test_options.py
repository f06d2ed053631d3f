"""evolve's grouped options: the new spelling gives the bits of the flat keywords it replaces, the
flat keywords still work for one release with a DeprecationWarning naming the new spelling, and
bad options are refused naming the field."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ensemble
from ensemble import Checkpointing, Chunks, Placement, Record, evolve, learning, studies


class Quadratic:
    def validate(self, params):
        if params["x"].shape != (3,):
            raise ValueError(f"x must have shape (3,), got {params['x'].shape}")

    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": jnp.sum((params["x"] - 1.0) ** 2)}, state


PARAMS = {"x": jnp.linspace(-1.0, 1.0, 18, dtype=jnp.float32).reshape(6, 3)}
HYPER = learning.DiscreteHyper(3.0, 0.05, 2)


def same_bits(a, b):
    for name in a.traces:
        np.testing.assert_array_equal(a.traces[name], b.traces[name])
    for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(a.iterations, b.iterations)


@pytest.mark.invariance
def test_new_spelling_gives_the_bits_of_the_flat_keywords_which_warn_with_the_new_spelling(tmp_path):
    ids = np.arange(10, 16)
    seen = []
    new = evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=12,
                 record=Record(every=3, best=True), placement=Placement(members=ids, member_batch=4),
                 chunks=Chunks(size=6, on_chunk=lambda s, t, i: seen.append(i.done)),
                 checkpoint=Checkpointing(str(tmp_path / "new"), meta={"a": 1}))
    with pytest.warns(DeprecationWarning) as caught:
        old = evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=12, record_every=3,
                     track_best=True, members=ids, member_batch=4, chunk=6, on_chunk=lambda s, t, i: None,
                     checkpoint=str(tmp_path / "old"), meta={"a": 1})
    same_bits(new, old)
    np.testing.assert_array_equal(new.best_so_far["E"], old.best_so_far["E"])
    assert seen == [6, 12, 6, 12]  # two groups (4 + 2 members), two chunks each
    text = " ".join(str(w.message) for w in caught)
    for spelling in ("record=ensemble.Record(every=3, best=True)", "placement=ensemble.Placement(", "member_batch=4",
                     "chunks=ensemble.Chunks(size=6", "checkpoint=ensemble.Checkpointing("):
        assert spelling in text
    assert all(w.filename == __file__ for w in caught)  # attributed to the caller's line


def test_a_checkpoint_path_alone_is_a_checkpointing_and_resume_needs_a_path(tmp_path):
    a = evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=6, checkpoint=str(tmp_path / "run"))
    b = evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=6,
               checkpoint=Checkpointing(str(tmp_path / "run"), resume=True))
    same_bits(a, b)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=6, resume=True)


@pytest.mark.parametrize("make, match", [
    (lambda: Record(every=0), "Record.every"),
    (lambda: Record(best="yes"), "Record.best"),
    (lambda: Placement(devices=0), "devices"),
    (lambda: Placement(member_batch=1.5), "member_batch"),
    (lambda: Chunks(size=0), "Chunks.size"),
    (lambda: Chunks(on_chunk=3), "on_chunk"),
    (lambda: Checkpointing(42), "checkpoint must be a file prefix"),
    (lambda: Checkpointing("out/run", resume="yes"), "Checkpointing.resume"),
])
def test_bad_options_are_refused_naming_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_options_of_the_wrong_kind_or_twice_are_refused():
    run = lambda **kw: evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=2, **kw)  # noqa: E731
    with pytest.raises(ValueError, match="record must be an ensemble.Record"):
        run(record=Placement())
    with pytest.raises(ValueError, match="inside placement=Placement"):
        run(placement=Placement(devices=1), members=np.arange(6))
    with pytest.raises(TypeError, match="unexpected keyword argument 'record_evry'"):
        run(record_evry=2)


def test_study_run_options_and_the_old_keywords(tmp_path):
    config = studies.fig1.Config()
    assert studies.fig1.run(config, studies.RunOptions()).study == "fig1"
    with pytest.warns(DeprecationWarning, match=r"options=ensemble.studies.RunOptions\(progress=False\)"):
        studies.fig1.run(config, progress=False)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_dir"):
        studies.RunOptions(resume=True)
    opts = studies.RunOptions(checkpoint_dir=str(tmp_path), resume=True, chunk=5).evolve("fig2a_al", {"study": "fig2a"}, 2)
    assert opts["checkpoint"] == Checkpointing(str(tmp_path / "fig2a_al"), True, {"study": "fig2a"})
    assert opts["chunks"].size == 10


def test_the_public_names_stay_importable_from_the_driver():
    from ensemble import driver

    assert driver.__all__ == ["evolve"]
    for name in ["evolve", "Record", "Placement", "Checkpointing", "Chunks", "Run", "EnsembleState", "ChunkInfo",
                 "Interrupted", "CompiledChunk", "chunk_program", "member_keys", "init_state", "check_system",
                 "broadcast_hyper", "process_members", "n_devices_for", "bytes_per_member", "state_bytes_per_member",
                 "BLOCK_MEMBERS", "BLOCK_FROM", "MEMORY_FRACTION", "CHUNK_CACHE_SIZE", "DIVERGENCE_WARNING", "FINGERPRINT"]:
        assert hasattr(driver, name), name
    assert ensemble.Record is driver.Record is ensemble.options.Record


@pytest.mark.invariance
def test_compiled_chunk_is_the_program_evolve_runs():
    """CompiledChunk (what the benchmarks time) gives evolve's records and final parameters bit for bit."""
    chunk = ensemble.CompiledChunk(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1)
    first, second = chunk(4), chunk(4)
    run = evolve(Quadratic(), learning.discrete(2), PARAMS, HYPER, key=1, n_iterations=8, chunks=Chunks(size=4))
    np.testing.assert_array_equal(np.concatenate([first["E"], second["E"]]), run.traces["E"])
    np.testing.assert_array_equal(np.asarray(chunk.state.params["x"]), np.asarray(run.params["x"]))
    assert int(chunk.state.n) == 8 and chunk.compile_seconds(2) > 0
    chunk.state = chunk.fresh_state()
    np.testing.assert_array_equal(chunk(4)["E"], first["E"])
    with pytest.raises(ValueError, match="record_every"):
        ensemble.CompiledChunk(Quadratic(), learning.discrete(2), PARAMS, HYPER, record_every=0)
    with pytest.raises(ValueError, match="devices"):
        ensemble.driver.chunk_program(Quadratic(), learning.discrete(2), 6, devices=0)


def test_the_library_its_benchmarks_examples_and_notebooks_use_no_deprecated_keyword():
    """Read from the source: no call of evolve (or of a study's run) inside the package, the
    benchmarks, the examples or the notebook generators passes a flat keyword of the old signature."""
    import ast
    import pathlib

    from ensemble.options import _OLD_KEYWORDS
    from ensemble.studies._common import _OLD_RUN_KEYWORDS

    root = pathlib.Path(__file__).resolve().parent.parent
    files = [*root.glob("ensemble/**/*.py"), *root.glob("benchmarks/*.py"), *root.glob("examples/*.py"),
             *root.glob("notebooks/make_*.py")]
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            old = _OLD_KEYWORDS if name == "evolve" else _OLD_RUN_KEYWORDS if name == "run" else ()
            found += [f"{path.relative_to(root)}:{node.lineno} {name}({k.arg}=)" for k in node.keywords if k.arg in old]
    assert not found, found
