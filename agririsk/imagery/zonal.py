"""Per-parcel statistics of one item, read block by block: the hot path (PERFORMANCE.md).

For each distinct pixel grid (CRS + transform + shape) the parcels are rasterized once
into a *label raster* (``int32``; 0 = no parcel, ``i + 1`` = the i-th parcel), kept in
memory and on disk in the workspace. Items in several UTM zones or resolutions are
therefore not resampled: the *parcels* are projected onto each item's own grid, which
gives the same parcel statistics as reprojecting the pixels to a working grid (see the
Landsat / mixed-CRS equivalence test) without resampling error and at no warping cost.

An item is read one internal tile at a time (red drives; other bands are read for the
same ground window, resampled with nearest neighbour to the driver's shape; a band in
another CRS is warped on the fly), masked, turned into indices and reduced with
``np.bincount`` over the labels (:class:`agririsk.imagery.stats.Accumulator`). The mask
band is read with a halo of ``buffer`` pixels so that clouds and shadows are buffered
across tile edges. Memory is one label raster plus a few tiles. With ``threads`` > 1 the
bands are split into groups of about equal pixels, each read (and the mask buffered) by a
thread of its own a few windows ahead, while the calling thread reduces the windows in
order: decoding then uses every core, and the sums are the same bits as one thread's.

A pixel is *clear* when every band read has data (not nodata), the mask (SCL or
QA_PIXEL) marks it clear, it is farther than the buffer from a cloud or shadow, and its
index is defined (see :mod:`agririsk.imagery.indices`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from itertools import islice
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
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from agririsk.errors import CRSMismatchError, MissingColumnError, NoDataError
from agririsk.imagery._plans import load_plans, plans_version, save_plans
from agririsk.imagery._read import (
    Fit,
    TileCache,
    fit,
    read_coarse,
    read_halo,
    read_like,
    windows,
)
from agririsk.imagery.masks import clear_mask, cloud_mask, dilate
from agririsk.imagery.stac import SceneItem
from agririsk.imagery.stats import COLUMNS, INDEX_BANDS, INDICES, Accumulator, CoarseBands

__all__ = [
    "ALGORITHM_VERSION",
    "COLUMNS",
    "Grid",
    "LabelRaster",
    "ParcelSet",
    "LabelCache",
    "zonal_item",
    "CLOUD_BUFFER_M",
]

logger = logging.getLogger(__name__)

#: Changes whenever the numbers produced here would change; part of every cache key.
ALGORITHM_VERSION = "zonal-2"
#: Default buffer around clouds and shadows, metres (2 pixels of Sentinel-2 at 10 m).
CLOUD_BUFFER_M = 20.0
#: GDAL block cache per process, MB: enough for a row of tiles of every band (re-read across
#: windows), small enough that memory does not grow with the image (GDAL's default is 5 %
#: of RAM, filled by every tile read).
_GDAL_CACHE_MB = 64
#: Share of labelled pixels above which a window is reduced whole rather than gathered.
_DENSE = 0.5


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
    def from_frame(cls, parcels: gpd.GeoDataFrame, *, key: str | None = None) -> ParcelSet:
        """The parcel set of ``parcels``.

        ``key``: the key :meth:`from_frame` gave these same parcels before (a caller's
        cache, e.g. a monitoring run's), whose geometries were all valid: they are then
        neither checked nor hashed again (~30 ms at 20,000 parcels).
        """
        if "parcel_id" not in parcels.columns:
            raise MissingColumnError(
                "parcels have no 'parcel_id' column. Add one unique id per field (CONTRACTS §3)."
            )
        if parcels.crs is None:
            raise CRSMismatchError(
                "parcels have no CRS. Give the parcel file a CRS (e.g. EPSG:4326)."
            )
        geoms = parcels.geometry.to_numpy()
        invalid = (
            np.zeros(0, bool) if key else ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
        )
        if invalid.any():  # the parcels reader repairs and reports; this only keeps GEOS safe
            geoms = geoms.copy()
            geoms[invalid] = shapely.make_valid(geoms[invalid])
        frame = gpd.GeoDataFrame(
            {"parcel_id": parcels["parcel_id"].astype(str).to_numpy()},
            geometry=geoms,
            crs=parcels.crs,
        )
        ids = frame["parcel_id"].to_numpy(dtype=object)
        if key:
            return cls(ids, frame, frame.geometry.to_crs(4326), key)
        digest = hashlib.sha256()
        digest.update(ALGORITHM_VERSION.encode())
        digest.update(frame.crs.to_wkt().encode())
        wkb = shapely.to_wkb(frame.geometry.to_numpy(), hex=False)
        for pid, blob in zip(frame["parcel_id"], wkb, strict=True):
            digest.update(pid.encode() + b"\0" + (blob or b"") + b"\0")
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
    plans: dict = field(default_factory=dict, compare=False, repr=False)

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
            _shapes(geoms[idx], idx + 1),
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


def _shapes(geoms: np.ndarray, values: np.ndarray) -> Iterable[tuple[object, int]]:
    """``(GeoJSON-like polygon, value)`` pairs for :func:`rasterio.features.rasterize`.

    Built from the coordinates in one array (``shapely.to_ragged_array``) instead of each
    geometry's ``__geo_interface__``: 0.08 instead of 0.28 s CPU at 20,000 parcels, the
    same pixels. Other geometry types (collections left by ``make_valid``) go through
    ``__geo_interface__``.
    """
    try:
        kind, coords, offsets = shapely.to_ragged_array(geoms)
    except (ValueError, NotImplementedError):
        kind = None
    if kind not in (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON):
        return zip(geoms, values.tolist(), strict=True)
    rings = np.split(coords[:, :2], offsets[0][1:-1])
    polys = [
        rings[a:b] for a, b in zip(offsets[1][:-1].tolist(), offsets[1][1:].tolist(), strict=True)
    ]
    if kind == shapely.GeometryType.POLYGON:
        shapes = [{"type": "Polygon", "coordinates": p} for p in polys]
    else:
        multi = offsets[2].tolist()
        shapes = [
            {"type": "MultiPolygon", "coordinates": polys[a:b]}
            for a, b in zip(multi[:-1], multi[1:], strict=True)
        ]
    return zip(shapes, values.tolist(), strict=True)


@dataclass
class LabelCache:
    """Label rasters by grid: in memory for this process, on disk under ``workspace/labels``.

    Files are ``<grid key>-<parcel key>.labels.npy`` (memory-mapped when read back) and
    ``.meta.npz`` (extras and counts), each written atomically; the window plans, once
    :meth:`keep_plans` wrote them, in ``.plans-<version>/`` (:mod:`agririsk.imagery._plans`).
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
        plans = self._plans_dir(grid)
        if plans is not None:
            lr.plans.update(load_plans(plans))
        self._memory[key] = lr
        return lr

    def keep_plans(self) -> None:
        """Write the window plans of the grids in memory that are not on disk yet."""
        for lr in self._memory.values():
            folder = self._plans_dir(lr.grid)
            if folder is not None:
                save_plans(lr.plans, folder)

    def _plans_dir(self, grid: Grid) -> Path | None:
        if self.workspace is None:
            return None
        version = plans_version(_plan, _DENSE)
        return Path(self.workspace) / "labels" / f"{grid.key}-{self.parcels.key}.plans-{version}"

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


def zonal_item(
    item: SceneItem,
    cache: LabelCache,
    *,
    indices: tuple[str, ...] = INDICES,
    cloud_buffer_m: float = CLOUD_BUFFER_M,
    threads: int = 1,
) -> pd.DataFrame:
    """Per-parcel index statistics of one item (columns :data:`~agririsk.imagery.stats.COLUMNS`).

    Parameters
    ----------
    item : the scene; the bands its ``indices`` need and its mask are read (only those).
    cache : label rasters of the parcel set, by grid.
    indices : which of ``ndvi evi ndmi ndwi`` to compute; NDVI always is. An index whose
        band the item lacks is left NaN.
    cloud_buffer_m : clear pixels within this distance (metres, rounded up to whole pixels
        of the item's red band) of a cloud or shadow are masked too; 0 for none.
    threads : threads that read the bands (each its share of them, a band's windows in
        order), while this one reduces the blocks; 1: this thread reads too. The numbers
        are the same bits for any value. More than one pays when this process has a core
        of its own for each (a single process on the machine, not one of a pool).

    Returns
    -------
    DataFrame with one row per parcel intersecting the item footprint (or, without a
    footprint, per parcel with pixels in the grid); see :mod:`agririsk.imagery.stats`.

    Raises
    ------
    rasterio.errors.RasterioError
        An asset cannot be opened or decoded (missing, truncated, not a GeoTIFF).
    CRSMismatchError
        An asset has no CRS, or its CRS is not the item's ``proj:epsg``.
    NoDataError
        Every pixel of the item over the parcels is nodata.
    """
    mask_name = item.mask_band
    use = tuple(
        i for i in dict.fromkeys(("ndvi", *indices)) if set(INDEX_BANDS[i]) <= set(item.assets)
    )
    bands = sorted(
        {b for i in use for b in INDEX_BANDS[i]},
        key=("blue", "green", "red", "nir", "swir16").index,
    )
    names = ["red", *[b for b in bands if b != "red"], mask_name]
    red_href = item.assets["red"].href
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        with rasterio.open(red_href) as ds:
            grid = Grid.of(ds)
        code = grid.crs.to_epsg() if item.epsg is not None else None
        if code is not None and code != item.epsg:  # an unidentifiable CRS gets the benefit
            raise CRSMismatchError(
                f"item {item.id}: {red_href} is tagged {grid.crs.to_string()} but the item says "
                f"EPSG:{item.epsg}. Fix the GeoTIFF's CRS (gdal_edit.py -a_srs EPSG:{item.epsg}) "
                "or the item's proj:epsg / proj:code."
            )
        # Outside the small block cache below: GDAL rasterizes in chunks sized by it and
        # would re-scan every polygon once per chunk (20x slower).
        lr = cache.get(grid)
    env = rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_CACHEMAX=_GDAL_CACHE_MB)
    with env, ExitStack() as stack:
        dss = {b: stack.enter_context(rasterio.open(item.assets[b].href)) for b in names}
        return _reduce(item, lr, cache.parcels, dss, stack, mask_name, use, cloud_buffer_m, threads)


