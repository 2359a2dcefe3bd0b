"""A lazy (time, y, x) cube of a small area, for notebooks (DESIGN.md: "cubes for small areas").

Built from the same :class:`~agririsk.imagery.stac.SceneItem` s as the hot path, so the
assets, scale/offset and masks are exactly those of :func:`parcel_series`: each item is
one dask task that warps its bands onto a common grid (GDAL ``WarpedVRT``, nearest
neighbour), scales them to reflectance and sets NaN where the pixel is not clear.

Needs the optional extra ``agririsk[cube]`` (``dask[array]``); it is imported only when
:func:`open_cube` is called.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import rasterio
import shapely
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from agririsk.errors import InputError, MissingBandError
from agririsk.imagery.masks import clear_mask, cloud_mask, dilate
from agririsk.imagery.stac import LANDSAT, SceneItem, load_items
from agririsk.imagery.zonal import CLOUD_BUFFER_M

if TYPE_CHECKING:
    from agririsk.region import Region

__all__ = ["open_cube"]


def open_cube(
    region: Region | str | os.PathLike[str],
    *,
    bbox: tuple[float, float, float, float] | None = None,
    parcel_id: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    bands: Sequence[str] = ("red", "nir"),
    resolution: float | None = None,
    cloud_buffer_m: float = CLOUD_BUFFER_M,
) -> xr.Dataset:
    """Masked, scaled surface reflectance of an area as a lazy xarray Dataset.

    Parameters
    ----------
    region : a :class:`~agririsk.region.Region` or the path of its ``region.toml``.
    bbox : (west, south, east, north) in degrees (EPSG:4326); or
    parcel_id : a parcel of the region: the cube covers its bounding box plus 2 pixels.
    start, end : dates (inclusive, UTC); items outside are not opened.
    bands : canonical band names among ``blue green red nir swir16``.
    resolution : pixel size in units of the working CRS (metres for UTM); default 10 m
        when a Sentinel-2 item is among those selected, else 30 m.
    cloud_buffer_m : buffer around clouds and shadows, metres, as in :func:`parcel_series`.

    Returns
    -------
    xr.Dataset with one float32 variable per band, dims ``(time, y, x)``, dask-backed (one
    chunk per item), NaN where the pixel is not clear; coordinates ``time`` (UTC, naive),
    ``item_id`` along time, pixel-centre ``x`` / ``y`` in the working CRS (the region's
    ``crs``, else the first item's) and a CF ``spatial_ref`` (``rioxarray`` reads it).
    Each variable has ``units = "1"`` (reflectance).

    Raises
    ------
    InputError
        ``dask`` is not installed, neither or both of ``bbox`` and ``parcel_id`` are given,
        the parcel is unknown, or no item covers the area in the time range.
    MissingBandError
        A selected item lacks one of ``bands``.
    """
    if importlib.util.find_spec("dask") is None:
        raise InputError(
            "open_cube needs dask, an optional dependency. "
            "Install it with `pip install 'agririsk[cube]'` (or `pip install 'dask[array]'`)."
        )
    import dask
    import dask.array as da

    reg = _as_region(region)
    if (bbox is None) == (parcel_id is None):
        raise InputError(
            "open_cube: give exactly one of bbox=(west, south, east, north) or parcel_id."
        )
    end_limit = pd.Timestamp(end).date() if end is not None else None
    items = load_items(reg.imagery_catalog, collection=reg.imagery_collection, until=end_limit)
    if start is not None:
        first = pd.Timestamp(start, tz="UTC")
        items = [i for i in items if i.datetime >= first]
    crs = CRS.from_user_input(reg.crs) if reg.crs else None
    if crs is None and items:
        crs = CRS.from_epsg(items[0].epsg) if items[0].epsg else None
    if crs is None:
        raise InputError(
            f"open_cube: no item of {reg.imagery_catalog} in the time range names a CRS; "
            'set crs = "EPSG:..." in region.toml.'
        )
    area4326 = _area(reg, bbox, parcel_id)
    items = [i for i in items if i.footprint is None or i.footprint.intersects(area4326)]
    if not items:
        raise InputError(
            f"open_cube: no item of {reg.imagery_catalog} covers the area between "
            f"{start or 'the first item'} and {end or 'the last item'}. Widen the dates or the area."
        )
    for item in items:
        missing = [b for b in bands if b not in item.assets]
        if missing:
            raise MissingBandError(
                f"item {item.id} has no {', '.join(missing)} asset; drop those bands from "
                "open_cube(bands=...) or the item from the time range."
            )
    res = resolution or (10.0 if any(i.sensor != LANDSAT for i in items) else 30.0)
    transform, height, width = _grid(area4326, crs, res, margin=2 if parcel_id else 0)

    arrays = []
    for item in items:
        task = dask.delayed(_read_item, pure=True)(
            item, tuple(bands), crs.to_wkt(), transform, height, width, cloud_buffer_m
        )
        arrays.append(da.from_delayed(task, shape=(len(bands), height, width), dtype=np.float32))
    cube = da.stack(arrays)  # (time, band, y, x)
    xs = transform.c + transform.a * (np.arange(width) + 0.5)
    ys = transform.f + transform.e * (np.arange(height) + 0.5)
    times = pd.DatetimeIndex([i.datetime for i in items]).tz_convert("UTC").tz_localize(None)
    coords: dict[str, Any] = {
        "time": times,
        "item_id": ("time", [i.id for i in items]),
        "y": ys,
        "x": xs,
        "spatial_ref": xr.DataArray(
            0,
            attrs={
                "crs_wkt": crs.to_wkt(),
                "spatial_ref": crs.to_wkt(),
                "GeoTransform": " ".join(str(v) for v in transform.to_gdal()),
            },
        ),
    }
    data = {
        b: xr.DataArray(
            cube[:, k],
            dims=("time", "y", "x"),
            attrs={
                "units": "1",
                "long_name": f"{b} surface reflectance",
                "grid_mapping": "spatial_ref",
            },
        )
        for k, b in enumerate(bands)
    }
    return xr.Dataset(data, coords=coords, attrs={"crs": crs.to_string(), "region": reg.name})


def _as_region(region: Any) -> Any:
    if isinstance(region, str | os.PathLike):
        from agririsk.region import Region  # the region room, imported only when a path is given

        return Region.from_toml(os.fspath(region))
    return region


def _area(
    region: Any, bbox: tuple[float, float, float, float] | None, parcel_id: str | None
) -> shapely.Geometry:
    """The area in EPSG:4326."""
    if bbox is not None:
        west, south, east, north = bbox
        if not (west < east and south < north):
            raise InputError(
                f"open_cube: bbox {bbox} must be (west, south, east, north) in degrees."
            )
        return shapely.box(west, south, east, north)
    import geopandas as gpd

    parcels = gpd.read_file(region.parcels_path)
    hit = parcels[parcels["parcel_id"].astype(str) == str(parcel_id)]
    if hit.empty:
        raise InputError(
            f"open_cube: parcel {parcel_id!r} is not in {region.parcels_path}. "
            "Check the parcel_id column."
        )
    return hit.to_crs(4326).geometry.union_all()


def _grid(area4326: shapely.Geometry, crs: CRS, res: float, margin: int) -> tuple[Affine, int, int]:
    """A north-up grid of ``res`` snapped to multiples of ``res`` covering the area."""
    to = Transformer.from_crs(4326, crs, always_xy=True)
    xy = shapely.get_coordinates(shapely.segmentize(area4326, 0.001))
    x, y = to.transform(xy[:, 0], xy[:, 1])
    eps = 1e-6  # coordinates a round trip through degrees moved by a hair stay on the pixel
    west = (np.floor(min(x) / res + eps) - margin) * res
    north = (np.ceil(max(y) / res - eps) + margin) * res
    east = (np.ceil(max(x) / res - eps) + margin) * res
    south = (np.floor(min(y) / res + eps) - margin) * res
    width, height = int(round((east - west) / res)), int(round((north - south) / res))
    return Affine(res, 0.0, west, 0.0, -res, north), height, width


def _read_item(
    item: SceneItem,
    bands: tuple[str, ...],
    crs_wkt: str,
    transform: Affine,
    height: int,
    width: int,
    cloud_buffer_m: float,
) -> np.ndarray:
    """(band, y, x) float32 reflectance of one item on the target grid, NaN where not clear."""
    mask_name = item.mask_band
    fill = {"scl": 0.0, "qa_pixel": 1.0}[mask_name]
    grid = {"crs": crs_wkt, "transform": transform, "width": width, "height": height}
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        with (
            rasterio.open(item.assets[mask_name].href) as src,
            WarpedVRT(src, resampling=Resampling.nearest, nodata=fill, **grid) as vrt,
        ):
            m = vrt.read(1)
        clear = clear_mask(m, mask_name)
        if cloud_buffer_m > 0:
            clear &= ~dilate(
                cloud_mask(m, mask_name), int(np.ceil(cloud_buffer_m / transform.a - 1e-9))
            )
        out = np.empty((len(bands), height, width), dtype=np.float32)
        for k, b in enumerate(bands):
            asset = item.assets[b]
            nodata = asset.nodata if asset.nodata is not None else 0.0
            with (
                rasterio.open(asset.href) as src,
                WarpedVRT(
                    src, resampling=Resampling.nearest, src_nodata=nodata, nodata=nodata, **grid
                ) as vrt,
            ):
                dn = vrt.read(1)
            clear &= dn != nodata
            out[k] = dn.astype(np.float32) * np.float32(asset.scale) + np.float32(asset.offset)
    out[:, ~clear] = np.nan
    return out
