"""``agririsk export``: scores and maps of a region written for people and GIS."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

from agririsk.errors import InputError
from agririsk.export.html import render_risk_html
from agririsk.export.maps import render_risk_png
from agririsk.export.tables import write_manifest, write_scores
from agririsk.export.vector import parcels_with_risk, write_alerts, write_parcels_risk
from agririsk.inputs import Report, read_parcels
from agririsk.region import Region

__all__ = ["export_region", "grain_fill_date", "read_scores"]

logger = logging.getLogger(__name__)


def read_scores(path: Path) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a ``scores.parquet`` or ``scores.csv`` written by ``agririsk score``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: scores file not found; run 'agririsk score REGION.toml --out DIR' first or omit --scores.")
    try:
        table = gpd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"farmer_id": str})
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputError(f"{path}: cannot read the scores ({exc}); pass the scores.parquet or scores.csv of 'agririsk score'.") from None
    missing = [c for c in ("farmer_id", "pd", "grade", "decision") if c not in table]
    if missing:
        raise InputError(f"{path}: not a scores file (missing columns {missing}); pass the output of 'agririsk score'.")
    table["farmer_id"] = table["farmer_id"].astype(str)
    return table


def export_region(
    region: Region,
    out: Path,
    *,
    scores: pd.DataFrame | None = None,
    as_of: dt.date | None = None,
    workspace: Path | None = None,
    personal: pd.DataFrame | None = None,
    db: Path | None = None,
    report: Report | None = None,
    condition_date: dt.date | None = None,
) -> dict[str, Path]:
    """Write the files of CONTRACTS.md §7 that exist so far to ``out``.

    Parameters
    ----------
    region : the region.
    out : destination folder.
    scores : the farmers' scores (from :func:`read_scores`); computed with the expert
        scorecard when None.
    as_of : date printed on the maps (default: season start); the crop-condition raster
        (``risk_map.tif``, background of the maps) uses the latest clear acquisition up to
        ``condition_date``, else this date, or, when both are None and ``db`` is given, up
        to the last monitoring run's date.
    personal : farmer_id + personal columns, only with ``--include-personal-data``.
    db : the monitoring store; its alerts go to ``alerts.csv`` / ``alerts.geojson`` and onto the maps.
    condition_date : the crop-condition raster's day: the latest clear acquisition up to it
        (e.g. mid-season, where a map made after the harvest would show bare fields).

    Returns
    -------
    The written files by name.
    """
    report = report if report is not None else Report()
    out = Path(out)
    condition_day = condition_date or as_of
    as_of = as_of or region.season.start
    if scores is None:
        from agririsk.pipeline import score_region

        run = score_region(region, as_of=as_of, workspace=workspace, report=report)
        scores = run.scores
    parcels = read_parcels(region.parcels_path, report)
    written: dict[str, Path] = {}
    if isinstance(scores, gpd.GeoDataFrame):
        written.update(write_scores(scores, out, personal=personal))
    alerts = None
    if db is not None:
        from agririsk.monitoring import read_alerts

        alerts = read_alerts(db)
        written.update(write_alerts(alerts, parcels, out))
    table = parcels_with_risk(parcels, scores, alerts)
    written.update(write_parcels_risk(table, out))
    if condition_day is None and db is not None:
        from agririsk.monitoring import read_runs

        runs = read_runs(db)
        done = runs[runs["status"] == "ok"] if "status" in runs else runs
        condition_day = dt.date.fromisoformat(str(done["as_of"].max())[:10]) if len(done) else None
    condition_day = condition_day or as_of
    from agririsk.errors import NoDataError
    from agririsk.export.raster import condition_raster, downsample, write_condition_cog

    condition, background, crs = None, None, region.crs
    try:
        condition = condition_raster(region, condition_day, parcels=parcels)
    except NoDataError as exc:
        report.warning("imagery", region.imagery_catalog, f"risk_map.tif not written: {exc}")
        logger.warning("risk_map.tif not written: %s", exc)
    if condition is not None:
        written["risk_map.tif"] = write_condition_cog(condition, out / "risk_map.tif")
        background = downsample(condition)
        crs = crs or condition["spatial_ref"].attrs["crs_wkt"]  # the renderers draw in the raster's CRS
    title = f"{region.name}: farm risk grades"
    subtitle = f"pre-loan scores as of {as_of} · season {region.season.start} – {region.season.end} · {len(scores)} farmers, {len(table)} fields"
    if condition is not None:
        subtitle += f" · crop condition on {condition.attrs['date']}"
    label = "crop condition"
    if condition is not None:
        label = f"crop condition on {condition.attrs['date']}\nvs the same time of past seasons"
    written["risk_map.png"] = render_risk_png(table, out / "risk_map.png", title=title, subtitle=subtitle, crs=crs,
                                              condition=background, condition_label=label)
    written["risk_map.html"] = render_risk_html(table, out / "risk_map.html", title=title, subtitle=subtitle, crs=crs,
                                                condition=background)
    written["manifest.json"] = write_manifest(
        out, written, personal_data=personal is not None, region=region.name, scores_as_of=as_of,
        condition_date=None if condition is None else condition.attrs.get("date"),
    )
    return written


def grain_fill_date(region: Region) -> dt.date:
    """Mid grain-fill of the region's season: the median over its parcels of the declared
    crop's calendar day halfway between flowering and harvest (``crops.csv``: sowing +
    (``days_to_peak`` + ``season_days``) / 2), within the season. The canopies stand then,
    so damage of June to August shows against past seasons; after the harvest every field
    is bare and the crop-condition map is blank.
    """
    from agririsk.crop_models import crop_params

    declared = read_parcels(region.parcels_path, Report())["declared_crop"].astype(str)
    year = region.season.start.year
    days = []
    for crop, n in declared.value_counts().items():
        p = crop_params(str(crop))
        doy = p.sowing_doy + (p.days_to_peak + p.season_days) // 2
        day = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
        if day < region.season.start:  # a season across the new year
            day = dt.date(year + 1, 1, 1) + dt.timedelta(days=doy - 1)
        days += [day] * int(n)
    day = sorted(days)[len(days) // 2] if days else region.season.end
    return min(max(day, region.season.start), region.season.end)
