"""Per-parcel statistics of one item, read block by block: the hot path (PERFORMANCE.md).

For each distinct pixel grid (CRS + transform + shape) the parcels are rasterized once
into a *label raster* (``int32``; 0 = no parcel, ``i + 1`` = the i-th parcel), kept in
memory and on disk in the workspace. An item is then read one internal tile at a time
(red drives; other bands are read for the same ground window, resampled with nearest
neighbour to the driver's shape), masked, turned into NDVI and reduced with
``np.bincount`` over the labels. Memory is one label raster plus a few tiles.

Statistics per parcel and item (``n`` = clear pixels, ``x_i`` their NDVI):

.. math::

    \\bar{x} = \\frac{1}{n}\\sum x_i, \\qquad
    s = \\sqrt{\\frac{1}{n}\\sum x_i^2 - \\bar{x}^2}\\ (\\text{ddof}=0)

A pixel is *clear* when its red and NIR DNs are not nodata, the mask (SCL or QA_PIXEL)
marks it clear, and NDVI is defined (see :func:`agririsk.imagery.indices.ndvi`).
``ndvi_mean_lowblue`` is the robust statistic: the mean over clear pixels whose blue
reflectance is at most :data:`BLUE_HAZE` (0.2), which drops residual cloud and haze
the mask missed; it needs the blue band and is NaN when the item has none.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.windows import Window

from agririsk.errors import CRSMismatchError, MissingColumnError
from agririsk.imagery.indices import ndvi
from agririsk.imagery.masks import clear_mask
from agririsk.imagery.stac import SceneItem

__all__ = [
    "ALGORITHM_VERSION",
    "COLUMNS",
    "Grid",
    "LabelRaster",
    "ParcelSet",
    "LabelCache",
    "zonal_item",
]

logger = logging.getLogger(__name__)

#: Changes whenever the numbers produced here would change; part of every cache key.
ALGORITHM_VERSION = "zonal-1"
#: Blue reflectance above which a clear pixel is taken as residual cloud / haze.
BLUE_HAZE = 0.2
#: Share of labelled pixels above which a window is reduced whole rather than gathered.
_DENSE = 0.5
#: Columns of the per-item table, in order.
COLUMNS = [
    "parcel_id",
    "item_id",
    "datetime",
    "n_pixels",
    "n_clear",
    "clear_fraction",
    "ndvi_mean",
    "ndvi_std",
    "ndvi_mean_lowblue",
]


@dataclass(frozen=True)
class Grid:
    """A pixel grid: CRS, affine transform and shape (rows, cols)."""

    crs: CRS
    transform: Affine
    height: int
    width: int

    @classmethod
    def of(cls, ds: DatasetReader) -> Grid:
        if ds.crs is None:
            raise CRSMismatchError(
                f"{ds.name} has no CRS. Write the CRS into the GeoTIFF (e.g. gdal_edit.py -a_srs)."
            )
        return cls(ds.crs, ds.transform, ds.height, ds.width)

    @property
    def key(self) -> str:
        text = "|".join(
            [
                self.crs.to_wkt(),
                ",".join(f"{v:.10g}" for v in tuple(self.transform)[:6]),
                f"{self.height}x{self.width}",
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ParcelSet:
    """Parcels ready for reduction: ids, geometries, their EPSG:4326 copy and a content key.

    Build it with :meth:`from_frame`; it is cheap to pickle to worker processes.
    """

    ids: npt.NDArray[np.object_]
    frame: gpd.GeoDataFrame
    wgs84: gpd.GeoSeries
    key: str

    @classmethod
    def from_frame(cls, parcels: gpd.GeoDataFrame) -> ParcelSet:
        if "parcel_id" not in parcels.columns:
            raise MissingColumnError(
                "parcels have no 'parcel_id' column. Add one unique id per field (CONTRACTS §3)."
            )
        if parcels.crs is None:
            raise CRSMismatchError(
                "parcels have no CRS. Give the parcel file a CRS (e.g. EPSG:4326)."
            )
        geoms = parcels.geometry.to_numpy()
        invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
        if invalid.any():  # the parcels reader repairs and reports; this only keeps GEOS safe
            geoms = geoms.copy()
            geoms[invalid] = shapely.make_valid(geoms[invalid])
        frame = gpd.GeoDataFrame(
            {"parcel_id": parcels["parcel_id"].astype(str).to_numpy()},
            geometry=geoms,
            crs=parcels.crs,
        )
        digest = hashlib.sha256()
        digest.update(ALGORITHM_VERSION.encode())
        digest.update(frame.crs.to_wkt().encode())
        wkb = shapely.to_wkb(frame.geometry.to_numpy(), hex=False)
        for pid, blob in zip(frame["parcel_id"], wkb, strict=True):
            digest.update(pid.encode() + b"\0" + (blob or b"") + b"\0")
        ids = frame["parcel_id"].to_numpy(dtype=object)
        return cls(ids, frame, frame.geometry.to_crs(4326), digest.hexdigest()[:16])

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class LabelRaster:
    """Parcels burnt into one grid.

    Attributes
    ----------
    grid : the grid.
    labels : int32; 0 = no parcel, ``i + 1`` = parcel ``i`` of the ParcelSet. It covers
        only the parcels' bounding window of the grid, whose upper-left pixel is
        ``origin`` (row, col): a small region inside a 110 km tile costs only its own size.
    extra : int64 (k, 3) rows of (label, row, col) for parcels that own no pixel centre
        (smaller than a pixel or overlapped): they are read at the pixel under their
        representative point.
    counts : int64 (n + 1,) pixels per label, extras included; ``counts[0]`` unused.
    """

    grid: Grid
    labels: npt.NDArray[np.int32]
    extra: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    origin: tuple[int, int] = (0, 0)

    def window_labels(self, r0: int, c0: int, h: int, w: int) -> npt.NDArray[np.int32] | None:
        """Labels of grid window (r0, c0, h, w), or None when it holds no labelled pixel."""
        R0, C0 = self.origin
        R1, C1 = R0 + self.labels.shape[0], C0 + self.labels.shape[1]
        top, left, bottom, right = max(r0, R0), max(c0, C0), min(r0 + h, R1), min(c0 + w, C1)
        if top >= bottom or left >= right:
            return None
        part = self.labels[top - R0 : bottom - R0, left - C0 : right - C0]
        if (top, left, bottom, right) == (r0, c0, r0 + h, c0 + w):
            return np.asarray(part)
        out = np.zeros((h, w), dtype=np.int32)
        out[top - r0 : bottom - r0, left - c0 : right - c0] = part
        return out


def build_label_raster(parcels: ParcelSet, grid: Grid) -> LabelRaster:
    """Rasterize ``parcels`` into ``grid`` (pixel-centre rule, later parcels win overlaps)."""
    n = len(parcels)
    geoms = parcels.frame.geometry.to_crs(grid.crs).to_numpy()
    bounds = rasterio.transform.array_bounds(grid.height, grid.width, grid.transform)
    west, south, east, north = bounds
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ok &= shapely.intersects(geoms, shapely.box(west, south, east, north))
    idx = np.flatnonzero(ok)
    r0, c0, r1, c1 = 0, 0, 0, 0
    if idx.size:  # the parcels' bounding window of the grid, one pixel of margin
        minx, miny, maxx, maxy = shapely.total_bounds(geoms[idx])
        cols, rows = ~grid.transform @ (np.array([minx, maxx]), np.array([maxy, miny]))
        r0, r1 = sorted(rows.tolist())
        c0, c1 = sorted(cols.tolist())
        r0, c0 = max(int(np.floor(r0)) - 1, 0), max(int(np.floor(c0)) - 1, 0)
        r1, c1 = min(int(np.ceil(r1)) + 1, grid.height), min(int(np.ceil(c1)) + 1, grid.width)
    labels = np.zeros((r1 - r0, c1 - c0), dtype=np.int32)
    if idx.size:
        rasterio.features.rasterize(
            ((geoms[i], int(i) + 1) for i in idx),
            out=labels,
            transform=grid.transform @ Affine.translation(c0, r0),
            all_touched=False,
        )
    counts = np.bincount(labels.ravel(), minlength=n + 1).astype(np.int64)
    extra = np.zeros((0, 3), dtype=np.int64)
    empty = idx[counts[idx + 1] == 0]
    if empty.size:
        pts = shapely.point_on_surface(geoms[empty])
        cols, rows = ~grid.transform @ (shapely.get_x(pts), shapely.get_y(pts))
        rows, cols = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
        inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        extra = np.column_stack([empty[inside] + 1, rows[inside], cols[inside]])
        counts[empty[inside] + 1] = 1
    extra_arr = np.asarray(extra, dtype=np.int64).reshape(-1, 3)
    logger.debug("label raster %s: %d parcels, %d by centroid", grid.key, idx.size, len(extra_arr))
    return LabelRaster(grid, labels, extra_arr, counts, (r0, c0))


@dataclass
class LabelCache:
    """Label rasters by grid: in memory for this process, on disk under ``workspace/labels``.

    Files are ``<grid key>-<parcel key>.labels.npy`` (memory-mapped when read back) and
    ``.meta.npz`` (extras and counts), each written atomically.
    """

    parcels: ParcelSet
    workspace: Path | None = None
    _memory: dict[str, LabelRaster] = field(default_factory=dict, repr=False)

    def get(self, grid: Grid) -> LabelRaster:
        key = grid.key
        if key in self._memory:
            return self._memory[key]
        lr = self._load(grid)
        if lr is None:
            lr = build_label_raster(self.parcels, grid)
            self._save(lr)
        self._memory[key] = lr
        return lr

    def _paths(self, grid: Grid) -> tuple[Path, Path] | None:
        if self.workspace is None:
            return None
        stem = Path(self.workspace) / "labels" / f"{grid.key}-{self.parcels.key}"
        return stem.with_suffix(".labels.npy"), stem.with_suffix(".meta.npz")

    def _load(self, grid: Grid) -> LabelRaster | None:
        paths = self._paths(grid)
        if paths is None or not (paths[0].is_file() and paths[1].is_file()):
            return None
        try:
            labels = np.load(paths[0], mmap_mode="r")
            with np.load(paths[1]) as meta:
                extra, counts = meta["extra"], meta["counts"]
                origin = (int(meta["origin"][0]), int(meta["origin"][1]))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("label raster %s unreadable (%s); rebuilding", paths[0], exc)
            return None
        if len(counts) != len(self.parcels) + 1:
            return None
        return LabelRaster(grid, labels, extra, counts, origin)

    def _save(self, lr: LabelRaster) -> None:
        paths = self._paths(lr.grid)
        if paths is None:
            return
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        _atomic(
            paths[1],
            lambda f: np.savez(f, extra=lr.extra, counts=lr.counts, origin=np.array(lr.origin)),
        )
        _atomic(paths[0], lambda f: np.save(f, lr.labels))


def _atomic(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    fd, tmp = tempfile.mkstemp(suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- reading


def _windows(ds: DatasetReader) -> list[Window]:
    """Read windows following the file's internal tiles (strips grouped to >= 256 rows)."""
    bh, bw = ds.block_shapes[0]
    if bw >= ds.width and bh < 256:  # striped file: group strips
        bh = -(-256 // bh) * bh
    return [
        Window(c, r, min(bw, ds.width - c), min(bh, ds.height - r))
        for r in range(0, ds.height, bh)
        for c in range(0, ds.width, bw)
    ]


def _read_like(
    ds: DatasetReader, win: Window, driver: Grid, same: bool, fill: float = 0
) -> np.ndarray:
    """Band 1 of ``ds`` over the ground of driver window ``win``, on the driver's pixels.

    A band on another grid of the same CRS (20 m SCL under 10 m red) is read for the
    window's bounds with ``out_shape`` and nearest-neighbour resampling; ground outside
    that band's extent gets ``fill`` (a nodata / fill value, so it never counts as clear).
    """
    if same:
        return ds.read(1, window=win)
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


def zonal_item(item: SceneItem, cache: LabelCache) -> pd.DataFrame:
    """Per-parcel NDVI statistics of one item (columns :data:`COLUMNS`).

    Parameters
    ----------
    item : the scene; its ``red``, ``nir`` and mask assets are read (and ``blue`` if present).
    cache : label rasters of the parcel set, by grid.

    Returns
    -------
    DataFrame with one row per parcel intersecting the item footprint (or, without a
    footprint, per parcel with pixels in the grid); see the module notes for the statistics.

    Raises
    ------
    rasterio.errors.RasterioError
        An asset cannot be opened or decoded.
    CRSMismatchError
        An asset has no CRS, or the bands of the item are on different CRSs.
    """
    mask_name = item.mask_band
    names = ["red", "nir", mask_name] + (["blue"] if "blue" in item.assets else [])
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), ExitStack() as stack:
        dss = {b: stack.enter_context(rasterio.open(item.assets[b].href)) for b in names}
        return _reduce(item, cache, dss, mask_name)


