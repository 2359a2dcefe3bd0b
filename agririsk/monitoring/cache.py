"""What a monitoring run keeps in the workspace so that its cost follows what is new.

An incremental run should cost about the reading of its new imagery. Three things would
otherwise be re-read every run; they are kept under ``workspace/monitor/``:

- ``inputs-*.pkl``: the validated parcels and farmers, the parsed STAC catalog and the
  station weather (with each parcel's nearest station), with the problems their readers
  reported. Each is keyed by the path, size and modification time (ns) of the files it
  comes from and by the agririsk version: any change to a file re-reads it. The problems
  are replayed into the run's report on a hit, so warnings are the same as a cold read
  (except that a catalog item that cannot be used is reported whatever its date).
- ``obs-*/seg-*.parquet``: the clear per-parcel observations (``clear_fraction >=
  MIN_CLEAR``) of the season's items, with the ids of the items they come from in each
  segment's metadata. A run reads these few files and reduces only the items not in them
  (from their per-item cache or the rasters), whose rows become a new segment (temporary
  file, then ``os.replace``); past ``MAX_SEGMENTS`` they are merged into one. The
  detectors only ever look at clear observations, so their results are the same as from
  the full parcel series.

Both are caches: deleting ``workspace/monitor/`` only makes the next run slower. The
``.pkl`` files are pickles, loaded only when this user owns them and nobody else may
write them (:func:`_private`); any other file is rebuilt. They hold
no personal data (parcels carry ``parcel_id``, ``farmer_id``, crop and geometry; farmers
are kept as read, as in the per-item cache of the pipeline, on the user's own disk).
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from agririsk import __version__
from agririsk.imagery import SceneItem, parcel_series
from agririsk.inputs import Report
from agririsk.parallel import Parallel
from agririsk.region import Region, Season

__all__ = ["RegionCache", "region_inputs", "station_weather", "season_observations"]

logger = logging.getLogger(__name__)

#: bump when what is cached changes shape
CACHE_VERSION = 1
#: the columns of the parcel series the detectors read (those present are kept)
OBS_COLUMNS = [
    "parcel_id",
    "item_id",
    "datetime",
    "clear_fraction",
    "ndvi_p50",
    "ndvi_mean",
    "ndwi_p50",
    "ndwi_mean",
]


@dataclass
class RegionCache:
    """The validated parcels and farmers of a region, and the content key of the parcel set."""

    parcels: gpd.GeoDataFrame
    farmers: pd.DataFrame
    parcels_key: str


def _stamp(paths: Sequence[Path | str | None]) -> tuple:
    out: list[Any] = [CACHE_VERSION, __version__]
    for p in paths:
        if p is None:
            out.append(None)
            continue
        try:
            st = os.stat(p)
        except OSError:
            out.append((str(p), None))  # the reader reports the missing file
            continue
        out.append((str(Path(p).resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _private(fd: int) -> bool:
    """Whether an open cache file belongs to this user and nobody else may write it.

    Loading a pickle runs code, so a cache file is trusted only when no other user could
    have written it: owned by the running user and not writable by group or others (the
    caches are written with mode 0600 by :func:`tempfile.mkstemp`). A workspace on a
    shared file system with looser modes simply loses its monitoring caches.
    """
    st = os.fstat(fd)
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: no POSIX ownership to check
        return True
    return st.st_uid == getuid() and not st.st_mode & 0o022


def _cached(path: Path, stamp: tuple, report: Report, build: Callable[[Report], Any]) -> Any:
    """The value cached at ``path`` for ``stamp``, else ``build(report)`` (then cached).

    Problems found while building are stored with the value and replayed on a hit.
    """
    try:
        with open(path, "rb") as fh:
            if not _private(fh.fileno()):
                raise ValueError("not written by this user with mode 0600; a pickle is loaded only then")
            got = pickle.load(fh)
        if got["stamp"] == stamp:
            for p in got["problems"]:
                report.add(p.severity, p.source, p.where, p.what, p.fix)
            report.counters.update(got["counters"])
            return got["value"]
    except FileNotFoundError:
        pass
    except Exception as exc:  # truncated or foreign file: rebuild
        logger.info("cache %s unreadable (%s); rebuilding", path, exc)
    local = Report()
    value = build(local)
    report.extend(local)
    if local.errors:
        return value  # never cache a failed read: the user fixes the file and reruns
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(
                {
                    "stamp": stamp,
                    "value": value,
                    "problems": local.problems,
                    "counters": local.counters,
                },
                fh,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return value


def region_inputs(
    region: Region, workspace: Path, until: pd.Timestamp, report: Report
) -> tuple[RegionCache, list[SceneItem]]:
    """Parcels, farmers and the catalog's items acquired up to ``until`` (tz-aware UTC).

    The same as :func:`agririsk.pipeline.load_inputs`, read from the cache when the files
    did not change.

    Raises
    ------
    NoDataError
        farmers.csv has no usable row.
    """
    from agririsk.errors import NoDataError
    from agririsk.imagery import load_items
    from agririsk.imagery.zonal import ParcelSet
    from agririsk.inputs import read_farmers, read_parcels

    def build_region(rep: Report) -> RegionCache:
        parcels = read_parcels(region.parcels_path, rep)
        farmers = read_farmers(region.farmers_path, rep)
        key = ParcelSet.from_frame(parcels).key if len(parcels) else ""
        return RegionCache(parcels, farmers, key)

    folder = Path(workspace) / "monitor"
    reg = _cached(
        folder / "inputs-region.pkl",
        _stamp([region.parcels_path, region.farmers_path]),
        report,
        build_region,
    )
    if reg.farmers.empty:
        raise NoDataError(
            f"{region.farmers_path}: no usable farmer rows; run 'agririsk validate' to see why."
        )
    catalog = os.fspath(region.imagery_catalog)
    local = Path(catalog[7:] if catalog.startswith("file://") else catalog)

    def build_items(rep: Report) -> list[SceneItem]:
        return load_items(catalog, collection=region.imagery_collection, report=rep)

    if "://" in catalog and not catalog.startswith("file://"):
        items = build_items(report)  # a remote catalog or STAC API: not cached
    else:
        items = _cached(
            folder / "inputs-catalog.pkl",
            _stamp([local]) + (region.imagery_collection,),
            report,
            build_items,
        )
    return reg, [it for it in items if it.datetime <= until]


def station_weather(
    region: Region, workspace: Path, parcels: gpd.GeoDataFrame, report: Report
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Station daily weather (every day of the file), the stations and each parcel's nearest station.

    Empty frames when the region has no station weather.
    """
    from agririsk.weather import read_station_daily, read_stations

    empty = (
        pd.DataFrame(columns=["station_id", "date", "tmin_c", "tmax_c", "precip_mm"]),
        pd.DataFrame(columns=["station_id", "lat", "lon"]),
        pd.Series(dtype=str),
    )
    if region.weather_stations is None or region.weather_observations is None:
        logger.info("no station weather in %s: weather detectors skipped", region.path)
        return empty

    stations_path, daily_path = region.weather_stations, region.weather_observations

    def build(rep: Report) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        stations = read_stations(stations_path, rep)
        daily = read_station_daily(daily_path, rep, station_ids=stations["station_id"])
        cent = parcels.to_crs(4326).geometry.representative_point()
        lat0 = cent.y.to_numpy()[:, None]
        d2 = (lat0 - stations["lat"].to_numpy()[None, :]) ** 2 + (
            (cent.x.to_numpy()[:, None] - stations["lon"].to_numpy()[None, :]) * 0.7
        ) ** 2
        nearest = stations["station_id"].to_numpy()[d2.argmin(axis=1)]
        ps = pd.Series(nearest, index=parcels["parcel_id"].astype(str).to_numpy())
        return daily, stations, ps

    return _cached(
        Path(workspace) / "monitor" / "inputs-weather.pkl",
        _stamp([region.weather_stations, region.weather_observations, region.parcels_path]),
        report,
        build,
    )


