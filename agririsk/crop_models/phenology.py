"""Phenology of each parcel and season from its smoothed daily curve.

All metrics are read from the daily curve of :func:`agririsk.crop_models.smoothing.
smooth_series` by threshold crossings relative to the season's amplitude, the approach of
TIMESAT (Jönsson & Eklundh 2004), vectorised over blocks of parcel-seasons (row by row
metrics; the harvest step and the observation gaps are read from the clear observations
only).

With ``v`` the smoothed curve, ``t_p`` the day of its maximum inside the season window,
``b_0 = min_{t <= t_p} v`` (pre-season base, bare soil), ``b_1 = min_{t >= t_p} v``
(post-season base, stubble), ``A_0 = v(t_p) - b_0`` and ``A_1 = v(t_p) - b_1``:

- ``greenup_date`` (start of season): the last upward crossing before ``t_p`` of
  ``b_0 + 0.2 A_0`` (TIMESAT's default start-of-season fraction);
- ``midgreenup_date``: the same crossing at ``b_0 + 0.5 A_0``;
- ``emergence_date``: agronomic emergence is earlier than any visible green-up (a few
  leaves cover little soil). It is estimated by back-extrapolating the crop calendar:
  half canopy is reached about halfway from emergence to peak, so
  ``emergence = midgreenup - (days_to_peak - emergence_days) / 2`` with the crop's
  parameters of :func:`agririsk.crop_models.crops.crop_params`;
- ``peak_date``, ``peak_ndvi``: the maximum of the curve inside the season window;
- ``senescence_date``: first downward crossing after ``t_p`` of ``b_1 + 0.5 A_1``;
- ``harvest_date``: the drop from a dry standing canopy to stubble is a step, which
  smoothing would blur: it is dated from the observations themselves, as the midpoint
  between the first clear observation after the senescence date below ``b_1 + 0.1 A_1``
  and the clear observation before it, the drop being confirmed by the next
  observation (:func:`step_bracket`: stubble stays, a residual cloud is one date);
- ``season_integral``: :math:`\\sum_{t=t_{gu}}^{t_h} \\max(v_t - b_0, 0)` (NDVI-days),
  the area above the base from green-up to harvest (to the last valid day if no harvest).

Crossings are interpolated linearly between days. A season without a cycle (``A_0`` below
:data:`MIN_AMPLITUDE`) has ``has_cycle = False`` and no dates. A season with fewer than
:data:`MIN_OBS` clear observations, or whose green-up, peak or harvest falls in a gap
longer than :data:`MAX_GAP_DAYS` between clear observations, is flagged
``insufficient_imagery`` and gets no dates nor values: nothing is invented.

References
----------
Jönsson, P., Eklundh, L. (2004) TIMESAT - a program for analyzing time-series of
satellite sensor data. Computers & Geosciences 30, 833-845.
Zhang, X. et al. (2003) Monitoring vegetation phenology using MODIS. Remote Sensing of
Environment 84, 471-475.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from agririsk.crop_models.crops import crop_params
from agririsk.errors import InputError

__all__ = [
    "phenology",
    "crossing",
    "step_bracket",
    "MIN_AMPLITUDE",
    "MIN_OBS",
    "MAX_GAP_DAYS",
    "MAX_HARVEST_GAP_DAYS",
    "GREENUP_FRACTION",
    "SENESCENCE_FRACTION",
    "HARVEST_FRACTION",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Seasonal amplitude (NDVI) below which a parcel-season has no crop cycle. Weeds on a
#: field that never emerged reach about +0.08 above bare soil; a crop +0.2 or more.
MIN_AMPLITUDE = 0.12
#: Fewer clear observations than this in the widened season window: insufficient imagery.
MIN_OBS = 5
#: A green-up, peak or harvest inside a longer gap between clear observations is not
#: observed (days): the crossing is then only known to about half the gap.
MAX_GAP_DAYS = 40
#: The harvest is a step, not a smooth transition: inside a gap between clear views it
#: can be anywhere, so it is reported only when the gap is at most this (days), which
#: bounds its error to about half of it.
MAX_HARVEST_GAP_DAYS = 20
GREENUP_FRACTION = 0.2
MIDGREENUP_FRACTION = 0.5
SENESCENCE_FRACTION = 0.5
HARVEST_FRACTION = 0.1
#: Parcel-seasons processed together: the (rows x days) temporaries of one block stay
#: a few MB, so the allocator reuses them instead of mapping fresh pages for each.
_ROWS = 4096

DATE_COLUMNS = (
    "greenup_date",
    "midgreenup_date",
    "emergence_date",
    "peak_date",
    "senescence_date",
    "harvest_date",
)
COLUMNS = [
    "parcel_id",
    "season_start",
    "season_end",
    "n_obs",
    "has_cycle",
    "data_quality",
    "base_ndvi",
    "peak_ndvi",
    "amplitude",
    *DATE_COLUMNS,
    "season_integral",
    "greenup_gap_days",
    "peak_gap_days",
    "harvest_gap_days",
]


def crossing(
    z: npt.ArrayLike,
    threshold: npt.ArrayLike,
    *,
    after: npt.ArrayLike | None = None,
    before: npt.ArrayLike | None = None,
    upward: bool,
) -> FloatArray:
    """Fractional day at which each row of ``z`` crosses its threshold.

    Parameters
    ----------
    z : (n, T) daily curves (NaN = no value).
    threshold : (n,) threshold per row.
    after, before : (n,) day bounds (exclusive) of the search; default the whole row.
    upward : True: the *last* upward crossing before ``before`` (the last day below the
        threshold, then the next day); False: the *first* downward crossing after
        ``after`` (the first day below the threshold, and the day before).

    Returns
    -------
    (n,) days, linearly interpolated between the two days that bracket the crossing;
    NaN where the curve does not cross inside the bounds.

    Examples
    --------
    >>> crossing([[0.0, 0.2, 0.6, 1.0]], [0.4], upward=True).tolist()
    [1.5]
    """
    z = np.atleast_2d(np.asarray(z, dtype=float))
    n, t = z.shape
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), (n,))
    grid = np.arange(t)
    lo = np.full(n, -1.0) if after is None else np.asarray(after, dtype=float)
    hi = np.full(n, float(t)) if before is None else np.asarray(before, dtype=float)
    valid = np.isfinite(z) & (grid > lo[:, None]) & (grid < hi[:, None])
    below = valid & (z < thr[:, None])
    out = np.full(n, np.nan)
    if upward:
        any_below = below.any(axis=1)
        d0 = t - 1 - np.argmax(below[:, ::-1], axis=1)
        d1 = np.minimum(d0 + 1, t - 1)
        ok = any_below & (d1 > d0) & valid[np.arange(n), d1]
    else:
        any_below = below.any(axis=1)
        d1 = np.argmax(below, axis=1)
        d0 = np.maximum(d1 - 1, 0)
        ok = any_below & (d1 > d0) & valid[np.arange(n), d0]
    r = np.arange(n)[ok]
    z0, z1 = z[r, d0[ok]], z[r, d1[ok]]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(z1 != z0, (thr[ok] - z0) / (z1 - z0), 0.5)
    out[ok] = d0[ok] + np.clip(frac, 0.0, 1.0)
    return out


def step_bracket(
    y: npt.ArrayLike,
    good: npt.ArrayLike,
    threshold: npt.ArrayLike,
    *,
    after: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    """Date of a lasting drop (a step) from the observations that bracket it.

    Parameters
    ----------
    y : (n, T) observations on the daily grid (NaN where none).
    good : (n, T) observations to use (clear enough).
    threshold : (n,) level separating before (>=) and after (<) the step.
    after : (n,) search only after this day (exclusive); NaN: no search.

    Returns
    -------
    (day, gap): the midpoint between the first observation after ``after`` that is below
    the threshold *and stays below at the next observation* (the stubble stays; a
    residual cloud is one date) and the observation before it, and the length of that
    interval (the step is inside; the midpoint errs by at most ``gap / 2``). The last
    observation of the series counts as confirmed. NaN when there is no such drop.

    Examples
    --------
    >>> y = [[0.3, np.nan, 0.3, np.nan, np.nan, np.nan, 0.2, 0.2]]
    >>> step_bracket(y, np.isfinite(y), [0.25], after=[0])
    (array([4.]), array([4.]))
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    use: npt.NDArray[np.bool_] = np.asarray(good, dtype=bool) & np.isfinite(y)
    n = y.shape[0]
    a = np.asarray(after, dtype=float)
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), (n,))
    # the good observations only, sorted by row then day: the next one in the same row is
    # the next element
    row, col = np.nonzero(use)
    yv = y[row, col]
    same_next = np.append(row[1:] == row[:-1], False)
    y_next = np.where(same_next, np.append(yv[1:], -np.inf), -np.inf)
    t_r = thr[row]
    after_r = np.where(np.isfinite(a), a, np.inf)[row]
    below = np.flatnonzero((yv < t_r) & (y_next < t_r) & (col > after_r))
    first = below[np.append(True, row[below[1:]] != row[below[:-1]])] if len(below) else below
    first = first[first > 0]
    first = first[row[first - 1] == row[first]]  # an observation before the drop
    day = np.full(n, np.nan)
    gap = np.full(n, np.nan)
    r = row[first]
    d0, d1 = col[first - 1], col[first]
    day[r] = (d0 + d1) / 2.0
    gap[r] = (d1 - d0).astype(float)
    return day, gap


