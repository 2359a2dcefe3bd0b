"""Reference evapotranspiration ET0: FAO-56 Penman-Monteith and Hargreaves-Samani.

Public API (used outside agririsk; keep the names):

- :func:`penman_monteith` (FAO-56 eq. 6, daily), with the FAO-56 rules for missing
  humidity (ea from Tmin, eq. 48) and missing radiation (Hargreaves radiation formula,
  eq. 50, kRs = 0.16);
- :func:`hargreaves` (FAO-56 eq. 52) when only temperatures exist.

Inputs are pandas Series with a DatetimeIndex (the day of year comes from it) or xarray
DataArrays with a ``time`` coordinate, in the units the argument names say; a ``units``
attribute on the data is honoured (e.g. temperatures in K). The result has the same form,
in mm/day, with ``attrs["units"] = "mm/day"``. Plain numpy arrays are accepted by the
``*_array`` kernels, which take the day of year explicitly.

References
----------
Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). Crop evapotranspiration -
Guidelines for computing crop water requirements. FAO Irrigation and Drainage Paper 56
("FAO-56"), chapters 2-3.
Hargreaves, G.H., Samani, Z.A. (1985). Reference crop evapotranspiration from
temperature. Applied Engineering in Agriculture 1(2), 96-99.
"""

from __future__ import annotations

import logging
from typing import TypeAlias

import numpy as np
import pandas as pd
import xarray as xr

from agririsk.weather import _units

__all__ = [
    "penman_monteith",
    "hargreaves",
    "penman_monteith_array",
    "hargreaves_array",
    "extraterrestrial_radiation",
    "daylight_hours",
    "solar_from_sunshine",
    "solar_from_temperature",
    "saturation_vapour_pressure",
    "wind_at_2m",
    "KRS_INTERIOR",
    "KRS_COASTAL",
]

logger = logging.getLogger(__name__)

#: Hargreaves radiation adjustment coefficient kRs, °C^-0.5 (FAO-56 eq. 50).
KRS_INTERIOR = 0.16
KRS_COASTAL = 0.19
_GSC = 0.0820  # solar constant, MJ m-2 min-1
_SIGMA = 4.903e-9  # Stefan-Boltzmann, MJ K-4 m-2 day-1
_DEFAULT_WIND = 2.0  # m/s, FAO-56 ch. 3 "missing wind speed data"

Data: TypeAlias = pd.Series | xr.DataArray


# --- FAO-56 chapter 3 building blocks (numpy) -----------------------------------------


def saturation_vapour_pressure(t_c: np.ndarray | float) -> np.ndarray:
    """Saturation vapour pressure e°(T), kPa (FAO-56 eq. 11): 0.6108 exp(17.27 T / (T + 237.3))."""
    t = np.asarray(t_c, dtype=float)
    return 0.6108 * np.exp(17.27 * t / (t + 237.3))


def _solar_geometry(doy: np.ndarray | float, lat_deg: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """dr (eq. 23), solar declination delta (eq. 24), sunset hour angle ws (eq. 25), latitude phi (rad)."""
    phi = np.deg2rad(np.asarray(lat_deg, dtype=float))
    doy = np.asarray(doy, dtype=float)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    delta = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return dr, delta, ws, phi


def extraterrestrial_radiation(doy: np.ndarray | int, lat_deg: np.ndarray | float) -> np.ndarray:
    """Daily extraterrestrial radiation Ra, MJ m-2 day-1.

    Notes
    -----
    FAO-56 eq. 21: Ra = (24 * 60 / pi) Gsc dr [ws sin(phi) sin(delta) + cos(phi) cos(delta) sin(ws)],
    with Gsc = 0.0820 MJ m-2 min-1 and dr, delta, ws from eqs. 23-25.
    """
    dr, delta, ws, phi = _solar_geometry(doy, lat_deg)
    return 24 * 60 / np.pi * _GSC * dr * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))


def daylight_hours(doy: np.ndarray | int, lat_deg: np.ndarray | float) -> np.ndarray:
    """Maximum possible sunshine duration N, hours (FAO-56 eq. 34: N = 24 ws / pi)."""
    return 24 / np.pi * _solar_geometry(doy, lat_deg)[2]


