"""Farm features from parcels, season indicators and farmer records."""

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from agririsk.scoring.features import (
    CROP_CHECK_FEATURES,
    crop_check_features,
    farm_features,
    mapped_area_ha,
    peer_productivity,
)


def _parcels():
    # two 100 m x 100 m fields (1 ha each) for F1, one 200 m x 100 m (2 ha) for F2, in UTM 51N
    geoms = [box(0, 0, 100, 100), box(200, 0, 300, 100), box(0, 200, 200, 300)]
    return gpd.GeoDataFrame(
        {
            "parcel_id": ["P1", "P2", "P3"],
            "farmer_id": ["F1", "F1", "F2"],
            "declared_crop": ["maize", "maize", "soybean"],
            "declared_area_ha": [1.0, 2.0, 2.0],
        },
        geometry=[g.buffer(0) for g in geoms],
        crs="EPSG:32651",
    ).set_geometry(gpd.GeoSeries(geoms, crs="EPSG:32651").translate(500000, 5_100_000))


def _farmers():
    return pd.DataFrame(
        {
            "farmer_id": ["F1", "F2", "F3"],
            "loan_amount": [34500.0, 9000.0, 5000.0],
            "prior_loans": [2, np.nan, np.nan],
            "prior_defaults": [1, np.nan, np.nan],
            "insured": [True, False, None],
        }
    )


def _seasons(pcts_p1, pcts_p2, pcts_p3):
    rows = []
    for year, (a, b, c) in zip(
        [2023, 2024], zip(pcts_p1, pcts_p2, pcts_p3, strict=True), strict=True
    ):
        for pid, pct in (("P1", a), ("P2", b), ("P3", c)):
            rows.append(
                {
                    "parcel_id": pid,
                    "season_start": dt.date(year, 4, 15),
                    "season_end": dt.date(year, 10, 15),
                    "observed": not np.isnan(pct),
                    "peak_ndvi": 0.8 if not np.isnan(pct) else np.nan,
                    "peak_pct": pct,
                }
            )
    return pd.DataFrame(rows)


def test_mapped_area_ha__projected_and_geographic_agree():
    p = _parcels()
    a = mapped_area_ha(p)
    b = mapped_area_ha(p.to_crs("EPSG:4326"))
    assert a["P1"] == pytest.approx(1.0)
    assert b["P3"] == pytest.approx(2.0, rel=1e-3)


def test_farm_features__areas_revenue_and_burden():
    f = farm_features(_parcels(), _farmers(), _seasons([10, 30], [30, 10], [60, 60]))
    f1 = f.loc["F1"]
    assert f1["mapped_area_ha"] == pytest.approx(2.0)
    assert f1["area_ratio"] == pytest.approx(1.5)  # declared 3 ha on 2 ha of fields
    # maize: 7.5 t/ha x 2300 CNY/t x 2 ha = 34,500
    assert f1["expected_revenue"] == pytest.approx(34500.0)
    assert f1["loan_burden"] == pytest.approx(1.0)
    assert f1["productivity_pct"] == pytest.approx(20.0)  # (20 + 20) / 2, equal areas
    assert f1["seasons_observed"] == 2


def test_farm_features__farmer_without_parcels_has_no_imagery_features():
    f3 = farm_features(_parcels(), _farmers(), _seasons([50, 50], [50, 50], [50, 50])).loc["F3"]
    assert f3["n_parcels"] == 0
    assert np.isnan(f3["loan_burden"])


def test_farm_features__thin_file_and_history_fallback():
    hist = pd.DataFrame({"prior_loans": [3.0], "prior_defaults": [0.0]}, index=["F2"])
    f = farm_features(
        _parcels(), _farmers(), _seasons([50, 50], [50, 50], [50, 50]), credit_history=hist
    )
    assert not f.loc["F2", "thin_file"] and f.loc["F2", "prior_loans"] == 3
    assert f.loc["F3", "thin_file"]


def test_farm_features__unobserved_season_not_counted():
    f = farm_features(_parcels(), _farmers(), _seasons([np.nan, 40], [np.nan, 60], [50, np.nan]))
    assert f.loc["F1", "seasons_observed"] == 1
    assert f.loc["F1", "productivity_pct"] == pytest.approx(50.0)


def _crop_table():
    """The season's crop checks of four fields: F1 declared maize on three, F2 one unclassified."""
    return pd.DataFrame(
        {
            "parcel_id": ["P1", "P2", "P3", "P4", "P0"],
            "farmer_id": ["F1", "F1", "F1", "F2", "F1"],
            "season_start": [dt.date(2026, 4, 15)] * 4 + [dt.date(2025, 4, 15)],
            "current": [True, True, True, True, False],
            "declared_crop": ["maize", "maize", "maize", "soybean", "maize"],
            "predicted_crop": ["soybean", "soybean", "maize", None, "rice"],
            "crop_mismatch": pd.array([True, True, False, None, None], dtype="boolean"),
        }
    )


def test_crop_check_features__share_and_words_by_hand():
    f = crop_check_features(_crop_table(), pd.Index(["F1", "F2", "F3"]))
    assert list(f.columns) == CROP_CHECK_FEATURES
    f1 = f.loc["F1"]
    assert f1["fields_crop_checked"] == 3  # the past season's row is not the declaration's
    assert f1["crop_mismatch_share"] == pytest.approx(2 / 3)
    assert f1["crop_mismatch_fields"] == "soybean, not the declared maize, on 2 of 3 fields"
    assert f1["predicted_crops"] == "soybean 2, maize 1"


