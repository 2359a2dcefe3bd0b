"""The parcel × date table of a region: every item reduced once, cached in the workspace.

Each item's per-parcel table is written to
``workspace/items/<safe item id>-<key>.parquet`` (temporary file, then ``os.replace``),
where ``key`` hashes the parcel set (ids + geometry WKB + CRS) and
:data:`~agririsk.imagery.zonal.ALGORITHM_VERSION`. A rerun reads those files and opens
no raster; a killed run keeps every item it finished.

Each item is one task (:func:`agririsk.parallel.run_tasks`): in this process, in a local
process pool or on a Dask cluster. The parcel set is sent once per worker; the worker
reduces the item, writes its cache file and returns the table. The label raster of the
first item's grid is built here before the tasks start, so workers that share the
workspace read it instead of each rasterizing the parcels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
from rasterio.errors import RasterioError

from agririsk.errors import AgririskError, CRSMismatchError, NoDataError
from agririsk.imagery.stac import SceneItem
from agririsk.imagery.stats import COLUMNS, INDICES
from agririsk.imagery.zonal import (
    CLOUD_BUFFER_M,
    Grid,
    LabelCache,
    LabelRaster,
    ParcelSet,
    zonal_item,
)
from agririsk.inputs.report import Report
from agririsk.parallel import Parallel, TaskFailed, run_tasks

__all__ = ["parcel_series", "item_cache_path", "options_key"]

logger = logging.getLogger(__name__)

#: Threads reading an item's bands when the items are reduced in this process (in a pool
#: or on a cluster each process reads with one). They decode on every core while the
#: reducing thread works; three groups of bands share two cores with it better than two
#: (4096² item, 6 bands, 2 cores: one thread 0.49 s, two 0.34 s, three 0.29 s, four 0.31 s;
#: merely reading the bands in one thread 0.33 s).
READ_THREADS = 3 if (os.cpu_count() or 1) > 1 else 1

Progress = Callable[[int, int], None]

#: Errors that make one item unusable without sinking the run.
_ITEM_ERRORS = (RasterioError, AgririskError, OSError, ValueError)
#: What to do about an item skipped for each cause (the counter is ``imagery.items_<cause>``).
_FIX = {
    "unreadable": "Check the asset exists and is a readable GeoTIFF; rerun to retry.",
    "bad_crs": "Fix the CRS of the GeoTIFF or of the item; rerun to retry.",
    "nodata": "Drop the item from the catalog (nothing was acquired over the parcels).",
    "error": "An unexpected failure (likely a bug, or a worker's environment): rerun to retry; "
    "if it repeats, run with -vv (or look at the worker's log) and report it.",
    "lost_worker": "Give the workers more memory (fewer --workers on this machine, or "
    "dask worker --memory-limit on a cluster); rerun to retry.",
}


def item_cache_path(workspace: Path, item_id: str, key: str) -> Path:
    """Where the per-parcel table of ``item_id`` for parcel-set ``key`` is cached."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", item_id)
    if safe != item_id:  # keep distinct ids distinct after sanitising
        safe += "_" + hashlib.sha256(item_id.encode()).hexdigest()[:8]
    return Path(workspace) / "items" / f"{safe}-{key}.parquet"


