"""Per field and season: crop, calendar, water stress, field events and relative yield.

The chain is physical: weather -> water balance -> water-limited yield; skill and
soil scale the potential; events (hail, flood, no emergence, early harvest) strike with
small rates. The canopy drawn in the imagery is then a consequence of that yield
(:func:`field_state`), never painted to match a label.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from agririsk.sample._crops import (
    CROPS,
    NDVI_SOIL,
    crop_ndvi,
    heat_yield_factor,
    water_balance,
    water_limited_yield,
)
from agririsk.sample._weather import extraterrestrial_radiation, hargreaves_et0

logger = logging.getLogger(__name__)

WINDOW = (91, 305)  # day-of-year span simulated each season: Apr 1 .. Oct 31
EVENTS = ("none", "hail", "flood", "no_emergence", "early_harvest")


def assign_crops(
    rng: np.random.Generator, dist_water_m: np.ndarray, years: list[int]
) -> dict[int, np.ndarray]:
    """Crop per field and season: rice on the floodplain, maize-soybean rotation elsewhere."""
    n = len(dist_water_m)
    paddy = (dist_water_m < 300) & (rng.random(n) < 0.8)
    upland_p = np.array([0.48, 0.36, 0.0, 0.07, 0.09])
    first = rng.choice(len(CROPS), size=n, p=upland_p)
    first[paddy] = CROPS.index("rice")
    out = {}
    cur = first
    for y in years:
        out[y] = np.array(CROPS, dtype=object)[cur]
        switch = rng.random(n) < 0.55
        maize, soy = CROPS.index("maize"), CROPS.index("soybean")
        nxt = cur.copy()
        nxt[switch & (cur == maize)] = soy
        nxt[switch & (cur == soy)] = maize
        cur = nxt
    return out


def _hail_hits(rng: np.random.Generator, xy_m: np.ndarray, extent_m: float) -> np.ndarray:
    """Fields under a hail swath this season: storms ~ Poisson(0.45 per 5 km of region side)."""
    hit = np.zeros(len(xy_m), dtype=bool)
    n_storms = rng.poisson(0.45 * max(extent_m / 5120.0, 1.0))
    centre = xy_m.mean(axis=0) if len(xy_m) else np.zeros(2)
    for _ in range(n_storms):
        theta = rng.uniform(0, np.pi)
        normal = np.array([np.cos(theta), np.sin(theta)])
        offset = rng.uniform(-0.5, 0.5) * extent_m
        width = rng.uniform(200, 500)
        d = np.abs((xy_m - centre) @ normal - offset)
        hit |= (d < width / 2) & (rng.random(len(xy_m)) < 0.7)
    return hit


def simulate_seasons(
    rng: np.random.Generator,
    fields: pd.DataFrame,
    crops_by_year: dict[int, np.ndarray],
    crops: pd.DataFrame,
    daily: pd.DataFrame,
    stations: pd.DataFrame,
    skill: np.ndarray,
    unlimited_farm: np.ndarray,
    extent_m: float,
) -> pd.DataFrame:
    """Simulate every field in every season.

    Parameters
    ----------
    fields : landscape fields with ``x_m, y_m`` (centroid, UTM), ``station_id``,
        ``soil_quality``, ``taw_mm``, ``dist_water_m``.
    crops_by_year : true crop per field per season year.
    crops : crops.csv table.
    daily : clean daily weather (before planted data faults).
    stations : station table.
    skill : management skill of each field's farmer (N(0,1)).
    unlimited_farm : field's farmer irrigates.
    extent_m : side of the region, metres.

    Returns
    -------
    One row per field and season: ``field, season, true_crop, sow_doy, emergence_doy,
    peak_doy, harvest_doy, event, event_doy, water_stress, ry_water, ry_heat, ry_potential,
    relative_yield, ndvi_peak``.
    """
    n = len(fields)
    st_index = {s: i for i, s in enumerate(stations["station_id"])}
    fst = fields["station_id"].map(st_index).to_numpy()
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    xy = fields[["x_m", "y_m"]].to_numpy(float)
    frames = []
    for year, crop_names in crops_by_year.items():
        cp = crops.loc[crop_names]
        w = d[(d["date"].dt.year == year) & d["date"].dt.day_of_year.between(*WINDOW)]
        tmin = w.pivot(index="date", columns="station_id", values="tmin_c")[
            list(st_index)
        ].to_numpy()
        tmax = w.pivot(index="date", columns="station_id", values="tmax_c")[
            list(st_index)
        ].to_numpy()
        rain = w.pivot(index="date", columns="station_id", values="precip_mm")[
            list(st_index)
        ].to_numpy()
        doy = np.arange(WINDOW[0], WINDOW[0] + len(tmin))
        ra = np.stack([extraterrestrial_radiation(doy, lat) for lat in stations["lat"]], axis=1)
        et0 = hargreaves_et0(tmin, tmax, ra)

        # Calendar: sowing +-10 d; cold springs sow later.
        spring = tmax[(doy >= 110) & (doy < 130)].mean() - 16.0
        sow = crops["sowing_doy"].reindex(crop_names).to_numpy(float)
        sow = sow + np.clip(rng.normal(0, 4.5, n) - 0.8 * spring, -10, 10)
        sow = np.round(sow)
        emerge = sow + cp["emergence_days"].to_numpy(float)
        peak = sow + cp["days_to_peak"].to_numpy(float) + np.round(rng.normal(0, 2, n))
        harvest = sow + cp["season_days"].to_numpy(float) + np.round(rng.normal(0, 4, n))
        harvest = np.minimum(harvest, WINDOW[1] - 1)

        # Water: bucket per field at its station's weather.
        is_rice = crop_names == "rice"
        unlimited = unlimited_farm | is_rice
        rel_et, stress_days = water_balance(
            et0[:, fst],
            rain[:, fst],
            sow - WINDOW[0],
            cp,
            fields["taw_mm"].to_numpy(float),
            unlimited,
        )
        ry_water = water_limited_yield(rel_et, cp["ky"].to_numpy(float))
        ry_heat = heat_yield_factor(tmax[:, fst], doy.astype(float), peak)
        ry_heat = np.where(crop_names == "soybean", 1 - 0.5 * (1 - ry_heat), ry_heat)
        potential = np.exp(0.07 * skill + 0.06 * fields["soil_quality"].to_numpy(float))
        noise = rng.lognormal(0.0, 0.07, n)
        ry_pre = ry_water * ry_heat * potential * noise

        # Events.
        event = np.zeros(n, dtype=int)
        event_doy = np.full(n, np.nan)
        hail = _hail_hits(rng, xy, extent_m)
        hail_day = rng.integers(172, 232)
        event[hail & (harvest > hail_day) & (sow < hail_day)] = 1
        event_doy[event == 1] = hail_day
        summer = (doy >= 152) & (doy < 244)
        big = rain[summer].max(axis=1)
        if big.max() > 45:
            flood_day = int(doy[summer][int(np.argmax(big))])
            low = (fields["dist_water_m"].to_numpy(float) < 250) & (rng.random(n) < 0.3)
            low |= rng.random(n) < 0.004  # waterlogged depressions
            sel = low & (event == 0) & (sow < flood_day) & (harvest > flood_day)
            event[sel] = 2
            event_doy[sel] = flood_day
        u = rng.random(n)
        p_none = 0.012 * np.exp(-0.4 * skill)
        sel = (event == 0) & (u < p_none)
        event[sel] = 3
        event_doy[sel] = emerge[sel]
        sel = (event == 0) & (u > 1 - 0.012)
        event[sel] = 4
        event_doy[sel] = np.round(peak[sel] + rng.uniform(5, 25, int(sel.sum())))
        harvest = np.where(event == 4, event_doy, harvest)

        factor = np.ones(n)
        factor[event == 1] = rng.uniform(0.25, 0.6, int((event == 1).sum()))
        f2 = rng.uniform(0.1, 0.5, int((event == 2).sum()))
        factor[event == 2] = np.where(is_rice[event == 2], np.minimum(f2 * 1.6, 0.9), f2)
        factor[event == 3] = 0.0
        factor[event == 4] = rng.uniform(0.4, 0.75, int((event == 4).sum()))
        ry = np.clip(ry_pre * factor, 0.0, 1.3)

        ndvi_peak = cp["ndvi_peak"].to_numpy(float)
        amp = (ndvi_peak - NDVI_SOIL) * np.clip(ry_pre, 0.05, 1.1) ** 0.6
        frames.append(
            pd.DataFrame(
                {
                    "field": np.arange(n),
                    "season": year,
                    "true_crop": crop_names,
                    "sow_doy": sow,
                    "emergence_doy": emerge,
                    "peak_doy": peak,
                    "harvest_doy": harvest,
                    "event": np.array(EVENTS)[event],
                    "event_doy": event_doy,
                    "water_stress": np.round(1 - rel_et, 3),
                    "stress_days": stress_days,
                    "ry_water": ry_water,
                    "ry_heat": ry_heat,
                    "ry_pre_event": ry_pre,
                    "relative_yield": np.round(ry, 4),
                    "ndvi_peak": np.minimum(NDVI_SOIL + amp, 0.93),
                    "senescence_shift": 25.0 * (1 - ry_water),
                    "emergence_days": cp["emergence_days"].to_numpy(float),
                    "days_to_peak": peak - sow,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def field_state(doy: float, s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canopy NDVI, flooded fraction of the background, and harvested flag on ``doy``.

    ``s`` holds one season's columns of :func:`simulate_seasons` as arrays.
    """
    ndvi = crop_ndvi(
        doy,
        s["sow_doy"],
        s["emergence_days"],
        s["days_to_peak"],
        s["harvest_doy"],
        s["ndvi_peak"],
        s["senescence_shift"],
    )
    ev, ed = s["event"], s["event_doy"]
    since = doy - ed
    green = ndvi - NDVI_SOIL
    flood = np.zeros_like(ndvi)
    rice = s["true_crop"] == "rice"
    flood[rice & (doy >= s["sow_doy"] - 7) & (doy <= s["peak_doy"] + 15)] = 0.85
    hail = (ev == "hail") & (since >= 0)
    ndvi = np.where(hail, NDVI_SOIL + green * (0.3 + 0.4 * np.clip(since / 25, 0, 1)), ndvi)
    fl = (ev == "flood") & (since >= 0)
    flood = np.where(fl & (since <= 10), 1.0, flood)
    rec = 0.15 + 0.3 * np.clip((since - 10) / 30, 0, 1)
    ndvi = np.where(fl, NDVI_SOIL + green * rec, ndvi)
    none = ev == "no_emergence"
    weeds = 0.08 / (1 + np.exp(-(doy - 200) / 10))
    ndvi = np.where(none, NDVI_SOIL + weeds, ndvi)
    harvested = (doy >= s["harvest_doy"]) & ~none
    return ndvi, flood, harvested
