"""Weather exposure on the synthetic sample region: its planted drought shows, parcel by parcel."""

from __future__ import annotations

import pandas as pd
import pytest

from agririsk.inputs import Report, read_parcels
from agririsk.region import Region
from agririsk.weather.exposure import farm_weather_history, weather_exposure

DROUGHT, NORMAL = 2024, 2025  # docs/sample-region.md: 2024 July-August drought; 2025 wet June-July


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from agririsk.sample import make_sample_region

    out = tmp_path_factory.mktemp("weather") / "region"
    toml = make_sample_region(out, seed=0, n_parcels=30, size=128)
    region = Region.from_toml(toml)
    report = Report()
    parcels = read_parcels(region.parcels_path, report)
    farmers = pd.read_csv(region.farmers_path, usecols=["farmer_id", "irrigated"])
    irrigated_farmer = farmers.set_index("farmer_id")["irrigated"].astype(str).str.lower().eq("true")
    irrigated = parcels["farmer_id"].map(irrigated_farmer).fillna(False) | parcels["declared_crop"].eq("rice")
    irrigated.index = parcels["parcel_id"]
    seasons = [region.season.shifted_years(-k) for k in (3, 2, 1)]
    exposure = weather_exposure(region, parcels, report, seasons=seasons, as_of=region.season.start,
                                irrigated=irrigated)
    truth = pd.read_csv(out / "truth" / "parcel_seasons.csv")
    return exposure, parcels, report, truth


def test_weather_exposure__drought_season_lower_relative_yield_parcel_by_parcel(sample):
    exposure, _, _, _ = sample
    ry = exposure.pivot(index="parcel_id", columns="season", values="relative_yield")
    rainfed = exposure[(exposure["season"] == DROUGHT) & ~exposure["irrigated"]]["parcel_id"]
    assert len(rainfed) >= 10
    assert (ry.loc[rainfed, DROUGHT] < ry.loc[rainfed, NORMAL]).all()
    assert (ry.loc[rainfed, NORMAL] - ry.loc[rainfed, DROUGHT]).mean() > 0.15
    irrigated = exposure[(exposure["season"] == DROUGHT) & exposure["irrigated"]]["parcel_id"]
    assert (ry.loc[irrigated, DROUGHT] == 1).all()


def test_weather_exposure__agrees_with_the_generators_hidden_water_stress(sample):
    exposure, _, _, truth = sample
    both = exposure.merge(truth, on=["parcel_id", "season"], suffixes=("", "_truth"))
    both = both[both["event"] == "none"]
    # same crop calendar and FAO-56 bucket family, different details (ET0 method, TAW, runoff)
    assert both["relative_yield"].corr(both["ry_water"]) > 0.7
    by_season = both.groupby("season")[["relative_yield", "ry_water"]].mean()
    assert by_season["relative_yield"].idxmin() == by_season["ry_water"].idxmin() == DROUGHT


def test_weather_exposure__indices_see_the_drought(sample):
    exposure, _, _, _ = sample
    s = exposure.groupby("season")[["spi3_flowering", "p_minus_et0_mm", "stress_days"]].mean()
    assert s.loc[DROUGHT, "spi3_flowering"] < 0 < s.loc[NORMAL, "spi3_flowering"]
    assert s.loc[DROUGHT, "p_minus_et0_mm"] < s.loc[NORMAL, "p_minus_et0_mm"]
    assert s.loc[DROUGHT, "stress_days"] > s.loc[NORMAL, "stress_days"]
    heat = exposure.groupby("season")["heat_days"].mean()
    assert heat.idxmax() == 2023  # the July 2023 heat wave, around maize and soybean flowering


def test_weather_exposure__output_says_source_and_qc_is_counted(sample):
    exposure, parcels, report, _ = sample
    assert len(exposure) == 3 * len(parcels)
    assert exposure["source"].eq("station").all() and exposure["source_id"].str.startswith("SH").all()
    assert (exposure["distance_km"] >= 0).all() and exposure["complete"].all()
    text = "\n".join(str(p) for p in report.problems)
    assert "stuck sensor: wind_ms" in text and "stuck sensor: tmax_c" in text
    assert report.counters["weather_filled_values"] == 8  # station 1's 4 stuck days of tmin and tmax


def test_farm_weather_history__one_row_per_farmer(sample):
    exposure, parcels, _, _ = sample
    history = farm_weather_history(exposure, parcels)
    assert history.index.tolist() == list(pd.unique(parcels["farmer_id"]))
    assert history["weather_seasons"].eq(3).all()
    assert history["weather_drought_frequency"].between(0, 1).all()
    assert (history["weather_relative_yield_sd"] >= 0).all()
