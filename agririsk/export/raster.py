"""``risk_map.tif``: per-pixel crop condition at the latest clear date, inside parcels.

Crop condition is the field's NDVI now against its own history at the same time of year::

    condition = NDVI(latest clear acquisition <= as_of)
                - median(NDVI of the same pixel, past years, day of year within +-10 days)

Negative values mean the crop is behind (or below) what that pixel usually shows on that
day; positive values ahead (or above). Only the parcels' bounding window of the imagery
is read, one output block at a time, each item warped onto the working grid (nearest
neighbour) with the masks and indices of :mod:`agririsk.imagery`, so memory grows with
the block size times the number of baseline items, not with the region.

>>> cond = condition_raster(region, dt.date(2026, 7, 15))          # doctest: +SKIP
>>> write_condition_cog(cond, "out/risk_map.tif")                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import xarray as xr
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from agririsk.errors import NoDataError
from agririsk.export.cog import write_cog
from agririsk.imagery import CLOUD_BUFFER_M, SceneItem, cloud_mask, dilate, load_items, ndvi
from agririsk.imagery.masks import clear_mask

if TYPE_CHECKING:
    from agririsk.region import Region

__all__ = ["condition_raster", "downsample", "write_condition_cog", "DESCRIPTION", "UNITS"]

logger = logging.getLogger(__name__)

#: band description and unit written into ``risk_map.tif``
DESCRIPTION = "crop condition: NDVI minus median NDVI of the same pixel at the same time of year in past years"
UNITS = "NDVI difference (unitless)"
#: share of a date's parcel pixels that must be clear for it to be the "latest clear date"
MIN_CLEAR_SHARE = 0.5
_BLOCK = 512


def condition_raster(
    region: Region,
    as_of: dt.date,
    *,
    parcels: gpd.GeoDataFrame | None = None,
    items: Sequence[SceneItem] | None = None,
    window_days: int = 10,
    resolution: float | None = None,
    min_clear_share: float = MIN_CLEAR_SHARE,
    cloud_buffer_m: float = CLOUD_BUFFER_M,
    block: int = _BLOCK,
) -> xr.DataArray:
    """Per-pixel crop condition of the region's parcels at the latest clear date.

    Parameters
    ----------
    region : the region (imagery catalog, parcels, working CRS).
    as_of : no item acquired after this day is used.
    parcels : the parcels (any CRS); read from the region when None.
    items : the imagery items; loaded from the region's catalog when None.
    window_days : baseline items are those of earlier years whose day of year is within
        this many days of the current acquisition's.
    resolution : pixel size in the working CRS units; default the red band's pixel size
        of the current acquisition.
    min_clear_share : the current acquisition is the latest item at or before ``as_of``
        whose clear pixels cover at least this share of the parcels' pixels.
    cloud_buffer_m : buffer around clouds and shadows, metres (as the zonal statistics).
    block : output block size in pixels (rows and columns) read at a time.

    Returns
    -------
    xr.DataArray
        float32 ``(y, x)`` in [-1, 1], NaN outside parcels, under clouds and where a pixel
        has no clear baseline observation and its parcel none either. Coordinates are pixel
        centres in the working CRS with a CF ``spatial_ref`` (``crs_wkt``, ``GeoTransform``);
        attributes ``units``, ``long_name``, ``date`` (acquisition), ``item_id``,
        ``baseline_years``, ``baseline_items``, ``nodata`` (NaN).

    Raises
    ------
    NoDataError
        No item at or before ``as_of`` is clear enough over the parcels.

    Notes
    -----
    .. math:: C(p) = NDVI_t(p) - \\operatorname{median}_{i \\in B} NDVI_i(p)

    with :math:`B` the items of years before :math:`t`'s whose day of year is within
    ``window_days`` of :math:`t`'s (circular), each masked for clouds (SCL / QA_PIXEL plus
    the cloud buffer). Where a pixel has no clear baseline value, the median of its
    parcel's baseline pixels is used. The difference is clipped to [-1, 1].
    """
    if parcels is None:
        from agririsk.inputs import Report, read_parcels

        parcels = read_parcels(region.parcels_path, Report())
    if items is None:
        items = load_items(
            region.imagery_catalog, collection=region.imagery_collection, until=as_of
        )
    items = [i for i in items if i.datetime.date() <= as_of]
    if not items:
        raise NoDataError(
            f"no imagery item at or before {as_of} in {region.imagery_catalog}; nothing to map."
        )
    crs = CRS.from_user_input(region.crs) if region.crs else _item_crs(items[-1])
    res = resolution or _pixel_size(items[-1], crs)
    transform, height, width = _grid(parcels.to_crs(crs), res)
    shapes = [
        (g, k + 1)
        for k, g in enumerate(parcels.to_crs(crs).geometry)
        if g is not None and not g.is_empty
    ]
    labels = rasterio.features.rasterize(
        shapes, out_shape=(height, width), transform=transform, fill=0, dtype="int32"
    )
    inside = labels > 0
    if not inside.any():
        raise NoDataError("the parcels cover no whole pixel of the imagery grid; nothing to map.")
    grid = (crs, transform, height, width)

    current, now = None, None
    for item in sorted(items, key=lambda i: i.datetime, reverse=True):
        values = _read_ndvi(item, grid, cloud_buffer_m, block)
        if np.isfinite(values[inside]).mean() >= min_clear_share:
            current, now = item, values
            break
    if current is None:
        raise NoDataError(
            f"no imagery item at or before {as_of} has {min_clear_share:.0%} of the parcels' pixels clear; "
            "nothing to map. Try a later as-of date."
        )
    doy = current.datetime.day_of_year
    baseline_items = [
        i
        for i in items
        if i.datetime.year < current.datetime.year
        and _doy_distance(i.datetime.day_of_year, doy) <= window_days
    ]
    base = _median_ndvi(baseline_items, grid, cloud_buffer_m, block)
    # a pixel without a clear past observation falls back to its parcel's median baseline
    parcel_base = _label_median(labels, base)
    base = np.where(np.isfinite(base), base, parcel_base[labels])
    out = np.clip(now - base, -1.0, 1.0).astype(np.float32)
    out[~inside] = np.nan
    logger.info(
        "crop condition on %s (%s) against %d baseline items",
        current.datetime.date(),
        current.id,
        len(baseline_items),
    )
    return _as_dataarray(
        out,
        crs,
        transform,
        {
            "date": str(current.datetime.date()),
            "item_id": current.id,
            "baseline_years": ",".join(sorted({str(i.datetime.year) for i in baseline_items})),
            "baseline_items": len(baseline_items),
            "window_days": window_days,
        },
    )


def write_condition_cog(condition: xr.DataArray, path: str | Path) -> Path:
    """Write :func:`condition_raster` output as a Cloud-Optimized GeoTIFF.

    float32, nodata NaN, DEFLATE, 256 px tiles (128 px below 512 px), internal overviews (average), band
    description :data:`DESCRIPTION` and unit :data:`UNITS`; the acquisition date, item and
    baseline are stored as dataset tags.
    """
    tags = {
        k: str(v)
        for k, v in condition.attrs.items()
        if k not in ("units", "long_name", "nodata", "grid_mapping")
    }
    tags["method"] = DESCRIPTION
    # small rasters get smaller tiles so that they still carry at least one overview level
    blocksize = 256 if max(condition.shape) > 512 else 128
    return write_cog(
        path,
        condition.to_numpy().astype(np.float32),
        transform=transform_of(condition),
        crs=condition["spatial_ref"].attrs["crs_wkt"],
        nodata=np.nan,
        descriptions=[DESCRIPTION],
        units=[UNITS],
        tags=tags,
        resampling="average",
        blocksize=blocksize,
    )


def transform_of(array: xr.DataArray) -> Affine:
    """The affine transform stored in the CF ``spatial_ref`` of ``array``."""
    return Affine.from_gdal(*(float(v) for v in array["spatial_ref"].attrs["GeoTransform"].split()))


def downsample(
    condition: xr.DataArray, max_pixels: int = 1500
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``(array, (left, right, bottom, top))`` for the map renderers, at most ``max_pixels`` a side.

    Blocks of ``k x k`` pixels are averaged (NaN ignored) when the raster is larger.
    """
    arr = condition.to_numpy()
    t = transform_of(condition)
    h, w = arr.shape
    left, top = t.c, t.f
    right, bottom = left + t.a * w, top + t.e * h
    k = int(np.ceil(max(h, w) / max_pixels))
    if k > 1:
        hp, wp = -(-h // k) * k, -(-w // k) * k
        pad = np.full((hp, wp), np.nan, dtype=np.float32)
        pad[:h, :w] = arr
        with np.errstate(invalid="ignore"), _quiet():
            arr = np.nanmean(pad.reshape(hp // k, k, wp // k, k), axis=(1, 3))
        right, bottom = left + t.a * wp, top + t.e * hp
    return arr, (left, right, bottom, top)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's "all-NaN slice" / "mean of empty slice" warnings: NaN is the answer there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _item_crs(item: SceneItem) -> CRS:
    if item.epsg:
        return CRS.from_epsg(item.epsg)
    with rasterio.open(item.assets["red"].href) as src:
        return CRS.from_user_input(src.crs)


def _pixel_size(item: SceneItem, crs: CRS) -> float:
    with rasterio.open(item.assets["red"].href) as src:
        if CRS.from_user_input(src.crs) == crs:
            return float(abs(src.transform.a))
    return 10.0 if item.sensor != "landsat" else 30.0


def _grid(parcels: gpd.GeoDataFrame, res: float) -> tuple[Affine, int, int]:
    """A north-up grid snapped to multiples of ``res`` covering the parcels, one pixel of margin."""
    minx, miny, maxx, maxy = parcels.total_bounds
    west, south = (np.floor(minx / res) - 1) * res, (np.floor(miny / res) - 1) * res
    east, north = (np.ceil(maxx / res) + 1) * res, (np.ceil(maxy / res) + 1) * res
    return (
        Affine(res, 0.0, west, 0.0, -res, north),
        int(round((north - south) / res)),
        int(round((east - west) / res)),
    )


def _doy_distance(a: int, b: int) -> int:
    d = abs(a - b) % 365
    return min(d, 365 - d)


def _blocks(height: int, width: int, block: int):
    for r0 in range(0, height, block):
        for c0 in range(0, width, block):
            yield r0, c0, min(block, height - r0), min(block, width - c0)


class _NdviReader:
    """NDVI of one item on the output grid, one window at a time, NaN where not clear.

    The red, NIR and mask bands are warped onto the grid (nearest neighbour); the mask is
    warped onto the grid grown by the cloud-buffer halo, so that a cloud just outside a
    window still buffers into it.
    """

    def __init__(self, item: SceneItem, grid: tuple, cloud_buffer_m: float) -> None:
        crs, transform, height, width = grid
        self.item = item
        self.halo = int(np.ceil(cloud_buffer_m / transform.a - 1e-9)) if cloud_buffer_m > 0 else 0
        self.mask_name = item.mask_band
        self._stack = contextlib.ExitStack()
        try:
            fill = {"scl": 0, "qa_pixel": 1}[self.mask_name]
            src = self._stack.enter_context(rasterio.open(item.assets[self.mask_name].href))
            self.mask = self._stack.enter_context(
                WarpedVRT(
                    src,
                    crs=crs,
                    transform=transform @ Affine.translation(-self.halo, -self.halo),
                    width=width + 2 * self.halo,
                    height=height + 2 * self.halo,
                    resampling=Resampling.nearest,
                    nodata=fill,
                )
            )
            self.bands = {}
            for b in ("red", "nir"):
                nd = item.assets[b].nodata if item.assets[b].nodata is not None else 0
                src = self._stack.enter_context(rasterio.open(item.assets[b].href))
                self.bands[b] = self._stack.enter_context(
                    WarpedVRT(
                        src,
                        crs=crs,
                        transform=transform,
                        width=width,
                        height=height,
                        resampling=Resampling.nearest,
                        src_nodata=nd,
                        nodata=nd,
                    )
                )
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self) -> _NdviReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def read(self, r0: int, c0: int, h: int, w: int) -> np.ndarray:
        halo = self.halo
        m = self.mask.read(1, window=Window(c0, r0, w + 2 * halo, h + 2 * halo))
        clear = clear_mask(m, self.mask_name)
        if halo:
            clear &= ~dilate(cloud_mask(m, self.mask_name), halo)
        clear = clear[halo : halo + h, halo : halo + w]
        refl = {}
        for b, vrt in self.bands.items():
            asset = self.item.assets[b]
            dn = vrt.read(1, window=Window(c0, r0, w, h))
            clear &= dn != (asset.nodata if asset.nodata is not None else 0)
            refl[b] = dn.astype(np.float32) * np.float32(asset.scale) + np.float32(asset.offset)
        v = ndvi(refl["red"], refl["nir"])
        v[~clear] = np.nan
        return v


def _read_ndvi(item: SceneItem, grid: tuple, cloud_buffer_m: float, block: int) -> np.ndarray:
    """NDVI of one item on the output grid, NaN where not clear; read block by block."""
    _, _, height, width = grid
    out = np.full((height, width), np.nan, dtype=np.float32)
    with (
        rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"),
        _NdviReader(item, grid, cloud_buffer_m) as r,
    ):
        for r0, c0, h, w in _blocks(height, width, block):
            out[r0 : r0 + h, c0 : c0 + w] = r.read(r0, c0, h, w)
    return out


def _median_ndvi(
    items: Sequence[SceneItem], grid: tuple, cloud_buffer_m: float, block: int
) -> np.ndarray:
    """Per-pixel median NDVI over ``items`` (NaN ignored); NaN everywhere when there are none.

    Every item is opened once and read one output block at a time, so memory is
    ``len(items)`` blocks, not ``len(items)`` grids.
    """
    _, _, height, width = grid
    out = np.full((height, width), np.nan, dtype=np.float32)
    if not items:
        return out
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), contextlib.ExitStack() as stack:
        readers = [stack.enter_context(_NdviReader(i, grid, cloud_buffer_m)) for i in items]
        for r0, c0, h, w in _blocks(height, width, block):
            values = np.stack([r.read(r0, c0, h, w) for r in readers])
            with _quiet():
                out[r0 : r0 + h, c0 : c0 + w] = np.nanmedian(values, axis=0)
    return out


def _label_median(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Median of the finite ``values`` of each label; index 0 and empty labels are NaN."""
    n = int(labels.max())
    out = np.full(n + 1, np.nan, dtype=np.float32)
    ok = (labels > 0) & np.isfinite(values)
    if ok.any():
        frame = pd.DataFrame({"label": labels[ok], "value": values[ok]})
        med = frame.groupby("label")["value"].median()
        out[med.index.to_numpy()] = med.to_numpy()
    out[0] = np.nan
    return out


def _as_dataarray(values: np.ndarray, crs: CRS, transform: Affine, attrs: dict) -> xr.DataArray:
    h, w = values.shape
    xs = transform.c + transform.a * (np.arange(w) + 0.5)
    ys = transform.f + transform.e * (np.arange(h) + 0.5)
    spatial_ref = xr.DataArray(
        0,
        attrs={
            "crs_wkt": crs.to_wkt(),
            "spatial_ref": crs.to_wkt(),
            "GeoTransform": " ".join(str(v) for v in transform.to_gdal()),
        },
    )
    return xr.DataArray(
        values,
        dims=("y", "x"),
        coords={"y": ys, "x": xs, "spatial_ref": spatial_ref},
        attrs={
            "units": UNITS,
            "long_name": DESCRIPTION,
            "grid_mapping": "spatial_ref",
            "nodata": np.nan,
            **attrs,
        },
    )