def _reduce(
    item: SceneItem,
    lr: LabelRaster,
    parcels: ParcelSet,
    dss: dict[str, DatasetReader | WarpedVRT],
    stack: ExitStack,
    mask_name: str,
    use: tuple[str, ...],
    cloud_buffer_m: float,
    threads: int = 1,
) -> pd.DataFrame:
    driver = dss["red"]
    grid = lr.grid
    red_href = item.assets["red"].href
    # outside a band's extent: its nodata, SCL class 0 (no data), QA_PIXEL bit 0 (fill)
    fills: dict[str, float] = {b: item.assets[b].nodata or 0.0 for b in dss}
    fills["qa_pixel"] = 1.0
    same: dict[str, Fit] = {}
    for b, ds in list(dss.items()):
        g = Grid.of(ds)
        if g.crs != grid.crs:  # a band in another CRS: warp it onto the driver's grid
            logger.debug("item %s: band %s in %s warped to %s", item.id, b, g.crs, grid.crs)
            dss[b] = stack.enter_context(
                WarpedVRT(
                    ds,
                    crs=grid.crs,
                    transform=grid.transform,
                    width=grid.width,
                    height=grid.height,
                    resampling=Resampling.nearest,
                    nodata=fills[b],
                )
            )
            same[b] = True
        else:
            same[b] = fit(ds, grid)
    bands = [b for b in dss if b != mask_name]
    acc = Accumulator(len(parcels) + 1, use, "blue" in bands)
    res = abs(grid.transform.a)
    halo = int(np.ceil(cloud_buffer_m / res - 1e-9)) if cloud_buffer_m > 0 else 0
    meta = {b: (item.assets[b].nodata, item.assets[b].scale, item.assets[b].offset) for b in bands}
    coarse_fit, native, mask_native = _coarse_plan(same, bands, mask_name, halo)
    for b, ds in list(dss.items()):  # windows that do not follow the band's own tiles
        coarse_band = same[b] is not True and same[b] is not False
        if isinstance(ds, DatasetReader) and (coarse_band or (b == mask_name and halo)):
            dss[b] = TileCache(ds)  # type: ignore[assignment]
    reader = _WindowReader(dss, same, fills, grid, mask_name, halo, coarse_fit, native, mask_native)
    todo = [(win, plan) for win in windows(driver) if (plan := _plan(lr, win)) is not None]
    n_px = 0
    blocks = _blocks(reader, [win for win, _ in todo], _band_groups(dss, threads))
    with closing(blocks):
        for (_, (pix, local, labels)), block in zip(todo, blocks, strict=True):
            n_px += len(local)
            acc.n_data += acc.add_dn(
                block.dn, meta, block.ok, block.halo, pix, local, labels, block.coarse
            )
    if n_px and not acc.n_data:
        raise NoDataError(
            f"item {item.id}: every pixel over the parcels is nodata in {red_href} "
            "(an empty or failed acquisition). Remove the item from the catalog or fix the asset."
        )
    return _table(item, parcels, lr, acc)