def _reduce(
    item: SceneItem, cache: LabelCache, dss: dict[str, DatasetReader], mask_name: str
) -> pd.DataFrame:
    driver = dss["red"]
    grid = Grid.of(driver)
    same = {}
    for b, ds in dss.items():
        g = Grid.of(ds)
        if g.crs != grid.crs:
            raise CRSMismatchError(
                f"item {item.id}: band {b} is in {g.crs}, red in {grid.crs}; "
                "all bands of one item must share a CRS."
            )
        same[b] = g == grid
    lr = cache.get(grid)
    n1 = len(cache.parcels) + 1
    sums = {k: np.zeros(n1, np.float64) for k in ("n", "x", "xx", "n_lb", "x_lb")}
    bands = [b for b in ("red", "nir", mask_name, "blue") if b in dss]
    extra = lr.extra

    def plan(win: Window) -> tuple[np.ndarray | None, np.ndarray] | None:
        """Pixels of the window to evaluate (flat indices, None = all) and their labels."""
        r0, c0 = int(win.row_off), int(win.col_off)
        h, w = int(win.height), int(win.width)
        block = lr.window_labels(r0, c0, h, w)
        flat = block.ravel() if block is not None else np.zeros(h * w, dtype=np.int32)
        pix = np.flatnonzero(flat) if block is not None else np.zeros(0, dtype=np.intp)
        ex = extra[
            (extra[:, 1] >= r0)
            & (extra[:, 1] < r0 + h)
            & (extra[:, 2] >= c0)
            & (extra[:, 2] < c0 + w)
        ]
        if not pix.size and not ex.size:
            return None
        # Dense windows are reduced whole (label 0 collects the rest); sparse ones gathered.
        dense = pix.size > _DENSE * flat.size and not ex.size
        labs = flat if dense else flat[pix]
        if ex.size:  # parcels without a pixel centre: the pixel under their point
            pix = np.concatenate([pix, (ex[:, 1] - r0) * w + ex[:, 2] - c0])
            labs = np.concatenate([labs, ex[:, 0].astype(labs.dtype)])
        return (None if dense else pix), labs

    # outside a band's extent: its nodata, SCL class 0 (no data), QA_PIXEL bit 0 (fill)
    fills: dict[str, float] = {b: item.assets[b].nodata or 0.0 for b in bands}
    fills["qa_pixel"] = 1.0

    def read(win: Window) -> dict[str, np.ndarray]:
        return {b: _read_like(dss[b], win, grid, same[b], fills[b]).ravel() for b in bands}

    for win in _windows(driver):
        todo = plan(win)
        if todo is None:
            continue  # no parcel here: do not even decode the tile
        pix, labs = todo
        data = read(win)
        if pix is not None:
            data = {b: a[pix] for b, a in data.items()}
        _accumulate(item, mask_name, data, labs, sums)

    n_lb = sums["n_lb"] if "blue" in dss else None
    return _table(item, cache.parcels, lr, sums["n"], sums["x"], sums["xx"], n_lb, sums["x_lb"])