def parcel_series(
    items: list[SceneItem],
    parcels: gpd.GeoDataFrame | ParcelSet,
    workspace: Path,
    *,
    workers: int | Parallel = 1,
    progress: Progress | None = None,
    report: Report | None = None,
    indices: tuple[str, ...] = INDICES,
    cloud_buffer_m: float = CLOUD_BUFFER_M,
) -> pd.DataFrame:
    """Per-parcel index statistics for every item: the tidy parcel × item table.

    Parameters
    ----------
    items : scenes from :func:`~agririsk.imagery.stac.load_items`.
    parcels : one row per field with ``parcel_id`` and geometry, any CRS; or their
        :class:`~agririsk.imagery.zonal.ParcelSet` when the caller has it (a monitoring
        run keeps it between runs).
    workspace : region workspace; per-item tables go to ``items/``, label rasters to ``labels/``.
    workers : where the item tasks run: a number of local processes, or a
        :class:`~agririsk.parallel.Parallel` (e.g. ``Parallel.cluster("tcp://host:8786")``
        for a Dask cluster whose workers see ``workspace`` and the assets at the same
        paths). Results are identical for any value.
    progress : called as ``progress(done, total)`` after each item (cached ones included).
    report : an item whose assets cannot be read (missing, truncated, not a GeoTIFF),
        whose raster CRS contradicts the item, or which is all nodata over the parcels is
        reported as a warning naming the item and skipped (not cached, so a rerun
        retries it). Counters: ``imagery.items_computed``, ``imagery.items_cached``,
        ``imagery.items_failed`` and, per cause, ``imagery.items_unreadable``,
        ``imagery.items_bad_crs``, ``imagery.items_nodata``. An item whose task raised
        anything else (``imagery.items_error``) or whose worker died on every retry
        (``imagery.items_lost_worker``) is reported and skipped the same way; the run
        goes on and no partial cache file is left (writes are atomic).
    indices : indices to reduce (``ndvi evi ndmi ndwi``); fewer indices read fewer bands.
    cloud_buffer_m : buffer around clouds and shadows in metres (0 = none).

    Returns
    -------
    DataFrame with columns :data:`agririsk.imagery.stats.COLUMNS` (``parcel_id, item_id,
    datetime, n_pixels, n_clear, clear_fraction, ndvi_mean, ndvi_std, ...``), one row per
    parcel and item, sorted by ``parcel_id``, ``datetime``, ``item_id``. Same-day rows of
    adjacent tiles are kept apart; :func:`~agririsk.imagery.stats.merge_same_day` merges them.
    """
    report = report if report is not None else Report()
    workspace = Path(workspace)
    pset = parcels if isinstance(parcels, ParcelSet) else ParcelSet.from_frame(parcels)
    unknown = set(indices) - set(INDICES)
    if unknown:
        raise ValueError(f"unknown indices {sorted(unknown)}; choose among {list(INDICES)}")
    indices = tuple(i for i in INDICES if i in set(indices) | {"ndvi"})
    options = (indices, float(cloud_buffer_m))
    key = options_key(pset.key, *options)
    total = len(items)
    done = 0
    frames: dict[str, pd.DataFrame] = {}
    todo: list[SceneItem] = []
    for item in items:
        cached = _read_cache(item_cache_path(workspace, item.id, key))
        if cached is not None:
            frames[item.id] = cached
            report.count("imagery.items_cached")
            done += 1
            if progress:
                progress(done, total)
        else:
            todo.append(item)

    def finished(item: SceneItem, result: pd.DataFrame | tuple[str, str] | TaskFailed) -> None:
        nonlocal done
        done += 1
        if isinstance(result, TaskFailed):
            result = result.cause, result.text
        if isinstance(result, tuple):
            cause, text = result
            report.warning(item.assets["red"].href, item.id, f"item skipped: {text}", _FIX[cause])
            report.count("imagery.items_failed")
            report.count(f"imagery.items_{cause}")
        else:
            frames[item.id] = result
            report.count("imagery.items_computed")
        if progress:
            progress(done, total)

    where = Parallel.of(workers)
    # one process: each item read by READ_THREADS threads (zonal_item); in a pool by one
    threads = READ_THREADS if where.is_local else 1
    job = _Job(_RecentLabels(pset, workspace), workspace, key, options, threads)
    todo.sort(key=_grid_hint)  # items of one tile next to each other: label rasters are reused
    if todo:
        logger.info(
            "imagery: %d items, %d cached, %d to reduce on %s",
            total, total - len(todo), len(todo), where.describe(),
        )
    if todo and not where.is_local and len(todo) > 1:
        _prime_labels(todo[0], LabelCache(pset, workspace))
    names = [item.id for item in todo]
    unshared = 0
    for i, result in run_tasks(_reduce_item, job, todo, where, names=names):
        if isinstance(result, pd.DataFrame):
            unshared += _ensure_cached(item_cache_path(workspace, todo[i].id, key), result)
        finished(todo[i], result)
    if unshared:
        logger.warning(
            "%d items' cache files written by the workers are not visible in %s: the workspace "
            "is not on a filesystem the workers share with this machine. They were written "
            "here instead; see docs/scaling.md.",
            unshared, workspace / "items",
        )

    # Hand the per-item tables over to the concatenation (popped, not copied) so that at
    # most two copies of the region's table exist at once: the concatenation and its
    # sorted result (three before, with the per-item tables still alive).
    ordered = [frames.pop(i.id) for i in items if i.id in frames]
    ordered = [f for f in ordered if len(f)]
    frames.clear()
    if not ordered:
        return _empty()
    out = pd.concat(ordered, ignore_index=True)
    del ordered
    return out.sort_values(["parcel_id", "datetime", "item_id"], kind="stable").reset_index(
        drop=True
    )


def _empty() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
    df["parcel_id"] = df["parcel_id"].astype("str")
    df["item_id"] = df["item_id"].astype("str")
    df["datetime"] = pd.Series(dtype="datetime64[ns, UTC]")
    df["n_pixels"] = df["n_pixels"].astype("int64")
    df["n_clear"] = df["n_clear"].astype("int64")
    return df


