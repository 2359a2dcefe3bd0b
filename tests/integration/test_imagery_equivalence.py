"""Landsat and other-UTM-zone items give the parcel values of Sentinel-2 on the same scene."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agririsk.imagery import load_items, parcel_series
from agririsk.inputs.report import Report
from agririsk.testing import EQUIVALENCE_ITEMS, make_equivalence_stac


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    root = tmp_path_factory.mktemp("equivalence")
    tiny = make_equivalence_stac(root)
    items = load_items(tiny.catalog)
    assert [(i.sensor, i.epsg) for i in items] == [
        ("sentinel-2", 32651),
        ("landsat", 32651),
        ("sentinel-2", 32652),
    ]
    report = Report()
    df = parcel_series(items, tiny.parcels, root / "ws", report=report)
    assert not report.problems
    return df.pivot(index="parcel_id", columns="item_id")


@pytest.mark.parametrize("other", EQUIVALENCE_ITEMS[1:])
@pytest.mark.parametrize(
    ("column", "tol"),
    [
        ("ndvi_mean", 0.02),
        ("ndvi_p50", 0.04),
        ("ndvi_p90", 0.04),
        ("evi_mean", 0.03),
        ("ndmi_mean", 0.03),
        ("ndwi_mean", 0.03),
        ("green_fraction", 0.1),
    ],
)
def test_parcel_series__landsat_and_other_utm_zone_agree_with_sentinel2(series, other, column, tol):
    ref, got = series[column][EQUIVALENCE_ITEMS[0]], series[column][other]
    clear = ["A", "B", "C"]
    np.testing.assert_allclose(got[clear], ref[clear], atol=tol)


def test_parcel_series__cloud_masks_agree_across_sensors(series):
    frac = series["clear_fraction"]
    assert (frac.loc["D"] == 0).all()  # Landsat QA_PIXEL and Sentinel-2 SCL both mask it
    assert (frac.loc[["A", "B", "C"]] == 1).all().all()
    pix = series["n_pixels"].loc["A"]  # 300 x 240 m: 720 px at 10 m, ~80 at 30 m, ~180 at 20 m
    assert pix[EQUIVALENCE_ITEMS[0]] == 720
    assert 70 <= pix[EQUIVALENCE_ITEMS[1]] <= 90 and 160 <= pix[EQUIVALENCE_ITEMS[2]] <= 200
    assert isinstance(series, pd.DataFrame)
