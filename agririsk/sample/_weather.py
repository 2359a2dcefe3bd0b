"""Synthetic daily station weather for the Suihua sample region, and FAO-56 helpers.

A weather generator in the spirit of WGEN (Richardson 1981): a first-order Markov chain
for wet days, gamma-distributed amounts, temperatures as a seasonal cycle plus AR(1)
anomalies, shared across stations (one regional weather) with small local deviations
and a -6.5 degC/km lapse rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

LAPSE_C_PER_M = -0.0065
# Suihua climate normals, per month (Jan..Dec): precipitation mm, wet-day probability.
_PRECIP_MM = np.array([4, 4, 10, 20, 42, 88, 140, 115, 52, 20, 8, 5], dtype=float)  # ~508 mm
_WET_P = np.array([0.10, 0.09, 0.13, 0.20, 0.30, 0.42, 0.50, 0.45, 0.32, 0.20, 0.14, 0.12])
_RH_PCT = np.array([72, 68, 58, 48, 50, 64, 78, 80, 70, 60, 64, 70], dtype=float)
_WIND_MS = np.array([2.6, 2.8, 3.3, 3.9, 3.6, 2.8, 2.3, 2.2, 2.5, 3.0, 3.0, 2.7])


@dataclass(frozen=True)
class SeasonScenario:
    """How one year's weather departs from the climate: the planted anomalies."""

    year: int
    precip_factor: dict[int, float]  # month -> multiplier on rain amount and frequency
    heat: tuple[str, str, float] | None = None  # (start, end, +degC on tmax/tmin)


SCENARIOS = {
    2023: SeasonScenario(2023, {}, heat=("2023-07-18", "2023-07-29", 5.0)),
    2024: SeasonScenario(2024, {7: 0.25, 8: 0.3}),  # July-August drought
    2025: SeasonScenario(2025, {6: 1.3, 7: 1.2}),
    2026: SeasonScenario(2026, {5: 0.6, 6: 0.55}, heat=("2026-06-20", "2026-06-28", 4.0)),
}


def extraterrestrial_radiation(doy: np.ndarray, lat_deg: float) -> np.ndarray:
    """Daily extraterrestrial radiation Ra, MJ m-2 day-1.

    Notes
    -----
    FAO-56 eq. 21: Ra = 24*60/pi * Gsc * dr * (ws sin(phi) sin(delta) + cos(phi) cos(delta) sin(ws)),
    Gsc = 0.0820 MJ m-2 min-1.

    References
    ----------
    Allen, R.G. et al. (1998) FAO Irrigation and Drainage Paper 56, chapter 3.
    """
    phi = np.deg2rad(lat_deg)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    delta = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1, 1))
    return (
        24
        * 60
        / np.pi
        * 0.0820
        * dr
        * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))
    )


def hargreaves_et0(tmin: np.ndarray, tmax: np.ndarray, ra_mj: np.ndarray) -> np.ndarray:
    """Reference evapotranspiration by Hargreaves, mm day-1.

    Notes
    -----
    FAO-56 eq. 52: ET0 = 0.0023 (Tmean + 17.8) (Tmax - Tmin)^0.5 * 0.408 Ra.

    References
    ----------
    Hargreaves, G.H. and Samani, Z.A. (1985); Allen et al. (1998) FAO-56, eq. 52.
    """
    tmean = (tmin + tmax) / 2
    return np.maximum(
        0.0023 * (tmean + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0)) * 0.408 * ra_mj, 0.0
    )


def make_stations(rng: np.random.Generator, centre_lat: float, centre_lon: float) -> pd.DataFrame:
    """Four stations in and around the region, at different elevations."""
    offsets = [
        (0.004, -0.006, 178.0),
        (0.16, 0.21, 236.0),
        (-0.19, 0.12, 152.0),
        (0.08, -0.27, 305.0),
    ]
    rows = []
    for i, (dlat, dlon, elev) in enumerate(offsets):
        rows.append(
            {
                "station_id": f"SH{i + 1:02d}",
                "lat": round(centre_lat + dlat + rng.uniform(-0.01, 0.01), 4),
                "lon": round(centre_lon + dlon + rng.uniform(-0.01, 0.01), 4),
                "elevation_m": round(elev + rng.uniform(-8, 8), 0),
            }
        )
    return pd.DataFrame(rows)


