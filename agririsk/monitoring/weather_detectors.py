"""Weather detectors linked to the crop calendar: ``drought``, ``heat_stress``, ``frost``.

Pure functions over a daily weather table per station (``station_id, date, tmin_c,
tmax_c, precip_mm``) and the parcel → station assignment. Work is done per station and
crop (a few dozen combinations), then spread over parcels, so 20,000 parcels cost little.

Notes
-----
Crop stages come from the crop calendar of ``agririsk/data/crops.csv``: sowing
``sowing_doy``, emergence ``+ emergence_days``, flowering ``+ days_to_peak``, maturity
``+ season_days``.

- ``heat_stress``: at least 2 days with ``tmax > t_heat_c`` within flowering +-10 d in
  the last 10 days (the yield-sensitive window; FAO-33 / Porter & Gawith 1999); severity
  by degree-days above the threshold (>= 10 high, >= 4 medium).
- ``frost``: a day with ``tmin < 0 degC`` between emergence (wheat: 10 days before
  heading; it is frost-hardy before) and maturity in the last 7 days; ``tmin < -2 degC``
  is high.
- ``drought``: a daily FAO-56 ch. 8 root-zone bucket from April 1 (Hargreaves ET0,
  eq. 52; Kc 0 before sowing, then the crop's FAO-56 stages; TAW = ``TAW_MM``, initial
  depletion 25 % after snowmelt; effective rain P - 0.3 (P - 25)+); the water-stress
  coefficient Ks = (TAW - Dr) / ((1 - p) TAW) when Dr > p TAW. The projected yield loss
  so far is FAO-33 ``ky (1 - sum w Ks ETc / sum w ETc)`` with flowering weight
  ``w = 1 + 2 exp(-((t - peak) / 15 d)^2)``. Open while the mean Ks of the last 14 days
  is < 0.8 and the loss so far >= ``DROUGHT_MIN_LOSS`` (5 %), between emergence and 20
  days before maturity; severity by the loss: high >= 20 %, medium >= 10 %. Irrigated farmers and
  paddy rice are not water-limited and never get a drought alert.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from agririsk.crop_models.crops import CropParams, crop_params
from agririsk.monitoring.lifecycle import Condition
from agririsk.region import Season
from agririsk.weather.et0 import hargreaves_array

__all__ = [
    "WEATHER_KINDS",
    "TAW_MM",
    "crop_calendar",
    "station_conditions",
    "detect_weather",
    "heavy_rain_days",
]

logger = logging.getLogger(__name__)

WEATHER_KINDS = ("drought", "heat_stress", "frost")
#: root-zone total available water assumed when the parcel's soil is unknown, mm
TAW_MM = 180.0
#: projected relative yield loss from water stress so far that makes a drought alert
DROUGHT_MIN_LOSS = 0.05


def crop_calendar(p: CropParams, year: int) -> dict[str, pd.Timestamp]:
    """Sowing, emergence, flowering and maturity dates of ``p`` in ``year``."""
    sow = pd.Timestamp(year, 1, 1) + pd.Timedelta(days=p.sowing_doy - 1)
    return {
        "sowing": sow,
        "emergence": sow + pd.Timedelta(days=p.emergence_days),
        "flowering": sow + pd.Timedelta(days=p.days_to_peak),
        "maturity": sow + pd.Timedelta(days=p.season_days),
    }


def _kc(p: CropParams, day: np.ndarray) -> np.ndarray:
    """FAO-56 Kc curve (Fig. 25) by days after sowing."""
    l1, l2, l3, l4 = p.stage_lengths
    xs = [0, l1, l1 + l2, l1 + l2 + l3, l1 + l2 + l3 + l4]
    ys = [p.kc_ini, p.kc_ini, p.kc_mid, p.kc_mid, p.kc_end]
    return np.interp(day, xs, ys)


def station_conditions(
    daily: pd.DataFrame, crop: str, as_of: dt.date, latitude_deg: float
) -> list[tuple[str, str, pd.Timestamp, pd.Timestamp, dict]]:
    """Weather conditions of ``crop`` at one station on ``as_of``.

    Parameters
    ----------
    daily : one station's days (``date, tmin_c, tmax_c, precip_mm``), any span.
    crop : crop name (unknown → ``other``).
    as_of : nothing after it is used.
    latitude_deg : station latitude, for Hargreaves ET0.

    Returns
    -------
    list of (kind, severity, onset, last_day, evidence).
    """
    p = crop_params(crop)
    end = pd.Timestamp(as_of)
    cal = crop_calendar(p, end.year)
    d = daily[(daily["date"] >= cal["sowing"]) & (daily["date"] <= end)].sort_values("date")
    if d.empty or end < cal["emergence"]:
        return []
    out = []
    tmax, tmin = d["tmax_c"].to_numpy(float), d["tmin_c"].to_numpy(float)
    dates = d["date"]
    # heat at flowering
    win = (dates >= cal["flowering"] - pd.Timedelta(days=10)) & (
        dates <= cal["flowering"] + pd.Timedelta(days=10)
    )
    recent = (dates > end - pd.Timedelta(days=10)).to_numpy()
    hot = win.to_numpy() & (tmax > p.t_heat_c)
    if (hot & recent).sum() >= 2:
        dd = float(np.nansum(np.where(hot, tmax - p.t_heat_c, 0)))
        sev = "high" if dd >= 10 else ("medium" if dd >= 4 else "low")
        out.append(
            (
                "heat_stress",
                sev,
                dates[hot].iloc[0],
                dates[hot].iloc[-1],
                {
                    "threshold_tmax_c": p.t_heat_c,
                    "hot_days": int(hot.sum()),
                    "degree_days": round(dd, 1),
                    "flowering_expected": cal["flowering"].date().isoformat(),
                    "max_tmax_c": float(np.nanmax(tmax[hot])),
                },
            )
        )
    # frost between emergence (wheat: heading, it is hardy before) and maturity
    frost_from = cal["flowering"] - pd.Timedelta(days=10) if p.crop == "wheat" else cal["emergence"]
    grow = ((dates >= frost_from) & (dates <= cal["maturity"])).to_numpy()
    frost = grow & (tmin < 0) & (dates > end - pd.Timedelta(days=7)).to_numpy()
    if frost.any():
        low = float(np.nanmin(tmin[frost]))
        out.append(
            (
                "frost",
                "high" if low < -2 else "medium",
                dates[frost].iloc[0],
                dates[frost].iloc[-1],
                {
                    "min_tmin_c": round(low, 1),
                    "frost_days": int(frost.sum()),
                    "threshold_tmin_c": 0.0,
                },
            )
        )
    # drought: FAO-56 bucket from April 1 (soil 25 % depleted after snowmelt)
    if p.crop != "rice" and end <= cal["maturity"] - pd.Timedelta(days=20):
        b = daily[(daily["date"] >= _bucket_start(cal)) & (daily["date"] <= end)].sort_values(
            "date"
        )
        ks, etc, t = _bucket(b, p, cal["sowing"], latitude_deg)
        bdates = b["date"]
        last14 = ((bdates > end - pd.Timedelta(days=14)) & (bdates >= cal["emergence"])).to_numpy()
        if last14.sum() >= 7:
            m = float(np.nanmean(ks[last14]))
            w = 1 + 2 * np.exp(-(((t - p.days_to_peak) / 15.0) ** 2))
            loss = p.ky * (1 - float(np.sum(w * ks * etc)) / max(float(np.sum(w * etc)), 1e-9))
            if m < 0.8 and loss >= DROUGHT_MIN_LOSS:
                sev = "high" if loss >= 0.2 else ("medium" if loss >= 0.1 else "low")
                stressed = bdates[(ks < 0.9) & (bdates >= cal["emergence"]).to_numpy()]
                out.append(
                    (
                        "drought",
                        sev,
                        stressed.iloc[0],
                        bdates.iloc[-1],
                        {
                            "ks_mean_14d": round(m, 3),
                            "expected_ks": 1.0,
                            "yield_loss_so_far": round(loss, 3),
                            "taw_mm": TAW_MM,
                            "rain_30d_mm": round(
                                float(
                                    b.loc[bdates > end - pd.Timedelta(days=30), "precip_mm"].sum()
                                ),
                                1,
                            ),
                        },
                    )
                )
    return out


def _bucket_start(cal: dict[str, pd.Timestamp]) -> pd.Timestamp:
    return min(pd.Timestamp(cal["sowing"].year, 4, 1), cal["sowing"])


def _bucket(
    d: pd.DataFrame, p: CropParams, sow: pd.Timestamp, lat: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily Ks, ETc (mm) and days after sowing of the FAO-56 ch. 8 bucket (Kc = 0 before sowing)."""
    dates = d["date"]
    t = (dates - sow).dt.days.to_numpy()
    et0 = hargreaves_array(
        d["tmin_c"].to_numpy(float),
        d["tmax_c"].to_numpy(float),
        lat,
        dates.dt.day_of_year.to_numpy(),
    )
    etc = np.where(t < 0, 0.0, _kc(p, t)) * np.nan_to_num(et0, nan=3.0)
    rain = np.nan_to_num(d["precip_mm"].to_numpy(float))
    eff = rain - 0.3 * np.maximum(rain - 25, 0)
    taw, pdep = TAW_MM, p.p_depletion
    dr = 0.25 * taw
    ks = np.ones(len(d))
    for i in range(len(d)):
        k = 1.0 if dr <= pdep * taw else max(0.0, (taw - dr) / ((1 - pdep) * taw))
        ks[i] = k
        dr = min(taw, max(0.0, dr - eff[i] + k * etc[i]))
    return ks, etc, t


