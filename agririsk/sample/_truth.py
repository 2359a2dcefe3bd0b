"""The hidden state of the sample region, written to ``OUT/truth/`` for tests and benchmarks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TRUTH_README = """# truth/: the hidden state of this synthetic region

Written by `agririsk sample-region` for tests and benchmarks. The product never reads
these files; a pre-loan score must be computed without them. See docs/sample-region.md
for the mechanism that produced them.

| file | one row per | columns |
|---|---|---|
| `parcels.csv` | parcel | parcel_id, farmer_id, field, true_area_ha, declared_area_ha, declared_crop, true_crop_2026, crop_mismatch, soil_quality, taw_mm, dist_water_m, station_id, landcover, row0, row1, col0, col1 (pixel rectangle of the field on the 10 m grid, end exclusive) |
| `fields.csv` | cropland field (parcels and unregistered fields) | field, parcel_id (empty if not a parcel), area_ha, row0..col1, soil_quality, taw_mm |
| `parcel_seasons.csv` | parcel x season (2023-2026) | parcel_id, farmer_id, season, true_crop, declared_crop, crop_mismatch, sowing_date, emergence_date, peak_date, harvest_date, event (none/hail/flood/no_emergence/early_harvest), event_date, relative_yield, water_stress (1 - flowering-weighted ETa/ETc), ry_water, ry_heat, stress_days |
| `farmers.csv` | farmer | farmer_id, skill (N(0,1), persistent), over_declared, new_to_bank, n_parcels, true_area_ha, declared_area_ha |
| `defaults.csv` | loan, all seasons incl. 2026 | farmer_id, loan_id, season, loan_amount, expected_revenue (normal yield on the true area), revenue, shortfall, burden (loan / expected_revenue), prior_defaults, oracle_pd (the probability the outcome was drawn from: knows the season's weather and events), oracle_pd_preseason (the best pd statable at season start: oracle_pd averaged over the farm's shortfalls under 12 fresh weather years, docs/sample-region.md section 5), defaulted |
| `crop_mismatch.csv` | 2026 parcel whose true crop differs from the declared one | parcel_id, farmer_id, declared_crop, true_crop |
| `scenes.csv` | imagery item | item_id, date, cover_drawn, cloud_true (opacity > 0.02), cloud_scl, cirrus_scl, shadow_scl, missed_of_bad (share of true cloud/shadow pixels SCL calls clear), missed_frac, nodata_wedge, regional_rain_mm |
| `landcover.tif` | 10 m pixel | 1 cropland_parcel, 2 cropland_other, 3 forest, 4 water, 5 built_up, 6 road, 7 grassland |
| `model.txt` | - | the calibrated default intercept |