def test_crop_check_features__nothing_classified_is_nan_not_zero():
    f = crop_check_features(_crop_table(), pd.Index(["F1", "F2", "F3"]))
    for farmer in ("F2", "F3"):  # F2's only field had too few clear views; F3 has none
        assert f.loc[farmer, "fields_crop_checked"] == 0
        assert np.isnan(f.loc[farmer, "crop_mismatch_share"])
        assert f.loc[farmer, "crop_mismatch_fields"] == "" and f.loc[farmer, "predicted_crops"] == ""


def test_crop_check_features__season_not_classified():
    f = crop_check_features(None, pd.Index(["F1", "F2"]))
    assert (f["fields_crop_checked"] == 0).all()
    assert f["crop_mismatch_share"].isna().all()


def test_crop_check_features__other_crop_named_in_words():
    t = _crop_table().assign(predicted_crop=["other", "maize", "maize", None, None])
    t["crop_mismatch"] = pd.array([True, False, False, None, None], dtype="boolean")
    words = crop_check_features(t, pd.Index(["F1"])).loc["F1", "crop_mismatch_fields"]
    assert words == "another crop, not the declared maize, on 1 of 3 fields"
    t["declared_crop"] = ["maize", "other", "maize", "maize", "maize"]
    t["crop_mismatch"] = pd.array([False, True, False, None, None], dtype="boolean")
    words = crop_check_features(t, pd.Index(["F1"])).loc["F1", "crop_mismatch_fields"]
    assert words == "maize, not the declared other crop, on 1 of 3 fields"


def _peer_region(peaks_a, peak_far=0.5):
    """Five maize/soybean fields of five farmers side by side (100 m apart) and one 5 km away.

    ``peaks_a``: the season peaks of farmer A's field in 2023 and 2024; the four
    neighbours peak at 0.80, 0.82, 0.84, 0.86 (median 0.83) in both seasons.
    """
    geoms = [box(i * 100, 0, i * 100 + 90, 90) for i in range(5)] + [box(5000, 0, 5090, 90)]
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{i}" for i in range(6)],
            "farmer_id": ["A", "B", "C", "D", "E", "Far"],
            "declared_crop": ["maize", "soybean", "maize", "soybean", "maize", "maize"],
        },
        geometry=gpd.GeoSeries(geoms, crs="EPSG:32651").translate(500000, 5_100_000),
        crs="EPSG:32651",
    )
    rows = []
    for year, peak_a in zip([2023, 2024], peaks_a, strict=True):
        for pid, peak in zip(parcels["parcel_id"], [peak_a, 0.80, 0.82, 0.84, 0.86, peak_far], strict=True):
            rows.append({"parcel_id": pid, "season_start": dt.date(year, 4, 15), "observed": np.isfinite(peak),
                         "peak_ndvi": peak, "peak_pct": 50.0 if np.isfinite(peak) else np.nan})
    return parcels, pd.DataFrame(rows)


def test_peer_productivity__gap_to_neighbours_median_over_seasons():
    parcels, ps = _peer_region([0.73, 0.77])
    v = peer_productivity(parcels, ps, radius_m=1000.0)
    # A: median of 0.73 - 0.83 and 0.77 - 0.83 (maize and soybean pooled as rotation partners)
    assert v["A"] == pytest.approx(-0.08)
    # a field 5 km away has no peers within 1 km: no value rather than a made-up one
    assert "Far" not in v.index
    # B's peers are A, C, D, E (never B's own field)
    assert v["B"] == pytest.approx(0.80 - np.median([0.73, 0.82, 0.84, 0.86]))


def test_peer_productivity__one_bad_season_does_not_set_the_farm_value():
    # a hailstorm halves A's peak in one of three field-seasons: the median ignores it
    parcels, ps = _peer_region([0.40, 0.84])
    extra = ps[ps["season_start"] == dt.date(2024, 4, 15)].assign(season_start=dt.date(2025, 4, 15))
    v = peer_productivity(parcels, pd.concat([ps, extra], ignore_index=True), radius_m=1000.0)
    assert v["A"] == pytest.approx(0.01)


def test_peer_productivity__unobserved_seasons_and_farm_features_column():
    parcels, ps = _peer_region([np.nan, 0.80])
    v = peer_productivity(parcels, ps, radius_m=1000.0)
    assert v["A"] == pytest.approx(-0.03)
    farmers = pd.DataFrame({"farmer_id": ["A", "Far", "Nobody"], "loan_amount": [1000.0, 1000.0, 1000.0]})
    f = farm_features(parcels.assign(declared_area_ha=1.0), farmers, ps)
    assert f.loc["A", "peer_productivity"] == pytest.approx(-0.03)
    assert np.isnan(f.loc["Far", "peer_productivity"]) and np.isnan(f.loc["Nobody", "peer_productivity"])


def test_farm_features__a_failed_season_does_not_shrink_the_measured_area():
    """A field that failed one season (hail, flood: little of it green) is still farmed: the
    measured cropped area is the largest of the observed seasons, not their median."""
    ps = _seasons([10, 30], [30, 10], [60, 60])
    ps["measured_area_ha"] = 1.0
    # P1 failed in 2023: a quarter of it green (the median of 0.25 and 1.0 would be 0.625 ha)
    ps.loc[ps["parcel_id"].eq("P1") & (ps["season_start"] == dt.date(2023, 4, 15)), "measured_area_ha"] = 0.25
    f1 = farm_features(_parcels(), _farmers(), ps).loc["F1"]
    assert f1["area_ratio"] == pytest.approx(1.5)  # declared 3 ha on the 2 ha seen cropped