def solar_from_sunshine(
    sunshine_h: np.ndarray | float, doy: np.ndarray | int, lat_deg: np.ndarray | float,
    *, a_s: float = 0.25, b_s: float = 0.50,
) -> np.ndarray:
    """Solar radiation Rs from sunshine hours n by the Angstrom formula, MJ m-2 day-1.

    Notes
    -----
    FAO-56 eq. 35: Rs = (a_s + b_s n / N) Ra, with a_s = 0.25, b_s = 0.50 when not calibrated.
    """
    n_max = daylight_hours(doy, lat_deg)
    return (a_s + b_s * np.asarray(sunshine_h, dtype=float) / n_max) * extraterrestrial_radiation(doy, lat_deg)


def solar_from_temperature(
    tmin_c: np.ndarray, tmax_c: np.ndarray, ra: np.ndarray, krs: float = KRS_INTERIOR
) -> np.ndarray:
    """Solar radiation from the temperature range (Hargreaves), MJ m-2 day-1.

    Notes
    -----
    FAO-56 eq. 50: Rs = kRs sqrt(Tmax - Tmin) Ra, kRs = 0.16 for interior and 0.19 for
    coastal locations; capped at the clear-sky radiation Rso = 0.75 Ra.
    """
    rs = krs * np.sqrt(np.maximum(np.asarray(tmax_c) - np.asarray(tmin_c), 0.0)) * ra
    return np.minimum(rs, 0.75 * ra)


def wind_at_2m(wind_ms: np.ndarray | float, height_m: float) -> np.ndarray:
    """Wind speed at 2 m from a measurement at ``height_m`` (FAO-56 eq. 47).

    Notes
    -----
    u2 = uz 4.87 / ln(67.8 z - 5.42).
    """
    return np.asarray(wind_ms, dtype=float) * 4.87 / np.log(67.8 * height_m - 5.42)


# --- kernels on numpy arrays -----------------------------------------------------------


def penman_monteith_array(
    tmin_c: np.ndarray,
    tmax_c: np.ndarray,
    solar_mj_m2: np.ndarray | None,
    wind_ms: np.ndarray | None,
    latitude_deg: np.ndarray | float,
    elevation_m: np.ndarray | float,
    doy: np.ndarray,
    *,
    rh_mean_pct: np.ndarray | None = None,
    ea_kpa: np.ndarray | None = None,
    soil_heat_flux_mj_m2: np.ndarray | float = 0.0,
    krs: float = KRS_INTERIOR,
) -> np.ndarray:
    """FAO-56 Penman-Monteith on broadcastable numpy arrays; see :func:`penman_monteith`."""
    tmin = np.asarray(tmin_c, dtype=float)
    tmax = np.asarray(tmax_c, dtype=float)
    tmean = (tmin + tmax) / 2  # eq. 9
    z = np.asarray(elevation_m, dtype=float)
    pressure = 101.3 * ((293 - 0.0065 * z) / 293) ** 5.26  # eq. 7
    gamma = 0.665e-3 * pressure  # eq. 8
    delta = 4098 * saturation_vapour_pressure(tmean) / (tmean + 237.3) ** 2  # eq. 13
    es_min, es_max = saturation_vapour_pressure(tmin), saturation_vapour_pressure(tmax)
    es = (es_max + es_min) / 2  # eq. 12
    if ea_kpa is not None:
        ea = np.asarray(ea_kpa, dtype=float)
    elif rh_mean_pct is not None:
        ea = np.asarray(rh_mean_pct, dtype=float) / 100 * es  # eq. 19
    else:
        ea = np.full(np.broadcast(tmin, tmax).shape, np.nan)
    ea = np.where(np.isnan(ea), es_min, ea)  # missing humidity: ea = e°(Tmin), eq. 48
    ra = extraterrestrial_radiation(doy, latitude_deg)
    rs_t = solar_from_temperature(tmin, tmax, ra, krs)  # missing radiation: eq. 50
    rs = rs_t if solar_mj_m2 is None else np.where(np.isnan(solar_mj_m2), rs_t, solar_mj_m2)
    u2 = np.full_like(tmean, _DEFAULT_WIND) if wind_ms is None else np.where(np.isnan(wind_ms), _DEFAULT_WIND, wind_ms)
    rso = (0.75 + 2e-5 * z) * ra  # eq. 37
    rns = (1 - 0.23) * rs  # eq. 38, albedo 0.23
    ratio = np.clip(np.divide(rs, rso, out=np.ones_like(rs * rso), where=rso > 0), 0.3, 1.0)
    rnl = (_SIGMA * ((tmax + 273.16) ** 4 + (tmin + 273.16) ** 4) / 2
           * (0.34 - 0.14 * np.sqrt(np.maximum(ea, 0.0))) * (1.35 * ratio - 0.35))  # eq. 39
    rn = rns - rnl  # eq. 40
    g = np.asarray(soil_heat_flux_mj_m2, dtype=float)
    et0 = (0.408 * delta * (rn - g) + gamma * 900 / (tmean + 273) * u2 * (es - ea)) / (
        delta + gamma * (1 + 0.34 * u2))  # eq. 6
    return np.maximum(et0, 0.0)


