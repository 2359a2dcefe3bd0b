"""Parcels with their farmer's risk, as GeoPackage and GeoParquet (CONTRACTS.md §7)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from agririsk.export.tables import PERSONAL_COLUMNS, atomic_write

__all__ = ["parcels_with_risk", "write_parcels_risk", "write_alerts"]

#: farmer columns carried onto each parcel
RISK_COLUMNS = ["pd", "score", "grade", "decision", "reason_1", "reason_2", "reason_3", "data_quality"]


def parcels_with_risk(
    parcels: gpd.GeoDataFrame, scores: pd.DataFrame, alerts: pd.DataFrame | None = None
) -> gpd.GeoDataFrame:
    """One row per parcel: the parcel's own columns, its farmer's score, and its open alerts.

    Parameters
    ----------
    parcels : ``parcel_id``, ``farmer_id``, ``declared_crop``, ``declared_area_ha``, geometry.
    scores : one row per farmer with :data:`RISK_COLUMNS`.
    alerts : optional alerts (``parcel_id``, ``kind``, ``severity``, ``status``); the open ones
        (``status`` other than ``resolved``) are summarised per parcel as ``open_alerts``
        (count) and ``alert_kinds`` (comma-separated).
    """
    table = pd.DataFrame(scores)
    keep = ["farmer_id"] + [c for c in RISK_COLUMNS if c in table]
    out = parcels.merge(table[keep], on="farmer_id", how="left")
    out["open_alerts"] = 0
    out["alert_kinds"] = ""
    if alerts is not None and not alerts.empty:
        open_ = alerts[alerts["status"] != "resolved"]
        g = open_.groupby("parcel_id")
        out["open_alerts"] = out["parcel_id"].map(g.size()).fillna(0).astype(int)
        out["alert_kinds"] = out["parcel_id"].map(g["kind"].agg(lambda k: ",".join(sorted(set(k))))).fillna("")
    cols = [c for c in out.columns if c != "geometry"] + ["geometry"]
    return gpd.GeoDataFrame(out[cols], geometry="geometry", crs=parcels.crs)


def write_parcels_risk(table: gpd.GeoDataFrame, out_dir: Path) -> dict[str, Path]:
    """Write ``parcels_risk.gpkg`` (layer ``parcels_risk``) and ``parcels_risk.parquet``."""
    leaked = [c for c in PERSONAL_COLUMNS if c in table.columns]
    if leaked:
        raise ValueError(f"parcels carry personal columns {leaked}")
    out_dir = Path(out_dir)
    return {
        "parcels_risk.gpkg": atomic_write(
            out_dir / "parcels_risk.gpkg",
            lambda tmp: table.to_file(tmp, driver="GPKG", layer="parcels_risk", engine="pyogrio"),
            suffix=".gpkg",
        ),
        "parcels_risk.parquet": atomic_write(
            out_dir / "parcels_risk.parquet", lambda tmp: table.to_parquet(tmp, index=False)
        ),
    }


def write_alerts(alerts: pd.DataFrame, parcels: gpd.GeoDataFrame, out_dir: Path) -> dict[str, Path]:
    """Write ``alerts.csv`` and ``alerts.geojson`` (each alert with its parcel's outline, WGS 84).

    Parameters
    ----------
    alerts : the store's alerts (CONTRACTS.md §7 columns).
    parcels : the parcels, for the geometry.
    """
    out_dir = Path(out_dir)
    geo = parcels[["parcel_id", "geometry"]].to_crs("EPSG:4326")
    located = gpd.GeoDataFrame(alerts.merge(geo, on="parcel_id", how="left"), geometry="geometry", crs="EPSG:4326")
    return {
        "alerts.csv": atomic_write(out_dir / "alerts.csv", lambda tmp: alerts.to_csv(tmp, index=False)),
        "alerts.geojson": atomic_write(
            out_dir / "alerts.geojson",
            lambda tmp: located.to_file(tmp, driver="GeoJSON", engine="pyogrio"),
            suffix=".geojson",
        ),
    }
