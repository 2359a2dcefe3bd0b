"""The synthetic sample region end to end: files, formats and the truth behind them."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio

from agririsk import Region
from agririsk.sample import make_sample_region

FARMER_COLUMNS = [
    "farmer_id",
    "name",
    "national_id",
    "phone",
    "loan_amount",
    "loan_term_months",
    "age",
    "years_farming",
    "household_size",
    "irrigated",
    "insured",
    "cooperative_member",
    "prior_loans",
    "prior_defaults",
]


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    calls = []
    toml = make_sample_region(
        out, seed=1, n_parcels=30, size=128, progress=lambda d, t: calls.append((d, t))
    )
    return toml, calls


def test_make_sample_region__writes_every_input_file(region):
    toml, calls = region
    root = toml.parent
    for name in (
        "region.toml",
        "imagery/catalog.json",
        "parcels.gpkg",
        "farmers.csv",
        "weather/stations.csv",
        "weather/daily.csv",
        "loans.csv",
        "truth/parcels.csv",
        "truth/parcel_seasons.csv",
        "truth/farmers.csv",
        "truth/defaults.csv",
        "truth/crop_mismatch.csv",
        "truth/landcover.tif",
        "truth/README.md",
    ):
        assert (root / name).is_file(), name
    assert calls[-1][0] == calls[-1][1] == len(calls)


def test_make_sample_region__region_toml_loads(region):
    toml, _ = region
    r = Region.from_toml(toml)
    assert r.crs == "EPSG:32651"
    assert str(r.season.start) == "2026-04-15" and str(r.season.end) == "2026-10-15"
    assert r.history_path is not None and r.history_path.name == "loans.csv"


def test_make_sample_region__stac_item_collection(region):
    toml, _ = region
    path = toml.parent / "imagery" / "catalog.json"
    ic = pystac.ItemCollection.from_file(str(path))
    items = list(ic)
    assert 95 <= len(items) <= 130
    years = {it.datetime.year for it in items}
    assert years == {2023, 2024, 2025, 2026}
    dates = sorted(it.datetime for it in items)
    gaps = np.diff([d.toordinal() for d in dates])
    assert set(gaps[gaps < 100]) <= {5, 10}
    it = items[0]
    assert it.collection_id == "sentinel-2-l2a"
    # pystac migrates projection v1.1 proj:epsg to v2.0 proj:code on read
    assert it.properties.get("proj:code") == "EPSG:32651" or it.properties.get("proj:epsg") == 32651
    assert it.properties["platform"] in {"sentinel-2a", "sentinel-2b"}
    assert 0 <= it.properties["eo:cloud_cover"] <= 100
    for key in ("blue", "green", "red", "nir", "swir16"):
        a = it.assets[key]
        rb = a.extra_fields["raster:bands"][0]
        assert (rb["scale"], rb["offset"], rb["nodata"]) == (0.0001, -0.1, 0)
        assert a.extra_fields["eo:bands"][0]["common_name"] == key
        assert a.media_type == "image/tiff; application=geotiff; profile=cloud-optimized"
        assert not a.href.startswith("/")
    assert "scale" not in it.assets["scl"].extra_fields["raster:bands"][0]
    lon, lat = it.geometry["coordinates"][0][0]
    assert 126 < lon < 128 and 46 < lat < 47.5


def test_make_sample_region__cogs_open_and_match_stac(region):
    toml, _ = region
    path = toml.parent / "imagery" / "catalog.json"
    doc = json.loads(path.read_text())
    item = doc["features"][10]
    for key, asset in item["assets"].items():
        with rasterio.open(path.parent / asset["href"]) as src:
            assert src.crs.to_epsg() == 32651
            assert src.nodata == 0
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert list(src.shape) == asset["proj:shape"]
            assert list(src.transform)[:6] == asset["proj:transform"]
            assert src.dtypes[0] == ("uint8" if key == "scl" else "uint16")
            data = src.read(1)
        if key == "scl":
            assert set(np.unique(data)) <= {0, 3, 4, 5, 6, 8, 9, 10}
        else:
            refl = data[data > 0] * 0.0001 - 0.1
            assert refl.min() > -0.1 and refl.max() < 1.2


def test_make_sample_region__parcels_geographic_with_required_columns(region):
    toml, _ = region
    gdf = gpd.read_file(toml.parent / "parcels.gpkg")
    assert gdf.crs.to_epsg() == 4326
    assert {"parcel_id", "farmer_id", "declared_crop", "declared_area_ha"} <= set(gdf.columns)
    assert len(gdf) == 30 and gdf["parcel_id"].is_unique
    assert gdf.geometry.is_valid.all()
    farmers = pd.read_csv(toml.parent / "farmers.csv")
    assert set(gdf["farmer_id"]) == set(farmers["farmer_id"])
    truth = pd.read_csv(toml.parent / "truth" / "parcels.csv")
    area = gdf.to_crs(32651).area.to_numpy() / 1e4
    assert np.allclose(
        area, truth.set_index("parcel_id").loc[gdf["parcel_id"], "true_area_ha"], rtol=1e-3
    )


def test_make_sample_region__farmers_csv_contract(region):
    toml, _ = region
    farmers = pd.read_csv(toml.parent / "farmers.csv", dtype={"irrigated": str})
    assert list(farmers.columns) == FARMER_COLUMNS
    assert set(farmers["irrigated"]) <= {"true", "false"}
    assert (farmers["loan_amount"] > 0).all()
    assert farmers["prior_loans"].isna().any()  # thin files


def test_make_sample_region__personal_data_only_in_farmers_csv(region):
    toml, _ = region
    root = toml.parent
    farmers = pd.read_csv(root / "farmers.csv", dtype=str)
    secrets = set(farmers["name"]) | set(farmers["national_id"]) | set(farmers["phone"])
    checked = 0
    for path in root.rglob("*"):
        if not path.is_file() or path == root / "farmers.csv" or path.suffix == ".tif":
            continue
        text = path.read_bytes().decode("latin-1")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path}: {leaked[:3]}"
        checked += 1
    assert checked >= 10


def test_make_sample_region__weather_valid_per_contract(region):
    toml, _ = region
    daily = pd.read_csv(toml.parent / "weather" / "daily.csv")
    stations = pd.read_csv(toml.parent / "weather" / "stations.csv")
    assert list(stations.columns) == ["station_id", "lat", "lon", "elevation_m"]
    assert 3 <= len(stations) <= 4
    assert {"tmin_c", "tmax_c", "precip_mm", "rh_mean_pct", "wind_ms", "solar_mj_m2"} <= set(
        daily.columns
    )
    assert (daily["tmin_c"] <= daily["tmax_c"]).all() and (daily["precip_mm"] >= 0).all()
    assert not daily.duplicated(["station_id", "date"]).any()
    assert daily["date"].min() == "2023-01-01" and daily["date"].max() == "2026-11-15"


def test_make_sample_region__loans_history_and_truth(region):
    toml, _ = region
    loans = pd.read_csv(toml.parent / "loans.csv")
    assert list(loans.columns) == [
        "farmer_id",
        "loan_id",
        "season_start",
        "season_end",
        "loan_amount",
        "defaulted",
    ]
    assert set(loans["season_start"]) == {"2023-04-15", "2024-04-15", "2025-04-15"}
    assert set(loans["defaulted"]) <= {0, 1}
    truth = pd.read_csv(toml.parent / "truth" / "defaults.csv")
    assert set(truth["season"]) == {2023, 2024, 2025, 2026}
    assert truth["oracle_pd"].between(0, 1).all()


def test_make_sample_region__default_rate_within_bounds(tmp_path):
    toml = make_sample_region(tmp_path / "big", seed=4, n_parcels=900, size=384)
    d = pd.read_csv(toml.parent / "truth" / "defaults.csv")
    assert d["defaulted"].mean() == pytest.approx(0.10, abs=0.01)
    assert 0.07 <= d["oracle_pd"].mean() <= 0.13
    # the mechanism: shortfall and burden raise the probability of default
    assert (
        d.loc[d["shortfall"] > 0.4, "oracle_pd"].mean()
        > d.loc[d["shortfall"] < 0.1, "oracle_pd"].mean()
    )
    ps = pd.read_csv(toml.parent / "truth" / "parcel_seasons.csv")
    assert 0.02 <= ps.loc[ps["season"] == 2026, "crop_mismatch"].mean() <= 0.09
    tf = pd.read_csv(toml.parent / "truth" / "farmers.csv")
    assert 0.03 <= tf["over_declared"].mean() <= 0.15