def _gap_at(obs: npt.NDArray[np.bool_], day: FloatArray) -> FloatArray:
    """Length (days) of the interval between the clear observations around ``day``."""
    n, t = obs.shape
    row, col = np.nonzero(obs)
    stride = t + 2  # keys row * stride + day + 1 sort by row, then day in [-1, t]
    key = row * stride + col + 1
    rows = np.arange(n)
    d = np.where(np.isfinite(day), day, 0.0)
    # observation days are whole: <= d is <= floor(d), >= d is >= ceil(d)
    lo = np.clip(np.floor(d), -1, t).astype(np.int64)
    hi = np.clip(np.ceil(d), -1, t).astype(np.int64)
    i = np.searchsorted(key, rows * stride + lo + 1, side="right") - 1
    j = np.searchsorted(key, rows * stride + hi + 1, side="left")
    i_ok = i >= 0
    i_ok[i_ok] = row[i[i_ok]] == rows[i_ok]
    j_ok = j < len(key)
    j_ok[j_ok] = row[j[j_ok]] == rows[j_ok]
    prev = np.where(i_ok, col[np.where(i_ok, i, 0)] if len(col) else 0, -10 * t)
    nxt = np.where(j_ok, col[np.where(j_ok, j, 0)] if len(col) else 0, 10 * t)
    gap = (nxt - prev).astype(float)
    return np.where(np.isfinite(day), gap, np.nan)


