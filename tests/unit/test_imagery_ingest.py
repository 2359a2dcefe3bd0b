"""Bad items reported and skipped, bands warped, buffers, new items only, STAC APIs."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from agririsk.export.cog import write_cog
from agririsk.imagery import load_items, parcel_series
from agririsk.inputs.report import Report
from agririsk.testing import ITEMS, from_origin, make_tiny_stac


def _rewrite(path, data=None, crs=None):
    with rasterio.open(path) as ds:
        arr, transform, nodata, old = ds.read(1), ds.transform, ds.nodata, ds.crs
    write_cog(
        path,
        arr if data is None else data.astype(arr.dtype),
        transform=transform,
        crs=crs or old,
        nodata=nodata,
        overviews=False,
    )


def _series(tiny, ws, **kw):
    report = Report()
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, ws, report=report, **kw)
    return df, report


def test_parcel_series__wrong_crs_tag_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    _rewrite(tiny.asset(ITEMS[0], "red"), crs=32652)  # item says EPSG:32651
    df, report = _series(tiny, tmp_path / "ws")
    assert ITEMS[0] not in set(df["item_id"]) and len(set(df["item_id"])) == 2
    (w,) = report.warnings
    assert w.where == ITEMS[0] and "tagged EPSG:32652 but the item says EPSG:32651" in w.what
    assert report.counters["imagery.items_bad_crs"] == 1
    assert report.counters["imagery.items_failed"] == 1


def test_parcel_series__all_nodata_item_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    for band in ("red", "nir"):
        _rewrite(tiny.asset(ITEMS[2], band), data=np.zeros((8, 8)))
    df, report = _series(tiny, tmp_path / "ws")
    assert ITEMS[2] not in set(df["item_id"])
    assert report.warnings[0].where == ITEMS[2] and "nodata" in report.warnings[0].what
    assert report.counters["imagery.items_nodata"] == 1


def test_parcel_series__truncated_geotiff_reported_and_skipped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    path = tiny.asset(ITEMS[1], "nir")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    df, report = _series(tiny, tmp_path / "ws")
    assert ITEMS[1] not in set(df["item_id"])
    assert [w.where for w in report.warnings] == [ITEMS[1]]
    assert report.counters["imagery.items_unreadable"] == 1


def test_parcel_series__band_in_another_crs_is_warped(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    ref, _ = _series(tiny, tmp_path / "a", cloud_buffer_m=0)
    path = tiny.asset(ITEMS[1], "nir")
    with rasterio.open(path) as ds:  # the nir band re-gridded to EPSG:32652 at 2 m
        src, transform, crs = ds.read(1), ds.transform, ds.crs
        from rasterio.warp import calculate_default_transform

        dst_t, w, h = calculate_default_transform(crs, 32652, 8, 8, *ds.bounds, resolution=2)
    dst = np.zeros((h, w), np.uint16)
    reproject(
        src,
        dst,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dst_t,
        dst_crs=32652,
        resampling=Resampling.nearest,
        src_nodata=0,
        dst_nodata=0,
    )
    write_cog(path, dst, transform=dst_t, crs=32652, nodata=0, overviews=False)
    got, report = _series(tiny, tmp_path / "b", cloud_buffer_m=0)
    assert not report.problems
    a, b = (d[d["item_id"] == ITEMS[1]].set_index("parcel_id") for d in (ref, got))
    np.testing.assert_allclose(b["ndvi_mean"], a["ndvi_mean"], atol=1e-6)
    assert (b["n_clear"] == a["n_clear"]).all()


@pytest.mark.parametrize(
    ("buffer_m", "clear"), [(0, (12, 12, 16)), (10, (7, 7, 16)), (20, (0, 0, 16))]
)
def test_parcel_series__cloud_buffer_grows_masks(tmp_path, buffer_m, clear):
    # T51_20260501: cloud on pixels rows 0-1 cols 0-1 (P1), shadow rows 2-3 cols 6-7 (P2).
    # 10 m buffer: cloud covers rows 0-2 cols 0-2 (9 of P1's 16), shadow rows 1-4 cols 5-7
    # (9 of P2's 16); 20 m: all of P1 and P2. P3 (rows 4-7, cols 0-3) is never reached.
    tiny = make_tiny_stac(tmp_path)
    df, _ = _series(tiny, tmp_path / "ws", cloud_buffer_m=buffer_m)
    first = df[df["item_id"] == ITEMS[0]].set_index("parcel_id")
    assert tuple(first.loc[["P1", "P2", "P3"], "n_clear"]) == clear


def test_zonal_item__buffer_crosses_block_edges(tmp_path):
    """Block-wise buffering (halo) gives what dilating the whole image gives."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from agririsk.imagery import SceneItem
    from agririsk.imagery.masks import dilate
    from agririsk.imagery.stac import BandAsset
    from agririsk.imagery.zonal import LabelCache, ParcelSet, zonal_item

    rng = np.random.default_rng(3)
    size, x0, y0 = 64, 500_000.0, 5_000_000.0
    t = from_origin(x0, y0, 10, 10)
    scl = np.full((size, size), 4, np.uint8)
    for r, c in rng.integers(0, size, (6, 2)):
        scl[r, c] = 9
    scl[15, 15], scl[16, 33] = 9, 3  # clouds at the 16-pixel tile edges
    assets = {}
    for band, arr in (
        ("red", np.full((size, size), 2000)),
        ("nir", np.full((size, size), 5000)),
        ("scl", scl),
    ):
        path = write_cog(
            tmp_path / f"{band}.tif",
            arr.astype(np.uint16 if band != "scl" else np.uint8),
            transform=t,
            crs=32633,
            nodata=0,
            blocksize=16,
            overviews=False,
        )
        assets[band] = BandAsset(str(path), 1e-4 if band != "scl" else 1.0, 0.0, 0.0)
    with rasterio.open(tmp_path / "red.tif") as ds:
        assert ds.block_shapes[0] == (16, 16)
    boxes = [
        shapely.box(x0 + 80 * j, y0 - 80 * (i + 1), x0 + 80 * (j + 1), y0 - 80 * i)
        for i in range(8)
        for j in range(8)
    ]
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"Q{k}" for k in range(64)]}, geometry=boxes, crs=32633
    )
    item = SceneItem(
        "S", pd.Timestamp("2026-05-01", tz="UTC"), 32633, None, assets, "sentinel-2", None
    )
    got = zonal_item(item, LabelCache(ParcelSet.from_frame(parcels)), cloud_buffer_m=20)
    clear = ~dilate(np.isin(scl, [3, 9]), 2)
    expected = clear.reshape(8, 8, 8, 8).sum(axis=(1, 3)).ravel()
    assert got["n_clear"].tolist() == expected.tolist()