def _reflectance(dn: np.ndarray, scale: float, offset: float) -> np.ndarray:
    return dn.astype(np.float32) * np.float32(scale) + np.float32(offset)


def _accumulate(
    item: SceneItem,
    mask_name: str,
    px: dict[str, np.ndarray],
    labs: np.ndarray,
    sums: dict[str, np.ndarray],
) -> None:
    """Add pixels ``px`` (1-D DNs per band) of parcels ``labs`` to ``sums`` where clear.

    Pixels that are not clear are sent to label 0 rather than selected out: one
    multiplication instead of boolean indexing, which costs more than the bincounts.
    """
    a_red, a_nir = item.assets["red"], item.assets["nir"]
    ok = clear_mask(px[mask_name], mask_name)
    if a_red.nodata is not None:
        ok &= px["red"] != a_red.nodata
    if a_nir.nodata is not None:
        ok &= px["nir"] != a_nir.nodata
    v = ndvi(
        _reflectance(px["red"], a_red.scale, a_red.offset),
        _reflectance(px["nir"], a_nir.scale, a_nir.offset),
    )
    ok &= ~np.isnan(v)
    lab_ok = labs * ok  # not clear -> label 0
    x = np.where(ok, v, np.float32(0)).astype(np.float64)
    n1 = len(sums["n"])
    sums["n"] += np.bincount(lab_ok, minlength=n1)
    sums["x"] += np.bincount(lab_ok, weights=x, minlength=n1)
    sums["xx"] += np.bincount(lab_ok, weights=x * x, minlength=n1)
    if "blue" in px:
        a_blue = item.assets["blue"]
        lab_lb = lab_ok * (_reflectance(px["blue"], a_blue.scale, a_blue.offset) <= BLUE_HAZE)
        sums["n_lb"] += np.bincount(lab_lb, minlength=n1)
        sums["x_lb"] += np.bincount(lab_lb, weights=x, minlength=n1)


