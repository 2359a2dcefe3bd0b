"""Per-parcel, per-season vegetation indicators from a parcel NDVI time series.

Foundation version: robust season peak, time-weighted season mean, and the parcel's
standing against fields of the same declared crop in the same season. Smoothing and
full phenology come with the imagery issue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from agririsk.region import Season

__all__ = ["season_indicators", "robust_peak", "relative_productivity", "MIN_CLEAR_FRACTION"]

logger = logging.getLogger(__name__)

#: an observation of a parcel counts only when at least this share of its pixels is clear
MIN_CLEAR_FRACTION = 0.6
#: fewer valid observations than this in a season window: the season is not observed
MIN_OBS_PER_SEASON = 4


def robust_peak(values: np.ndarray) -> float:
    """Peak of a time-ordered index series that resists single-date outliers.

    The maximum of the 3-point running median: one residual-cloud date (too low) or one
    noisy date (too high) cannot set the peak on its own; two agreeing neighbours can.

    Parameters
    ----------
    values : NDVI (or another index) at successive valid dates, in time order.

    Returns
    -------
    float : the peak, NaN for an empty series; for fewer than 3 values, the median.

    Examples
    --------
    >>> robust_peak(np.array([0.2, 0.5, 0.95, 0.6, 0.3]))  # 0.95 stands alone
    0.6
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    if v.size < 3:
        return float(np.median(v))
    windows = np.lib.stride_tricks.sliding_window_view(v, 3)
    return float(np.median(windows, axis=1).max())


def _time_weighted_mean(days: np.ndarray, values: np.ndarray, start: float, end: float) -> float:
    """Mean of a piecewise-linear curve through (days, values) over [start, end].

    Before the first and after the last observation the curve is held flat.
    """
    grid = np.arange(start, end + 1.0)
    curve = np.interp(grid, days, values)
    return float(curve.mean())


def season_indicators(
    series: pd.DataFrame,
    seasons: Iterable[Season],
    *,
    value: str = "ndvi_mean",
    min_clear_fraction: float = MIN_CLEAR_FRACTION,
    min_obs: int = MIN_OBS_PER_SEASON,
) -> pd.DataFrame:
    """Season peak, season mean and observation count for each parcel and season.

    Parameters
    ----------
    series : tidy parcel time series with columns ``parcel_id``, ``datetime``,
        ``clear_fraction`` and ``value``.
    seasons : the season windows to summarise (for instance the financed season shifted
        back one, two and three years).
    value : the index column to summarise.
    min_clear_fraction : observations with a smaller clear share of the parcel are ignored.
    min_obs : a parcel-season with fewer valid observations gets NaN indicators.

    Returns
    -------
    DataFrame with one row per parcel and season: ``parcel_id``, ``season_start``,
    ``season_end``, ``n_obs``, ``peak_ndvi`` (:func:`robust_peak`), ``mean_ndvi``
    (time-weighted mean over the window) and ``observed`` (``n_obs >= min_obs``).
    """
    cols = [
        "parcel_id",
        "season_start",
        "season_end",
        "n_obs",
        "peak_ndvi",
        "mean_ndvi",
        "observed",
    ]
    if series.empty:
        return pd.DataFrame(columns=cols)
    ok = series[(series["clear_fraction"] >= min_clear_fraction) & series[value].notna()]
    dates = pd.to_datetime(ok["datetime"], utc=True).dt.tz_localize(None).dt.normalize()
    ok = ok.assign(_date=dates).sort_values(["parcel_id", "_date"])
    parcels = pd.Index(series["parcel_id"].unique(), name="parcel_id")
    frames = []
    for season in seasons:
        start, end = pd.Timestamp(season.start), pd.Timestamp(season.end)
        window = ok[(ok["_date"] >= start) & (ok["_date"] <= end)]
        rows = []
        for pid, grp in window.groupby("parcel_id", sort=False):
            v = grp[value].to_numpy(dtype=float)
            d = (grp["_date"] - start).dt.days.to_numpy(dtype=float)
            rows.append(
                (
                    pid,
                    len(v),
                    robust_peak(v),
                    _time_weighted_mean(d, v, 0.0, float((end - start).days)),
                )
            )
        stats = pd.DataFrame(rows, columns=["parcel_id", "n_obs", "peak_ndvi", "mean_ndvi"])
        stats = stats.set_index("parcel_id").reindex(parcels)
        stats["n_obs"] = stats["n_obs"].fillna(0).astype(int)
        stats["observed"] = stats["n_obs"] >= min_obs
        stats.loc[~stats["observed"], ["peak_ndvi", "mean_ndvi"]] = np.nan
        stats.insert(0, "season_end", season.end)
        stats.insert(0, "season_start", season.start)
        frames.append(stats.reset_index())
    return pd.concat(frames, ignore_index=True)[cols]


def relative_productivity(
    indicators: pd.DataFrame, crops: pd.Series, *, min_peers: int = 5
) -> pd.DataFrame:
    """Percentile of each parcel's season peak among fields of the same crop that season.

    Parameters
    ----------
    indicators : output of :func:`season_indicators`.
    crops : crop of each parcel (index ``parcel_id``), e.g. the declared crop.
    min_peers : with fewer observed fields of that crop in the season, the parcel is
        ranked against all observed fields of the season instead.

    Returns
    -------
    ``indicators`` with a ``peak_pct`` column in [0, 100] (NaN where not observed): 50 is
    the median field; 10 means 90 % of peer fields peaked higher.
    """
    out = indicators.copy()
    out["crop"] = out["parcel_id"].map(crops).fillna("other")
    out["peak_pct"] = np.nan
    for _, season_rows in out.groupby("season_start"):
        obs = season_rows[season_rows["observed"]]
        if obs.empty:
            continue
        overall = obs["peak_ndvi"].rank(pct=True) * 100
        by_crop = obs.groupby("crop")["peak_ndvi"].rank(pct=True) * 100
        crop_sizes = obs.groupby("crop")["peak_ndvi"].transform("size")
        out.loc[obs.index, "peak_pct"] = by_crop.where(crop_sizes >= min_peers, overall)
    return out
