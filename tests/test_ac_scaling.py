"""actor_critic_scaling: its statistics against direct computations, and a tiny run end to end."""

import numpy as np
import pytest
from rnnntk.experiments import actor_critic_scaling as acs
from tiny_runs import run_tiny


def test_statistics_against_direct_loops():
    rng = np.random.default_rng(3)
    S, T, P = 5, 4, 6
    X = 0.7 + 1.9 * rng.standard_normal((S, T, P))
    Xo = 0.3 * rng.standard_normal((T, P))
    st = acs.statistics(X, Xo)
    # spread: sup over t of the RMS over z of the unbiased standard deviation over seeds
    sd = max(np.sqrt(np.mean([np.var(X[:, t, p], ddof=1) for p in range(P)])) for t in range(T))
    assert st["spread"] == pytest.approx(sd, rel=1e-12)
    assert st["variance"] == pytest.approx(sd**2, rel=1e-12)
    b2 = []
    for t in range(T):
        acc = 0.0
        for p in range(P):
            m = sum(X[s, t, p] for s in range(S)) / S
            acc += (m - Xo[t, p]) ** 2 - np.var(X[:, t, p], ddof=1) / S
        b2.append(acc / P)
    assert st["bias"] == pytest.approx(np.sqrt(max(b2)), rel=1e-12)
    d = np.mean([max(np.sqrt(np.mean((X[s, t] - Xo[t]) ** 2)) for t in range(T)) for s in range(S)])
    assert st["distance"] == pytest.approx(d, rel=1e-12)


def test_bias_below_the_seed_noise_is_missing_not_zero():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3, 4)) * 1e-3  # mean zero: the corrected squared bias is ~ -var/S < 0 somewhere
    X -= X.mean(axis=0, keepdims=True)  # the seed mean equals the ODE exactly
    st = acs.statistics(X, np.zeros((3, 4)))
    assert np.isnan(st["bias"])


def test_fit_recovers_known_exponents():
    """Synthetic outputs with a fluctuation of size N^{1/2 - beta} and a bias of size N^{beta - 1}."""
    beta = 0.7
    widths = [100, 200, 400, 800, 1600, 3200]
    rng = np.random.default_rng(1)
    S, T, P = 400, 3, 5
    Xs, Xo = [], []
    for n in widths:
        ode = np.linspace(0, 1, T * P).reshape(T, P)
        noise = rng.standard_normal((S, T, P)) * 2.0 * n ** (0.5 - beta)
        Xs.append(ode + 5.0 * n ** (beta - 1.0) + noise)
        Xo.append(ode)
    fits = acs.fit_statistics(widths, Xs, Xo, resamples=200)
    for k, ref in (("spread", 0.5 - beta), ("variance", 1 - 2 * beta), ("bias", beta - 1)):
        f = fits[k]
        assert abs(f["slope"] - ref) < 0.05, (k, f)
        assert f["lo"] <= ref <= f["hi"], (k, f)
        assert acs._verdict(f, ref, 1.0) == "consistent"
    assert acs._verdict(fits["spread"], 0.5 - beta + 0.3, 1.0) == "inconsistent"


def test_tiny_run(tmp_path, monkeypatch):
    # the tiny run of `rnnntk experiment=actor_critic_scaling scale=tiny`, with test_cli's checks
    res = run_tiny(tmp_path, monkeypatch, "actor_critic_scaling")
    assert (tmp_path / "figures" / "ac_scaling.png").exists()
    assert len(res["fits"]) == 2 * 2 * len(acs.STATS)  # betas x outputs x statistics
    for r in res["fits"]:
        assert set(r) >= {"output", "statistic", "beta", "slope", "lo", "hi", "reference", "verdict"}
        assert len(r["values"]) == 3
        assert r["verdict"] in ("consistent", "inconsistent", "unresolved")
    spreads = [r for r in res["fits"] if r["statistic"] == "spread"]
    assert all(np.all(np.isfinite(r["values"])) and min(r["values"]) > 0 for r in spreads)
