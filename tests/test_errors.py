"""ensemble.errors: every exception a user may catch, in one module, with the old private
locations still working."""

import pickle

import pytest

import ensemble
from ensemble import _files, checkpoint, errors, results


def test_the_errors_module_has_the_library_exceptions_and_the_old_names_are_the_same_classes():
    assert errors.__all__ == ["WriteError", "LockedError", "DamagedCheckpoint", "Interrupted"]
    assert _files.WriteError is errors.WriteError and _files.LockedError is errors.LockedError
    assert checkpoint.DamagedCheckpoint is errors.DamagedCheckpoint and results.Interrupted is errors.Interrupted
    assert ensemble.Interrupted is errors.Interrupted
    assert issubclass(errors.WriteError, OSError) and issubclass(errors.DamagedCheckpoint, ValueError)
    assert issubclass(errors.Interrupted, KeyboardInterrupt) and issubclass(errors.LockedError, RuntimeError)


def test_write_error_names_the_file_and_why():
    assert str(errors.WriteError(28, "No space left on device", "out/run.npz")) == \
        "cannot write out/run.npz: No space left on device"


@pytest.mark.parametrize("exc", [errors.Interrupted(3, 10, "out/run"), errors.Interrupted(0, 5, None),
                                 errors.WriteError(13, "Permission denied", "x.npz"), errors.LockedError("held by pid 7"),
                                 errors.DamagedCheckpoint("truncated")])
def test_errors_survive_pickling(exc):
    """A process pool re-raises an exception in the parent by pickling it."""
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    if isinstance(exc, errors.Interrupted):
        assert (back.done, back.total, back.checkpoint) == (exc.done, exc.total, exc.checkpoint)


class _Quadratic:
    def init_state(self, params, key):
        return ()

    def measure(self, params, state, key):
        return {"E": (params["x"] ** 2).sum()}, state


def test_a_class_as_the_system_and_an_uncalled_map_are_refused_naming_the_fix():
    import jax.numpy as jnp

    from ensemble import learning

    params, hyper = ensemble.replicate({"x": jnp.ones(2)}, 4), learning.DiscreteHyper(tau=10.0, S=0.0, m=1)
    with pytest.raises(ValueError, match=r"^system must be an instance, got the class _Quadratic: pass _Quadratic\(...\)"):
        ensemble.evolve(_Quadratic, learning.discrete(1), params, hyper, key=0, n_iterations=2)
    with pytest.raises(ValueError, match=r"^lmap must be a LearningMap.*got function \(call it"):
        ensemble.evolve(_Quadratic(), learning.discrete, params, hyper, key=0, n_iterations=2)


def test_a_fresh_run_over_an_existing_checkpoint_warns_and_the_interrupt_message_says_how_to_continue(tmp_path):
    import jax.numpy as jnp

    from ensemble import learning

    params, hyper = ensemble.replicate({"x": jnp.ones(2)}, 4), learning.DiscreteHyper(tau=10.0, S=0.0, m=1)
    path = str(tmp_path / "run")
    ensemble.evolve(_Quadratic(), learning.discrete(1), params, hyper, key=0, n_iterations=2, checkpoint=path)
    with pytest.warns(RuntimeWarning, match="starts afresh and overwrites it"):
        ensemble.evolve(_Quadratic(), learning.discrete(1), params, hyper, key=0, n_iterations=2, checkpoint=path)
    assert "Checkpointing('out/run', resume=True) continues it" in str(errors.Interrupted(3, 10, "out/run"))
    assert str(errors.Interrupted(0, 10, "out/run")) == "interrupted after 0 of 10 iterations"
