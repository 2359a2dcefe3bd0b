"""The compiled block kernel (numba, optional) gives the numbers of the NumPy path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from agririsk.imagery import _fused, load_items
from agririsk.imagery.stats import INDICES, Accumulator, hist_quantiles
from agririsk.imagery.zonal import LabelCache, ParcelSet, zonal_item
from agririsk.testing import make_tiny_stac

numba = pytest.importorskip("numba")

BANDS = ("blue", "green", "red", "nir", "swir16")


def _random_block(seed: int, h: int = 61, w: int = 47, halo: int = 2):  # type: ignore[no-untyped-def]
    """DN of five bands with nodata, negative reflectance and zero sums; a clear mask; labels."""
    rng = np.random.default_rng(seed)
    dn = {b: rng.integers(0, 6000, (h, w)).astype(np.uint16) for b in BANDS}
    dn["red"][rng.random((h, w)) < 0.05] = 0  # nodata
    dn["nir"][:3] = 1000  # reflectance 0 with offset -0.1: an undefined NDVI where red is too
    dn["red"][:2] = 1000
    ok = rng.random((h + 2 * halo, w + 2 * halo)) > 0.2
    labels_2d = rng.integers(0, 9, (h, w)) * (rng.random((h, w)) < 0.7)  # parcels 1..8
    return dn, ok, labels_2d


def _accumulate(compiled: bool, dn, ok, labels_2d, halo, sparse, indices, lowblue, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
    meta = {b: (0, 1e-4, -0.1) for b in dn}
    flat = labels_2d.ravel()
    pix = np.flatnonzero(flat).astype(np.int32) if sparse else None
    labs = flat[pix] if sparse else flat
    labels = np.unique(np.concatenate([[0], labs]))
    local = np.searchsorted(labels, labs).astype(np.uint16)
    acc = Accumulator(10, indices, lowblue)
    n_data = acc.add_dn(dn, meta, ok, halo, pix, local, labels)
    n_data += acc.add_dn(dn, meta, ok, halo, pix, local, labels)  # a second block adds up
    return acc, n_data


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    ("indices", "bands", "lowblue"),
    [
        (INDICES, BANDS, True),
        (("ndvi",), ("red", "nir"), False),
        (("ndvi", "ndmi"), ("red", "nir", "swir16"), False),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_add_dn__compiled_equals_numpy_on_random_block(
    seed, indices, bands, lowblue, sparse, monkeypatch
):
    dn, ok, labels_2d = _random_block(seed)
    dn = {b: dn[b] for b in bands}
    got = {}
    for compiled in (True, False):
        got[compiled] = _accumulate(
            compiled, dn, ok, labels_2d, 2, sparse, indices, lowblue, monkeypatch
        )
    (fast, n_fast), (slow, n_slow) = got[True], got[False]
    assert n_fast == n_slow
    # label 0 (not a parcel) collects leftovers in the NumPy path only; it is never reported
    np.testing.assert_array_equal(fast._hist[:, 1:], slow._hist[:, 1:])
    np.testing.assert_array_equal(fast._x[:, 1:], slow._x[:, 1:])
    np.testing.assert_array_equal(fast._xx[:, 1:], slow._xx[:, 1:])
    np.testing.assert_array_equal(fast.n_lb[1:], slow.n_lb[1:])
    np.testing.assert_array_equal(fast.x_lb[1:], slow.x_lb[1:])
    assert fast._hist[0, 1:].sum() > 0  # the block did produce clear parcel pixels


def test_add_dn__compiled_equals_numpy_with_extra_points_out_of_row_order(monkeypatch):
    """Sparse windows end with the pixels under parcels too small to own a pixel centre:
    out of row order, possibly on a pixel another parcel owns, possibly on the same pixel."""
    dn, ok, labels_2d = _random_block(4)
    h, w = labels_2d.shape
    flat = labels_2d.ravel()
    pix = np.flatnonzero(flat)
    labs = flat[pix]
    owned = int(pix[len(pix) // 2])
    extra_pix = np.array([5 * w + 40, 5 * w + 3, owned, owned, 0, (h - 1) * w + w - 1])
    extra_lab = np.array([9, 9, 9, 8, 8, 9])
    pix = np.concatenate([pix, extra_pix]).astype(np.int32)
    labs = np.concatenate([labs, extra_lab])
    labels = np.unique(np.concatenate([[0], labs]))
    local = np.searchsorted(labels, labs).astype(np.uint16)
    meta = {b: (0, 1e-4, -0.1) for b in dn}
    got = []
    for compiled in (True, False):
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        acc = Accumulator(10, INDICES, True)
        got.append((acc.add_dn(dn, meta, ok, 2, pix, local, labels), acc))
    (n1, fast), (n2, slow) = got
    assert n1 == n2
    for name in ("_x", "_xx", "_hist"):
        np.testing.assert_array_equal(getattr(fast, name)[:, 1:], getattr(slow, name)[:, 1:])
    np.testing.assert_array_equal(fast.n_lb[1:], slow.n_lb[1:])
    assert fast._hist[0, 9].sum() > 0  # the extra points were counted


def test_add_dn__compiled_without_halo_or_nodata_float_dn(monkeypatch):
    dn, ok, labels_2d = _random_block(3, halo=0)
    dn = {b: a.astype(np.float32) for b, a in dn.items()}  # float DN, -1 and NaN are values
    dn["red"][5, :10] = -1.0
    dn["nir"][6, :10] = np.nan
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        acc = Accumulator(10, INDICES, True)
        flat = labels_2d.ravel()
        labels = np.unique(np.concatenate([[0], flat]))
        local = np.searchsorted(labels, flat).astype(np.int32)
        meta = {b: (None, 2.75e-5, -0.2) for b in BANDS}  # Landsat scaling, no nodata
        results.append((acc.add_dn(dn, meta, ok, 0, None, local, labels), acc))
    (n1, a1), (n2, a2) = results
    assert n1 == n2 == labels_2d.size
    for name in ("_x", "_xx", "_hist"):
        np.testing.assert_array_equal(getattr(a1, name)[:, 1:], getattr(a2, name)[:, 1:])


@pytest.mark.parametrize(
    ("flavour", "other_grid", "buffer"),
    [("earth-search", True, 20.0), ("earth-search", False, 0.0), ("landsat", False, 30.0)],
)
def test_zonal_item__compiled_equals_numpy_on_tiny_stac(
    tmp_path, flavour, other_grid, buffer, monkeypatch
):
    tiny = make_tiny_stac(tmp_path, flavour=flavour, other_grid=other_grid)
    items = load_items(tiny.catalog)
    pset = ParcelSet.from_frame(tiny.parcels)
    tables = {}
    for compiled in (True, False):
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        cache = LabelCache(pset, None)
        tables[compiled] = pd.concat(
            [zonal_item(it, cache, cloud_buffer_m=buffer) for it in items], ignore_index=True
        )
    assert tables[True]["n_clear"].sum() > 0
    pd.testing.assert_frame_equal(tables[True], tables[False], check_exact=False, rtol=1e-12)


def _coarse_item(tmp_path, shift: tuple[int, int], extent: tuple[int, int], seed: int):  # type: ignore[no-untyped-def]
    """One Sentinel-2-like item: 10 m bands on 70 x 90 pixels in 16-pixel tiles, SWIR and SCL
    at 20 m with their origin ``shift`` 10 m pixels up/left of the 10 m grid and ``extent``
    20 m pixels (which may not cover the 10 m grid); clouds, shadows and nodata; parcels of
    all sizes, a few smaller than a pixel."""
    import geopandas as gpd
    import shapely
    from affine import Affine

    from agririsk.export.cog import write_cog
    from agririsk.testing import _item_json

    rng = np.random.default_rng(seed)
    x0, y0, h, w, epsg = 500_000.0, 4_000_000.0, 70, 90, 32651
    t10 = Affine(10.0, 0.0, x0, 0.0, -10.0, y0)
    t20 = Affine(20.0, 0.0, x0 - 10.0 * shift[1], 0.0, -20.0, y0 + 10.0 * shift[0])
    folder = tmp_path / "IT"
    hrefs = {}
    for band in BANDS:
        shape, t = ((h, w), t10) if band != "swir16" else (extent, t20)
        dn = rng.integers(900, 5000, shape).astype(np.uint16)
        dn[rng.random(shape) < 0.02] = 0
        write_cog(
            folder / f"{band}.tif",
            dn,
            transform=t,
            crs=epsg,
            nodata=0,
            blocksize=16,
            overviews=False,
        )
        hrefs[band] = str(folder / f"{band}.tif")
    scl = np.full(extent, 4, np.uint8)
    for _ in range(6):  # cloud and shadow patches, some on the edges
        r, c = rng.integers(-2, extent[0] + 2), rng.integers(-2, extent[1] + 2)
        scl[max(r, 0) : r + 3, max(c, 0) : c + 2] = rng.choice([3, 8, 9, 10])
    scl[-2, ::3], scl[::4, -2] = 9, 3  # clouds near the far edges: beyond the 10 m grid or not
    scl[rng.random(extent) < 0.03] = 0
    write_cog(
        folder / "scl.tif", scl, transform=t20, crs=epsg, nodata=0, blocksize=16, overviews=False
    )
    hrefs["scl"] = str(folder / "scl.tif")
    item = _item_json("IT", "2026-06-01T02:30:00Z", epsg, t10, (h, w), hrefs, "earth-search")
    (tmp_path / "catalog.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": [item]})
    )
    boxes = []
    for _ in range(60):
        cx, cy = x0 + rng.uniform(0, w * 10), y0 - rng.uniform(0, h * 10)
        half = rng.choice([3.0, 25.0, 80.0])
        boxes.append(shapely.box(cx - half, cy - half, cx + half, cy + half))
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"P{i:03d}" for i in range(len(boxes))]}, geometry=boxes, crs=epsg
    )
    return load_items(tmp_path / "catalog.json"), parcels


@pytest.mark.parametrize(
    ("shift", "extent", "buffer"),
    [
        ((0, 0), (35, 45), 20.0),  # aligned, same extent: SCL read natively (2-pixel buffer)
        ((1, 1), (36, 46), 20.0),  # origin half a 20 m pixel off, beyond the 10 m grid
        ((1, 0), (30, 40), 20.0),  # the 20 m bands stop short of the 10 m grid: fill
        ((1, 1), (36, 46), 10.0),  # 1-pixel buffer: SCL upsampled, SWIR native
        ((1, 1), (38, 48), 20.0),  # the 20 m bands reach past the grid: clouds there ignored
        ((0, 1), (35, 46), 40.0),
    ],
)
def test_zonal_item__coarse_bands_read_natively_equal_upsampled(
    tmp_path, shift, extent, buffer, monkeypatch
):
    from agririsk.imagery import _read

    monkeypatch.setattr(_read, "MIN_WINDOW", 16)  # many windows of one 16-pixel tile each
    items, parcels = _coarse_item(tmp_path, shift, extent, seed=sum(shift) + extent[0])
    tables = {}
    for compiled in (True, False):  # the NumPy path upsamples every band and the mask
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        cache = LabelCache(ParcelSet.from_frame(parcels), None)
        tables[compiled] = zonal_item(items[0], cache, cloud_buffer_m=buffer)
    assert tables[True]["n_clear"].sum() > 0
    assert tables[True]["ndmi_mean"].notna().any()
    pd.testing.assert_frame_equal(tables[True], tables[False], check_exact=False, rtol=1e-12)


def test_fused__numba_is_not_imported_with_the_imagery_room():
    code = "import sys, agririsk.imagery, agririsk.imagery.zonal; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hist_quantiles__compiled_equals_numpy(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    hist = (rng.integers(0, 5, (300, 100)) * (rng.random((300, 100)) < rng.random())).astype(
        np.int32
    )
    hist[::7] = 0  # empty rows: NaN
    hist[3] = 0
    hist[3, 42] = 1  # one pixel
    got = {}
    for compiled in (True, False):
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        got[compiled] = hist_quantiles(hist, (0.0, 0.1, 0.5, 0.9, 1.0))
    np.testing.assert_array_equal(got[True], got[False])


@pytest.mark.parametrize("rows", [[1, 2, 5, 7], []])
def test_table__compiled_equals_numpy(rows, monkeypatch):
    """Counts, percentiles and green fractions read from the histograms, with and without numba."""
    rng = np.random.default_rng(7)
    acc = Accumulator(9, INDICES, True)
    acc._hist[:] = rng.integers(0, 4, acc._hist.shape) * (rng.random(acc._hist.shape) < 0.3)
    acc._hist[:, 5] = 0  # a parcel without a clear pixel
    acc._x[:] = rng.random(acc._x.shape)
    acc._xx[:] = acc._x + 1.0
    lab = np.array(rows, dtype=np.intp)
    got = []
    for compiled in (True, False):
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        got.append(acc.table(lab))
    (n1, c1), (n2, c2) = got
    np.testing.assert_array_equal(n1, n2)
    assert c1.keys() == c2.keys()
    for key in c1:
        np.testing.assert_array_equal(c1[key], c2[key])
    if rows:
        assert n1[2] == 0 and np.isnan(c1["ndvi_p50"][2]) and c1["ndvi_p50"][0] > -1


# --------------------------------------------------------------------------- reading threads


@pytest.mark.parametrize(
    ("shift", "extent", "buffer"),
    [((0, 0), (35, 45), 20.0), ((1, 1), (36, 46), 10.0), ((1, 0), (30, 40), 20.0)],
)
def test_zonal_item__reading_threads_give_the_same_bits(
    tmp_path, shift, extent, buffer, monkeypatch
):
    from agririsk.imagery import _read

    monkeypatch.setattr(_read, "MIN_WINDOW", 16)  # 30 windows: more than are read ahead
    items, parcels = _coarse_item(tmp_path, shift, extent, seed=7 + extent[0])
    for compiled in (True, False):
        monkeypatch.setattr(_fused, "HAVE_NUMBA", compiled)
        tables = [
            zonal_item(
                items[0],
                LabelCache(ParcelSet.from_frame(parcels), None),
                cloud_buffer_m=buffer,
                threads=threads,
            )
            for threads in (1, 2, 3, 6)
        ]
        assert tables[0]["n_clear"].sum() > 0
        for table in tables[1:]:
            pd.testing.assert_frame_equal(tables[0], table, check_exact=True)


@pytest.mark.parametrize(("flavour", "other_grid"), [("earth-search", True), ("landsat", False)])
def test_zonal_item__reading_threads_on_warped_and_landsat_bands(tmp_path, flavour, other_grid):
    tiny = make_tiny_stac(tmp_path, flavour=flavour, other_grid=other_grid)
    items = load_items(tiny.catalog)
    pset = ParcelSet.from_frame(tiny.parcels)
    one, three = (
        pd.concat([zonal_item(it, LabelCache(pset, None), threads=t) for it in items])
        for t in (1, 3)
    )
    assert one["n_clear"].sum() > 0
    pd.testing.assert_frame_equal(one, three, check_exact=True)


def test_zonal_item__a_band_unreadable_half_way_fails_alike_and_stops_the_readers(
    tmp_path, monkeypatch
):
    import threading

    from rasterio.errors import RasterioError

    from agririsk.imagery import _read

    monkeypatch.setattr(_read, "MIN_WINDOW", 16)
    items, parcels = _coarse_item(tmp_path, (0, 0), (35, 45), seed=3)
    nir = items[0].assets["nir"].href
    with open(nir, "rb") as f:
        data = f.read()
    with open(nir, "wb") as f:  # the tiles of the last rows are gone
        f.write(data[: int(len(data) * 0.7)])
    pset = ParcelSet.from_frame(parcels)
    with pytest.raises(RasterioError) as serial:
        zonal_item(items[0], LabelCache(pset, None), threads=1)
    with pytest.raises(type(serial.value)):
        zonal_item(items[0], LabelCache(pset, None), threads=3)
    assert not [t for t in threading.enumerate() if t.name.startswith("agririsk-read")]


def test_band_groups__each_band_once_by_pixels():
    from types import SimpleNamespace

    from agririsk.imagery.zonal import _band_groups

    ten, twenty = SimpleNamespace(height=100, width=100), SimpleNamespace(height=50, width=50)
    dss = {b: ten for b in ("red", "nir", "blue", "green")} | {"swir16": twenty, "scl": twenty}
    for threads, n_groups in ((1, 1), (2, 2), (3, 3), (10, 6)):
        groups = _band_groups(dss, threads)  # type: ignore[arg-type]
        assert len(groups) == n_groups
        assert sorted(b for g in groups for b in g) == sorted(dss)
    loads = [sum(dss[b].height * dss[b].width for b in g) for g in _band_groups(dss, 2)]  # type: ignore[arg-type]
    assert loads == [22_500, 22_500]