def _coarse_plan(
    same: dict[str, Fit], bands: list[str], mask_name: str, halo: int
) -> tuple[tuple[int, int, int] | None, frozenset[str], bool]:
    """Which bands the compiled kernel reads at their own, coarser resolution.

    Bands on one ``k × k`` grid under the driver's (20 m SWIR and SCL under 10 m red) are
    passed to the kernel as they are and indexed, not upsampled: the same values as
    nearest-neighbour upsampling at a fraction of the cost. The mask band too, when the
    cloud buffer is a whole number of its pixels (a square buffer of ``halo`` driver pixels
    around upsampled cells is then exactly one of ``halo / k`` cells). Returns ``(fit,
    bands, mask)``; ``fit`` None when nothing is coarse or the NumPy path is used.
    """
    from agririsk.imagery import _fused

    if not _fused.HAVE_NUMBA:
        return None, frozenset(), False
    fits = [f for b in (mask_name, *bands) if isinstance(f := same[b], tuple)]
    if not fits:
        return None, frozenset(), False
    fit_ = fits[0]
    native = frozenset(b for b in bands if same[b] == fit_)
    mask_native = same[mask_name] == fit_ and halo % fit_[0] == 0
    if not native and not mask_native:
        return None, frozenset(), False
    return fit_, native, mask_native