Relative yield is relative to `yield_t_ha` of agririsk/data/crops.csv. Dates are ISO
(YYYY-MM-DD); an empty event_date means no event.
"""


def write_truth(
    truth: Path,
    *,
    fields: pd.DataFrame,
    parcel_fields: np.ndarray,
    parcel_ids: np.ndarray,
    farmers: pd.DataFrame,
    pf: np.ndarray,
    true_area: np.ndarray,
    declared_area: np.ndarray,
    declared_crop: np.ndarray,
    seasons: pd.DataFrame,
    loans: pd.DataFrame,
    field_area: np.ndarray,
    doy_to_date: Callable[[int, np.ndarray], list[str]],
    intercept: float,
) -> None:
    """Write the truth tables (see ``TRUTH_README``)."""
    fid = farmers["farmer_id"].to_numpy()
    fp = fields.loc[parcel_fields]
    s26 = seasons[seasons["season"] == seasons["season"].max()].set_index("field")
    true_crop_now = s26.loc[parcel_fields, "true_crop"].to_numpy()
    parcels = pd.DataFrame(
        {
            "parcel_id": parcel_ids,
            "farmer_id": fid[pf],
            "field": parcel_fields,
            "true_area_ha": true_area,
            "declared_area_ha": declared_area,
            "declared_crop": declared_crop,
            "true_crop_2026": true_crop_now,
            "crop_mismatch": (true_crop_now != declared_crop).astype(int),
            "soil_quality": fp["soil_quality"].to_numpy(),
            "taw_mm": fp["taw_mm"].to_numpy(),
            "dist_water_m": fp["dist_water_m"].to_numpy(),
            "station_id": fp["station_id"].to_numpy(),
            "landcover": "cropland",
            "row0": fp["r0"].to_numpy(),
            "row1": fp["r1"].to_numpy(),
            "col0": fp["c0"].to_numpy(),
            "col1": fp["c1"].to_numpy(),
        }
    )
    _csv(parcels, truth / "parcels.csv")

    pid_of_field = pd.Series(parcel_ids, index=parcel_fields)
    allf = pd.DataFrame(
        {
            "field": np.arange(len(fields)),
            "parcel_id": pid_of_field.reindex(np.arange(len(fields))).fillna("").to_numpy(),
            "area_ha": np.round(field_area, 4),
            "row0": fields["r0"],
            "row1": fields["r1"],
            "col0": fields["c0"],
            "col1": fields["c1"],
            "soil_quality": fields["soil_quality"],
            "taw_mm": fields["taw_mm"],
        }
    )
    _csv(allf, truth / "fields.csv")

    ps = seasons[seasons["field"].isin(parcel_fields)].copy()
    ps["parcel_id"] = pid_of_field.reindex(ps["field"]).to_numpy()
    pos = pd.Series(np.arange(len(parcel_fields)), index=parcel_fields)
    ppos = pos.reindex(ps["field"]).to_numpy()
    ps["farmer_id"] = fid[pf[ppos]]
    current = ps["season"] == ps["season"].max()
    ps["declared_crop"] = np.where(current, declared_crop[ppos], ps["true_crop"])
    ps["crop_mismatch"] = (ps["declared_crop"] != ps["true_crop"]).astype(int)
    rows = []
    for year, g in ps.groupby("season", sort=True):
        g = g.copy()
        for col, name in (
            ("sow_doy", "sowing_date"),
            ("emergence_doy", "emergence_date"),
            ("peak_doy", "peak_date"),
            ("harvest_doy", "harvest_date"),
            ("event_doy", "event_date"),
        ):
            g[name] = doy_to_date(int(year), g[col].to_numpy(float))
        rows.append(g)
    ps = pd.concat(rows).sort_values(["parcel_id", "season"])
    ps["ry_water"] = ps["ry_water"].round(4)
    ps["ry_heat"] = ps["ry_heat"].round(4)
    cols = [
        "parcel_id",
        "farmer_id",
        "season",
        "true_crop",
        "declared_crop",
        "crop_mismatch",
        "sowing_date",
        "emergence_date",
        "peak_date",
        "harvest_date",
        "event",
        "event_date",
        "relative_yield",
        "water_stress",
        "ry_water",
        "ry_heat",
        "stress_days",
    ]
    _csv(ps[cols], truth / "parcel_seasons.csv")

    n = len(farmers)
    tf = pd.DataFrame(
        {
            "farmer_id": fid,
            "skill": farmers["skill"].round(4),
            "over_declared": farmers["over_declared"].astype(int),
            "new_to_bank": farmers["new_to_bank"].astype(int),
            "n_parcels": np.bincount(pf, minlength=n),
            "true_area_ha": np.round(np.bincount(pf, weights=true_area, minlength=n), 4),
            "declared_area_ha": np.round(np.bincount(pf, weights=declared_area, minlength=n), 2),
        }
    )
    _csv(tf, truth / "farmers.csv")
    _csv(loans, truth / "defaults.csv")
    mm = parcels.loc[
        parcels["crop_mismatch"] == 1, ["parcel_id", "farmer_id", "declared_crop", "true_crop_2026"]
    ]
    _csv(mm.rename(columns={"true_crop_2026": "true_crop"}), truth / "crop_mismatch.csv")
    (truth / "model.txt").write_text(f"default_intercept = {intercept:.6f}\n")


def _csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")