def crop_names(
    parcel_ids: npt.ArrayLike,
    season_starts: npt.ArrayLike,
    crops: pd.Series | pd.DataFrame | None,
) -> npt.NDArray[np.object_]:
    """Crop of each (parcel, season) row; ``other`` where unknown.

    ``crops`` is a Series indexed by ``parcel_id`` (one crop for every season, e.g. the
    declared crop), a Series with a ``(parcel_id, season start date)`` MultiIndex, or a
    frame with ``parcel_id`` and ``crop`` columns.
    """
    crops = _as_series(crops)
    pids = pd.Index(np.asarray(parcel_ids).astype(str))
    if crops is None or crops.empty:
        names = pd.Series("other", index=range(len(pids)), dtype=object)
    elif isinstance(crops.index, pd.MultiIndex):
        key = pd.MultiIndex.from_arrays([pids, pd.to_datetime(np.asarray(season_starts)).date])
        names = pd.Series(crops.reindex(key).to_numpy())
    else:
        c = crops.copy()
        c.index = c.index.astype(str)
        names = pd.Series(c.reindex(pids).to_numpy())
    return names.fillna("other").astype(str).to_numpy(dtype=object)


def _crop_lags(names: npt.NDArray[np.object_]) -> FloatArray:
    """Half the emergence-to-peak span (days) of each row's crop."""
    lag = {}
    for c in pd.unique(names):
        p = crop_params(str(c))
        lag[c] = 0.5 * (p.days_to_peak - p.emergence_days)
    return pd.Series(names).map(lag).to_numpy(dtype=float)


