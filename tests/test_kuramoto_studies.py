"""Kuramoto studies (Figs. 5-7) at tiny sizes, their config checks, and the frozen success check."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ensemble import kuramoto as ku
from ensemble import studies
from ensemble.studies import _kuramoto as kc

TINY = dict(members=2, n_iterations=20, record_every=10, T=0.5, warmup_time=1.0, check_windows=2, tau=1.0, S=0.05)


def ref_windows(W, omega, phases, dt, n_steps, windows):
    """Plain numpy float64 Euler integration (double loop); mean r over each window."""
    N = len(phases)
    phi = np.array(phases, np.float64)
    out = []
    for _ in range(windows):
        rs = []
        for _ in range(n_steps):
            d = np.array([omega[i] + sum(W[i, j] * np.sin(phi[j] - phi[i]) for j in range(N)) / N for i in range(N)])
            phi = phi + dt * d
            rs.append(abs(np.mean(np.exp(1j * phi))))
        out.append(np.mean(rs))
    return np.array(out)


def test_frozen_check_matches_numpy_float64(rng):
    N, B, dt, T, windows = 5, 3, 0.05, 1.5, 3
    cfg = kc.KuramotoConfig(N=N, dt=dt, T=T, check_windows=windows, R0=0.9, tolerance=0.03)
    w = rng.uniform(-0.5, 1.5, (B, ku.n_pairs(N)))
    phases = rng.uniform(0, 2 * np.pi, (B, N))
    R = cfg.frozen_R(jnp.asarray(w), jnp.asarray(phases))
    assert R.shape == (B, windows) and R.dtype == np.float64
    omega = ku.frequencies(N, "lorentzian", 0.25)  # the config's (default) frequencies
    np.testing.assert_array_equal(cfg.omega(), omega)
    for b in range(B):
        W = np.zeros((N, N))
        W[np.triu_indices(N, 1)] = w[b]
        W = W + W.T
        np.testing.assert_allclose(R[b], ref_windows(W, omega, phases[b], dt, 30, windows), rtol=0, atol=1e-12)
    ok = cfg.success(R.mean(axis=1))
    np.testing.assert_array_equal(ok, np.abs(R.mean(axis=1) - 0.9) <= 0.03)
    assert not cfg.success(np.array([np.nan]))[0]
    with pytest.raises(ValueError, match="^phases must have shape"):
        cfg.frozen_R(jnp.asarray(w), jnp.asarray(phases[:2]))


def test_warm_up_relaxes_before_learning_and_zero_is_plain():
    cfg = kc.KuramotoConfig(N=4, dt=0.05, T=1.0, warmup_time=2.5)
    assert cfg.warmup_windows() == 3 and cfg.warmup_windows(0.5) == 5
    params = {"w": ku.uniform_weights(4, 0.8, jnp.float64)}
    key = jax.random.key(0)
    sys = cfg.system()
    raw = sys.system.init_state(params, key)
    warm = sys.init_state(params, key)
    ref = raw
    for _ in range(3):
        _, ref = sys.system.measure(params, ref, None)
    np.testing.assert_allclose(np.asarray(warm), np.asarray(ref), rtol=0, atol=0)
    np.testing.assert_array_equal(np.asarray(kc.WarmedUp(sys.system, 0).init_state(params, key)), np.asarray(raw))


@pytest.mark.slow
def test_fig5_json_keys(tmp_path):
    result = studies.reproduce("fig5", str(tmp_path), r_time=3.0, final_span=1, **{**TINY, "record_every": 1})
    data = json.loads((tmp_path / "fig5.json").read_text())
    np.testing.assert_allclose(result.runs["fig5"].traces["E"][:, data["summary"]["shown_member"]], data["E"], rtol=1e-6)
    s = data["summary"]
    for key in ("initial_error", "final_error", "final_R", "final_M", "R0", "M0", "shown_member", "diverged"):
        assert key in s
    assert (tmp_path / "fig5.png").stat().st_size > 1000
    assert len(data["E"]) == len(data["M"]) == 20 and len(data["r_final"]) == len(data["r_initial"]) == 60
    assert s["initial_error"] == pytest.approx(data["E"][0], rel=1e-5)  # E(0) is the run's first window
    assert s["diverged"] == 0 and s["initial_error"] > 0 and s["final_error"] > 0
    assert s["final_M"] == pytest.approx(data["final_M_members"][s["shown_member"]])
    assert s["R0"] == data["config"]["R0"] and s["M0"] == data["config"]["M0"]


@pytest.mark.slow
def test_fig6_json_keys_and_grid(tmp_path):
    studies.reproduce("fig6", str(tmp_path), n_gamma=3, gamma_min=0.01, gamma_max=1.0, **TINY)
    data = json.loads((tmp_path / "fig6.json").read_text())
    np.testing.assert_allclose(data["gamma"], [0.01, 0.1, 1.0])
    for key in ("mean_R", "mean_M", "success_fraction", "std_R", "std_M"):
        assert len(data[key]) == 3
    assert np.asarray(data["R_members"]).shape == (3, 2)
    assert data["summary"]["compromise_gamma"] in data["gamma"]
    R = np.asarray(data["R_members"], float)
    np.testing.assert_allclose(data["success_fraction"], np.mean(np.abs(R - data["config"]["R0"]) <= 0.03, axis=1))


@pytest.mark.slow
def test_fig7_json_keys(tmp_path):
    result = studies.reproduce("fig7", str(tmp_path), windows=(0.25, 0.5), **TINY)
    assert set(result.runs) == {"T0.25", "T0.5"} and result.runs["T0.5"].params["w"].shape[0] == TINY["members"]
    data = json.loads((tmp_path / "fig7.json").read_text())
    np.testing.assert_allclose(data["T"], [0.25, 0.5])
    for key in ("mean_R", "mean_M", "success_fraction"):
        assert len(data[key]) == 2
    assert 0 <= data["summary"]["shortest_T_success_fraction"] <= 1


@pytest.mark.parametrize("study, change, name", [
    ("fig5", dict(tau=0.0), "tau"),
    ("fig5", dict(r_time=0.5), "r_time"),
    ("fig6", dict(gamma_min=-1.0), "gamma_min"),
    ("fig6", dict(gamma_min=1.0, gamma_max=0.1), "gamma_max"),
    ("fig6", dict(n_gamma=0), "n_gamma"),
    ("kmap", dict(tau_min=1.0, tau_max=0.1), "tau_max"),
    ("kmap", dict(tau_min=float("nan")), "tau_min"),
    ("fig7", dict(windows=()), "windows"),
    ("fig7", dict(windows=(1.0, -2.0)), "windows"),
    ("fig7", dict(R0=1.5), "R0"),
    ("fig7", dict(error="cubic"), "error"),
    ("fig6", dict(warmup_time=-1.0), "warmup_time"),
    ("fig5", dict(n_iterations=25), "n_iterations"),
])
def test_config_errors_name_the_argument(tmp_path, study, change, name):
    with pytest.raises(ValueError, match=f"^{name}( \\(.*\\))? must"):
        studies.reproduce(study, str(tmp_path), **{**TINY, **change})


@pytest.mark.slow
def test_regime_presets_apply_before_overrides(tmp_path):
    from ensemble.studies._kuramoto import REGIMES

    assert REGIMES["graded"] == {}  # the defaults after the 0.2.0 release
    assert kc.KuramotoConfig().frequencies == "lorentzian" and kc.KuramotoConfig().R0 == 0.7
    result = studies.reproduce("fig5", str(tmp_path), regime="locked", r_time=30.0, final_span=1,
                               **{**TINY, "T": 0.5, "record_every": 10})
    cfg = result.config
    for k, v in REGIMES["locked"].items():
        if k not in TINY:  # the run's own overrides win
            assert cfg[k] == v, k
    assert cfg["tau"] == TINY["tau"] and cfg["R0"] == 0.97
    assert cfg["T"] == 0.5 and cfg["frequencies"] == "even"
    assert studies.with_regime("cmp", "below", {"seed": 3})["tau_factor"] == 1.0  # version 0.2's cmp exactly
    assert "tau_factor" not in studies.with_regime("fig5", "below", {})  # only where the study has the field
    assert studies.with_regime("fig5", "locked", {"R0": 0.5})["R0"] == 0.5
    with pytest.raises(ValueError, match="^regime must be one of"):
        studies.reproduce("fig5", str(tmp_path), regime="chaotic", **TINY)
    with pytest.raises(ValueError, match="^regime applies to the Kuramoto studies"):
        studies.reproduce("fig2a", str(tmp_path), regime="graded")


def test_variants_reach_the_learning_map(tmp_path):
    """clip / normalize in the config choose the learning map's variant; both at once is refused."""
    assert kc.KuramotoConfig().base_map().name == "discrete"
    assert kc.KuramotoConfig(clip=0.5).base_map().name == "discrete(clip=0.5)"
    assert kc.KuramotoConfig(normalize=True).base_map().name == "discrete(normalized)"
    with pytest.raises(ValueError, match="^clip and normalize"):
        studies.reproduce("fig6", str(tmp_path), clip=0.5, normalize=True, **TINY)