def _table(
    item: SceneItem,
    parcels: ParcelSet,
    lr: LabelRaster,
    cnt: np.ndarray,
    tot: np.ndarray,
    tot2: np.ndarray,
    cnt_lb: np.ndarray | None,
    tot_lb: np.ndarray,
) -> pd.DataFrame:
    if item.footprint is not None:
        rows = np.flatnonzero(parcels.wgs84.intersects(item.footprint).to_numpy())
    else:
        rows = np.flatnonzero(lr.counts[1:] > 0)
    lab = rows + 1
    n = cnt[lab]
    npx = lr.counts[lab]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = tot[lab] / n
        var = np.maximum(tot2[lab] / n - mean * mean, 0.0)
        frac = n / npx
        mean_lb = tot_lb[lab] / cnt_lb[lab] if cnt_lb is not None else np.full(len(lab), np.nan)
    return pd.DataFrame(
        {
            "parcel_id": pd.Series(parcels.ids[rows], dtype="str"),
            "item_id": pd.Series([item.id] * len(rows), dtype="str"),
            "datetime": pd.DatetimeIndex(np.full(len(rows), item.datetime.as_unit("ns").value))
            .tz_localize("UTC")
            .as_unit("ns"),
            "n_pixels": npx.astype(np.int64),
            "n_clear": n.astype(np.int64),
            "clear_fraction": frac,
            "ndvi_mean": mean,
            "ndvi_std": np.sqrt(var),
            "ndvi_mean_lowblue": mean_lb,
        },
        columns=COLUMNS,
    )