def options_key(parcels_key: str, indices: tuple[str, ...], cloud_buffer_m: float) -> str:
    """Cache key of a parcel set (itself keyed by ALGORITHM_VERSION) and the reduction options."""
    text = f"{parcels_key}|{','.join(indices)}|{cloud_buffer_m:g}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _compute(
    item: SceneItem,
    cache: LabelCache,
    workspace: Path,
    key: str,
    options: tuple[tuple[str, ...], float],
    threads: int = 1,
) -> pd.DataFrame | tuple[str, str]:
    """Reduce one item and cache it; a (cause, text) pair says why it failed."""
    indices, buffer = options
    try:
        table = zonal_item(item, cache, indices=indices, cloud_buffer_m=buffer, threads=threads)
    except _ITEM_ERRORS as exc:
        logger.debug("item %s failed", item.id, exc_info=True)
        cause = (
            "nodata"
            if isinstance(exc, NoDataError)
            else "bad_crs"
            if isinstance(exc, CRSMismatchError)
            else "unreadable"
        )
        return cause, f"{type(exc).__name__}: {exc}"
    _write_cache(item_cache_path(workspace, item.id, key), table)
    cache.keep_plans()  # the next process reads the window plans instead of rebuilding them
    return table


def _prime_labels(item: SceneItem, cache: LabelCache) -> None:
    """Build the label raster of ``item``'s grid before the pool starts.

    Otherwise every worker would rasterize the same (usually only) grid at once.
    Failures are left for the worker to report with the item.
    """
    try:
        with rasterio.open(item.assets["red"].href) as ds:
            cache.get(Grid.of(ds))
    except _ITEM_ERRORS:
        logger.debug("could not prime the label raster from %s", item.id, exc_info=True)


def _read_cache(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several kinds for truncated/corrupt files
        logger.warning("cached table %s unreadable (%s); recomputing", path, exc)
        return None
    if list(df.columns) != COLUMNS:
        return None
    return df


def _write_cache(path: Path, table: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".parquet.part", dir=path.parent)
    os.close(fd)
    try:
        # Dictionary-encoding 20,000 distinct floats per column and their min/max statistics
        # cost more than the rest of the write (measured 23 -> 10 ms per 20,000-row table).
        # LZ4 against the default snappy: write 15 -> 13 ms, read 11 -> 6 ms, same size.
        table.to_parquet(
            tmp,
            index=False,
            use_dictionary=["item_id"],
            write_statistics=False,
            compression="lz4",
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- item tasks


@dataclass(frozen=True)
class _Job:
    """What every item task shares; sent once per worker (see :mod:`agririsk.parallel`).

    ``cache`` keeps, in each worker, the label rasters it has read from the workspace;
    ``threads`` read each item's bands (:func:`~agririsk.imagery.zonal.zonal_item`).
    """

    cache: LabelCache
    workspace: Path
    key: str
    options: tuple[tuple[str, ...], float]
    threads: int = 1


@dataclass
class _RecentLabels(LabelCache):
    """A :class:`LabelCache` that keeps only the ``keep`` grids used last in memory.

    A worker that reduces items of many tiles (a cluster run over a large area) would
    otherwise hold every tile's label raster and window plans at once; the others are
    read back from the workspace when needed again.
    """

    keep: int = 2

    def get(self, grid: Grid) -> LabelRaster:
        lr = super().get(grid)
        memory = self._memory
        memory[grid.key] = memory.pop(grid.key)  # most recently used last
        while len(memory) > self.keep:
            del memory[next(iter(memory))]
        return lr


def _grid_hint(item: SceneItem) -> tuple[int, float, float, str]:
    """Sort key that puts items of the same tile (CRS and footprint) side by side."""
    if item.footprint is None:
        return (item.epsg or 0, 0.0, 0.0, item.id)
    c = item.footprint.centroid
    return (item.epsg or 0, round(c.x, 1), round(c.y, 1), item.datetime.isoformat())


def _reduce_item(job: _Job, item: SceneItem) -> pd.DataFrame | tuple[str, str]:
    """One item task: reduce ``item`` and write its cache file (runs in a worker)."""
    return _compute(item, job.cache, job.workspace, job.key, job.options, job.threads)


def _ensure_cached(path: Path, table: pd.DataFrame) -> bool:
    """Write the item's table here when its worker's write is not visible; True if it was not."""
    if path.is_file():
        return False
    _write_cache(path, table)
    return True