@pytest.mark.slow
def test_kmap_grid_border_and_keys(tmp_path):
    """kmap: one run over (tau, S) x members; tau_c per S from the pilot; verdicts from the members."""
    from ensemble import stability
    from ensemble.studies import kmap

    result = studies.reproduce("kmap", str(tmp_path), n_tau=3, tau_min=0.01, tau_max=1.0, S_values=(0.3, 3.0),
                               pilot_members=8, **TINY)
    data = json.loads((tmp_path / "kmap.json").read_text())
    assert (tmp_path / "kmap.png").stat().st_size > 1000
    np.testing.assert_allclose(data["tau"], [0.01, 0.1, 1.0])
    assert result.runs["kmap"].params["w"].shape[0] == 3 * 2 * TINY["members"]
    hyper = result.runs["kmap"].hyper.base  # member order (tau, S, member)
    np.testing.assert_allclose(np.asarray(hyper.tau)[:4], [0.01] * 4, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(hyper.S)[:4], [0.3, 0.3, 3.0, 3.0], rtol=1e-6)
    for key in ("failed_fraction", "diverged_fraction", "success_fraction", "median_final_E", "prediction"):
        assert np.asarray(data[key]).shape == (3, 2), key
    cfg = kmap.Config(**{**TINY, "pilot_members": 8, "S_values": (0.3, 3.0)})
    np.testing.assert_allclose(data["tau_c"], kmap.critical_taus(cfg), rtol=1e-6)
    want = [[str(stability.predict(t, tc)) for tc in data["tau_c"]] for t in data["tau"]]
    assert data["prediction"] == want
    with pytest.raises(ValueError, match="^S_values must be > 0"):
        studies.reproduce("kmap", str(tmp_path), S_values=(1.0, -1.0), **TINY)