# --------------------------------------------------------------------------- window reads

#: Windows read ahead of the one being reduced when the bands are read by threads: enough
#: to keep the readers busy while a block is reduced, a few MB of memory per window.
READ_AHEAD = 4


@dataclass(frozen=True)
class _Part:
    """What one group of bands gives for a window: DN, and the clear mask if it has the mask."""

    dn: dict[str, np.ndarray]
    ok: np.ndarray | None
    halo: int
    rows: np.ndarray | None
    cols: np.ndarray | None


@dataclass(frozen=True)
class _Block:
    """Everything :meth:`Accumulator.add_dn` needs of one window."""

    dn: dict[str, np.ndarray]
    ok: np.ndarray
    halo: int
    coarse: CoarseBands | None


@dataclass(frozen=True)
class _WindowReader:
    """How an item's bands are read under a driver window (see :func:`_reduce`).

    :meth:`read` reads some of the bands; :meth:`block` puts the parts of one window
    together. Each band's dataset is only ever read by one thread at a time, in window
    order (its :class:`TileCache` relies on it): :func:`_blocks` gives every group of bands
    one reader thread.
    """

    dss: dict[str, DatasetReader | WarpedVRT]
    same: dict[str, Fit]
    fills: dict[str, float]
    grid: Grid
    mask_name: str
    halo: int
    coarse_fit: tuple[int, int, int] | None
    native: frozenset[str]
    mask_native: bool

    def read(self, win: Window, names: tuple[str, ...]) -> _Part:
        """Bands ``names`` under ``win`` (the mask as its buffered clear mask)."""
        dn: dict[str, np.ndarray] = {}
        rows = cols = None
        for b in names:
            if b == self.mask_name:
                continue
            if self.coarse_fit is not None and b in self.native:
                dn[b], rows, cols = read_coarse(self.dss[b], win, *self.coarse_fit, self.fills[b])
            else:
                dn[b] = read_like(self.dss[b], win, self.grid, self.same[b], self.fills[b])
        if self.mask_name not in names:
            return _Part(dn, None, 0, rows, cols)
        mask, fill, halo = self.dss[self.mask_name], self.fills[self.mask_name], self.halo
        if self.coarse_fit is not None and self.mask_native:
            halo //= self.coarse_fit[0]
            shape = (self.grid.height, self.grid.width)
            m, rows, cols = read_coarse(mask, win, *self.coarse_fit, fill, halo, shape)
        else:
            m = read_halo(mask, win, self.grid, self.same[self.mask_name], fill, halo)
        ok = clear_mask(m, self.mask_name)
        if halo:
            cloudy = cloud_mask(m, self.mask_name)
            if cloudy.any():
                ok &= ~dilate(cloudy, halo)
        return _Part(dn, ok, halo, rows, cols)

    def block(self, parts: list[_Part]) -> _Block:
        """The window's block from the parts its band groups gave."""
        dn = {b: a for part in parts for b, a in part.dn.items()}
        (mask,) = (part for part in parts if part.ok is not None)
        assert mask.ok is not None
        coarse = None
        if self.coarse_fit is not None:
            part = next(part for part in parts if part.rows is not None)
            assert part.rows is not None and part.cols is not None
            coarse = CoarseBands(self.native, self.mask_native, part.rows, part.cols)
        return _Block(dn, mask.ok, mask.halo, coarse)


def _band_groups(dss: dict[str, DatasetReader | WarpedVRT], threads: int) -> list[tuple[str, ...]]:
    """The bands split into at most ``threads`` groups of about the same number of pixels.

    Decoding is most of a read's cost and goes with the pixels: a 20 m band costs a quarter
    of a 10 m one. Largest first, each to the lightest group.
    """
    names = sorted(dss, key=lambda b: -dss[b].width * dss[b].height)
    groups: list[list[str]] = [[] for _ in range(max(1, min(threads, len(names))))]
    load = [0] * len(groups)
    for b in names:
        g = load.index(min(load))
        groups[g].append(b)
        load[g] += dss[b].width * dss[b].height
    return [tuple(g) for g in groups]