def _obs_dir(workspace: Path, parcels_key: str, season: Season, min_clear: float) -> Path:
    return (
        Path(workspace)
        / "monitor"
        / f"obs-{parcels_key}-{season.start.isoformat()}-{min_clear:g}-v{CACHE_VERSION}"
    )


def _read_obs(folder: Path) -> tuple[pd.DataFrame | None, set[str], list[Path]]:
    """Every segment's rows (an item in two segments counted once) and item ids."""
    segments = sorted(folder.glob("seg-*.parquet"))
    frames: list[pd.DataFrame] = []
    ids: set[str] = set()
    for path in segments:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # truncated or foreign: its items are reduced again
            logger.info("observation segment %s unreadable (%s); ignored", path, exc)
            continue
        meta = table.schema.metadata or {}
        text = meta.get(b"agririsk_items", b"").decode()
        seg_ids = set(text.split("\n")) if text else set()
        df = table.to_pandas()
        dup = seg_ids & ids
        if dup:  # a compaction killed before it removed the segments it merged
            df = df[~df["item_id"].isin(dup)]
        frames.append(df)
        ids |= seg_ids
    if not frames:
        return None, set(), segments
    rows = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return rows, ids, segments


def _write_obs(folder: Path, rows: pd.DataFrame, item_ids: set[str]) -> Path:
    """A new segment (temporary file, then ``os.replace``); names sort by creation."""
    table = pa.Table.from_pandas(rows, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"agririsk_items"] = "\n".join(sorted(item_ids)).encode()
    table = table.replace_schema_metadata(meta)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"seg-{time.time_ns():020d}-{os.getpid()}.parquet"
    fd, tmp = tempfile.mkstemp(suffix=".parquet.part", dir=folder)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


