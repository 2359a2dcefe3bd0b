"""validate_region and `agririsk validate` on a tiny hand-made region (imagery stubbed)."""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

import agririsk.imagery
from agririsk.inputs import Report, validate_region
from agririsk.inputs.cli_validate import add_parser, run
from agririsk.region import Region

TOML = """name = "tiny"
[imagery]
catalog = "catalog.json"
[parcels]
path = "parcels.gpkg"
[farmers]
path = "farmers.csv"
[weather]
stations = "stations.csv"
observations = "daily.csv"
[history]
path = "loans.csv"
[season]
start = 2026-04-15
end = 2026-10-15
"""


REGION_BOX = box(126.0, 46.0, 127.0, 47.0)


def item(day: str, footprint=REGION_BOX):
    return SimpleNamespace(
        id=f"S2_{day}",
        datetime=pd.Timestamp(day, tz="UTC"),
        epsg=32651,
        footprint=footprint,
        assets={},
    )


@pytest.fixture
def region_dir(tmp_path, monkeypatch):
    (tmp_path / "region.toml").write_text(TOML)
    (tmp_path / "catalog.json").write_text("{}")
    gpd.GeoDataFrame(
        {
            "parcel_id": ["P1", "P2", "P3"],
            "farmer_id": ["F1", "F2", "F9"],
            "declared_crop": ["maize"] * 3,
        },
        geometry=[
            box(126.5, 46.5, 126.501, 46.501),
            box(126.6, 46.5, 126.601, 46.501),
            box(126.7, 46.5, 126.701, 46.501),
        ],
        crs="EPSG:4326",
    ).to_file(tmp_path / "parcels.gpkg")
    (tmp_path / "farmers.csv").write_text(
        "farmer_id,name,loan_amount\nF1,Wang Fang,1000\nF2,Wang Fang,2000\nF3,Liu Yang,3000\n"
    )
    (tmp_path / "stations.csv").write_text("station_id,lat,lon,elevation_m\nS1,46.5,126.5,150\n")
    dates = pd.date_range("2025-04-01", "2025-04-05")
    (tmp_path / "daily.csv").write_text(
        "station_id,date,tmin_c,tmax_c,precip_mm\n"
        + "".join(f"S1,{d:%Y-%m-%d},5,15,0\n" for d in dates)
    )
    (tmp_path / "loans.csv").write_text(
        "farmer_id,loan_id,season_start,season_end,loan_amount,defaulted\n"
        "F1,L1,2025-04-15,2025-10-15,1000,0\n"
    )
    items = [item("2025-06-01"), item("2026-06-01")]
    monkeypatch.setattr(agririsk.imagery, "load_items", lambda *a, **k: list(items))
    return tmp_path, items


def test_validate_region__cross_checks(region_dir):
    root, _ = region_dir
    report = validate_region(Region.from_toml(root / "region.toml"))
    found = {(p.source.rsplit("/", 1)[-1], p.where, p.what.split(";")[0]) for p in report.problems}
    assert found == {
        ("parcels.gpkg", "parcel_id P3", "farmer_id F9 is not in the farmers table"),
        ("farmers.csv", "farmer_id F3", "farmer has no parcels"),
    }
    assert report.usable
    assert report.counters["parcels"] == 3 and report.counters["imagery_items"] == 2


def test_validate_region__footprints_and_seasons(region_dir):
    root, items = region_dir
    items[:] = [item("2024-01-01", footprint=box(126.55, 46.0, 127.0, 47.0))]
    report = validate_region(Region.from_toml(root / "region.toml"))
    whats = {(p.where, p.what) for p in report.problems}
    assert ("parcel_id P1", "parcel lies outside every imagery footprint") in whats
    assert ("", "no imagery items in the season 2026-04-15..2026-10-15") in whats
    assert ("", "no imagery items in the past 5 seasons (2021..2025)") in whats
    assert ("", "no imagery items in 1 loan season(s): 2025-04-15..2025-10-15 (1 loans)") in whats
    assert report.usable


def test_validate_region__unusable_without_items_or_farmers(region_dir):
    root, items = region_dir
    items.clear()
    (root / "farmers.csv").write_text("farmer_id,name,loan_amount\nF1,Wang Fang,-1\n")
    report = validate_region(Region.from_toml(root / "region.toml"), report=Report())
    errors = {(p.source.rsplit("/", 1)[-1], p.what) for p in report.errors}
    assert ("catalog.json", "no usable imagery items") in errors
    assert ("farmers.csv", "no valid farmers left after the checks above") in errors
    assert not report.usable


def test_run__prints_grouped_report_and_exit_codes(region_dir, capsys):
    root, _ = region_dir
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["validate", str(root / "region.toml")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "parcels.gpkg:\n  WARNING [parcel_id P3] farmer_id F9 is not in the farmers table" in out
    assert out.strip().endswith("0 errors, 2 warnings: region usable")
    assert "Wang Fang" not in out and "Liu Yang" not in out

    (root / "farmers.csv").write_text("farmer_id,name\nF1,Wang Fang\n")
    assert run(argparse.Namespace(region=root / "region.toml", workspace=None)) == 1
    out = capsys.readouterr().out
    assert (
        "farmers.csv:\n  ERROR   required column(s) loan_amount missing (found: farmer_id)" in out
    )
    assert "region UNUSABLE" in out and "Wang Fang" not in out


def test_run__region_toml_problem_is_reported(tmp_path, capsys):
    (tmp_path / "region.toml").write_text(
        TOML.replace('name = "tiny"', 'name = "tiny"\ncolour = "red"')
    )
    assert run(argparse.Namespace(region=tmp_path / "region.toml", workspace=None)) == 1
    out = capsys.readouterr().out
    assert "region.toml:\n  ERROR   unknown key 'colour'" in out


def stac_item(item_id: str, day: str, *, red: bool = True, crs: bool = True) -> dict:
    assets = {
        band: {
            "href": f"{item_id}_{band}.tif",
            "type": "image/tiff; application=geotiff",
            "roles": ["data"],
        }
        for band in ("red", "nir", "scl")
        if red or band != "red"
    }
    props = {
        "datetime": f"{day}T03:00:00Z",
        "platform": "sentinel-2a",
        **({"proj:epsg": 32651} if crs else {}),
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "properties": props,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[126, 46], [127, 46], [127, 47], [126, 47], [126, 46]]],
        },
        "bbox": [126, 46, 127, 47],
        "assets": assets,
        "links": [],
        "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
    }


def test_validate_region__reads_a_static_stac_item_collection(region_dir, monkeypatch):
    root, _ = region_dir
    monkeypatch.undo()  # the real agririsk.imagery.load_items
    items = [
        stac_item("A", "2025-06-01"),
        stac_item("B", "2026-06-01"),
        stac_item("NORED", "2026-06-11", red=False),
        stac_item("NOCRS", "2026-06-21", crs=False),
    ]
    (root / "catalog.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    report = validate_region(Region.from_toml(root / "region.toml"))
    assert report.usable
    assert report.counters["imagery_items"] == 2
    flagged = {p.where: p.what for p in report.problems if p.source.endswith("catalog.json")}
    assert "red" in flagged["NORED"] and "no CRS" in flagged["NOCRS"]
