"""Block reading for the hot path: tile windows, and other bands put on the driver's pixels.

Private to :mod:`agririsk.imagery.zonal`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

if TYPE_CHECKING:
    from agririsk.imagery.zonal import Grid

__all__ = ["Fit", "fit", "read_halo", "read_like", "windows"]


def windows(ds: DatasetReader) -> list[Window]:
    """Read windows following the file's internal tiles (strips grouped to >= 256 rows)."""
    bh, bw = ds.block_shapes[0]
    if bw >= ds.width and bh < 256:  # striped file: group strips
        bh = -(-256 // bh) * bh
    return [
        Window(c, r, min(bw, ds.width - c), min(bh, ds.height - r))
        for r in range(0, ds.height, bh)
        for c in range(0, ds.width, bw)
    ]


Fit = bool | tuple[int, int, int]


def fit(ds: DatasetReader | WarpedVRT, driver: Grid) -> Fit:
    """How a band's grid sits on the driver's: True (same grid), ``(k, dr, dc)`` when each
    of its pixels is exactly k × k driver pixels and its origin is ``(dr, dc)`` driver
    pixels from the driver's (20 m SCL under 10 m red), else False (resample)."""
    t, d = ds.transform, driver.transform
    if (ds.crs, t, ds.height, ds.width) == (driver.crs, d, driver.height, driver.width):
        return True
    if ds.crs != driver.crs or t.b or t.d or d.b or d.d:
        return False
    kx, ky = t.a / d.a, t.e / d.e
    k = int(round(kx))
    if k < 2 or abs(kx - k) > 1e-9 or abs(ky - k) > 1e-9:
        return False
    dc, dr = (t.c - d.c) / d.a, (t.f - d.f) / d.e
    if abs(dc - round(dc)) > 1e-6 or abs(dr - round(dr)) > 1e-6:
        return False
    return k, int(round(dr)), int(round(dc))


def _read_coarse(
    ds: DatasetReader | WarpedVRT, win: Window, k: int, dr: int, dc: int, fill: float
) -> np.ndarray:
    """Nearest-neighbour upsampling by pixel repetition: the band's own pixels, read natively.

    Same values as GDAL's nearest resampling on an aligned integer-factor grid, at a
    fraction of the cost (no warping kernel)."""
    r0, c0 = int(win.row_off) - dr, int(win.col_off) - dc  # driver pixels from band origin
    h, w = int(win.height), int(win.width)
    R0, C0 = r0 // k, c0 // k
    R1, C1 = -(-(r0 + h) // k), -(-(c0 + w) // k)
    top, left = max(R0, 0), max(C0, 0)
    bottom, right = min(R1, ds.height), min(C1, ds.width)
    if (top, left, bottom, right) == (R0, C0, R1, C1):
        small = ds.read(1, window=Window(C0, R0, C1 - C0, R1 - R0))
    else:
        small = np.full((R1 - R0, C1 - C0), fill, dtype=ds.dtypes[0])
        if top < bottom and left < right:
            small[top - R0 : bottom - R0, left - C0 : right - C0] = ds.read(
                1, window=Window(left, top, right - left, bottom - top)
            )
    big = np.repeat(np.repeat(small, k, axis=0), k, axis=1)
    return big[r0 - R0 * k : r0 - R0 * k + h, c0 - C0 * k : c0 - C0 * k + w]


def read_like(
    ds: DatasetReader | WarpedVRT, win: Window, driver: Grid, same: Fit, fill: float = 0
) -> np.ndarray:
    """Band 1 of ``ds`` over the ground of driver window ``win``, on the driver's pixels.

    A band on another grid of the same CRS (20 m SCL under 10 m red) is read for the
    window's bounds with ``out_shape`` and nearest-neighbour resampling; ground outside
    that band's extent gets ``fill`` (a nodata / fill value, so it never counts as clear).
    """
    if same is True:
        return ds.read(1, window=win)
    if same is not False:
        return _read_coarse(ds, win, *same, fill)
    t = driver.transform
    west, north = t @ (win.col_off, win.row_off)
    east, south = t @ (win.col_off + win.width, win.row_off + win.height)
    src_win = ds.window(min(west, east), min(south, north), max(west, east), max(south, north))
    inside = (
        src_win.col_off >= -1e-6
        and src_win.row_off >= -1e-6
        and src_win.col_off + src_win.width <= ds.width + 1e-6
        and src_win.row_off + src_win.height <= ds.height + 1e-6
    )
    return ds.read(
        1,
        window=src_win,
        out_shape=(int(win.height), int(win.width)),
        resampling=Resampling.nearest,
        boundless=not inside,
        fill_value=fill,
    )


def read_halo(
    ds: DatasetReader | WarpedVRT, win: Window, driver: Grid, same: Fit, fill: float, halo: int
) -> np.ndarray:
    """Like :func:`_read_like` for ``win`` grown by ``halo`` pixels; beyond the grid: ``fill``."""
    if halo <= 0:
        return read_like(ds, win, driver, same, fill)
    r0, c0 = int(win.row_off) - halo, int(win.col_off) - halo
    r1, c1 = int(win.row_off + win.height) + halo, int(win.col_off + win.width) + halo
    top, left = max(r0, 0), max(c0, 0)
    bottom, right = min(r1, driver.height), min(c1, driver.width)
    core = read_like(ds, Window(left, top, right - left, bottom - top), driver, same, fill)
    if (top, left, bottom, right) == (r0, c0, r1, c1):
        return core
    pad = ((top - r0, r1 - bottom), (left - c0, c1 - right))
    return np.pad(core, pad, constant_values=fill)