def simulate_weather(
    rng: np.random.Generator, stations: pd.DataFrame, start: str, end: str
) -> pd.DataFrame:
    """Daily weather at each station from ``start`` to ``end`` (inclusive), clean.

    Returns
    -------
    DataFrame with ``station_id, date, tmin_c, tmax_c, precip_mm, rh_mean_pct, wind_ms,
    solar_mj_m2`` (CONTRACTS.md section 5).
    """
    dates = pd.date_range(start, end, freq="D")
    n = len(dates)
    doy = dates.day_of_year.to_numpy()
    month = dates.month.to_numpy() - 1
    year = dates.year.to_numpy()

    # Regional precipitation: Markov chain for occurrence, gamma amounts.
    factor = np.ones(n)
    for y, sc in SCENARIOS.items():
        for m, f in sc.precip_factor.items():
            factor[(year == y) & (month == m - 1)] = f
    p_wet = np.clip(_WET_P[month] * np.sqrt(factor), 0.01, 0.95)
    u = rng.random(n)
    wet = np.zeros(n, dtype=bool)
    for t in range(n):
        pw = p_wet[t]
        # persistence: P(wet | wet) > P(wet | dry), stationary probability pw
        p11 = min(pw + 0.25 * (1 - pw), 0.95)
        p01 = pw * (1 - p11) / max(1 - pw, 1e-6)
        wet[t] = u[t] < (p11 if t and wet[t - 1] else p01)
    days_in_month = dates.days_in_month.to_numpy()
    mean_amt = _PRECIP_MM[month] / (days_in_month * _WET_P[month]) * np.sqrt(factor)
    shape_k = 0.75
    amount = rng.gamma(shape_k, mean_amt / shape_k)
    regional_rain = np.where(wet, np.maximum(amount, 0.1), 0.0)
    # Keep each scenario's growing season (May-Sep) within +-15 % of its design total,
    # so a "heat wave year" is not also a drought year by the luck of the draw.
    for y, sc in SCENARIOS.items():
        grow = (year == y) & (month >= 4) & (month <= 8)
        if not grow.any():
            continue
        design = sum(_PRECIP_MM[m] * sc.precip_factor.get(m + 1, 1.0) for m in range(4, 9))
        total = regional_rain[grow].sum()
        if total > 0:
            regional_rain[grow] *= np.clip(total / design, 0.85, 1.15) * design / total

    # Regional temperature: seasonal cycle + AR(1) anomaly (winter more variable).
    season = np.cos(2 * np.pi * (doy - 200) / 365.25)
    t_mean = 1.8 + 21.5 * season  # Jan ~ -20 degC, Jul ~ +23 degC
    dtr = 11.5 + 2.0 * np.sin(2 * np.pi * (doy - 40) / 365.25)  # larger in spring
    sd = 3.2 - 1.2 * season
    anom = np.zeros(n)
    eps = rng.standard_normal(n)
    for t in range(1, n):
        anom[t] = 0.7 * anom[t - 1] + np.sqrt(1 - 0.49) * eps[t]
    anom *= sd
    dtr_day = dtr * np.where(wet, 0.65, 1.1)
    for sc in SCENARIOS.values():
        if sc.heat:
            hot = (dates >= sc.heat[0]) & (dates <= sc.heat[1])
            anom[hot] += sc.heat[2]
            dtr_day[hot] *= 1.15
    sun = np.where(wet, rng.beta(2, 5, n), rng.beta(6, 2.5, n))  # relative sunshine n/N

    rows = []
    for _, st in stations.iterrows():
        lapse = LAPSE_C_PER_M * (st["elevation_m"] - 180.0)
        local = rng.standard_normal((3, n))
        tm = t_mean + anom + lapse + 0.6 * local[0]
        half = dtr_day / 2 * (1 + 0.06 * local[1])
        tmin, tmax = tm - half, tm + half
        keep = rng.random(n) < 0.88  # local showers miss some stations
        extra = (rng.random(n) < 0.04) & ~wet
        rain = regional_rain * keep * rng.lognormal(0, 0.35, n)
        rain += extra * rng.gamma(0.7, 3.0, n)
        rain *= 1 + 0.0005 * (st["elevation_m"] - 180.0)  # orographic
        ra = extraterrestrial_radiation(doy, float(st["lat"]))
        solar = ra * (0.25 + 0.50 * np.clip(sun + 0.05 * local[2], 0.0, 1.0))
        rh = np.clip(_RH_PCT[month] + np.where(rain > 1, 12, -4) + 5 * local[2], 15, 100)
        wind = rng.gamma(4.0, _WIND_MS[month] / 4.0)
        rows.append(
            pd.DataFrame(
                {
                    "station_id": st["station_id"],
                    "date": dates.strftime("%Y-%m-%d"),
                    "tmin_c": np.round(tmin, 1),
                    "tmax_c": np.round(tmax, 1),
                    "precip_mm": np.round(rain, 1),
                    "rh_mean_pct": np.round(rh, 0),
                    "wind_ms": np.round(wind, 1),
                    "solar_mj_m2": np.round(solar, 1),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def add_data_problems(rng: np.random.Generator, daily: pd.DataFrame) -> pd.DataFrame:
    """The faults real station files have, kept within CONTRACTS.md validity.

    - a 6-day gap (missing rows) at the second station in May 2025;
    - wind stuck at one value for 9 days at the third station (a frozen anemometer);
    - the first station repeating one day's temperatures for 4 days (a stuck logger).
    No tmin > tmax, no negative rain, no duplicate rows.
    """
    out = daily.copy()
    ids = sorted(out["station_id"].unique())
    if len(ids) >= 2:
        gap = (out["station_id"] == ids[1]) & out["date"].between("2025-05-11", "2025-05-16")
        out = out[~gap]
    if len(ids) >= 3:
        st = out["station_id"] == ids[2]
        stuck = st & out["date"].between("2024-09-02", "2024-09-10")
        out.loc[stuck, "wind_ms"] = out.loc[stuck, "wind_ms"].iloc[0]
    st = out["station_id"] == ids[0]
    first = out.index[st & (out["date"] == "2025-08-03")]
    stuck = st & out["date"].between("2025-08-04", "2025-08-07")
    if len(first):
        for col in ("tmin_c", "tmax_c"):
            out.loc[stuck, col] = out.loc[first[0], col]
    return out.reset_index(drop=True)
