"""Parcels: one polygon per field, with its owner and declared crop (CONTRACTS.md §3)."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from agririsk.errors import CRSMismatchError, InputError, MissingColumnError, MissingFileError
from agririsk.inputs._tables import RowProblems, duplicate_groups, format_places
from agririsk.inputs.report import Report

__all__ = ["read_parcels", "KNOWN_CROPS"]

logger = logging.getLogger(__name__)



def _known_crops() -> tuple[str, ...]:
    """The crops of CONTRACTS.md §3 and of the crop table ``agririsk/data/crops.csv``."""
    names = ["maize", "soybean", "rice", "wheat", "cotton", "other"]
    try:
        with resources.files("agririsk.data").joinpath("crops.csv").open("r", encoding="utf-8") as fh:
            names += [line.split(",", 1)[0].strip().lower() for line in fh.readlines()[1:] if line.strip()]
    except OSError:  # pragma: no cover - a broken install; the contract's names still hold
        logger.debug("crop table not found; using the crops of CONTRACTS.md")
    return tuple(dict.fromkeys(names))


#: Crops a parcel may declare; any other is treated as ``other``.
KNOWN_CROPS: tuple[str, ...] = _known_crops()

_REQUIRED = ("parcel_id", "farmer_id", "declared_crop")
_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
#: A repair is safe when it changes the area drawn by at most this fraction.
REPAIR_AREA_TOLERANCE = 0.10
#: Declared and measured areas further apart than this factor are reported.
AREA_MISMATCH_FACTOR = 2.0
#: World cylindrical equal-area: areas in m² anywhere on Earth.
_EQUAL_AREA_CRS = "EPSG:6933"


def read_parcels(path: str | Path, report: Report, *, to_crs: Any = None) -> gpd.GeoDataFrame:
    """Read and check the parcels file.

    Parameters
    ----------
    path : GeoPackage (``.gpkg``), GeoParquet (``.parquet``), GeoJSON or Shapefile. A
        GeoPackage with several layers is read from its first layer (reported). Column
        names a Shapefile cut to 10 characters (``declared_c``, ``declared_a``) are
        recognised.
    report : problems of single parcels are added here; the parcel is repaired or
        skipped and reading goes on.
    to_crs : reproject the result to this CRS (anything ``GeoDataFrame.to_crs`` takes).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per valid parcel, in file order: ``parcel_id`` (str), ``farmer_id``
        (str), ``declared_crop`` (lower-case str, one of ``KNOWN_CROPS``),
        ``declared_area_ha`` (float, NaN when absent or invalid), ``geometry``
        (valid Polygon or MultiPolygon, 2D).

    Raises
    ------
    MissingFileError, InputError
        The file is missing or cannot be read.
    CRSMismatchError
        The file has no CRS.
    MissingColumnError
        ``parcel_id``, ``farmer_id`` or ``declared_crop`` is missing.

    Notes
    -----
    Per-parcel problems (reported by ``parcel_id``, or by feature number when the id is
    empty):

    - empty ``parcel_id`` or ``farmer_id``, missing or empty geometry, a geometry that is
      not a (Multi)Polygon: skipped;
    - invalid geometry: repaired with :func:`shapely.make_valid` when the repaired shape
      is still polygonal and its area differs from the area as drawn (shoelace) by at
      most ``REPAIR_AREA_TOLERANCE`` (a warning says so); otherwise skipped. A bow-tie
      (self-crossing outline) has no safe repair: which field was meant is unknown;
    - duplicate ``parcel_id``: every copy is reported. Identical copies keep the first;
      copies that disagree (owner, crop, area or shape) are all skipped, since there is
      no telling which is the field;
    - unknown or empty ``declared_crop``: treated as ``other`` (one warning per crop name
      with the parcels concerned);
    - ``declared_area_ha`` not a number or <= 0: set to NaN; more than
      ``AREA_MISMATCH_FACTOR`` times larger or smaller than the polygon's area: kept,
      reported.
    """
    path = Path(path)
    frame = _read_vector(path, report)
    if frame.crs is None:
        raise CRSMismatchError(
            f"{path}: the parcels have no coordinate reference system. "
            "Save the file with its CRS (e.g. EPSG:4326) set."
        )
    # Shapefiles cut column names to 10 characters (declared_crop -> declared_c).
    frame = frame.rename(columns={name[:10]: name for name in (*_REQUIRED, "declared_area_ha")
                                  if name not in frame.columns and name[:10] in frame.columns})
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        found = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise MissingColumnError(
            f"{path}: required column(s) {', '.join(missing)} missing (found: {found}). "
            "Add them or fix the spelling (CONTRACTS.md §3)."
        )
    frame = frame.reset_index(drop=True)
    ids = _text(frame["parcel_id"])
    owners = _text(frame["farmer_id"])
    crops = _text(frame["declared_crop"]).str.lower()
    if "declared_area_ha" in frame.columns:
        area_text = frame["declared_area_ha"]
        declared = pd.to_numeric(area_text, errors="coerce").astype("float64")
        not_number = area_text.notna() & declared.isna()
    else:
        declared = pd.Series(np.nan, index=frame.index)
        not_number = pd.Series(False, index=frame.index)
    geoms = frame.geometry.array.copy()
    rows = RowProblems(report, path)
    keep = np.ones(len(frame), dtype=bool)

    def where(i: Any) -> str:
        return f"parcel_id {ids[i]}" if pd.notna(ids[i]) else f"feature {i + 1}"

    for column, values in (("parcel_id", ids), ("farmer_id", owners)):
        for i in np.flatnonzero(values.isna().to_numpy() & keep):
            rows.add(f"empty {column}", where(i), f"{column} is empty; parcel skipped", f"fill in {column}")
            keep[i] = False

    signature = pd.DataFrame({"f": owners, "c": crops, "a": declared,
                              "g": shapely.to_wkb(shapely.normalize(np.asarray(geoms)))})
    for group in duplicate_groups(ids.where(keep)):
        same = len(signature.loc[group].drop_duplicates()) == 1
        places = ", ".join(f"feature {g + 1}" for g in group)
        for n, i in enumerate(group):
            outcome = ("identical copy, the first is kept" if n == 0 else "identical copy skipped") if same \
                else "copies differ, all skipped"
            rows.add("duplicate parcel_id", f"{where(i)}, feature {i + 1}",
                     f"parcel_id appears {len(group)} times ({places}); {outcome}",
                     "give every field its own parcel_id")
            if not same or n > 0:
                keep[i] = False

    for i in np.flatnonzero(keep):
        geom = geoms[i]
        problem, fixed = _check_geometry(geom)
        if problem is None:
            geoms[i] = fixed
            continue
        kind, what, repaired = problem
        if repaired:
            rows.add(kind, where(i), what, "check the outline; redraw it if the repair is wrong")
            geoms[i] = fixed
        else:
            rows.add(kind, where(i), what + "; parcel skipped", "redraw the field boundary")
            keep[i] = False

    unknown = keep & ~crops.isin(KNOWN_CROPS).to_numpy()
    for name, idx in pd.Series(np.flatnonzero(unknown)).groupby(crops[unknown].fillna("").to_numpy()):
        parcels = [where(int(i)) for i in idx]
        label = f"declared_crop {name!r} is not a known crop" if name else "declared_crop is empty"
        report.warning(path, format_places(parcels),
                       f"{label} ({len(parcels)} parcel(s)); treated as 'other'",
                       f"use one of: {', '.join(KNOWN_CROPS)}")
    crops = crops.where(~unknown, "other")

    for i in np.flatnonzero(keep & not_number.to_numpy()):
        rows.add("area not a number", where(i), "declared_area_ha is not a number; ignored", "write hectares as a number")
    bad_area = keep & (declared <= 0).to_numpy()
    for i in np.flatnonzero(bad_area):
        rows.add("area not positive", where(i), "declared_area_ha must be > 0; ignored", "write the area in hectares")
    declared = declared.mask(bad_area)
    measured = gpd.GeoSeries(geoms, crs=frame.crs).to_crs(_EQUAL_AREA_CRS).area.to_numpy() / 1e4
    ratio = declared.to_numpy() / np.where(measured > 0, measured, np.nan)
    off = keep & ((ratio > AREA_MISMATCH_FACTOR) | (ratio < 1 / AREA_MISMATCH_FACTOR))
    for i in np.flatnonzero(off):
        rows.add("area mismatch", where(i),
                 f"declared_area_ha {declared[i]:g} is far from the outline's area {measured[i]:.2f} ha",
                 "check the declared area (in hectares) and the boundary")
    rows.flush()

    out = gpd.GeoDataFrame(
        {
            "parcel_id": ids.astype(str),
            "farmer_id": owners.astype(str),
            "declared_crop": crops.astype(str),
            "declared_area_ha": declared.astype("float64"),
        },
        geometry=gpd.GeoSeries(geoms, crs=frame.crs),
    )
    out = out.loc[keep].reset_index(drop=True)
    if to_crs is not None:
        out = out.to_crs(to_crs)
    report.count("parcels", len(out))
    logger.debug("read %d parcels from %s (%d skipped)", len(out), path, int((~keep).sum()))
    return out


def _read_vector(path: Path, report: Report) -> gpd.GeoDataFrame:
    if not path.exists():
        raise MissingFileError(f"{path}: parcels file not found. Check [parcels] path in region.toml.")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            return gpd.read_parquet(path)
        import pyogrio

        layers = pyogrio.list_layers(path)
        if len(layers) > 1:
            report.warning(path, f"layer {layers[0][0]}",
                           f"the file holds {len(layers)} layers; only the first is read",
                           "keep the parcels in a file of their own")
        return gpd.read_file(path, layer=layers[0][0] if len(layers) else None, engine="pyogrio")
    except Exception as exc:  # pyogrio, pyarrow and GDAL raise many kinds
        raise InputError(
            f"{path}: cannot be read as a vector file ({type(exc).__name__}: {_first_line(exc)}). "
            "Use GeoPackage, GeoParquet, GeoJSON or Shapefile."
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _text(values: pd.Series) -> pd.Series:
    """Ids and names as stripped text; whole floats lose their ``.0``; empty -> missing."""
    if pd.api.types.is_float_dtype(values):
        whole = values.notna() & (values == np.round(values))
        text = values.astype(object).where(~whole, values.round().astype("Int64").astype(str))
        values = text.where(values.notna())
    text = values.astype("str").where(values.notna()).str.strip()
    return text.mask(text == "")


def _check_geometry(geom: Any) -> tuple[tuple[str, str, bool] | None, Any]:
    """``(problem, geometry)``: problem is ``(kind, what, repaired)`` or None when fine."""
    if geom is None or shapely.is_missing(geom) or geom.is_empty:
        return ("empty geometry", "geometry is missing or empty", False), geom
    if geom.geom_type not in _POLYGONAL:
        return ("not a polygon", f"geometry is a {geom.geom_type}, not a Polygon or MultiPolygon", False), geom
    geom = shapely.force_2d(geom)
    if geom.is_valid:
        return None, geom
    reason = shapely.is_valid_reason(geom)
    fixed = _polygonal_part(shapely.make_valid(geom))
    drawn = geom.area
    if fixed is not None and fixed.area > 0 and abs(fixed.area - drawn) <= REPAIR_AREA_TOLERANCE * fixed.area:
        return ("invalid geometry repaired", f"invalid geometry ({reason}) repaired", True), fixed
    return ("invalid geometry", f"invalid geometry ({reason}) that cannot be repaired safely", False), geom


def _polygonal_part(geom: Any) -> Any:
    if geom.geom_type in _POLYGONAL:
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in _POLYGONAL]
        if parts:
            return shapely.union_all(parts)
    return None