#: segments of the observation store beyond which they are merged into one
MAX_SEGMENTS = 8


def season_observations(
    items: list[SceneItem],
    parcels: gpd.GeoDataFrame,
    parcels_key: str,
    workspace: Path,
    season: Season,
    *,
    min_clear: float,
    workers: int | Parallel = 1,
    progress: Callable[[int, int], None] | None = None,
    report: Report | None = None,
) -> pd.DataFrame:
    """The clear rows (``clear_fraction >= min_clear``) of the parcel series of ``items``.

    Rows of items already in the observation store are read from it; the others are
    reduced by :func:`agririsk.imagery.parcel_series` (its per-item cache or the rasters)
    and added to the store as a new segment (more than :data:`MAX_SEGMENTS` segments are
    merged into one). Columns: those of :data:`OBS_COLUMNS` the series has, in no
    particular row order (:func:`~agririsk.monitoring.detectors.clear_observations`
    does not depend on it).
    """
    folder = _obs_dir(workspace, parcels_key, season, min_clear)
    stored, stored_ids, segments = _read_obs(folder)
    wanted = {it.id for it in items}
    missing = [it for it in items if it.id not in stored_ids]
    parts = []
    if stored is not None and len(stored):
        keep = stored["item_id"].isin(wanted)
        parts.append(stored if keep.all() else stored[keep])
    if missing:
        series = parcel_series(
            missing, parcels, workspace, workers=workers, progress=progress, report=report
        )
        cols = [c for c in OBS_COLUMNS if c in series.columns]
        new = series.loc[series["clear_fraction"] >= min_clear, cols].reset_index(drop=True)
        done = set(series["item_id"].astype(str).unique().tolist())
        if done:
            _write_obs(folder, new, done)
            if len(segments) + 1 > MAX_SEGMENTS:
                _compact(folder)
        parts.append(new)
    elif progress:
        progress(len(items), len(items))
    if not parts:
        return pd.DataFrame(columns=["parcel_id", "item_id", "datetime", "clear_fraction"])
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _compact(folder: Path) -> None:
    """Merge every segment into one; the merged one is written before the others go."""
    rows, ids, segments = _read_obs(folder)
    if rows is None:
        return
    merged = _write_obs(folder, rows, ids)
    for path in segments:
        if path != merged:
            path.unlink(missing_ok=True)