def _curve_metrics(
    z: FloatArray,
    obs: npt.NDArray[np.bool_],
    y: npt.ArrayLike,
    margin: int,
    season_end_day: FloatArray,
) -> dict[str, npt.NDArray[Any]]:
    """Peak, bases, crossings, harvest, integral and gaps of a block of daily curves.

    ``z`` (n, T) smoothed curves, ``obs`` (n, T) clear observations, ``y`` (n, T) the
    observations, ``margin`` the first day and ``season_end_day`` (n,) the day after the
    last day of each row's season window. Every result is row by row (see
    :func:`phenology`), so blocks of rows give the same values as the whole.
    """
    n, t = z.shape
    grid = np.arange(t)
    fin = np.isfinite(z)
    n_obs = obs.sum(axis=1)
    in_season = (grid >= margin) & (grid < season_end_day[:, None])
    zs = np.where(in_season & fin, z, -np.inf)
    has_values = np.isfinite(zs).any(axis=1)
    peak_day = np.argmax(zs, axis=1).astype(float)
    peak = np.where(has_values, zs[np.arange(n), peak_day.astype(int)], np.nan)
    base0 = np.min(z, axis=1, initial=np.inf, where=fin & (grid <= peak_day[:, None]))
    base1 = np.min(z, axis=1, initial=np.inf, where=fin & (grid >= peak_day[:, None]))
    base0 = np.where(np.isfinite(base0) & has_values, base0, np.nan)
    base1 = np.where(np.isfinite(base1) & has_values, base1, np.nan)
    amp0, amp1 = peak - base0, peak - base1

    greenup = crossing(z, base0 + GREENUP_FRACTION * amp0, before=peak_day, upward=True)
    mid = crossing(z, base0 + MIDGREENUP_FRACTION * amp0, before=peak_day, upward=True)
    sen = crossing(z, base1 + SENESCENCE_FRACTION * amp1, after=peak_day, upward=False)
    harvest, harvest_gap = step_bracket(y, obs, base1 + HARVEST_FRACTION * amp1, after=sen)

    end = np.where(np.isfinite(harvest), harvest, t - 1)
    start = np.where(np.isfinite(greenup), greenup, 0)
    span = (grid >= np.floor(start)[:, None]) & (grid <= np.ceil(end)[:, None])
    area = np.where(span & fin, np.maximum(z - base0[:, None], 0.0), 0.0).sum(axis=1)
    return {
        "n_obs": n_obs,
        "has_values": has_values,
        "peak_day": peak_day,
        "peak": peak,
        "base0": base0,
        "amp0": amp0,
        "greenup": greenup,
        "mid": mid,
        "sen": sen,
        "harvest": harvest,
        "harvest_gap": harvest_gap,
        "area": area,
        "greenup_gap": _gap_at(obs, mid),
        "peak_gap": _gap_at(obs, peak_day),
    }


