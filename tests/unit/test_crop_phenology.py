"""Phenology from smoothed parcel curves: crossings, steps, no-cycle and data-quality rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from agririsk.crop_models.phenology import crossing, phenology, step_bracket
from agririsk.crop_models.smoothing import smooth_series
from agririsk.errors import InputError
from agririsk.region import Season

SEASON = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))
T0 = dt.date(2026, 4, 1)


def crop_curve(day, base=0.15, amp=0.7, t_up=60.0, s_up=7.0, t_down=130.0, s_down=8.0, harvest=160):
    """Green-up, senescence to a dry canopy (+0.17 above soil), then stubble (0.20) at harvest."""
    day = np.asarray(day, float)
    up = 1 / (1 + np.exp(-(day - t_up) / s_up))
    down = 1 / (1 + np.exp(-(day - t_down) / s_down))
    v = base + amp * up * (1 - down) + 0.17 * up * down
    return np.where(day >= harvest, 0.20, v)


def make_series(days, values, parcel="P1", clear=None) -> pd.DataFrame:
    days = np.asarray(days)
    clear = np.ones(len(days)) if clear is None else np.asarray(clear, float)
    return pd.DataFrame(
        {
            "parcel_id": parcel,
            "datetime": pd.to_datetime([T0 + dt.timedelta(days=int(d)) for d in days], utc=True),
            "clear_fraction": clear,
            "ndvi_mean": np.asarray(values, float),
        }
    )


def day_of(ts) -> float:
    """Days since 1 April 2026 of a timestamp."""
    return float((pd.Timestamp(ts) - pd.Timestamp(T0)).days)


def one(series, crops=None) -> pd.Series:
    return phenology(smooth_series(series, [SEASON]), crops).iloc[0]


DAYS = np.arange(0, 214, 5)


def test_crossing__interpolates_between_the_bracketing_days():
    assert crossing([[0.0, 0.2, 0.6, 1.0]], [0.4], upward=True).tolist() == [1.5]
    assert crossing([[1.0, 0.8, 0.4, 0.0]], [0.6], upward=False).tolist() == [1.5]


def test_crossing__nan_when_the_curve_never_crosses():
    assert np.isnan(crossing([[0.5, 0.6, 0.7]], [0.1], upward=True)).all()


def test_step_bracket__midpoint_between_the_views_around_the_drop():
    y = np.array([[0.3, np.nan, 0.3, np.nan, np.nan, np.nan, 0.2, 0.2]])
    day, gap = step_bracket(y, np.isfinite(y), [0.25], after=[0])
    assert day.tolist() == [4.0] and gap.tolist() == [4.0]


def test_phenology__double_logistic_dates_match_the_analytic_crossings():
    p = one(make_series(DAYS, crop_curve(DAYS)))
    assert p["has_cycle"] and p["data_quality"] == "ok"
    # 20 % of the amplitude: t_up + s_up ln(0.2 / 0.8) = 60 - 9.7 = 50.3
    assert day_of(p["greenup_date"]) == pytest.approx(50.3, abs=2)
    assert day_of(p["midgreenup_date"]) == pytest.approx(60, abs=2)
    assert p["peak_ndvi"] == pytest.approx(crop_curve(np.arange(214)).max(), abs=0.02)
    # harvest on day 160, seen between the views of days 155 and 160
    assert day_of(p["harvest_date"]) == pytest.approx(157.5, abs=0.5)
    assert p["harvest_gap_days"] == 5
    assert day_of(p["greenup_date"]) < day_of(p["peak_date"]) < day_of(p["senescence_date"])
    assert day_of(p["senescence_date"]) < day_of(p["harvest_date"])


def test_phenology__emergence_is_back_extrapolated_with_the_crop_calendar():
    s = make_series(DAYS, crop_curve(DAYS))
    other = one(s)
    maize = one(s, pd.Series({"P1": "maize"}))
    # maize: (days_to_peak 75 - emergence_days 12) / 2 = 31.5 days before mid green-up
    assert day_of(maize["midgreenup_date"]) - day_of(maize["emergence_date"]) == pytest.approx(
        31.5, abs=0.6
    )
    # unknown crops fall back on 'other' (65 - 12) / 2 = 26.5
    assert day_of(other["midgreenup_date"]) - day_of(other["emergence_date"]) == pytest.approx(
        26.5, abs=0.6
    )


def test_phenology__a_flat_series_has_no_cycle_and_no_dates():
    p = one(make_series(DAYS, np.full(len(DAYS), 0.2)))
    assert p["data_quality"] == "ok"
    assert not p["has_cycle"]
    assert pd.isna(p["emergence_date"]) and pd.isna(p["peak_date"]) and pd.isna(p["harvest_date"])
    assert p["season_integral"] == 0.0


def test_phenology__weeds_on_a_field_that_never_emerged_are_no_cycle():
    weeds = 0.15 + 0.08 / (1 + np.exp(-(DAYS - 110) / 10))
    assert not one(make_series(DAYS, weeds))["has_cycle"]


def test_phenology__too_few_clear_views_is_insufficient_imagery_with_nothing_invented():
    days = np.array([30, 80, 130, 180])
    p = one(make_series(days, crop_curve(days)))
    assert p["data_quality"] == "insufficient_imagery"
    assert pd.isna(p["has_cycle"])
    assert np.isnan(p["peak_ndvi"]) and pd.isna(p["peak_date"]) and np.isnan(p["season_integral"])


def test_phenology__a_parcel_never_seen_is_insufficient_imagery():
    s = pd.concat([make_series(DAYS, crop_curve(DAYS)), make_series(DAYS, np.nan, parcel="P2")])
    p = phenology(smooth_series(s, [SEASON])).set_index("parcel_id").loc["P2"]
    assert p["n_obs"] == 0 and p["data_quality"] == "insufficient_imagery"


def test_phenology__a_harvest_inside_a_long_gap_is_not_reported():
    days = DAYS[(DAYS <= 140) | (DAYS >= 175)]  # views on days 140 and 175 only
    p = one(make_series(days, crop_curve(days)))
    assert p["data_quality"] == "ok" and pd.isna(p["harvest_date"])
    assert p["harvest_gap_days"] == 35


def test_phenology__a_residual_cloud_after_senescence_is_not_taken_for_the_harvest():
    values = crop_curve(DAYS)
    values[DAYS == 140] = 0.18  # a thin cloud the mask missed, read as clear
    p = one(make_series(DAYS, values))
    assert day_of(p["harvest_date"]) == pytest.approx(157.5, abs=0.5)


def test_phenology__season_integral_grows_with_the_canopy():
    low = one(make_series(DAYS, crop_curve(DAYS, amp=0.35)))
    high = one(make_series(DAYS, crop_curve(DAYS, amp=0.7)))
    assert 0 < low["season_integral"] < high["season_integral"]


def test_phenology__crops_as_a_frame_and_a_clear_error_otherwise():
    s = make_series(DAYS, crop_curve(DAYS))
    frame = pd.DataFrame({"parcel_id": ["P1"], "crop": ["maize"]})
    assert one(s, frame)["emergence_date"] == one(s, pd.Series({"P1": "maize"}))["emergence_date"]
    with pytest.raises(InputError, match="parcel_id and crop"):
        one(s, pd.DataFrame({"id": ["P1"]}))


def dense_step_bracket(y, good, threshold, after):
    """step_bracket written day by day for one row at a time."""
    day, gap = np.full(len(y), np.nan), np.full(len(y), np.nan)
    for i in range(len(y)):
        seen = np.flatnonzero(good[i] & np.isfinite(y[i]))
        for k, d1 in enumerate(seen):
            nxt = y[i, seen[k + 1]] if k + 1 < len(seen) else -np.inf
            if d1 > after[i] and y[i, d1] < threshold[i] and nxt < threshold[i]:
                if k > 0:  # the drop needs a view before it
                    day[i], gap[i] = (seen[k - 1] + d1) / 2.0, float(d1 - seen[k - 1])
                break
    return day, gap


def dense_gap_at(obs, day):
    t = obs.shape[1]
    out = np.full(len(obs), np.nan)
    for i, d in enumerate(day):
        if np.isfinite(d):
            seen = np.flatnonzero(obs[i])
            before, after = seen[seen <= d], seen[seen >= d]
            out[i] = (after.min() if len(after) else 10 * t) - (
                before.max() if len(before) else -10 * t
            )
    return out


def test_step_bracket_and_gaps__same_as_the_day_by_day_definition():
    from agririsk.crop_models.phenology import _gap_at

    rng = np.random.default_rng(7)
    n, t = 300, 60
    y = np.where(rng.random((n, t)) < 0.25, rng.uniform(0, 1, (n, t)), np.nan)
    good = rng.random((n, t)) < 0.8
    thr = rng.uniform(0.2, 0.8, n)
    thr[::11] = np.nan
    after = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(-1, t, n))
    got = step_bracket(y, good, thr, after=after)
    want = dense_step_bracket(y, good, thr, after)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert np.isfinite(want[0]).sum() > 50
    obs = good & np.isfinite(y)
    obs[5] = False
    day = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(-0.5, t - 0.5, n))
    day[:20] = np.round(day[:20])  # on an observation day
    np.testing.assert_array_equal(_gap_at(obs, day), dense_gap_at(obs, day))


def test_phenology__blocks_of_rows_give_the_same_table(monkeypatch):
    import sys

    ph = sys.modules["agririsk.crop_models.phenology"]
    rng = np.random.default_rng(2)
    frames = []
    for p in range(25):
        days = np.sort(rng.choice(np.arange(0, 220), size=int(rng.integers(0, 30)), replace=False))
        v = crop_curve(days, t_up=rng.uniform(40, 80), harvest=int(rng.integers(140, 190)))
        frames.append(make_series(days, v + rng.normal(0, 0.02, len(days)), parcel=f"P{p}"))
    seasons = [SEASON, Season(dt.date(2026, 5, 1), dt.date(2026, 9, 30))]
    daily = smooth_series(pd.concat(frames, ignore_index=True), seasons)
    whole = phenology(daily)
    monkeypatch.setattr(ph, "_ROWS", 3)
    pd.testing.assert_frame_equal(phenology(daily), whole)
    assert whole["data_quality"].eq("ok").sum() > 10
