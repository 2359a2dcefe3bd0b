"""Agro-climatic indices: degree days, heat, frost, dry spells, SPI, climatic water balance.

Pure, vectorised functions. Each public index takes pandas Series (DatetimeIndex) or
xarray DataArrays (``time`` dimension) whose ``units`` attribute is honoured (K or degC;
mm/day or kg m-2 s-1) and reduces over the time it is given: select the season or crop
stage first (``x.loc[start:end]`` / ``x.sel(time=slice(start, end))``). A Series gives a
float, a DataArray an array over its other dimensions. A missing (NaN) day inside the
period makes the result NaN: gaps are filled upstream or flagged, never silently skipped.

The ``*_kernel`` functions do the work on (day, field) numpy arrays with a per-field
boolean window, which is how :mod:`agririsk.weather.exposure` runs every parcel at once.

Why not xclim: it would add ~229 MB (numba, llvmlite), cap numpy below 2.6 and needs a
full calendar and calibration period per series; these indices are a few lines of numpy
each, and running them on (day, parcel) arrays with per-parcel crop-stage windows is the
shape agririsk needs. xclim's definitions were followed where they exist (``growing_degree_days``,
``frost_days``, ``maximum_consecutive_dry_days`` with a 1 mm threshold, ``standardized_precipitation_index``).

References
----------
McKee, T.B., Doesken, N.J., Kleist, J. (1993). The relationship of drought frequency and
duration to time scales. 8th Conference on Applied Climatology, 179-184.
Edwards, D.C., McKee, T.B. (1997). Characteristics of 20th century drought in the United
States at multiple time scales. Colorado State University, Climatology Report 97-2.
Thom, H.C.S. (1958). A note on the gamma distribution. Monthly Weather Review 86, 117-122.
WMO (2012). Standardized Precipitation Index User Guide, WMO-No. 1090.
McMaster, G.S., Wilhelm, W.W. (1997). Growing degree-days: one equation, two
interpretations. Agricultural and Forest Meteorology 87, 291-300.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from agririsk.weather import _units

__all__ = [
    "growing_degree_days",
    "heat_stress_days",
    "frost_days",
    "longest_dry_spell",
    "climatic_water_balance",
    "spi",
    "gdd_kernel",
    "count_kernel",
    "dry_spell_kernel",
    "sum_kernel",
    "spi_kernel",
    "monthly_totals",
    "SPI_MIN_YEARS",
]

logger = logging.getLogger(__name__)

Data: TypeAlias = pd.Series | xr.DataArray
#: Years of calibration a calendar month needs for its own gamma fit; shorter records pool months.
SPI_MIN_YEARS = 10
#: Fewest calibration years for any SPI (pooled); below it SPI is NaN.
SPI_MIN_POOLED_YEARS = 2
_SPI_BOUND = 1e-6  # H is kept in [1e-6, 1 - 1e-6], SPI in about [-4.75, 4.75]


# --- kernels: (day, field) arrays, a boolean window per field ---------------------------------


def _masked(x: np.ndarray, window: np.ndarray | None) -> np.ndarray:
    return x if window is None else np.where(window, x, 0.0)


def gdd_kernel(tmin: np.ndarray, tmax: np.ndarray, t_base: np.ndarray | float, t_upper: np.ndarray | float,
               window: np.ndarray | None = None) -> np.ndarray:
    """Growing degree days: sum over the window of ((Tmax* + Tmin*) / 2 - Tbase), degC day.

    Tmax* and Tmin* are the daily extremes bounded to [Tbase, Tupper] (McMaster & Wilhelm
    1997, method 2; the "86/50" cut-off method for maize).
    """
    tb, tu = np.asarray(t_base, dtype=float), np.asarray(t_upper, dtype=float)
    lo = np.minimum(np.maximum(tmin, tb), tu)
    hi = np.minimum(np.maximum(tmax, tb), tu)
    return _masked((lo + hi) / 2 - tb, window).sum(axis=0)


def count_kernel(condition: np.ndarray, values: np.ndarray, window: np.ndarray | None = None) -> np.ndarray:
    """Days in the window where ``condition`` holds; NaN when a value in the window is missing."""
    n = _masked(condition.astype(float), window).sum(axis=0)
    gap = _masked(np.isnan(values).astype(float), window).sum(axis=0) > 0
    return np.where(gap, np.nan, n)


def sum_kernel(x: np.ndarray, window: np.ndarray | None = None) -> np.ndarray:
    """Sum over the window (NaN when a day in the window is missing)."""
    return _masked(x, window).sum(axis=0)


def dry_spell_kernel(precip: np.ndarray, window: np.ndarray | None = None, wet_day_mm: float = 1.0) -> np.ndarray:
    """Longest run of consecutive days with precipitation below ``wet_day_mm`` inside the window."""
    dry = precip < wet_day_mm
    inside = np.ones_like(dry) if window is None else window
    run = np.zeros(precip.shape[1:])
    best = np.zeros(precip.shape[1:])
    for t in range(precip.shape[0]):
        run = np.where(inside[t] & dry[t], run + 1, 0.0)
        best = np.maximum(best, run)
    gap = _masked(np.isnan(precip).astype(float), window).sum(axis=0) > 0
    return np.where(gap, np.nan, best)


def monthly_totals(precip: pd.DataFrame) -> pd.DataFrame:
    """Calendar-month totals of a daily (day, column) table; NaN for a month with any missing day.

    Parameters
    ----------
    precip : DatetimeIndex rows, one column per series, mm/day.
    """
    days = pd.date_range(precip.index.min().replace(day=1), precip.index.max() + pd.offsets.MonthEnd(0), freq="D")
    full = precip.reindex(days)
    grouped = full.groupby(full.index.to_period("M"))
    totals = grouped.sum(min_count=1).where(grouped.count() == grouped.size().to_numpy()[:, None])
    totals.index = totals.index.to_timestamp()
    return totals


def spi_kernel(monthly: np.ndarray, month: np.ndarray, scale: int, calibration: np.ndarray | None = None,
               min_years: int = SPI_MIN_YEARS) -> tuple[np.ndarray, str]:
    """SPI on (month, series) totals; returns the SPI array and the fitting method used.

    Parameters
    ----------
    monthly : consecutive calendar-month totals, mm; NaN where a month is incomplete.
    month : calendar month (1-12) of each row.
    scale : accumulation period in months (1 for SPI-1, 3 for SPI-3).
    calibration : rows used to fit the distribution (default all).
    min_years : calibration years a calendar month needs for its own fit.

    Notes
    -----
    For each calendar month, the ``scale``-month sums of the calibration period are fitted
    with a two-parameter gamma distribution by Thom's (1958) maximum-likelihood
    approximation, A = ln(mean x) - mean(ln x), alpha = (1 + sqrt(1 + 4A/3)) / (4A),
    beta = mean x / alpha, on the non-zero sums; q, the fraction of zero sums, gives the
    mixed distribution H(x) = q + (1 - q) G(x) (McKee et al. 1993; WMO 2012), and
    SPI = Phi^-1(H(x)).

    Short records: a calendar month with fewer than ``min_years`` calibration sums cannot
    be fitted alone. Then every sum is divided by its calendar month's calibration mean and
    one gamma is fitted to all months pooled (method "pooled"): it assumes the months share
    one shape parameter and differ only in scale, a strong assumption. With fewer than two
    years of calibration SPI is NaN (method "none").
    """
    x = np.asarray(monthly, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    acc = np.full_like(x, np.nan)
    for k in range(scale - 1, len(x)):
        acc[k] = x[k - scale + 1: k + 1].sum(axis=0)  # NaN if any month is missing
    cal = np.ones(len(x), dtype=bool) if calibration is None else np.asarray(calibration, dtype=bool)
    cal_acc = np.where(cal[:, None], acc, np.nan)
    per_month_counts = np.array([np.sum(~np.isnan(cal_acc[month == m]), axis=0).min()
                                 if (month == m).any() and x.shape[1] else 0 for m in range(1, 13)])
    out = np.full_like(acc, np.nan)
    if per_month_counts.min() >= min_years:
        for m in range(1, 13):
            rows = month == m
            out[rows] = _gamma_spi(acc[rows], cal_acc[rows])
        return out, "per-month"
    means = np.full((13, acc.shape[1]), np.nan)
    for m in range(1, 13):
        rows = month == m
        if rows.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a month never observed: NaN
                means[m] = np.nanmean(cal_acc[rows], axis=0)
    norm = acc / np.where(means[month] > 0, means[month], np.nan)
    norm = np.where(acc == 0, 0.0, norm)
    cal_norm = np.where(cal[:, None], norm, np.nan)
    if np.sum(~np.isnan(cal_norm), axis=0).max(initial=0) < 12 * SPI_MIN_POOLED_YEARS:
        return out, "none"
    return _gamma_spi(norm, cal_norm), "pooled"


def _gamma_spi(x: np.ndarray, cal: np.ndarray) -> np.ndarray:
    """SPI of ``x`` with a zero-inflated gamma fitted per column to ``cal`` (Thom 1958)."""
    n = np.sum(~np.isnan(cal), axis=0)
    positive = np.where(cal > 0, cal, np.nan)
    npos = np.sum(~np.isnan(positive), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = (n - npos) / n
        mean = np.nansum(positive, axis=0) / npos
        a = np.log(mean) - np.nansum(np.log(positive), axis=0) / npos
        alpha = (1 + np.sqrt(1 + 4 * a / 3)) / (4 * a)
        beta = mean / alpha
        g = special.gammainc(alpha, np.maximum(x, 0.0) / beta)
    h = np.where(x > 0, q + (1 - q) * g, q)
    h = np.where(np.isnan(x) | (npos[None, :] < 3), np.nan, h)
    return special.ndtri(np.clip(h, _SPI_BOUND, 1 - _SPI_BOUND))


# --- public API on pandas / xarray ---------------------------------------------------------


def _as_matrix(x: Data, target: str, name: str) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """(time, rest) float array in ``target`` units and a function that rewraps a (rest,) result."""
    x = _units.convert(x, target, name)
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=float)[:, None], lambda r: float(np.asarray(r).reshape(-1)[0])
    if not isinstance(x, xr.DataArray) or "time" not in x.dims:
        raise TypeError(f"{name}: give a pandas Series with a DatetimeIndex or a DataArray with a time dimension")
    x = x.transpose("time", ...)
    rest = x.isel(time=0, drop=True)
    return (x.to_numpy().astype(float).reshape(x.sizes["time"], -1),
            lambda r: xr.DataArray(np.asarray(r).reshape(rest.shape), coords=rest.coords, dims=rest.dims))


def _label(result: Data | float, units: str, name: str) -> Data | float:
    if isinstance(result, xr.DataArray):
        return result.rename(name).assign_attrs(units=units)
    return result


def growing_degree_days(tmin: Data, tmax: Data, t_base: float, t_upper: float | None = None) -> Data | float:
    """Growing degree days over the period given, degC day.

    Parameters
    ----------
    tmin, tmax : daily minimum and maximum temperature (degC or K, ``units`` honoured).
    t_base : crop base temperature, degC (crop table ``t_base_c``).
    t_upper : upper cut-off, degC (crop table ``t_upper_c``); None for no cut-off.

    Notes
    -----
    GDD = sum_i ((Tmax*_i + Tmin*_i) / 2 - Tbase), with Tmax*, Tmin* bounded to [Tbase, Tupper]
    (McMaster & Wilhelm 1997, method 2).
    """
    a, wrap = _as_matrix(tmin, "degC", "tmin")
    b, _ = _as_matrix(tmax, "degC", "tmax")
    return _label(wrap(gdd_kernel(a, b, t_base, np.inf if t_upper is None else t_upper)), "degC day", "gdd")


def heat_stress_days(tmax: Data, threshold_c: float) -> Data | float:
    """Days with Tmax above ``threshold_c`` (crop table ``t_heat_c``) in the period given.

    Pass the days around flowering (e.g. +-10 days) for heat stress at anthesis.
    """
    x, wrap = _as_matrix(tmax, "degC", "tmax")
    return _label(wrap(count_kernel(x > threshold_c, x)), "days", "heat_days")


def frost_days(tmin: Data, threshold_c: float = 0.0) -> Data | float:
    """Days with Tmin below ``threshold_c`` (default 0 degC) in the period given."""
    x, wrap = _as_matrix(tmin, "degC", "tmin")
    return _label(wrap(count_kernel(x < threshold_c, x)), "days", "frost_days")


def longest_dry_spell(precip: Data, wet_day_mm: float = 1.0) -> Data | float:
    """Longest run of consecutive days with precipitation below ``wet_day_mm`` (default 1 mm)."""
    x, wrap = _as_matrix(precip, "mm/day", "precip")
    return _label(wrap(dry_spell_kernel(x, wet_day_mm=wet_day_mm)), "days", "longest_dry_spell")


def climatic_water_balance(precip: Data, et0: Data) -> Data | float:
    """Cumulative climatic water balance sum(P - ET0) over the period given, mm."""
    p, wrap = _as_matrix(precip, "mm/day", "precip")
    e, _ = _as_matrix(et0, "mm/day", "et0")
    return _label(wrap(sum_kernel(p - e)), "mm", "p_minus_et0")


def spi(
    precip: Data,
    scale: Literal[1, 3] | int = 3,
    *,
    calibration: tuple[str, str] | None = None,
    min_years: int = SPI_MIN_YEARS,
) -> Data:
    """Standardized Precipitation Index from daily precipitation, one value per month.

    Parameters
    ----------
    precip : daily precipitation (mm/day or kg m-2 s-1).
    scale : months accumulated (1: SPI-1, 3: SPI-3).
    calibration : first and last date of the climatology used for the fit (default: the
        whole record; pass only data known on the as-of date).
    min_years : see :func:`spi_kernel` for how shorter records are handled.

    Returns
    -------
    Series or DataArray indexed by month start; NaN for incomplete months and the first
    ``scale - 1`` months. ``attrs["spi_method"]`` says "per-month", "pooled" or "none".

    Notes
    -----
    See :func:`spi_kernel` (McKee et al. 1993; Thom 1958; WMO 2012).
    """
    p, _ = _as_matrix(precip, "mm/day", "precip")
    index = pd.DatetimeIndex(precip.index if isinstance(precip, pd.Series) else precip["time"].to_numpy())
    monthly = monthly_totals(pd.DataFrame(p, index=index))
    months = monthly.index
    cal = None
    if calibration is not None:
        cal = (months >= pd.Timestamp(calibration[0])) & (months <= pd.Timestamp(calibration[1]))
    values, method = spi_kernel(monthly.to_numpy(), months.month.to_numpy(), scale, cal, min_years)
    if isinstance(precip, pd.Series):
        out = pd.Series(values[:, 0], index=months, name=f"spi{scale}")
        out.attrs.update(units="1", spi_method=method)
        return out
    rest = precip.transpose("time", ...).isel(time=0, drop=True)
    coords = {**{k: v for k, v in rest.coords.items()}, "time": months}
    out = xr.DataArray(values.reshape((len(months), *rest.shape)), dims=("time", *rest.dims), coords=coords,
                       name=f"spi{scale}")
    return out.assign_attrs(units="1", spi_method=method)