def phenology(
    smoothed: xr.Dataset,
    crops: pd.Series | pd.DataFrame | None = None,
    *,
    min_amplitude: float = MIN_AMPLITUDE,
    min_obs: int = MIN_OBS,
    max_gap_days: float = MAX_GAP_DAYS,
    max_harvest_gap_days: float = MAX_HARVEST_GAP_DAYS,
) -> pd.DataFrame:
    """Emergence, green-up, peak, senescence, harvest and season integral per parcel-season.

    Parameters
    ----------
    smoothed : output of :func:`agririsk.crop_models.smoothing.smooth_series`.
    crops : crop of each parcel (index ``parcel_id``; e.g. the declared crop), or of each
        parcel and season (MultiIndex ``(parcel_id, season start date)``); used only to
        back-extrapolate emergence from the green-up. Unknown crops use ``other``.
    min_amplitude : NDVI rise above the pre-season base that makes a crop cycle.
    min_obs : minimum clear observations in the widened season window.
    max_gap_days : a green-up or peak inside a longer gap between clear observations
        makes the season ``insufficient_imagery``.
    max_harvest_gap_days : a harvest inside a longer gap is not reported (NaT), the
        season stays ``ok``.

    Returns
    -------
    DataFrame, one row per parcel and season, columns :data:`COLUMNS`: ``parcel_id``,
    ``season_start``, ``season_end`` (dates), ``n_obs``, ``has_cycle`` (nullable boolean;
    NA when the imagery is insufficient), ``data_quality`` (``ok`` /
    ``insufficient_imagery``), ``base_ndvi``, ``peak_ndvi``, ``amplitude``, the dates
    (``datetime64``; NaT when not applicable or not observed) and ``season_integral``
    (NDVI-days); ``greenup_gap_days``, ``peak_gap_days``, ``harvest_gap_days``: the
    length of the interval between the clear observations around the mid-green-up,
    the peak and the harvest (a date is known to about half of it). See the module
    docstring for the definitions.

    References
    ----------
    Jönsson & Eklundh (2004) Comput. Geosci. 30, 833 (threshold crossings of the
    seasonal amplitude); Zhang et al. (2003) RSE 84, 471.
    """
    z3 = smoothed["smoothed"].to_numpy()
    n_s, n_p, t = z3.shape
    n = n_s * n_p
    margin = int(smoothed.attrs.get("margin_days", 0))
    starts = pd.to_datetime(smoothed["season"].to_numpy())
    ends = pd.to_datetime(smoothed["season_end"].to_numpy())
    win = pd.to_datetime(smoothed["window_start"].to_numpy())
    season_len = np.asarray((ends - starts).days, dtype=float) + 1
    row_season = np.repeat(np.arange(n_s), n_p)
    pids = np.tile(smoothed["parcel_id"].to_numpy().astype(str), n_s)

    z_rows = z3.reshape(n, t)
    w_rows = smoothed["weight"].to_numpy().reshape(n, t)
    y_rows = smoothed["observed"].to_numpy().reshape(n, t)
    season_end_day = margin + season_len[row_season]
    m: dict[str, npt.NDArray[Any]] = {}
    for lo in range(0, n, _ROWS):  # row blocks: the temporaries stay small and reused
        c = slice(lo, lo + _ROWS)
        part = _curve_metrics(
            z_rows[c].astype(float), w_rows[c] > 0, y_rows[c], margin, season_end_day[c]
        )
        for key, v in part.items():
            m.setdefault(key, np.empty(n, dtype=v.dtype))[c] = v
    if n == 0:
        m = _curve_metrics(
            np.empty((0, t)), np.empty((0, t), bool), np.empty((0, t)), margin, np.empty(0)
        )
    n_obs, has_values, peak_day, peak = m["n_obs"], m["has_values"], m["peak_day"], m["peak"]
    base0, amp0 = m["base0"], m["amp0"]
    greenup, mid, sen, harvest = m["greenup"], m["mid"], m["sen"], m["harvest"]
    area = m["area"]
    emergence = mid - _crop_lags(crop_names(pids, starts[row_season], crops))

    enough = (n_obs >= min_obs) & has_values
    cycle = enough & (amp0 >= min_amplitude)
    gaps = {
        "greenup_gap_days": m["greenup_gap"],
        "peak_gap_days": m["peak_gap"],
        "harvest_gap_days": m["harvest_gap"],
    }
    gap_bad = np.zeros(n, dtype=bool)
    for key in ("greenup_gap_days", "peak_gap_days"):
        gap_bad |= np.nan_to_num(gaps[key], nan=0.0) > max_gap_days
    gap_bad &= cycle
    quality_ok = enough & ~gap_bad
    harvest = np.where(
        np.nan_to_num(gaps["harvest_gap_days"]) <= max_harvest_gap_days, harvest, np.nan
    )

    days = {
        "greenup_date": greenup,
        "midgreenup_date": mid,
        "emergence_date": emergence,
        "peak_date": peak_day,
        "senescence_date": sen,
        "harvest_date": harvest,
    }
    out = pd.DataFrame(
        {
            "parcel_id": pids,
            "season_start": starts[row_season].date,
            "season_end": ends[row_season].date,
            "n_obs": n_obs.astype(int),
        }
    )
    has_cycle = pd.array(np.where(quality_ok, cycle, False), dtype="boolean")
    has_cycle[~quality_ok] = pd.NA
    out["has_cycle"] = has_cycle
    out["data_quality"] = np.where(quality_ok, "ok", "insufficient_imagery")
    keep_val = quality_ok
    out["base_ndvi"] = np.where(keep_val, base0, np.nan)
    out["peak_ndvi"] = np.where(keep_val, peak, np.nan)
    out["amplitude"] = np.where(keep_val, amp0, np.nan)
    keep_date = quality_ok & cycle
    w0 = win[row_season].to_numpy(dtype="datetime64[ns]")
    for name, d in days.items():
        d = np.where(keep_date & np.isfinite(d), d, np.nan)
        whole = np.round(np.nan_to_num(d)).astype("int64").astype("timedelta64[D]")
        out[name] = np.where(np.isfinite(d), w0 + whole, np.datetime64("NaT"))
        out[name] = out[name].astype("datetime64[ns]")
    out["season_integral"] = np.where(keep_date, area, np.where(keep_val, 0.0, np.nan))
    for key, g in gaps.items():
        out[key] = np.where(keep_date, g, np.nan)
    return out[COLUMNS]


def _as_series(crops: pd.Series | pd.DataFrame | None) -> pd.Series | None:
    """``crops`` as a Series of crop names (frames with ``parcel_id, crop`` accepted)."""
    if crops is None or isinstance(crops, pd.Series):
        return crops
    if {"parcel_id", "crop"} <= set(crops.columns):
        return crops.set_index("parcel_id")["crop"]
    raise InputError(
        "crops must be a Series of crop names indexed by parcel_id (or by parcel_id and "
        f"season start), or a frame with parcel_id and crop columns; got columns {list(crops.columns)}."
    )
