"""Accumulator, hist_quantiles and merge_same_day on hand-checkable numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agririsk.imagery import COLUMNS, hist_quantiles, merge_same_day
from agririsk.imagery.stats import NBINS, Accumulator


def test_hist_quantiles__uniform_bins_interpolate_linearly():
    # 10 values spread over [0, 1) in 10 bins of 0.1: quantile q is q itself
    hist = np.ones((1, 10))
    np.testing.assert_allclose(hist_quantiles(hist, (0.1, 0.5, 0.9), 0.0, 1.0), [[0.1, 0.5, 0.9]])


def test_hist_quantiles__empty_row_is_nan():
    out = hist_quantiles(np.zeros((2, 4)), (0.5,), 0.0, 1.0)
    assert np.isnan(out).all()


@given(
    values=hnp.arrays(
        np.float32, st.integers(1, 300), elements=st.floats(-0.96875, 0.96875, width=32)
    ),
    q=st.sampled_from([0.1, 0.5, 0.9]),
)
def test_hist_quantiles__within_one_bin_of_exact(values, q):
    acc = Accumulator(2, ("ndvi",), lowblue=False)
    # NDVI from red = 1, nir = (1 + v) / (1 - v): exactly v up to float32 rounding
    nir = ((1 + values) / (1 - values)).astype(np.float32)
    red = np.ones_like(nir)
    acc.add(
        {"red": red, "nir": nir},
        np.ones(len(values), bool),
        np.ones(len(values), np.int32),
        np.array([0, 1]),
    )
    got = acc.columns(np.array([1]))[f"ndvi_p{int(q * 100)}"][0]
    lo, hi = np.quantile(values, q, method="inverted_cdf"), np.quantile(values, q)
    assert min(lo, hi) - 2.0 / NBINS - 1e-4 <= got <= max(lo, hi) + 2.0 / NBINS + 1e-4


def test_accumulator__hand_checked_block_split_does_not_matter():
    # parcel 1: NDVI 0.8, 0.8, 0.5 (one pixel masked: NDVI -0.5); parcel 2: 0.5, 0.2
    red = np.array([0.05, 0.05, 0.1, 0.3, 0.1, 0.2], np.float32)
    nir = np.array([0.45, 0.45, 0.3, 0.1, 0.3, 0.3], np.float32)
    blue = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.25], np.float32)
    ok = np.array([True, True, True, False, True, True])
    glob = np.array([1, 1, 1, 1, 2, 2])

    def run(splits):
        acc = Accumulator(3, ("ndvi",), lowblue=True)
        for part in splits:
            labels = np.unique(np.concatenate([[0], glob[part]]))
            local = np.searchsorted(labels, glob[part]).astype(np.int32)
            acc.add(
                {"red": red[part], "nir": nir[part], "blue": blue[part]}, ok[part], local, labels
            )
        return acc.n_clear(), acc.columns(np.array([1, 2]))

    n, cols = run([np.arange(6)])
    n2, cols2 = run([np.arange(2), np.arange(2, 5), np.arange(5, 6)])
    assert n[1:].tolist() == n2[1:].tolist() == [3, 2]
    np.testing.assert_allclose(cols["ndvi_mean"], [0.7, 0.35], atol=1e-6)
    np.testing.assert_allclose(cols["ndvi_std"], [np.sqrt(0.02), 0.15], atol=1e-6)
    np.testing.assert_allclose(
        cols["ndvi_mean_lowblue"], [0.7, 0.5], atol=1e-6
    )  # blue 0.25 dropped
    np.testing.assert_allclose(cols["green_fraction"], [1.0, 0.5])  # 0.5 counts as green
    for k in cols:
        np.testing.assert_allclose(cols[k], cols2[k], atol=1e-9, equal_nan=True)
    assert np.isnan(cols["evi_mean"]).all()  # not asked for: NaN, column kept


def _rows(*rows):
    base = {c: np.nan for c in COLUMNS}
    out = []
    for r in rows:
        d = dict(base)
        d.update(r)
        out.append(d)
    df = pd.DataFrame(out, columns=COLUMNS)
    df["datetime"] = pd.to_datetime(df["datetime"], utc=True)
    return df


def test_merge_same_day__weighted_by_n_clear_and_pooled_std():
    df = _rows(
        {
            "parcel_id": "P1",
            "item_id": "A",
            "datetime": "2026-05-01T02:30Z",
            "n_pixels": 10,
            "n_clear": 3,
            "ndvi_mean": 0.8,
            "ndvi_std": 0.0,
            "green_fraction": 1.0,
        },
        {
            "parcel_id": "P1",
            "item_id": "B",
            "datetime": "2026-05-01T02:31Z",
            "n_pixels": 10,
            "n_clear": 1,
            "ndvi_mean": 0.4,
            "ndvi_std": 0.0,
            "green_fraction": 0.0,
        },
        {
            "parcel_id": "P2",
            "item_id": "A",
            "datetime": "2026-05-01T02:30Z",
            "n_pixels": 4,
            "n_clear": 4,
            "ndvi_mean": 0.5,
            "ndvi_std": 0.1,
        },
    )
    out = merge_same_day(df).set_index("parcel_id")
    assert list(out.columns) == COLUMNS[1:]
    p1 = out.loc["P1"]
    assert p1.item_id == "A+B" and (p1.n_pixels, p1.n_clear) == (20, 4)
    assert p1.clear_fraction == pytest.approx(0.2)
    assert p1.ndvi_mean == pytest.approx(0.7)  # (3 * 0.8 + 0.4) / 4
    assert p1.ndvi_std == pytest.approx(np.sqrt((3 * 0.64 + 0.16) / 4 - 0.49))
    assert p1.green_fraction == pytest.approx(0.75)
    assert out.loc["P2", "ndvi_mean"] == 0.5  # a single row passes unchanged
