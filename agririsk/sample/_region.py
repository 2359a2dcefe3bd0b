"""``make_sample_region``: the whole synthetic region, from landscape to loan outcomes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import Transformer

from agririsk.errors import InputError
from agririsk.export.cog import write_cog
from agririsk.sample import _finance, _landscape, _seasons, _weather
from agririsk.sample._crops import load_crops
from agririsk.sample._scenes import EPSG, SceneContext, render_and_write
from agririsk.sample._stac import acquisitions
from agririsk.sample._truth import TRUTH_README, write_truth

logger = logging.getLogger(__name__)

CENTRE_LAT, CENTRE_LON = 46.65, 126.95  # Suihua, Heilongjiang
PAST_YEARS = [2023, 2024, 2025]
CURRENT_YEAR = 2026
SEASON = ("04-15", "10-15")
WEATHER_SPAN = ("2023-01-01", "2026-11-15")


def _rng(seed: int, name: str) -> np.random.Generator:
    """An independent, reproducible stream per component."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _doy_to_date(year: int, doy: np.ndarray) -> list[str]:
    base = dt.date(year, 1, 1)
    return [
        "" if not np.isfinite(d) else (base + dt.timedelta(days=int(d) - 1)).isoformat()
        for d in doy
    ]


def make_sample_region(
    out: Path | str,
    *,
    seed: int = 0,
    n_parcels: int = 250,
    size: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a synthetic region around Suihua, Heilongjiang, in the formats of CONTRACTS.md.

    Parameters
    ----------
    out : directory to write (created; files already there are overwritten).
    seed : random seed; the same seed gives byte-identical tables.
    n_parcels : number of registered parcels (farmers own 1-5 each).
    size : pixels per side of the 10 m imagery grid (even, >= 64).
    progress : called as ``progress(done, total)`` after each imagery item is written.

    Returns
    -------
    Path of the written ``region.toml``.

    Notes
    -----
    The causal chain (weather -> water balance -> yield -> canopy -> imagery; yield and
    loan -> default) is documented in ``docs/sample-region.md``; ``OUT/truth/`` holds the
    hidden state for tests and benchmarks and is never read by the product.
    """
    if size < 64 or size % 2:
        raise InputError(f"size must be an even number of pixels >= 64, got {size}.")
    if n_parcels < 1:
        raise InputError(f"n_parcels must be >= 1, got {n_parcels}.")
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    crops = load_crops()

    # Grid: EPSG:32651 at 10 m, centred on Suihua, snapped to the 20 m grid.
    to_utm = Transformer.from_crs(4326, EPSG, always_xy=True)
    to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
    cx, cy = to_utm.transform(CENTRE_LON, CENTRE_LAT)
    x0 = np.floor((cx - size * 5.0) / 20.0) * 20.0
    y0 = np.floor((cy + size * 5.0) / 20.0) * 20.0
    transform = Affine(10.0, 0.0, float(x0), 0.0, -10.0, float(y0))

    ls = _landscape.build_landscape(_rng(seed, "landscape"), size, n_parcels)
    fields = ls.fields
    n_fields = len(fields)
    fields["x_m"] = x0 + 10.0 * (fields["c0"] + fields["c1"]) / 2
    fields["y_m"] = y0 - 10.0 * (fields["r0"] + fields["r1"]) / 2
    lon, lat = to_lonlat.transform(fields["x_m"].to_numpy(), fields["y_m"].to_numpy())

    stations = _weather.make_stations(_rng(seed, "stations"), CENTRE_LAT, CENTRE_LON)
    d2 = (lat[:, None] - stations["lat"].to_numpy()) ** 2 + (
        (lon[:, None] - stations["lon"].to_numpy()) * np.cos(np.deg2rad(CENTRE_LAT))
    ) ** 2
    fields["station_id"] = stations["station_id"].to_numpy()[np.argmin(d2, axis=1)]
    daily = _weather.simulate_weather(_rng(seed, "weather"), stations, *WEATHER_SPAN)

    # Parcels in block order, so consecutive parcels (one farmer's) are neighbours.
    parcel_fields = (
        fields[fields["is_parcel"]]
        .sort_values(["block_rank", "r0", "c0"], kind="stable")
        .index.to_numpy()
    )
    n_par = len(parcel_fields)
    pwidth = max(6, len(str(n_par)))
    parcel_ids = np.array([f"P{i:0{pwidth}d}" for i in range(n_par)])

    years = [*PAST_YEARS, CURRENT_YEAR]
    crng = _rng(seed, "crops")
    crops_by_year = _seasons.assign_crops(crng, fields["dist_water_m"].to_numpy(float), years)
    declared_crop = crops_by_year[CURRENT_YEAR][parcel_fields].copy()
    mismatch = crng.random(n_par) < 0.05
    alternatives = {
        "maize": "soybean",
        "soybean": "maize",
        "rice": "soybean",
        "wheat": "maize",
        "other": "maize",
    }
    true_now = crops_by_year[CURRENT_YEAR].copy()
    for k in np.flatnonzero(mismatch):
        dc = declared_crop[k]
        alt = (
            alternatives[dc]
            if crng.random() < 0.7
            else crng.choice([c for c in alternatives if c != dc])
        )
        true_now[parcel_fields[k]] = alt
    crops_by_year[CURRENT_YEAR] = true_now

    frng = _rng(seed, "farmers")
    farmers = _finance.make_farmers(frng, n_par, declared_crop == "rice")
    ftab = farmers.table
    pf = farmers.parcel_farmer
    field_skill = frng.standard_normal(n_fields)
    field_skill[parcel_fields] = ftab["skill"].to_numpy()[pf]
    field_irr = frng.random(n_fields) < 0.12
    field_irr[parcel_fields] = ftab["irrigated"].to_numpy()[pf]

    seasons = _seasons.simulate_seasons(
        _rng(seed, "seasons"),
        fields,
        crops_by_year,
        crops,
        daily,
        stations,
        field_skill,
        field_irr,
        extent_m=size * 10.0,
    )

    # Parcel outlines and areas.
    prng = _rng(seed, "parcels")
    corners = _landscape.parcel_rectangles(prng, fields.loc[parcel_fields])
    xs = x0 + corners[..., 0] * 10.0
    ys = y0 - corners[..., 1] * 10.0
    polys_utm = shapely.polygons(np.stack([xs, ys], axis=-1))
    true_area = np.round(shapely.area(polys_utm) / 1e4, 4)
    lon_c, lat_c = to_lonlat.transform(xs.ravel(), ys.ravel())
    polys_ll = shapely.polygons(
        np.stack([lon_c.reshape(xs.shape), lat_c.reshape(xs.shape)], axis=-1)
    )
    over = ftab["over_declared"].to_numpy()[pf]
    factor = np.where(over, prng.uniform(1.3, 2.0, n_par), prng.normal(1.0, 0.03, n_par))
    declared_area = np.round(true_area * factor, 2)

    # Money per farmer and season.
    field_area = (
        ((fields["r1"] - fields["r0"]) * (fields["c1"] - fields["c0"]) / 100.0)
        .to_numpy(float)
        .copy()
    )
    field_area[parcel_fields] = true_area
    ps = seasons[seasons["field"].isin(parcel_fields)].copy()
    pos = {f: i for i, f in enumerate(parcel_fields)}
    ps["parcel"] = ps["field"].map(pos)
    ps["farmer"] = pf[ps["parcel"].to_numpy()]
    ps["true_area_ha"] = true_area[ps["parcel"].to_numpy()]
    ps["declared_area_ha"] = declared_area[ps["parcel"].to_numpy()]
    ps["declared_crop"] = np.where(
        ps["season"] == CURRENT_YEAR, declared_crop[ps["parcel"].to_numpy()], ps["true_crop"]
    )
    cp_true = crops.loc[ps["true_crop"]]
    norm_rev = (
        ps["true_area_ha"].to_numpy()
        * cp_true["yield_t_ha"].to_numpy()
        * cp_true["price_per_t"].to_numpy()
    )
    ps["expected_revenue"] = norm_rev
    ps["revenue"] = norm_rev * ps["relative_yield"].to_numpy()
    ps["cost_declared"] = (
        ps["declared_area_ha"].to_numpy() * crops.loc[ps["declared_crop"], "cost_per_ha"].to_numpy()
    )
    farm_seasons = ps.groupby(["season", "farmer"], as_index=False)[
        ["expected_revenue", "revenue", "cost_declared"]
    ].sum()
    # Pre-season oracle: the same farms and crops under climate years (own stream, no draw changes).
    shortfall_draws = _finance.climate_shortfall_draws(
        _rng(seed, "preseason-climate"),
        fields=fields.loc[parcel_fields],
        crops_by_season={y: crops_by_year[y][parcel_fields] for y in years},
        crops=crops,
        stations=stations,
        skill=field_skill[parcel_fields],
        irrigated=field_irr[parcel_fields],
        extent_m=size * 10.0,
        parcel_farmer=pf,
        true_area=true_area,
        n_farmers=len(ftab),
    )
    loans, intercept = _finance.simulate_loans(
        _rng(seed, "loans"), ftab, farm_seasons, PAST_YEARS, CURRENT_YEAR, shortfall_draws
    )

    # ---- product inputs ----
    _write_region_toml(out, seed)
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": parcel_ids,
            "farmer_id": ftab["farmer_id"].to_numpy()[pf],
            "declared_crop": declared_crop.astype(str),
            "declared_area_ha": declared_area,
        },
        geometry=polys_ll,
        crs="EPSG:4326",
    )
    if (out / "parcels.gpkg").exists():
        (out / "parcels.gpkg").unlink()
    gdf.to_file(out / "parcels.gpkg", driver="GPKG", layer="parcels")

    past = loans[loans["season"] != CURRENT_YEAR]
    now = loans[loans["season"] == CURRENT_YEAR].set_index("farmer_id")
    counts = past.groupby("farmer_id")["defaulted"].agg(["count", "sum"])
    fcsv = ftab[["farmer_id", "name", "national_id", "phone"]].copy()
    fcsv["loan_amount"] = (
        now.reindex(ftab["farmer_id"])["loan_amount"].to_numpy().round(0).astype(int)
    )
    fcsv["loan_term_months"] = ftab["loan_term_months"]
    for col in ("age", "years_farming", "household_size"):
        fcsv[col] = ftab[col]
    for col in ("irrigated", "insured", "cooperative_member"):
        fcsv[col] = np.where(ftab[col], "true", "false")
    prior = counts.reindex(ftab["farmer_id"]).astype("Int64").reset_index(drop=True)
    fcsv["prior_loans"] = prior["count"]
    fcsv["prior_defaults"] = prior["sum"]
    _csv(fcsv, out / "farmers.csv")

    (out / "weather").mkdir(exist_ok=True)
    _csv(stations, out / "weather" / "stations.csv")
    _csv(
        _weather.add_data_problems(_rng(seed, "weather-faults"), daily),
        out / "weather" / "daily.csv",
    )

    hist = pd.DataFrame(
        {
            "farmer_id": past["farmer_id"],
            "loan_id": past["loan_id"],
            "season_start": [f"{y}-{SEASON[0]}" for y in past["season"]],
            "season_end": [f"{y}-{SEASON[1]}" for y in past["season"]],
            "loan_amount": past["loan_amount"].round(0).astype(int),
            "defaulted": past["defaulted"],
        }
    )
    _csv(hist, out / "loans.csv")

    # ---- truth ----
    truth = out / "truth"
    truth.mkdir(exist_ok=True)
    write_cog(
        truth / "landcover.tif",
        ls.landcover,
        transform=transform,
        crs=f"EPSG:{EPSG}",
        nodata=0,
        blocksize=256,
        overviews=False,
        tags={f"class_{k}": v for k, v in _landscape.LANDCOVER_NAMES.items()},
    )
    write_truth(
        truth,
        fields=fields,
        parcel_fields=parcel_fields,
        parcel_ids=parcel_ids,
        farmers=ftab,
        pf=pf,
        true_area=true_area,
        declared_area=declared_area,
        declared_crop=declared_crop,
        seasons=seasons,
        loans=loans,
        field_area=field_area,
        doy_to_date=_doy_to_date,
        intercept=intercept,
    )
    (truth / "README.md").write_text(TRUTH_README)

    # ---- imagery ----
    img_dir = out / "imagery"
    if img_dir.exists():
        shutil.rmtree(img_dir)
    img_dir.mkdir()
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    regional_rain = d.groupby("date")["precip_mm"].mean()
    ctx = SceneContext(
        seed=seed,
        landscape=ls,
        transform=transform,
        seasons={
            y: {c: g[c].to_numpy() for c in g.columns}
            for y, g in seasons.sort_values(["season", "field"]).groupby("season")
        },
        regional_rain=regional_rain,
        lat=CENTRE_LAT,
    )
    acqs = acquisitions(_rng(seed, "acquisitions"), years)
    # One item at a time: memory stays flat as the region grows. (Threads were measured
    # slower here: rendering and the COG copy hold the GIL for most of their time.)
    items, stats = [], []
    for i, acq in enumerate(acqs):
        doc, st = render_and_write(ctx, i, acq, img_dir)
        items.append(doc)
        stats.append(st)
        if progress is not None:
            progress(i + 1, len(acqs))
    catalog = {"type": "FeatureCollection", "features": items}
    tmp = img_dir / "catalog.json.part"
    tmp.write_text(json.dumps(catalog, indent=1))
    os.replace(tmp, img_dir / "catalog.json")
    _csv(pd.DataFrame(stats), truth / "scenes.csv")
    logger.info(
        "Sample region written to %s: %d parcels, %d farmers, %d items in %.1f s",
        out,
        n_par,
        len(ftab),
        len(items),
        time.perf_counter() - t_start,
    )
    return out / "region.toml"


def _csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n")


def _write_region_toml(out: Path, seed: int) -> None:
    text = f"""name = "Suihua synthetic sample (seed {seed})"
crs = "EPSG:{EPSG}"

[imagery]
catalog = "imagery/catalog.json"
collection = "sentinel-2-l2a"

[parcels]
path = "parcels.gpkg"

[farmers]
path = "farmers.csv"

[weather]
stations = "weather/stations.csv"
observations = "weather/daily.csv"

[history]
path = "loans.csv"

[season]
start = "{CURRENT_YEAR}-{SEASON[0]}"
end = "{CURRENT_YEAR}-{SEASON[1]}"
"""
    (out / "region.toml").write_text(text)
