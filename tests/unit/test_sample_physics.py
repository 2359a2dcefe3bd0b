"""Crop physics of the synthetic sample region: canopy curves, Kc, water, yield."""

from __future__ import annotations

import numpy as np
import pytest

from agririsk.sample._crops import (
    NDVI_SOIL,
    NDVI_STUBBLE,
    crop_ndvi,
    kc_curve,
    load_crops,
    water_balance,
    water_limited_yield,
)
from agririsk.sample._weather import extraterrestrial_radiation, hargreaves_et0


def _maize_curve(days: np.ndarray, peak: float = 0.86) -> np.ndarray:
    one = np.ones(1)
    return np.array(
        [crop_ndvi(t, 121 * one, 12 * one, 75 * one, 271 * one, peak * one)[0] for t in days]
    )


def test_crop_ndvi__bare_soil_before_emergence_then_peak_then_stubble():
    days = np.arange(91, 305)
    v = _maize_curve(days)
    assert v[days < 125].max() < NDVI_SOIL + 0.02
    assert abs(days[np.argmax(v)] - (121 + 75)) <= 12
    assert v.max() == pytest.approx(0.86, abs=0.03)
    assert np.all(v[days >= 271] == NDVI_STUBBLE)


def test_crop_ndvi__rises_monotonically_to_peak():
    days = np.arange(121, 190)
    assert np.all(np.diff(_maize_curve(days)) >= 0)


def test_crop_ndvi__harvest_is_an_abrupt_drop():
    v = _maize_curve(np.array([269.0, 271.0]))
    assert v[0] - v[1] > 0.08  # dry standing canopy -> stubble


def test_kc_curve__follows_fao56_stages():
    crops = load_crops().loc[["maize"]]
    sow = np.array([0.0])
    assert kc_curve(np.array([1.0]), sow, crops)[0] == pytest.approx(0.30)
    assert kc_curve(np.array([80.0]), sow, crops)[0] == pytest.approx(1.20)
    assert kc_curve(np.array([150.0]), sow, crops)[0] == pytest.approx(0.35)
    assert kc_curve(np.array([-5.0]), sow, crops)[0] == 0.0


def test_water_limited_yield__fao33_worked_numbers():
    # ky = 1.25, ETa/ETc = 0.8 -> 1 - 1.25 * 0.2 = 0.75
    assert water_limited_yield(np.array([0.8]), np.array([1.25]))[0] == pytest.approx(0.75)
    assert water_limited_yield(np.array([0.1]), np.array([1.25]))[0] == 0.0


def test_water_balance__no_rain_stresses_rainfed_not_irrigated():
    crops = load_crops().loc[["maize", "maize"]]
    days = 200
    et0 = np.full((days, 2), 5.0)
    rain = np.zeros((days, 2))
    rel, stress = water_balance(
        et0, rain, np.array([20.0, 20.0]), crops, np.array([150.0, 150.0]), np.array([False, True])
    )
    assert rel[0] < 0.5
    assert rel[1] == pytest.approx(1.0)
    assert stress[1] == 0


def test_water_balance__ample_rain_is_unstressed():
    crops = load_crops().loc[["soybean"]]
    rel, _ = water_balance(
        np.full((200, 1), 4.0),
        np.full((200, 1), 8.0),
        np.array([20.0]),
        crops,
        np.array([150.0]),
        np.array([False]),
    )
    assert rel[0] == pytest.approx(1.0)


def test_extraterrestrial_radiation__fao56_example_8():
    # FAO-56 Example 8: 20 deg S, 3 September -> Ra = 32.2 MJ m-2 day-1
    assert extraterrestrial_radiation(np.array([246]), -20.0)[0] == pytest.approx(32.2, abs=0.1)


def test_hargreaves_et0__hand_computed():
    # 0.0023 * (20 + 17.8) * sqrt(10) * 0.408 * 30 = 3.366
    et0 = hargreaves_et0(np.array([15.0]), np.array([25.0]), np.array([30.0]))
    assert et0[0] == pytest.approx(0.0023 * 37.8 * np.sqrt(10) * 0.408 * 30, rel=1e-9)