def detect_weather(
    weather: pd.DataFrame,
    stations: pd.DataFrame,
    parcel_station: pd.Series,
    crops: pd.Series,
    season: Season,
    as_of: dt.date,
    *,
    not_water_limited: set[str] | None = None,
) -> list[Condition]:
    """Weather conditions of every parcel at ``as_of`` (see module notes).

    Parameters
    ----------
    weather : daily station table (``station_id, date, tmin_c, tmax_c, precip_mm``).
    stations : ``station_id, lat``.
    parcel_station : station of each parcel (index ``parcel_id``).
    crops : declared crop by parcel.
    season : the monitored season; nothing outside it alerts.
    as_of : nothing after it is used.
    not_water_limited : parcels of irrigated farmers (no drought alert).
    """
    end = min(pd.Timestamp(as_of), pd.Timestamp(season.end))
    if end < pd.Timestamp(season.start) or weather.empty:
        return []
    lat = stations.set_index("station_id")["lat"].astype(float)
    w = weather[weather["date"] <= end]
    cache: dict[tuple[str, str], list] = {}
    out: list[Condition] = []
    skip = not_water_limited or set()
    for pid, sid in parcel_station.items():
        crop = str(crops.get(pid, "other"))
        key = (str(sid), crop)
        if key not in cache:
            cache[key] = station_conditions(
                w[w["station_id"] == sid], crop, end.date(), float(lat.get(sid, 45.0))
            )
        for kind, sev, onset, last, ev in cache[key]:
            if kind == "drought" and pid in skip:
                continue
            out.append(
                Condition(
                    str(pid), kind, sev, last.date(), onset.date(), dict(ev, station_id=str(sid))
                )
            )
    return out


def heavy_rain_days(
    weather: pd.DataFrame, parcel_station: pd.Series, threshold_mm: float
) -> pd.DataFrame:
    """``parcel_id, date, precip_mm`` of every day with ``precip_mm >= threshold_mm`` at the parcel's station."""
    heavy = weather.loc[weather["precip_mm"] >= threshold_mm, ["station_id", "date", "precip_mm"]]
    ps = parcel_station.rename("station_id").rename_axis("parcel_id").reset_index()
    return ps.merge(heavy, on="station_id")[["parcel_id", "date", "precip_mm"]]
