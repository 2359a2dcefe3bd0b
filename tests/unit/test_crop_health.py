"""Crop-health indicators: own history (VCI), same-crop peers, productivity, stability, area."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from agririsk.crop_models import season_table
from agririsk.crop_models.health import (
    condition_at,
    cropped_fraction,
    health_indicators,
    peer_anomaly,
    vegetation_condition,
)
from agririsk.crop_models.phenology import phenology
from agririsk.crop_models.smoothing import smooth_series
from agririsk.region import Season

YEARS = (2023, 2024, 2025)
SEASONS = [Season(dt.date(y, 4, 15), dt.date(y, 10, 15)) for y in YEARS]
DAYS = np.arange(0, 214, 5)


def crop_curve(day, amp=0.7):
    day = np.asarray(day, float)
    up = 1 / (1 + np.exp(-(day - 60) / 7))
    down = 1 / (1 + np.exp(-(day - 140) / 8))
    return 0.15 + amp * up * (1 - down)


def make_series(levels: dict[tuple[str, int], object], green=None) -> pd.DataFrame:
    """Series for (parcel, year) -> constant level or an array over ``DAYS`` (from 1 April)."""
    frames = []
    for (pid, year), v in levels.items():
        t0 = pd.Timestamp(year, 4, 1, tz="UTC")
        values = np.broadcast_to(np.asarray(v, float), DAYS.shape)
        f = pd.DataFrame(
            {
                "parcel_id": pid,
                "datetime": t0 + pd.to_timedelta(DAYS, unit="D"),
                "clear_fraction": 1.0,
                "ndvi_mean": values,
            }
        )
        if green is not None:
            f["green_fraction"] = green.get((pid, year), 0.0)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_vegetation_condition__places_a_season_between_the_worst_and_best_years():
    s = make_series({("P1", 2023): 0.2, ("P1", 2024): 0.4, ("P1", 2025): 0.8})
    vci = vegetation_condition(smooth_series(s, SEASONS)).sel(parcel_id="P1")
    np.testing.assert_allclose(vci.isel(day=100).values, [0.0, 1 / 3, 1.0], atol=1e-6)


def test_vegetation_condition__undefined_with_two_seasons_or_no_range():
    two = make_series({("P1", 2023): 0.2, ("P1", 2024): 0.4})
    assert np.isnan(vegetation_condition(smooth_series(two, SEASONS[:2])).values).all()
    flat = make_series({("P1", y): 0.5 for y in YEARS})
    assert np.isnan(vegetation_condition(smooth_series(flat, SEASONS)).values).all()


def test_peer_anomaly__difference_to_the_median_field_of_the_same_crop():
    levels = {(f"M{i}", 2023): 0.5 + 0.05 * i for i in range(5)}  # median 0.6
    levels |= {(f"S{i}", 2023): 0.3 for i in range(5)}
    crops = pd.Series(
        {**{f"M{i}": "maize" for i in range(5)}, **{f"S{i}": "soybean" for i in range(5)}}
    )
    anom = peer_anomaly(smooth_series(make_series(levels), SEASONS[:1]), crops).isel(
        season=0, day=100
    )
    assert float(anom.sel(parcel_id="M0")) == pytest.approx(-0.1, abs=1e-6)
    assert float(anom.sel(parcel_id="M4")) == pytest.approx(0.1, abs=1e-6)
    assert float(anom.sel(parcel_id="S2")) == pytest.approx(0.0, abs=1e-6)


def test_peer_anomaly__a_small_crop_group_is_compared_with_all_fields():
    levels = {(f"M{i}", 2023): 0.6 for i in range(5)} | {("R1", 2023): 0.4}
    crops = pd.Series({**{f"M{i}": "maize" for i in range(5)}, "R1": "rice"})
    anom = peer_anomaly(smooth_series(make_series(levels), SEASONS[:1]), crops)
    assert float(anom.sel(parcel_id="R1").isel(season=0, day=100)) == pytest.approx(-0.2, abs=1e-6)


def test_cropped_fraction__seasonal_maximum_of_well_observed_dates():
    s = make_series({("P1", 2023): 0.5}, green={("P1", 2023): 0.0})
    s.loc[10, "green_fraction"] = 0.9
    s.loc[11, ["green_fraction", "clear_fraction"]] = [1.0, 0.5]  # half cloudy: not used
    cf = cropped_fraction(s, [SEASONS[0].start], [SEASONS[0].end])
    assert cf.set_index("parcel_id").loc["P1", "cropped_fraction"] == pytest.approx(0.9)


def test_cropped_fraction__empty_without_green_fraction():
    s = make_series({("P1", 2023): 0.5})
    assert cropped_fraction(s, [SEASONS[0].start], [SEASONS[0].end]).empty


def test_health_indicators__productivity_stability_and_area_by_hand():
    amps = {"A": (0.3, 0.3, 0.3), "B": (0.4, 0.5, 0.6), "C": (0.7, 0.7, 0.7)}
    levels = {(p, y): crop_curve(DAYS, a[k]) for p, a in amps.items() for k, y in enumerate(YEARS)}
    green = {(p, y): 0.95 for p in amps for y in YEARS}
    s = make_series(levels, green=green)
    crops = pd.Series("maize", index=list(amps))
    daily = smooth_series(s, SEASONS)
    phen = phenology(daily, crops)
    h = health_indicators(
        daily, phen, crops, series=s, area_ha=pd.Series({"A": 2.0, "B": 4.0, "C": 1.0}), min_peers=3
    )
    last = h[h["season_start"] == SEASONS[-1].start].set_index("parcel_id")
    # percentile of the season integral among the three maize fields: 1/3, 2/3, 3/3
    np.testing.assert_allclose(
        last["productivity_pct"].loc[["A", "B", "C"]], [100 / 3, 200 / 3, 100]
    )
    assert last.loc["A", "stability_cv"] == pytest.approx(0.0, abs=1e-6)
    assert last.loc["B", "stability_cv"] > 0.1
    assert last.loc["B", "vci"] > 0.9  # its best season
    assert last.loc["B", "condition_z"] > 1
    assert last.loc["B", "measured_area_ha"] == pytest.approx(0.95 * 4.0)


def test_season_table__one_row_per_parcel_and_season_with_both_halves():
    s = make_series({("P1", y): crop_curve(DAYS) for y in YEARS})
    table = season_table(s, SEASONS, pd.Series({"P1": "maize"}))
    assert len(table) == 3 and table["has_cycle"].all()
    assert {"emergence_date", "harvest_date", "vci", "productivity_pct", "cropped_fraction"} <= set(
        table
    )
    assert table["cropped_fraction"].isna().all()  # no green_fraction in the series


def test_condition_at__reads_one_date_for_monitoring():
    s = make_series({("P1", 2023): 0.2, ("P1", 2024): 0.4, ("P1", 2025): 0.8})
    out = condition_at(smooth_series(s, SEASONS), dt.date(2024, 7, 1))
    assert out.set_index("parcel_id").loc["P1", "ndvi"] == pytest.approx(0.4, abs=1e-5)
    assert out.set_index("parcel_id").loc["P1", "vci"] == pytest.approx(1 / 3, abs=1e-5)
    assert condition_at(smooth_series(s, SEASONS), dt.date(2030, 1, 1)).empty


def test_nanmedian_days__same_as_numpy_nanmedian_float32_or_64():
    from agririsk.crop_models.health import _nanmedian_days

    rng = np.random.default_rng(4)
    for n in (1, 4, 7, 650):  # numpy switches method at 600 values
        v = rng.normal(size=(n, 30))
        v[rng.random(v.shape) < 0.3] = np.nan
        v[:, 0] = np.nan
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nanmedian(v, axis=0)
        med, count = _nanmedian_days(v)
        np.testing.assert_array_equal(med, want)
        np.testing.assert_array_equal(count, np.isfinite(v).sum(axis=0))
        v32 = v.astype(np.float32)
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want32 = np.nanmedian(v32.astype(float), axis=0)
        np.testing.assert_array_equal(_nanmedian_days(v32)[0], want32)


def test_health_indicators__season_means_by_blocks_equal_the_daily_indicators(monkeypatch):
    import agririsk.crop_models.health as health

    rng = np.random.default_rng(8)
    levels = {
        (f"P{p}", y): crop_curve(DAYS, amp=rng.uniform(0.3, 0.8)) for p in range(12) for y in YEARS
    }
    crops = pd.Series(["maize"] * 7 + ["rice"] * 5, index=[f"P{p}" for p in range(12)])
    daily = smooth_series(make_series(levels), SEASONS)
    phen = phenology(daily, crops)
    monkeypatch.setattr(health, "_BLOCK", 5)
    got = health_indicators(daily, phen, crops)
    window = (daily["day"] >= 20) & (daily["day"] < 20 + 184)
    with np.errstate(all="ignore"):
        vci = vegetation_condition(daily).where(window).mean("day").values.ravel()
        anom = peer_anomaly(daily, crops).where(window).mean("day").values.ravel()
    ok = phen["data_quality"].eq("ok").to_numpy()
    assert ok.sum() > 20 and np.isfinite(got["vci"]).sum() > 20
    np.testing.assert_allclose(got["vci"], np.where(ok, vci, np.nan), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["peer_anomaly"], np.where(ok, anom, np.nan), rtol=0, atol=1e-12)