def test_parcel_series__monitoring_run_reduces_only_new_items(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    items = load_items(tiny.catalog)
    parcel_series(items[:2], tiny.parcels, tmp_path / "ws")
    report = Report()
    df = parcel_series(items, tiny.parcels, tmp_path / "ws", report=report)
    assert report.counters["imagery.items_cached"] == 2
    assert report.counters["imagery.items_computed"] == 1
    assert set(df["item_id"]) == set(ITEMS)


def test_parcel_series__options_are_part_of_the_cache_key(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    items = load_items(tiny.catalog)
    parcel_series(items, tiny.parcels, tmp_path / "ws")
    report = Report()
    parcel_series(items, tiny.parcels, tmp_path / "ws", report=report, cloud_buffer_m=0)
    assert report.counters["imagery.items_computed"] == 3


def test_parcel_series__ndvi_only_reads_fewer_bands(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    for band in ("blue", "green", "swir16"):
        tiny.asset(ITEMS[0], band).unlink()  # not needed for NDVI
    df, report = _series(tiny, tmp_path / "ws", indices=("ndvi",))
    assert not report.problems
    assert df["evi_mean"].isna().all() and df["ndvi_mean"].notna().any()


def test_parcel_series__all_indices_hand_checked(tmp_path):
    # T51_20260511, P1 (15 clear px): blue 0.05 green 0.08 red 0.05 nir 0.45 swir16 0.20
    tiny = make_tiny_stac(tmp_path)
    df, _ = _series(tiny, tmp_path / "ws")
    p1 = df[(df["item_id"] == ITEMS[1]) & (df["parcel_id"] == "P1")].iloc[0]
    assert p1.evi_mean == pytest.approx(2.5 * 0.4 / (0.45 + 0.3 - 0.375 + 1), abs=1e-5)
    assert p1.ndmi_mean == pytest.approx(0.25 / 0.65, abs=1e-5)
    assert p1.ndwi_mean == pytest.approx(-0.37 / 0.53, abs=1e-5)
    assert p1.ndvi_std == pytest.approx(0.0, abs=1e-6)
    for q in ("p10", "p50", "p90"):  # one value: every percentile in its 0.02 bin
        assert 0.8 - 0.02 <= p1[f"ndvi_{q}"] <= 0.8 + 0.02
    assert p1.green_fraction == 1.0
    p4 = df[(df["item_id"] == ITEMS[1]) & (df["parcel_id"] == "P4")].iloc[0]
    assert p4.green_fraction == 1.0  # NDVI 0.6


def test_load_items__stac_api_through_pystac_client(tmp_path, monkeypatch):
    tiny = make_tiny_stac(tmp_path, relative=False)
    features = json.loads(tiny.catalog.read_text())["features"]
    calls = {}

    class Search:
        def items(self):
            return (pystac.Item.from_dict(f) for f in features)

    class Client:
        @staticmethod
        def open(url):
            calls["url"] = url
            return Client()

        def search(self, collections=None, datetime=None):
            calls.update(collections=collections, datetime=datetime)
            return Search()

    fake = types.ModuleType("pystac_client")
    fake.__spec__ = importlib.machinery.ModuleSpec("pystac_client", None)
    fake.Client = Client
    monkeypatch.setitem(sys.modules, "pystac_client", fake)
    items = load_items("https://stac.example/v1", collection="sentinel-2-l2a")
    assert [i.id for i in items] == list(ITEMS)
    assert calls["url"] == "https://stac.example/v1"
    assert calls["collections"] == ["sentinel-2-l2a"]
    assert items[0].assets["red"].href == str(tiny.asset(ITEMS[0], "red").resolve())


@pytest.mark.parametrize(("k", "dr", "dc"), [(2, 0, 0), (2, 1, -3), (3, -2, 4)])
def test_read_like__integer_factor_repeat_equals_gdal_nearest(tmp_path, k, dr, dc):
    from rasterio.windows import Window

    from agririsk.imagery._read import fit, read_halo, read_like
    from agririsk.imagery.zonal import Grid

    rng = np.random.default_rng(k)
    x0, y0 = 300_000.0, 4_000_000.0
    driver = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(x0, y0, 10, 10), 40, 40)
    coarse = rng.integers(1, 12, (15, 15)).astype(np.uint8)
    path = write_cog(
        tmp_path / "m.tif",
        coarse,
        crs=32633,
        nodata=0,
        overviews=False,
        transform=from_origin(x0 + 10 * dc, y0 - 10 * dr, 10 * k, 10 * k),
    )
    with rasterio.open(path) as ds:
        fit = fit(ds, driver)
        assert fit == (k, dr, dc)
        for win in (Window(0, 0, 16, 16), Window(16, 16, 16, 16), Window(32, 8, 8, 24)):
            fast = read_like(ds, win, driver, fit, fill=0)
            slow = read_like(ds, win, driver, False, fill=0)
            np.testing.assert_array_equal(fast, slow)
            halo_fast = read_halo(ds, win, driver, fit, 0, 2)
            halo_slow = read_halo(ds, win, driver, False, 0, 2)
            np.testing.assert_array_equal(halo_fast, halo_slow)