def hargreaves_array(tmin_c: np.ndarray, tmax_c: np.ndarray, latitude_deg: np.ndarray | float,
                     doy: np.ndarray) -> np.ndarray:
    """Hargreaves-Samani ET0 on numpy arrays; see :func:`hargreaves`."""
    tmin = np.asarray(tmin_c, dtype=float)
    tmax = np.asarray(tmax_c, dtype=float)
    ra = extraterrestrial_radiation(doy, latitude_deg)
    et0 = 0.0023 * ((tmin + tmax) / 2 + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0.0)) * 0.408 * ra
    return np.maximum(et0, 0.0)


# --- public API on pandas / xarray ----------------------------------------------------


def penman_monteith(
    tmin_c: Data,
    tmax_c: Data,
    solar_mj_m2: Data | None,
    wind_ms: Data | None,
    latitude_deg: float | Data,
    elevation_m: float | Data,
    *,
    rh_mean_pct: Data | None = None,
    ea_kpa: Data | None = None,
    soil_heat_flux_mj_m2: float | Data = 0.0,
    krs: float = KRS_INTERIOR,
) -> Data:
    """Daily reference evapotranspiration ET0 by FAO-56 Penman-Monteith, mm/day.

    Parameters
    ----------
    tmin_c, tmax_c : daily minimum and maximum air temperature at 2 m, degC (a ``units``
        attribute of K is converted). Series with a DatetimeIndex or DataArrays with ``time``.
    solar_mj_m2 : incoming solar radiation Rs, MJ m-2 day-1 (W m-2 converted), or None.
        Missing values (None or NaN) follow the FAO-56 rule: Rs from the temperature range,
        eq. 50, with ``krs`` (0.16 interior, 0.19 coastal).
    wind_ms : wind speed at 2 m, m/s (convert other heights with :func:`wind_at_2m`), or
        None; missing values become 2 m/s (FAO-56 ch. 3, "missing wind speed data").
    latitude_deg : latitude, decimal degrees (south negative); a number or a DataArray
        (e.g. the ``lat`` coordinate of a grid).
    elevation_m : elevation above sea level, m.
    rh_mean_pct : mean relative humidity, %; actual vapour pressure ea = RHmean/100 * es
        (FAO-56 eq. 19).
    ea_kpa : actual vapour pressure, kPa (takes precedence over ``rh_mean_pct``). When
        neither is given, or a value is NaN, ea = e°(Tmin) (FAO-56 eq. 48).
    soil_heat_flux_mj_m2 : soil heat flux G; 0 for daily steps (FAO-56 eq. 42). For
        monthly means use G = 0.14 (T_month - T_previous_month) (eq. 43).
    krs : Hargreaves radiation coefficient used for missing radiation.

    Returns
    -------
    Series or DataArray
        ET0 in mm/day, the form of ``tmin_c``, ``attrs["units"] = "mm/day"``.

    Notes
    -----
    FAO-56 eq. 6:

    .. math:: ET_0 = \\frac{0.408 \\Delta (R_n - G) + \\gamma \\frac{900}{T + 273} u_2 (e_s - e_a)}
                         {\\Delta + \\gamma (1 + 0.34 u_2)}

    with T = (Tmax + Tmin)/2 (eq. 9), P (eq. 7), gamma (eq. 8), Delta (eq. 13), es as the
    mean of e°(Tmax) and e°(Tmin) (eqs. 11-12), Ra (eq. 21), Rso = (0.75 + 2e-5 z) Ra
    (eq. 37), Rns = 0.77 Rs (eq. 38), Rnl (eq. 39), Rn = Rns - Rnl (eq. 40). The day of
    year J comes from the time index.

    References
    ----------
    Allen et al. (1998) FAO-56, chapters 2-3, Examples 17 and 18.

    Examples
    --------
    >>> idx = pd.DatetimeIndex(["2023-07-06"])
    >>> s = lambda v: pd.Series([v], index=idx)
    >>> round(float(penman_monteith(s(12.3), s(21.5), s(22.07), s(2.078), 50.8, 100,
    ...                             ea_kpa=s(1.409)).iloc[0]), 1)
    3.9
    """
    return _apply(
        lambda t, a: penman_monteith_array(
            a["tmin"], a["tmax"], a.get("rs"), a.get("u2"), a["lat"], a["z"], t,
            rh_mean_pct=a.get("rh"), ea_kpa=a.get("ea"), soil_heat_flux_mj_m2=a["g"], krs=krs),
        tmin_c, tmin=(tmin_c, "degC"), tmax=(tmax_c, "degC"), rs=(solar_mj_m2, "MJ m-2 day-1"),
        u2=(wind_ms, "m/s"), rh=(rh_mean_pct, "%"), ea=(ea_kpa, None), lat=(latitude_deg, None),
        z=(elevation_m, None), g=(soil_heat_flux_mj_m2, None),
    )


