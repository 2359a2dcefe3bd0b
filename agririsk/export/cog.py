"""Writing Cloud-Optimized GeoTIFFs with rasterio's GDAL COG driver."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.io import MemoryFile

__all__ = ["write_cog"]


def write_cog(
    path: str | Path,
    data: np.ndarray,
    *,
    transform: Affine,
    crs: str | int | rasterio.crs.CRS,
    nodata: float | int | None = None,
    descriptions: list[str] | None = None,
    units: list[str] | None = None,
    tags: Mapping[str, str] | None = None,
    band_tags: list[Mapping[str, str]] | None = None,
    blocksize: int = 256,
    overviews: bool = True,
    resampling: str = "nearest",
    compress: str = "DEFLATE",
) -> Path:
    """Write ``data`` (bands, y, x) or (y, x) as a Cloud-Optimized GeoTIFF, atomically.

    Parameters
    ----------
    path : destination file; written to a temporary file beside it, then renamed.
    data : array of one dtype; 2-D arrays are written as one band.
    transform, crs : georeferencing of the grid.
    nodata : value marking missing pixels, stored in the file.
    descriptions, units : per band, stored as GDAL band description and unit type.
    tags, band_tags : GeoTIFF metadata for the dataset and per band.
    blocksize : internal tile size in pixels (COG tiles are square).
    overviews : build internal overviews (``AUTO``) or none.
    resampling : overview resampling method (``nearest`` for classes, ``average`` for values).

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(crs, int):
        crs = f"EPSG:{crs}"
    arr = data[np.newaxis] if data.ndim == 2 else data
    count, height, width = arr.shape
    profile = {
        "driver": "GTiff",
        "count": count,
        "height": height,
        "width": width,
        "dtype": arr.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    fd, tmp = tempfile.mkstemp(suffix=".tif.part", dir=path.parent)
    os.close(fd)
    try:
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(arr)
                if units:
                    dst.units = tuple(units)
                for i in range(count):
                    if descriptions:
                        dst.set_band_description(i + 1, descriptions[i])
                    if band_tags:
                        dst.update_tags(i + 1, **band_tags[i])
                if tags:
                    dst.update_tags(**tags)
            with mem.open() as src:
                rasterio.shutil.copy(
                    src,
                    tmp,
                    driver="COG",
                    COMPRESS=compress,
                    BLOCKSIZE=blocksize,
                    OVERVIEWS="AUTO" if overviews else "NONE",
                    OVERVIEW_RESAMPLING=resampling.upper(),
                    BIGTIFF="IF_SAFER",
                )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
