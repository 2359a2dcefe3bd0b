"""read_parcels: formats, CRS, geometry repair, duplicates, crops and areas."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Polygon, box

from agririsk.errors import CRSMismatchError, InputError, MissingColumnError, MissingFileError
from agririsk.inputs import Report, read_parcels

UTM = "EPSG:32651"


def square(x0: float, size: float = 100.0) -> Polygon:
    """A square field of ``size`` m side (1 ha at 100 m) in UTM 51N near Suihua."""
    return box(500_000 + x0, 5_150_000, 500_000 + x0 + size, 5_150_000 + size)


def frame(rows: list[dict], crs: str | None = UTM) -> gpd.GeoDataFrame:
    data = {
        k: [r.get(k) for r in rows]
        for k in ("parcel_id", "farmer_id", "declared_crop", "declared_area_ha")
    }
    return gpd.GeoDataFrame(data, geometry=[r["geometry"] for r in rows], crs=crs)


def parcel(pid: str, x0: float = 0.0, **kw) -> dict:
    return {
        "parcel_id": pid,
        "farmer_id": kw.pop("farmer_id", "F1"),
        "declared_crop": kw.pop("crop", "maize"),
        "declared_area_ha": kw.pop("area", 1.0),
        "geometry": kw.pop("geometry", square(x0)),
    }


def problems(report: Report) -> set[tuple[str, str]]:
    return {(p.where, p.what.split(";")[0]) for p in report.problems}


@pytest.mark.parametrize(
    "name", ["parcels.gpkg", "parcels.geojson", "parcels.shp", "parcels.parquet"]
)
def test_read_parcels__reads_every_format(tmp_path, name):
    path = tmp_path / name
    data = frame([parcel("P1", crop=" Maize "), parcel("P2", 200, area=None)])
    if name.endswith(".parquet"):
        data.to_parquet(path)
    else:
        with warnings.catch_warnings():  # shapefiles cut long column names, and say so
            warnings.simplefilter("ignore")
            data.to_file(path)
    report = Report()
    parcels = read_parcels(path, report)
    assert parcels.columns.tolist() == [
        "parcel_id",
        "farmer_id",
        "declared_crop",
        "declared_area_ha",
        "geometry",
    ]
    assert parcels["parcel_id"].tolist() == ["P1", "P2"]
    assert parcels["declared_crop"].tolist() == ["maize", "maize"]
    assert np.isnan(parcels.loc[1, "declared_area_ha"])
    assert parcels.crs == UTM
    assert report.problems == []


def test_read_parcels__to_crs_reprojects(tmp_path):
    path = tmp_path / "p.gpkg"
    frame([parcel("P1")]).to_file(path)
    parcels = read_parcels(path, Report(), to_crs="EPSG:4326")
    assert parcels.crs == "EPSG:4326"
    assert 122.9 < parcels.geometry.iloc[0].centroid.x < 123.1  # UTM 51N central meridian


def test_read_parcels__missing_crs_is_an_error(tmp_path):
    # a shapefile without its .prj has no CRS (GeoJSON is WGS 84 by definition)
    shp = tmp_path / "p.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame([parcel("P1")], crs=None).to_file(shp)
    with pytest.raises(CRSMismatchError, match="no coordinate reference system"):
        read_parcels(shp, Report())


def test_read_parcels__missing_column_missing_file_unreadable(tmp_path):
    path = tmp_path / "p.gpkg"
    frame([parcel("P1")]).drop(columns="declared_crop").to_file(path)
    with pytest.raises(MissingColumnError, match="declared_crop missing"):
        read_parcels(path, Report())
    with pytest.raises(MissingFileError, match="not found"):
        read_parcels(tmp_path / "nope.gpkg", Report())
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a geopackage")
    with pytest.raises(InputError, match="cannot be read as a vector file"):
        read_parcels(junk, Report())


def test_read_parcels__bow_tie_is_skipped_and_small_self_touch_is_repaired(tmp_path):
    bow_tie = Polygon(
        [(500_000, 5_150_000), (500_100, 5_150_100), (500_100, 5_150_000), (500_000, 5_150_100)]
    )
    # a square with a tiny spike that crosses back over one edge: repair changes the area little
    x, y = 500_300, 5_150_000
    spiky = Polygon(
        [
            (x, y),
            (x + 100, y),
            (x + 100, y + 100),
            (x + 50, y + 100),
            (x + 52, y + 98),
            (x + 48, y + 98),
            (x + 50, y + 100),
            (x, y + 100),
        ]
    )
    assert not bow_tie.is_valid and not spiky.is_valid
    path = tmp_path / "p.gpkg"
    frame(
        [parcel("BOW", geometry=bow_tie), parcel("SPIKE", geometry=spiky), parcel("OK", 600)]
    ).to_file(path)
    report = Report()
    parcels = read_parcels(path, report)
    assert parcels["parcel_id"].tolist() == ["SPIKE", "OK"]
    assert parcels.geometry.is_valid.all()
    found = {p.where: p.what for p in report.problems}
    assert (
        "cannot be repaired safely" in found["parcel_id BOW"]
        and "skipped" in found["parcel_id BOW"]
    )
    assert "repaired" in found["parcel_id SPIKE"]


def test_read_parcels__empty_non_polygon_and_missing_ids_are_skipped(tmp_path):
    path = tmp_path / "p.gpkg"
    rows = [
        parcel("EMPTY", geometry=Polygon()),
        parcel("LINE", geometry=LineString([(0, 0), (1, 1)])),
        parcel(None, 300),
        parcel("NOOWNER", 400, farmer_id=None),
        parcel("OK", 500),
    ]
    frame(rows).to_file(path)
    report = Report()
    parcels = read_parcels(path, report)
    assert parcels["parcel_id"].tolist() == ["OK"]
    assert {
        ("parcel_id EMPTY", "geometry is missing or empty"),
        ("parcel_id LINE", "geometry is a LineString, not a Polygon or MultiPolygon"),
        ("feature 3", "parcel_id is empty"),
        ("parcel_id NOOWNER", "farmer_id is empty"),
    } <= problems(report)


def test_read_parcels__duplicates_identical_keep_first_conflicting_all_skipped(tmp_path):
    path = tmp_path / "p.gpkg"
    frame(
        [
            parcel("SAME"),
            parcel("SAME"),
            parcel("DIFF", 200),
            parcel("DIFF", 400),
            parcel("OK", 600),
        ]
    ).to_file(path)
    report = Report()
    parcels = read_parcels(path, report)
    assert parcels["parcel_id"].tolist() == ["SAME", "OK"]
    found = {p.where: p.what for p in report.problems}
    assert "copies differ, all skipped" in found["parcel_id DIFF, feature 3"]
    assert "copies differ, all skipped" in found["parcel_id DIFF, feature 4"]
    assert "the first is kept" in found["parcel_id SAME, feature 1"]
    assert "identical copy skipped" in found["parcel_id SAME, feature 2"]


def test_read_parcels__unknown_crop_becomes_other_with_one_warning(tmp_path):
    path = tmp_path / "p.gpkg"
    frame(
        [parcel("P1", crop="Corn"), parcel("P2", 200, crop="corn"), parcel("P3", 400, crop=None)]
    ).to_file(path)
    report = Report()
    parcels = read_parcels(path, report)
    assert parcels["declared_crop"].tolist() == ["other"] * 3
    assert {
        ("parcel_id P1, parcel_id P2", "declared_crop 'corn' is not a known crop (2 parcel(s))"),
        ("parcel_id P3", "declared_crop is empty (1 parcel(s))"),
    } == problems(report)


def test_read_parcels__declared_area_checks(tmp_path):
    path = tmp_path / "p.gpkg"
    frame(
        [parcel("ZERO", area=0.0), parcel("BIG", 200, area=5.0), parcel("CLOSE", 400, area=1.3)]
    ).to_file(path)
    report = Report()
    parcels = read_parcels(path, report)
    assert np.isnan(parcels.loc[0, "declared_area_ha"])
    assert parcels.loc[1, "declared_area_ha"] == 5.0  # kept, but reported
    found = problems(report)
    assert ("parcel_id ZERO", "declared_area_ha must be > 0") in found
    assert ("parcel_id BIG", "declared_area_ha 5 is far from the outline's area 1.00 ha") in found
    assert not any(w == "parcel_id CLOSE" for w, _ in found)


def test_read_parcels__first_layer_of_a_multi_layer_geopackage(tmp_path):
    path = tmp_path / "p.gpkg"
    frame([parcel("P1")]).to_file(path, layer="fields")
    frame([parcel("X1")]).to_file(path, layer="roads")
    report = Report()
    parcels = read_parcels(path, report)
    assert parcels["parcel_id"].tolist() == ["P1"]
    assert report.problems[0].where == "layer fields" and "2 layers" in report.problems[0].what