def hargreaves(tmin_c: Data, tmax_c: Data, latitude_deg: float | Data) -> Data:
    """Daily reference evapotranspiration by Hargreaves-Samani, mm/day.

    Parameters
    ----------
    tmin_c, tmax_c : daily minimum and maximum air temperature, degC (``units`` honoured).
    latitude_deg : latitude, decimal degrees.

    Returns
    -------
    Series or DataArray in mm/day, the form of ``tmin_c``.

    Notes
    -----
    FAO-56 eq. 52: ET0 = 0.0023 (Tmean + 17.8) (Tmax - Tmin)^0.5 0.408 Ra, Ra from eq. 21.
    FAO-56 advises it where only temperatures exist; calibrated against Penman-Monteith it
    agrees within about 10-15 %, tending to overestimate in humid and underestimate in
    windy, dry conditions (FAO-56 ch. 3; Hargreaves & Allen 2003).

    References
    ----------
    Hargreaves & Samani (1985); Allen et al. (1998) FAO-56, eq. 52.
    """
    return _apply(lambda t, a: hargreaves_array(a["tmin"], a["tmax"], a["lat"], t), tmin_c,
                  tmin=(tmin_c, "degC"), tmax=(tmax_c, "degC"), lat=(latitude_deg, None))


def _apply(kernel, like: Data, **inputs: tuple[object, str | None]) -> Data:
    """Convert units, align the inputs on ``like``, run ``kernel(doy, arrays)``, rewrap."""
    if isinstance(like, xr.DataArray):
        arrays = {k: _units.convert(v, unit, k) if unit else v for k, (v, unit) in inputs.items()
                  if isinstance(v, xr.DataArray)}
        if "time" not in like.coords:
            raise ValueError("DataArray inputs need a time coordinate (the day of year comes from it)")
        names = list(arrays)
        aligned = xr.broadcast(*arrays.values(), exclude=())
        template = aligned[0]
        doy = template["time"].dt.day_of_year.broadcast_like(template)
        values = {k: a.transpose(*template.dims).to_numpy().astype(float) for k, a in zip(names, aligned, strict=True)}
        for k, (v, _) in inputs.items():
            if v is not None and k not in values:
                values[k] = np.asarray(v, dtype=float)
        out = kernel(doy.transpose(*template.dims).to_numpy(), values)
        result = xr.DataArray(out, coords=template.coords, dims=template.dims, name="et0")
        return result.assign_attrs(units="mm/day", long_name="reference evapotranspiration")
    if not isinstance(like, pd.Series) or not isinstance(like.index, pd.DatetimeIndex):
        raise TypeError("give pandas Series with a DatetimeIndex or xarray DataArrays with a time coordinate")
    values = {}
    for k, (v, unit) in inputs.items():
        if v is None:
            continue
        if isinstance(v, pd.Series):
            v = _units.convert(v, unit, k) if unit else v
            values[k] = v.reindex(like.index).to_numpy(dtype=float)
        else:
            values[k] = np.asarray(v, dtype=float)
    out = kernel(like.index.day_of_year.to_numpy(), values)
    result = pd.Series(out, index=like.index, name="et0_mm")
    result.attrs["units"] = "mm/day"
    return result
