"""zonal_item and parcel_series on the tiny hand-made items of agririsk.testing."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agririsk.export.cog import write_cog
from agririsk.imagery import COLUMNS, load_items, parcel_series
from agririsk.imagery.zonal import LabelCache, ParcelSet, zonal_item
from agririsk.inputs.report import Report
from agririsk.testing import ITEMS, OTHER_ITEM, expected_table, from_origin, make_tiny_stac

X0, Y0 = 728_000.0, 5_165_000.0


def _row(df: pd.DataFrame, item_id: str, parcel_id: str) -> pd.Series:
    (i,) = np.flatnonzero((df["item_id"] == item_id) & (df["parcel_id"] == parcel_id))
    return df.iloc[i]


def _check_expected(df: pd.DataFrame, tol: float = 1e-6) -> None:
    exp = expected_table()
    got = exp[["item_id", "parcel_id"]].merge(df, on=["item_id", "parcel_id"], how="left")
    assert got["n_pixels"].tolist() == exp["n_pixels"].tolist()
    assert got["n_clear"].tolist() == exp["n_clear"].tolist()
    np.testing.assert_allclose(got["ndvi_mean"], exp["ndvi_mean"], atol=tol)
    np.testing.assert_allclose(got["ndvi_std"], exp["ndvi_std"], atol=tol)


def test_parcel_series__hand_checked_statistics(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    assert list(df.columns) == COLUMNS
    _check_expected(df)
    p1 = _row(df, ITEMS[0], "P1")  # 4 cloud pixels of 16 masked; the cloud's own NDVI is ignored
    assert (p1.n_pixels, p1.n_clear, p1.clear_fraction) == (16, 12, 0.75)
    assert p1.ndvi_mean == pytest.approx(0.8, abs=1e-6)
    assert str(df["datetime"].dtype) == "datetime64[ns, UTC]"


def test_parcel_series__sorted_by_parcel_then_date(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    assert df["parcel_id"].tolist() == ["P1"] * 3 + ["P2"] * 3 + ["P3"] * 3 + ["P4"] * 3
    assert df["datetime"].is_monotonic_increasing is False  # restarts per parcel
    assert df.groupby("parcel_id")["datetime"].apply(lambda s: s.is_monotonic_increasing).all()


def test_parcel_series__outside_footprint_gets_no_rows(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    assert "P5" not in set(df["parcel_id"])


def test_parcel_series__tiny_parcel_uses_pixel_under_it(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    p4 = _row(df, ITEMS[0], "P4")
    assert (p4.n_pixels, p4.n_clear) == (1, 1)
    assert p4.ndvi_mean == pytest.approx(0.6, abs=1e-6)


def test_parcel_series__nodata_and_residual_haze(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    assert _row(df, ITEMS[1], "P1").n_clear == 15  # red DN 0 at pixel (3, 3)
    p2 = _row(df, ITEMS[1], "P2")  # one hazy pixel (blue 0.25, NDVI 0.2) not flagged by SCL
    assert p2.ndvi_mean == pytest.approx((15 * 0.5 + 0.2) / 16, abs=1e-6)
    assert p2.ndvi_mean_lowblue == pytest.approx(0.5, abs=1e-6)


def test_parcel_series__fully_clouded_parcel_has_nan_mean(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    p3 = _row(df, ITEMS[2], "P3")
    assert (p3.n_clear, p3.clear_fraction) == (0, 0.0)
    assert np.isnan(p3.ndvi_mean) and np.isnan(p3.ndvi_std)


def test_parcel_series__scale_and_offset_applied(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    data = json.loads(tiny.catalog.read_text())
    for band in ("red", "nir"):
        data["features"][0]["assets"][band]["raster:bands"][0]["offset"] = 0.0
    tiny.catalog.write_text(json.dumps(data))
    df = parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    # DN 1500 / 5500 read without the -0.1 offset: red 0.15, nir 0.55 -> 0.40 / 0.70
    assert _row(df, ITEMS[0], "P1").ndvi_mean == pytest.approx(0.4 / 0.7, abs=1e-6)
    assert _row(df, ITEMS[1], "P1").ndvi_mean == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("flavour", ["planetary-computer", "common-name"])
def test_parcel_series__other_key_conventions_same_numbers(tmp_path, flavour):
    tiny = make_tiny_stac(tmp_path, flavour=flavour)
    _check_expected(
        parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    )


def test_parcel_series__landsat_qa_pixel_and_default_scale(tmp_path):
    tiny = make_tiny_stac(tmp_path, flavour="landsat")
    # DNs are rounded to the Landsat step of 2.75e-5 reflectance: NDVI within 1e-4
    _check_expected(
        parcel_series(load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", cloud_buffer_m=0),
        tol=1e-4,
    )


def test_parcel_series__mixed_crs_and_resolution(tmp_path):
    tiny = make_tiny_stac(tmp_path, other_grid=True)
    items = load_items(tiny.catalog)
    assert {i.epsg for i in items} == {32651, 32652}
    df = parcel_series(items, tiny.parcels, tmp_path / "ws", cloud_buffer_m=0)
    other = df[df["item_id"] == OTHER_ITEM].set_index("parcel_id")
    assert other.loc["P1", "n_pixels"] == 4  # 40 m square at 20 m
    np.testing.assert_allclose(
        other.loc[["P1", "P2", "P3", "P4"], "ndvi_mean"], [0.8, 0.5, 0.5, 0.6], atol=1e-6
    )
    _check_expected(df[df["item_id"] != OTHER_ITEM])
    assert len(list((tmp_path / "ws" / "labels").glob("*.labels.npy"))) == 2  # one per grid


def test_parcel_series__parcels_in_any_crs(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    items = load_items(tiny.catalog)
    a = parcel_series(items, tiny.parcels, tmp_path / "a")
    b = parcel_series(items, tiny.parcels.to_crs(3857), tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)


def test_parcel_series__rerun_reads_cache_without_rasters(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    items = load_items(tiny.catalog)
    first = parcel_series(items, tiny.parcels, tmp_path / "ws")
    assert len(list((tmp_path / "ws" / "items").glob("*.parquet"))) == 3
    for tif in tiny.catalog.parent.rglob("*.tif"):
        tif.unlink()
    report = Report()
    again = parcel_series(items, tiny.parcels, tmp_path / "ws", report=report)
    pd.testing.assert_frame_equal(first, again)
    assert report.counters["imagery.items_cached"] == 3
    assert not report.problems


def test_parcel_series__changed_parcels_invalidate_cache(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    items = load_items(tiny.catalog)
    parcel_series(items, tiny.parcels, tmp_path / "ws")
    report = Report()
    parcel_series(items, tiny.parcels.iloc[:3], tmp_path / "ws", report=report)
    assert report.counters["imagery.items_computed"] == 3


def test_parcel_series__workers_2_equals_workers_1(tmp_path):
    tiny = make_tiny_stac(tmp_path, other_grid=True)
    items = load_items(tiny.catalog)
    one = parcel_series(items, tiny.parcels, tmp_path / "w1", workers=1)
    two = parcel_series(items, tiny.parcels, tmp_path / "w2", workers=2)
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.parametrize("workers", [1, 2])
def test_parcel_series__missing_and_corrupt_assets_reported_and_skipped(tmp_path, workers):
    tiny = make_tiny_stac(tmp_path)
    tiny.asset(ITEMS[0], "nir").unlink()
    tiny.asset(ITEMS[2], "scl").write_bytes(b"not a tiff")
    report = Report()
    calls = []
    df = parcel_series(
        load_items(tiny.catalog),
        tiny.parcels,
        tmp_path / "ws",
        report=report,
        workers=workers,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert set(df["item_id"]) == {ITEMS[1]}
    assert sorted(p.where for p in report.warnings) == [ITEMS[0], ITEMS[2]]
    assert report.counters["imagery.items_failed"] == 2
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert len(list((tmp_path / "ws" / "items").glob("*.parquet"))) == 1  # failures not cached


def test_parcel_series__no_items_gives_empty_table(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    df = parcel_series([], tiny.parcels, tmp_path / "ws")
    assert list(df.columns) == COLUMNS and df.empty


@pytest.fixture(scope="module")
def tiny_item(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    tiny = make_tiny_stac(root)
    return root, load_items(tiny.catalog)[1], ParcelSet.from_frame(tiny.parcels)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scl=hnp.arrays(np.uint8, (4, 4), elements=st.sampled_from([0, 3, 4, 5, 8, 9, 10])),
    extra=hnp.arrays(np.bool_, (4, 4)),
)
def test_zonal_item__more_clouds_never_add_clear_pixels(tiny_item, scl, extra):
    root, item, parcels = tiny_item
    cache = LabelCache(parcels)

    def run(mask: np.ndarray, name: str) -> np.ndarray:
        path = write_cog(
            root / f"{name}.tif",
            mask,
            transform=from_origin(X0, Y0, 20, 20),
            crs=32651,
            overviews=False,
        )
        assets = dict(item.assets, scl=dataclasses.replace(item.assets["scl"], href=str(path)))
        return zonal_item(dataclasses.replace(item, assets=assets), cache)["n_clear"].to_numpy()

    base = run(scl, "base")
    cloudier = run(np.where(extra, np.uint8(9), scl), "cloudier")
    assert (cloudier <= base).all()


@pytest.mark.slow
def test_parcel_series__sample_region_end_to_end(sample_region):
    import geopandas as gpd

    root = sample_region.parent
    report = Report()
    items = load_items(root / "imagery" / "catalog.json", report=report)
    parcels = gpd.read_file(root / "parcels.gpkg")
    df = parcel_series(items, parcels, root / ".agririsk", workers=2, report=report)
    assert not report.problems
    assert set(df["parcel_id"]) == set(parcels["parcel_id"])
    # some sample items cover part of the region: parcels outside their footprint get no row
    assert 0.95 * len(items) * len(parcels) <= len(df) <= len(items) * len(parcels)
    assert df["clear_fraction"].between(0, 1).all()
    assert df["ndvi_mean"].dropna().between(-1, 1).all()
    assert (df["n_clear"] <= df["n_pixels"]).all()


def test_parcel_series__label_raster_built_once_per_grid(tmp_path, monkeypatch):
    import agririsk.imagery.zonal as zonal

    calls = []
    real = zonal.build_label_raster
    monkeypatch.setattr(zonal, "build_label_raster", lambda p, g: calls.append(g) or real(p, g))
    tiny = make_tiny_stac(tmp_path, other_grid=True)
    items = load_items(tiny.catalog)
    parcel_series(items, tiny.parcels, tmp_path / "ws")
    assert len(calls) == 2  # two grids, four items
    for f in (tmp_path / "ws" / "items").glob("*.parquet"):
        f.unlink()
    parcel_series(items, tiny.parcels, tmp_path / "ws")
    assert len(calls) == 2  # label rasters read back from the workspace


def test_parcel_series__parcels_without_id_or_crs_raise(tmp_path):
    from agririsk.errors import CRSMismatchError, MissingColumnError

    tiny = make_tiny_stac(tmp_path)
    with pytest.raises(MissingColumnError, match="parcel_id"):
        parcel_series([], tiny.parcels.drop(columns="parcel_id"), tmp_path / "ws")
    with pytest.raises(CRSMismatchError, match="no CRS"):
        parcel_series([], tiny.parcels.set_crs(None, allow_override=True), tmp_path / "ws")


def test_zonal_item__mask_smaller_than_red_counts_outside_as_not_clear(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    item = load_items(tiny.catalog)[1]
    half = np.full((2, 4), 4, dtype=np.uint8)  # 20 m SCL over rows 0-3 of the 10 m grid only
    path = write_cog(
        tmp_path / "half.tif",
        half,
        transform=from_origin(X0, Y0, 20, 20),
        crs=32651,
        overviews=False,
    )
    assets = dict(item.assets, scl=dataclasses.replace(item.assets["scl"], href=str(path)))
    df = zonal_item(
        dataclasses.replace(item, assets=assets), LabelCache(ParcelSet.from_frame(tiny.parcels))
    ).set_index("parcel_id")
    assert df.loc["P1", "n_clear"] == 15
    assert df.loc["P3", "n_clear"] == 0 and df.loc["P4", "n_clear"] == 0


def test_build_label_raster__covers_only_the_parcels_window():
    import rasterio.features
    from rasterio.crs import CRS

    from agririsk.imagery.zonal import Grid, build_label_raster
    from agririsk.testing import make_tiny_parcels

    parcels = make_tiny_parcels()
    grid = Grid(CRS.from_epsg(32651), from_origin(X0 - 1000, Y0 + 1000, 10, 10), 250, 250)
    lr = build_label_raster(ParcelSet.from_frame(parcels), grid)
    # P1-P4: 8 x 8 pixels plus a pixel of margin (two where reprojection rounds up); P5 is outside
    assert all(10 <= n <= 12 for n in lr.labels.shape)
    assert all(98 <= o <= 99 for o in lr.origin)
    full = rasterio.features.rasterize(
        ((g, i + 1) for i, g in enumerate(parcels.to_crs(32651).geometry.iloc[:4])),
        out_shape=(250, 250),
        transform=grid.transform,
        dtype="int32",
    )
    np.testing.assert_array_equal(lr.window_labels(0, 0, 250, 250), full)
    assert lr.window_labels(0, 0, 50, 50) is None
    assert lr.extra.tolist() == [[4, 106, 106]]  # P4 read at the pixel under it


@pytest.mark.parametrize("mixed", ["polygons", "with_multipolygon", "with_collection"])
def test_label_raster_shapes__same_pixels_as_each_geometry_s_geo_interface(mixed: str):
    """The label raster's shapes come from one coordinate array (``_shapes``); polygons with
    holes, multipolygons and the collections ``make_valid`` can leave must burn the same
    pixels as rasterizing each geometry itself."""
    import rasterio.features
    import shapely

    from agririsk.imagery.zonal import _shapes

    ring = shapely.box(0, 0, 300, 300)
    geoms = [
        shapely.Polygon(ring.exterior.coords, [shapely.box(100, 100, 200, 200).exterior.coords]),
        shapely.box(310, 0, 480, 95),
        shapely.Polygon([(0, 320), (250, 480), (40, 490)]),
    ]
    if mixed != "polygons":
        geoms.append(shapely.MultiPolygon([shapely.box(320, 320, 380, 380), shapely.box(400, 400, 470, 470)]))
    if mixed == "with_collection":
        geoms.append(shapely.GeometryCollection([shapely.box(120, 120, 180, 180), shapely.Point(5, 5)]))
    arr = np.asarray(geoms, dtype=object)
    values = np.arange(1, len(geoms) + 1)
    transform = from_origin(0, 500, 10, 10)
    ours = rasterio.features.rasterize(_shapes(arr, values), out_shape=(50, 50), transform=transform, dtype="int32")
    each = rasterio.features.rasterize(zip(geoms, values.tolist(), strict=True), out_shape=(50, 50), transform=transform, dtype="int32")
    np.testing.assert_array_equal(ours, each)
    assert set(np.unique(ours)) == {0, *values.tolist()}
