"""load_items: STAC in, SceneItems out (CONTRACTS §2)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from agririsk.errors import InputError, MissingFileError
from agririsk.imagery import load_items
from agririsk.inputs.report import Report
from agririsk.testing import ITEMS, OTHER_ITEM, make_tiny_stac


def _edit(catalog: Path, fn) -> None:
    data = json.loads(catalog.read_text())
    fn(data)
    catalog.write_text(json.dumps(data))


def test_load_items__earth_search_keys_and_raster_bands_scale(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    items = load_items(tiny.catalog)
    assert [i.id for i in items] == list(ITEMS)
    first = items[0]
    assert first.sensor == "sentinel-2"
    assert first.epsg == 32651
    assert first.datetime == pd.Timestamp("2026-05-01T02:30:00Z")
    assert str(first.datetime.tz) == "UTC"
    assert set(first.assets) == {"blue", "green", "red", "nir", "swir16", "scl"}
    red = first.assets["red"]
    assert (red.scale, red.offset, red.nodata) == (0.0001, -0.1, 0.0)
    assert (first.assets["scl"].scale, first.assets["scl"].offset) == (1.0, 0.0)
    assert first.cloud_cover == 10.0
    assert first.footprint is not None and first.footprint.contains(tiny.parcels.geometry.iloc[0])


def test_load_items__relative_hrefs_resolved_against_item_collection(tmp_path):
    tiny = make_tiny_stac(tmp_path, relative=True)
    raw = json.loads(tiny.catalog.read_text())
    assert raw["features"][0]["assets"]["red"]["href"].startswith("./")
    item = load_items(tiny.catalog)[0]
    assert Path(item.assets["red"].href) == tiny.asset(ITEMS[0], "red").resolve()
    assert Path(item.assets["red"].href).is_file()


def test_load_items__absolute_hrefs_and_urls_pass_through(tmp_path):
    tiny = make_tiny_stac(tmp_path, relative=False)
    _edit(
        tiny.catalog,
        lambda d: d["features"][1]["assets"]["blue"].update(href="https://example.org/blue.tif"),
    )
    items = load_items(tiny.catalog)
    assert items[0].assets["red"].href == str(tiny.asset(ITEMS[0], "red").resolve())
    assert items[1].assets["blue"].href == "https://example.org/blue.tif"


def test_load_items__catalog_with_item_files(tmp_path):
    tiny = make_tiny_stac(tmp_path, layout="catalog")
    items = load_items(tiny.catalog)
    assert [i.id for i in items] == list(ITEMS)
    assert Path(items[2].assets["nir"].href) == tiny.asset(ITEMS[2], "nir").resolve()


def test_load_items__planetary_computer_keys_use_baseline_default(tmp_path):
    tiny = make_tiny_stac(tmp_path, flavour="planetary-computer")
    item = load_items(tiny.catalog)[0]
    assert item.epsg == 32651  # from proj:code
    assert set(item.assets) == {"blue", "green", "red", "nir", "swir16", "scl"}
    assert Path(item.assets["nir"].href).name == "nir.tif"  # B08
    assert (item.assets["nir"].scale, item.assets["nir"].offset) == (0.0001, -0.1)


def test_load_items__baseline_before_04_has_no_offset(tmp_path):
    tiny = make_tiny_stac(tmp_path, flavour="planetary-computer")
    _edit(
        tiny.catalog,
        lambda d: d["features"][0]["properties"].update({"s2:processing_baseline": "03.01"}),
    )
    item = load_items(tiny.catalog)[0]
    assert (item.assets["red"].scale, item.assets["red"].offset) == (0.0001, 0.0)


def test_load_items__landsat_defaults_and_qa_pixel(tmp_path):
    tiny = make_tiny_stac(tmp_path, flavour="landsat")
    item = load_items(tiny.catalog)[0]
    assert item.sensor == "landsat"
    assert item.mask_band == "qa_pixel"
    assert set(item.assets) == {"blue", "green", "red", "nir", "swir16", "qa_pixel"}
    assert (item.assets["nir"].scale, item.assets["nir"].offset) == (0.0000275, -0.2)


def test_load_items__assets_found_by_common_name(tmp_path):
    tiny = make_tiny_stac(tmp_path, flavour="common-name")
    item = load_items(tiny.catalog)[0]
    assert Path(item.assets["red"].href).name == "red.tif"  # asset key "b4"
    assert Path(item.assets["nir"].href).name == "nir.tif"  # asset key "b8"


def test_load_items__until_excludes_later_items(tmp_path):
    tiny = make_tiny_stac(tmp_path, other_grid=True)
    ids = [i.id for i in load_items(tiny.catalog, until=dt.datetime(2026, 5, 16, 2, 39))]
    assert ids == [ITEMS[0], ITEMS[1]]
    ids = [i.id for i in load_items(tiny.catalog, until=dt.date(2026, 5, 16))]  # whole day
    assert ids == [ITEMS[0], ITEMS[1], OTHER_ITEM]
    aware = dt.datetime(2026, 5, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert [i.id for i in load_items(tiny.catalog, until=aware)] == [
        ITEMS[0]
    ]  # 02:30 UTC, inclusive


def test_load_items__sorted_by_datetime(tmp_path):
    tiny = make_tiny_stac(tmp_path, other_grid=True)
    _edit(tiny.catalog, lambda d: d["features"].reverse())
    assert [i.id for i in load_items(tiny.catalog)] == [ITEMS[0], ITEMS[1], OTHER_ITEM, ITEMS[2]]


def test_load_items__missing_band_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    _edit(tiny.catalog, lambda d: d["features"][1]["assets"].pop("nir"))
    report = Report()
    items = load_items(tiny.catalog, report=report)
    assert [i.id for i in items] == [ITEMS[0], ITEMS[2]]
    (problem,) = report.warnings
    assert problem.where == ITEMS[1]
    assert "nir" in problem.what
    assert problem.source == str(tiny.catalog.resolve())


def test_load_items__missing_mask_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    _edit(tiny.catalog, lambda d: d["features"][0]["assets"].pop("scl"))
    report = Report()
    assert [i.id for i in load_items(tiny.catalog, report=report)] == [ITEMS[1], ITEMS[2]]
    assert "scl" in report.warnings[0].what


def test_load_items__no_crs_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    _edit(tiny.catalog, lambda d: d["features"][2]["properties"].pop("proj:epsg"))
    report = Report()
    assert [i.id for i in load_items(tiny.catalog, report=report)] == [ITEMS[0], ITEMS[1]]
    assert report.warnings[0].where == ITEMS[2] and "CRS" in report.warnings[0].what


def test_load_items__collection_filter(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    _edit(tiny.catalog, lambda d: d["features"][0].update(collection="other"))
    ids = [i.id for i in load_items(tiny.catalog, collection="sentinel-2-l2a")]
    assert ids == [ITEMS[1], ITEMS[2]]


def test_load_items__missing_file_raises(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        load_items(tmp_path / "nope.json")


def test_load_items__unreadable_catalog_raises(tmp_path):
    bad = tmp_path / "catalog.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"catalog\.json is not readable JSON"):
        load_items(bad)
    bad.write_text(json.dumps({"type": "Polygon"}))
    with pytest.raises(InputError, match="expected FeatureCollection"):
        load_items(bad)


def test_load_items__stac_api_without_client_raises(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pystac_client" else real(name, *a),
    )
    with pytest.raises(InputError, match="pip install pystac-client"):
        load_items("https://earth-search.aws.element84.com/v1")


def test_load_items__malformed_item_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    _edit(tiny.catalog, lambda d: d["features"][0].pop("properties"))
    report = Report()
    assert [i.id for i in load_items(tiny.catalog, report=report)] == [ITEMS[1], ITEMS[2]]
    assert report.warnings[0].where == ITEMS[0]
    assert "not a valid STAC item" in report.warnings[0].what