def _blocks(
    reader: _WindowReader, wins: list[Window], groups: list[tuple[str, ...]]
) -> Generator[_Block, None, None]:
    """The blocks of ``wins`` in order, each group of bands read by a thread of its own.

    GDAL decodes without the GIL, and so does the compiled kernel that reduces a block: with
    two groups, the bands of the next windows are decoded on both cores while this thread
    reduces the current one. The blocks come in window order and are reduced in it, so the
    sums are the same bits as one thread's. Closing the generator (an error while reducing)
    cancels the reads not started and waits for the running ones, before the datasets close.
    """
    if len(groups) == 1:
        for win in wins:
            yield reader.block([reader.read(win, groups[0])])
        return
    pools = [ThreadPoolExecutor(1, thread_name_prefix="agririsk-read") for _ in groups]
    ahead: deque[list[Future[_Part]]] = deque()

    def submit(win: Window) -> None:
        ahead.append(
            [pool.submit(reader.read, win, g) for pool, g in zip(pools, groups, strict=True)]
        )

    try:
        rest = iter(wins)
        for win in islice(rest, READ_AHEAD):
            submit(win)
        while ahead:
            parts = [f.result() for f in ahead.popleft()]
            nxt = next(rest, None)
            if nxt is not None:
                submit(nxt)
            yield reader.block(parts)
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _plan(lr: LabelRaster, win: Window) -> tuple[np.ndarray | None, np.ndarray, np.ndarray] | None:
    """Pixels of the window to evaluate and their labels, computed once per grid and window.

    Returns None when no parcel owns a pixel of the window, else ``(pix, local, labels)``:
    flat pixel indices (None = the whole window), the local label of each pixel, and
    the global label of each local label (``labels[0] == 0``).
    """
    key = (int(win.row_off), int(win.col_off), int(win.height), int(win.width))
    if key in lr.plans:
        return lr.plans[key]
    r0, c0, h, w = key
    block = lr.window_labels(r0, c0, h, w)
    flat = block.ravel() if block is not None else np.zeros(h * w, dtype=np.int32)
    pix = np.flatnonzero(flat) if block is not None else np.zeros(0, dtype=np.intp)
    ex = lr.extra[
        (lr.extra[:, 1] >= r0)
        & (lr.extra[:, 1] < r0 + h)
        & (lr.extra[:, 2] >= c0)
        & (lr.extra[:, 2] < c0 + w)
    ]
    plan: tuple[np.ndarray | None, np.ndarray, np.ndarray] | None = None
    if pix.size or ex.size:
        # Dense windows are reduced whole (label 0 collects the rest); sparse ones gathered.
        dense = pix.size > _DENSE * flat.size and not ex.size
        labs = flat if dense else flat[pix]
        if ex.size:  # parcels without a pixel centre: the pixel under their point
            pix = np.concatenate([pix, (ex[:, 1] - r0) * w + ex[:, 2] - c0])
            labs = np.concatenate([labs, ex[:, 0].astype(labs.dtype)])
        present = np.zeros(len(lr.counts), dtype=bool)
        present[labs] = True
        present[0] = True
        labels = np.flatnonzero(present)
        # kept compact (memory stays ~2-6 bytes per labelled pixel); widened per block
        small = np.uint16 if len(labels) <= np.iinfo(np.uint16).max else np.int32
        lut = np.zeros(len(lr.counts), dtype=small)
        lut[labels] = np.arange(len(labels), dtype=small)
        plan = (None if dense else pix.astype(np.int32)), lut[labs], labels
    lr.plans[key] = plan
    return plan


def _table(item: SceneItem, parcels: ParcelSet, lr: LabelRaster, acc: Accumulator) -> pd.DataFrame:
    if item.footprint is not None:
        footprint = shapely.from_wkb(shapely.to_wkb(item.footprint))  # a copy, prepared
        shapely.prepare(footprint)  # one geometry against every parcel: 9 -> 1.3 ms at 20,000
        rows = np.flatnonzero(shapely.intersects(footprint, parcels.wgs84.to_numpy()))
    else:
        rows = np.flatnonzero(lr.counts[1:] > 0)
    lab = rows + 1
    n, stats = acc.table(lab)
    npx = lr.counts[lab]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = n / npx
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
            **stats,
        },
        columns=COLUMNS,
    )
