"""The pooled figures of benchmarks/score_vs_truth.py (--pool) on synthetic regions."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "score_vs_truth.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("score_vs_truth", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(n_seeds=3, n=1500, seed=0):
    """Regions whose outcomes are drawn from the oracle's pd; the trained pd is the oracle's, the
    expert's a noisier copy; thin files are a quarter of the farmers."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_seeds):
        z = rng.normal(-2.4, 1.0, n)
        oracle = 1 / (1 + np.exp(-z))
        frames.append(pd.DataFrame({
            "seed": 11 + s,
            "farmer_id": [f"F{i:05d}" for i in range(n)],
            "defaulted": (rng.random(n) < oracle).astype(int),
            "pd_expert": 1 / (1 + np.exp(-(z + rng.normal(0, 1.0, n)))),
            "pd_trained": oracle,
            "oracle_pd_preseason": oracle,
            "thin_file": rng.random(n) < 0.25,
        }))
    return pd.concat(frames, ignore_index=True)


def test_pooled__lift_calibration_and_thin_file(bench):
    r = bench.pooled(_rows(), n_boot=60)
    assert r["farmers"] == 4500 and r["seeds"] == [11, 12, 13]
    lift = r["lift"]
    # the trained pd is the oracle itself: lift share 1 in every resample
    assert lift["trained"]["lift_share"] == pytest.approx(1.0)
    assert lift["trained"]["ci95"] == pytest.approx([1.0, 1.0])
    lo, hi = lift["expert"]["ci95"]
    assert lo <= lift["expert"]["lift_share"] <= hi < 1.0  # the noisy copy ranks worse
    cal = {row["grade"]: row for row in r["calibration"]["trained"]}
    assert sum(row["loans"] for row in cal.values()) == 4500
    for row in cal.values():  # outcomes drawn from the pd: within the binomial interval where judged
        if row["enough"]:
            assert abs(row["difference"]) <= 2.5 * row["half_width"]
    assert {row["seed"] for row in r["calibration"]["portfolio_by_seed"]} == {11, 12, 13}
    gaps = r["thin_file"]["gaps"]
    assert set(gaps) == {"expert", "trained", "oracle_preseason"}
    g = gaps["trained"]
    assert len(g["per_seed_gap"]) == 3
    assert g["mean_gap"] == pytest.approx(np.mean(g["per_seed_gap"]), abs=1e-3)
    assert g["mean_gap_ci95"][0] <= g["mean_gap"] <= g["mean_gap_ci95"][1]
