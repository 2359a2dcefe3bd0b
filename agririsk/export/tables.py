"""Writing the score tables of CONTRACTS.md §7 (GeoParquet and CSV), atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

__all__ = ["write_scores", "write_parcel_crops", "atomic_write", "PERSONAL_COLUMNS", "PARCEL_CROP_COLUMNS"]

PERSONAL_COLUMNS = ("name", "national_id", "phone")
#: the leading columns of scores.csv / scores.parquet, in this order
SCORE_COLUMNS = [
    "farmer_id", "pd", "score", "grade", "decision",
    "reason_1", "reason_2", "reason_3", "data_quality",
]

#: the columns of parcel_crops.csv (the season's crop identification per field)
PARCEL_CROP_COLUMNS = [
    "parcel_id", "farmer_id", "season_start", "declared_crop", "predicted_crop",
    "probability", "crop_mismatch", "n_clear_views",
]


def atomic_write(path: Path, write: Callable[[Path], Any], *, suffix: str = ".part") -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    ``suffix`` is the temporary file's ending, for writers that insist on one (GeoPackage).
    The temporary file does not exist when ``write`` is called.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_scores(
    scores: gpd.GeoDataFrame, out_dir: Path, *, personal: pd.DataFrame | None = None
) -> dict[str, Path]:
    """Write ``scores.parquet`` (GeoParquet, the farmer's fields as geometry) and ``scores.csv``.

    Parameters
    ----------
    scores : one row per farmer, the columns of :data:`SCORE_COLUMNS` first.
    out_dir : destination folder (created).
    personal : ``farmer_id`` plus personal columns, joined only when the user asked for
        personal data (``--include-personal-data``); the files then say so in their metadata.

    Returns
    -------
    The written paths by name.
    """
    leaked = [c for c in PERSONAL_COLUMNS if c in scores.columns]
    if leaked:
        raise ValueError(f"scores carry personal columns {leaked}; pass them through `personal` only")
    out_dir = Path(out_dir)
    table = scores[SCORE_COLUMNS + [c for c in scores.columns if c not in SCORE_COLUMNS]]
    if personal is not None:
        table = table.merge(personal, on="farmer_id", how="left")
        cols = [c for c in table.columns if c != "geometry"] + ["geometry"]
        table = gpd.GeoDataFrame(table[cols], geometry="geometry", crs=scores.crs)
    meta = {"agririsk:personal_data": "included" if personal is not None else "excluded"}

    def parquet(tmp: Path) -> None:
        table.to_parquet(tmp, index=False, schema_version="1.1.0", write_covering_bbox=False)
        _add_parquet_metadata(tmp, meta)

    paths = {
        "scores.parquet": atomic_write(out_dir / "scores.parquet", parquet),
        "scores.csv": atomic_write(
            out_dir / "scores.csv",
            lambda tmp: pd.DataFrame(table.drop(columns="geometry")).to_csv(tmp, index=False, float_format="%.6g"),
        ),
    }
    return paths


def write_parcel_crops(table: pd.DataFrame, out_dir: Path) -> Path:
    """Write ``parcel_crops.csv``: each field's predicted crop against its declared crop.

    Parameters
    ----------
    table : the season's rows of :func:`agririsk.crop_models.declared.crop_checks`;
        only :data:`PARCEL_CROP_COLUMNS` are written (no personal data).
    out_dir : destination folder (created).
    """
    out = table[PARCEL_CROP_COLUMNS].sort_values(["farmer_id", "parcel_id"])
    return atomic_write(
        Path(out_dir) / "parcel_crops.csv",
        lambda tmp: out.to_csv(tmp, index=False, float_format="%.4g"),
    )


def _add_parquet_metadata(path: Path, extra: dict[str, str]) -> None:
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    md = dict(t.schema.metadata or {})
    md.update({k.encode(): v.encode() for k, v in extra.items()})
    pq.write_table(t.replace_schema_metadata(md), path)


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    """Write a small JSON document atomically (run reports)."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=2, default=str)))


def write_manifest(out_dir: Path, written: dict[str, Path], *, personal_data: bool, **facts: Any) -> Path:
    """``manifest.json``: what a folder of outputs holds, and whether it carries personal data.

    CSV files cannot carry metadata of their own; the manifest speaks for every file in the
    folder (GeoParquet files also carry ``agririsk:personal_data`` in their own metadata).
    """
    import datetime as dt

    from agririsk import __version__

    doc = {
        "agririsk_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "personal_data": "included (--include-personal-data): name, national_id, phone" if personal_data else "excluded",
        **facts,
        "files": sorted(written),
    }
    return write_json(Path(out_dir) / "manifest.json", doc)
