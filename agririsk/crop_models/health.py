"""Crop-health indicators per parcel and season, and per parcel on a date.

Built on the daily curves of :func:`agririsk.crop_models.smoothing.smooth_series` (dims
``season, parcel_id, day``; the same ``day`` is the same time of season in every year)
and the phenology table of :func:`agririsk.crop_models.phenology.phenology`:

- **vegetation condition** (VCI, Kogan 1995): the field against its own record on the
  same day of the season, :math:`VCI_t = (v_t - \\min_h v_t) / (\\max_h v_t - \\min_h v_t)`,
  where the minimum and maximum run over the field's seasons (this one included, as
  Kogan's). 0: as poor as its worst year, 1: as good as its best. Days with a range
  under :data:`MIN_VCI_RANGE` are left out (the ratio would be noise); fewer than three
  seasons: not defined. Also ``condition_z``: the z-score of the season integral
  against the field's *other* seasons, :math:`(x - \\bar x_o) / \\max(s_o, 0.1 \\bar x_o)`
  (the floor keeps two near-identical past seasons from making any change extreme).
- **peer anomaly**: :math:`v_t - \\mathrm{median}_{peers}\\, v_t`, peers being fields of
  the same crop in the same season (all fields when fewer than ``min_peers``).
- **productivity**: the percentile of the season integral among the same peers.
- **stability**: coefficient of variation of the season integral across the field's
  seasons, :math:`CV = s / \\bar x` (``ddof = 1``).
- **cropped fraction**: the seasonal maximum of ``green_fraction`` (share of the clear
  pixels with NDVI >= 0.5) over the season's well-observed dates (clear share >= 0.8).
  Residual clouds and haze only lower a pixel's NDVI, so they cannot inflate the
  maximum: it is robust to them, and a bad date cannot hide a good one; times the parcel's area it is the **measured cropped area** to set
  against ``declared_area_ha``.

Season summaries (VCI, peer anomaly) average the daily values over the season window
(``season.start`` to ``season.end``), the same days for every field and year.

References
----------
Kogan, F.N. (1995) Application of vegetation index and brightness temperature for
drought detection. Advances in Space Research 15(11), 91-100.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from agririsk.crop_models.phenology import crop_names

__all__ = [
    "vegetation_condition",
    "peer_anomaly",
    "cropped_fraction",
    "health_indicators",
    "condition_at",
    "MIN_VCI_RANGE",
    "MIN_PEERS",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Historical NDVI range (max - min over other seasons) under which VCI is not computed.
MIN_VCI_RANGE = 0.05
#: Fewer fields of the crop than this in a season: peers are all fields of the season.
MIN_PEERS = 5
#: Floor of the standard deviation of the other seasons' integrals, relative to their mean.
Z_SD_FLOOR = 0.1
#: Dates used for the cropped fraction must show at least this share of the parcel.
CROPPED_MIN_CLEAR = 0.8
#: Parcels processed together for the season means (temporaries of a few MB).
_BLOCK = 2048


def vegetation_condition(smoothed: xr.Dataset, *, min_seasons: int = 3) -> xr.DataArray:
    """Daily vegetation condition index of each field against its own record.

    Parameters
    ----------
    smoothed : output of :func:`~agririsk.crop_models.smoothing.smooth_series`.
    min_seasons : fewer seasons with a value on that day (the current one included):
        not defined.

    Returns
    -------
    DataArray ``vci`` (season, parcel_id, day) in [0, 1]; NaN where the field has fewer
    than ``min_seasons`` seasons with a value that day or their range is under
    :data:`MIN_VCI_RANGE`.

    Notes
    -----
    :math:`VCI_{s,t} = (v_{s,t} - \\min_{s'} v_{s',t}) / (\\max_{s'} v_{s',t} -
    \\min_{s'} v_{s',t})`, the extremes over all seasons of the field's record on the same
    day of season (Kogan 1995, with day of season for week of year).
    """
    out = _vci(smoothed["smoothed"].to_numpy().astype(float), min_seasons)
    return xr.DataArray(
        out, coords=smoothed["smoothed"].coords, dims=smoothed["smoothed"].dims, name="vci"
    )


def _vci(v: FloatArray, min_seasons: int) -> FloatArray:
    """VCI of a (season, parcel, day) array (see :func:`vegetation_condition`)."""
    finite = np.isfinite(v)
    count = finite.sum(axis=0)
    lo = np.where(finite, v, np.inf).min(axis=0)
    hi = np.where(finite, v, -np.inf).max(axis=0)
    rng = hi - lo
    with np.errstate(all="ignore"):
        out: FloatArray = np.where(
            (count >= min_seasons) & (rng >= MIN_VCI_RANGE) & finite, (v - lo) / rng, np.nan
        )
    return out


def _peer_groups(smoothed: xr.Dataset, crops: pd.Series | None) -> npt.NDArray[np.object_]:
    """(season, parcel) crop names."""
    n_s, n_p = smoothed.sizes["season"], smoothed.sizes["parcel_id"]
    pids = np.tile(smoothed["parcel_id"].to_numpy().astype(str), n_s)
    starts = np.repeat(pd.to_datetime(smoothed["season"].to_numpy()), n_p)
    return crop_names(pids, starts, crops).reshape(n_s, n_p)


def _nanmedian_days(
    v: npt.NDArray[np.floating[Any]],
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Median over the fields (axis 0) of a (field, day) array, ignoring NaN.

    Returns the median of each day (NaN where no field has a value) and the number of
    fields with a value. The same values as :func:`numpy.nanmedian` (the mean of the two
    middle order statistics, in float64 whatever the input's precision), from one
    :func:`numpy.partition` per distinct count of values (NaN sorts last) on the
    day-major copy, instead of one call per day.
    """
    vt = np.ascontiguousarray(v.T)
    n = np.count_nonzero(np.isfinite(vt), axis=1)
    med = np.full(vt.shape[0], np.nan)
    for c in np.unique(n[n > 0]):
        days = np.flatnonzero(n == c)
        lo, hi = (int(c) - 1) // 2, int(c) // 2
        part = np.partition(vt[days], [lo, hi] if hi > lo else lo, axis=1)
        med[days] = (part[:, lo].astype(float) + part[:, hi].astype(float)) / 2
    return med, n


def _peer_reference(
    v: npt.NDArray[np.floating[Any]], groups: npt.NDArray[np.object_], min_peers: int
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Per-day peer median of one season's (parcel, day) curves.

    Returns each parcel's group code and the (group, day) reference: the median of the
    group's fields, or of all fields on days when fewer than ``min_peers`` of the group
    have a value (see :func:`peer_anomaly`).
    """
    names, codes = np.unique(groups, return_inverse=True)
    ref = np.empty((len(names), v.shape[1]))
    few = np.zeros(ref.shape, dtype=bool)
    for g in range(len(names)):
        ref[g], n = _nanmedian_days(v[codes == g])
        few[g] = n < min_peers
    days = few.any(axis=0)
    if days.any():  # the median of all fields, only on the days some group needs it
        overall = np.full(v.shape[1], np.nan)
        overall[days] = _nanmedian_days(v[:, days])[0]
        ref = np.where(few, overall, ref)
    return codes.reshape(-1), ref


def peer_anomaly(
    smoothed: xr.Dataset, crops: pd.Series | None = None, *, min_peers: int = MIN_PEERS
) -> xr.DataArray:
    """Daily difference of each field to the median field of its crop, same season and day.

    Parameters
    ----------
    smoothed : output of :func:`~agririsk.crop_models.smoothing.smooth_series`.
    crops : crop per parcel (index ``parcel_id``) or per parcel and season (MultiIndex
        ``(parcel_id, season start date)``); missing crops are ``other``.
    min_peers : fewer fields of the crop with a value that day: all fields are peers.

    Returns
    -------
    DataArray ``peer_anomaly`` (season, parcel_id, day), NDVI units.

    Notes
    -----
    :math:`a_{s,p,t} = v_{s,p,t} - \\mathrm{median}_{q \\in C(p)} v_{s,q,t}`.
    """
    v = smoothed["smoothed"].to_numpy().astype(float)
    groups = _peer_groups(smoothed, crops)
    out = np.full(v.shape, np.nan)
    for k in range(v.shape[0]):
        codes, ref = _peer_reference(v[k], groups[k], min_peers)
        out[k] = v[k] - ref[codes]
    return xr.DataArray(
        out, coords=smoothed["smoothed"].coords, dims=smoothed["smoothed"].dims, name="peer_anomaly"
    )


def cropped_fraction(
    series: pd.DataFrame,
    starts: list[dt.date],
    ends: list[dt.date],
    *,
    min_clear_fraction: float = CROPPED_MIN_CLEAR,
) -> pd.DataFrame:
    """Robust seasonal maximum of ``green_fraction`` per parcel and season.

    Parameters
    ----------
    series : parcel series with ``parcel_id, datetime, clear_fraction, green_fraction``.
    starts, ends : season windows (inclusive dates).
    min_clear_fraction : only dates showing at least this share of the parcel are used.

    Returns
    -------
    DataFrame ``parcel_id, season_start, cropped_fraction, n_green_obs``; the fraction is
    the highest ``green_fraction`` of the season's usable dates (clouds the mask missed
    only lower it), NaN without a usable date or when the series has no
    ``green_fraction``.
    """
    cols = ["parcel_id", "season_start", "cropped_fraction", "n_green_obs"]
    if "green_fraction" not in series.columns or series.empty:
        return pd.DataFrame(columns=cols)
    day = pd.to_datetime(series["datetime"], utc=True).dt.tz_localize(None).dt.normalize()
    ok = (series["clear_fraction"] >= min_clear_fraction) & series["green_fraction"].notna()
    frames = []
    for start, end in zip(starts, ends, strict=True):
        sel = ok & (day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))
        g = series.loc[sel, ["parcel_id", "green_fraction"]].copy()
        g["parcel_id"] = g["parcel_id"].astype(str)
        agg = g.groupby("parcel_id")["green_fraction"].max().rename("cropped_fraction")
        n = g.groupby("parcel_id").size().rename("n_green_obs")
        f = pd.concat([agg, n], axis=1).reset_index()
        f.insert(1, "season_start", start)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)[cols]


def _window_mean(arr: FloatArray, margin: int, lengths: list[int]) -> FloatArray:
    """Mean over the season window (without margins) of a (season, parcel, day) array.

    ``lengths`` are the seasons' window lengths (days), each window starting on day
    ``margin``.
    """
    days = np.arange(arr.shape[2])
    out = np.full(arr.shape[:2], np.nan)
    for k in range(arr.shape[0]):
        sel = (days >= margin) & (days < margin + lengths[k])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[k] = np.nanmean(arr[k][:, sel], axis=1)
    return out


def _season_means(
    smoothed: xr.Dataset, groups: npt.NDArray[np.object_], min_peers: int
) -> tuple[FloatArray, FloatArray]:
    """Season-window means of the daily VCI and peer anomaly, (season, parcel) each.

    The same values as :func:`_window_mean` of :func:`vegetation_condition` and
    :func:`peer_anomaly`, computed by blocks of parcels so that the (season, parcel,
    day) temporaries stay small (they are reused instead of mapped afresh).
    """
    v32 = smoothed["smoothed"].to_numpy()
    n_s, n_p = v32.shape[:2]
    margin = int(smoothed.attrs.get("margin_days", 0))
    starts = pd.to_datetime(smoothed["season"].to_numpy())
    ends = pd.to_datetime(smoothed["season_end"].to_numpy())
    lengths = [int((e - b).days) + 1 for b, e in zip(starts, ends, strict=True)]
    refs = [_peer_reference(v32[k], groups[k], min_peers) for k in range(n_s)]
    vci = np.full((n_s, n_p), np.nan)
    anom = np.full((n_s, n_p), np.nan)
    for lo in range(0, n_p, _BLOCK):
        c = slice(lo, lo + _BLOCK)
        v = v32[:, c].astype(float)
        vci[:, c] = _window_mean(_vci(v, 3), margin, lengths)
        a = np.stack([v[k] - ref[codes[c]] for k, (codes, ref) in enumerate(refs)])
        anom[:, c] = _window_mean(a, margin, lengths)
    return vci, anom


def _percentile_in_groups(values: pd.Series, keys: list[pd.Series], min_peers: int) -> pd.Series:
    """Percentile rank (0-100] within groups, or within the season when the group is small."""
    season = keys[0]
    overall = values.groupby(season).rank(pct=True) * 100
    by = values.groupby(keys).rank(pct=True) * 100
    size = values.groupby(keys).transform("count")
    return by.where(size >= min_peers, overall)


def health_indicators(
    smoothed: xr.Dataset,
    phen: pd.DataFrame,
    crops: pd.Series | None = None,
    *,
    series: pd.DataFrame | None = None,
    area_ha: pd.Series | None = None,
    min_peers: int = MIN_PEERS,
) -> pd.DataFrame:
    """Health indicators per parcel and season.

    Parameters
    ----------
    smoothed : output of :func:`~agririsk.crop_models.smoothing.smooth_series`.
    phen : output of :func:`~agririsk.crop_models.phenology.phenology` on ``smoothed``.
    crops : crop per parcel or per parcel and season (see :func:`peer_anomaly`).
    series : the raw parcel series, for the cropped fraction (needs ``green_fraction``;
        without it the cropped fraction and area are NaN).
    area_ha : parcel area in hectares (index ``parcel_id``), for the measured area.
    min_peers : smallest same-crop peer group (else all fields of the season).

    Returns
    -------
    DataFrame, one row per parcel and season: ``parcel_id, season_start, crop, vci``
    (mean daily VCI over the season window), ``condition_z`` (season integral vs the
    field's other seasons), ``peer_anomaly`` (mean daily NDVI difference to same-crop
    peers over the season window), ``productivity_pct`` (season-integral percentile
    among same-crop peers, 0-100), ``stability_cv`` (per parcel, over its ``ok``
    seasons), ``cropped_fraction``, ``measured_area_ha``. Seasons that are not ``ok`` in
    ``phen`` get NaN.

    References
    ----------
    Kogan (1995) Adv. Space Res. 15(11), 91 (VCI).
    """
    n_s, n_p = smoothed.sizes["season"], smoothed.sizes["parcel_id"]
    groups = _peer_groups(smoothed, crops)
    vci, anom = _season_means(smoothed, groups, min_peers)
    out = pd.DataFrame(
        {
            "parcel_id": np.tile(smoothed["parcel_id"].to_numpy().astype(str), n_s),
            "season_start": np.repeat(pd.to_datetime(smoothed["season"].to_numpy()).date, n_p),
            "crop": groups.ravel(),
            "vci": vci.ravel(),
            "peer_anomaly": anom.ravel(),
        }
    )
    ph = phen.set_index(["parcel_id", "season_start"])
    key = pd.MultiIndex.from_frame(out[["parcel_id", "season_start"]])
    ok = (ph["data_quality"].reindex(key) == "ok").to_numpy()
    integral = ph["season_integral"].reindex(key).to_numpy(dtype=float)
    integral = np.where(ok, integral, np.nan)
    out["vci"] = np.where(ok, out["vci"], np.nan)
    out["peer_anomaly"] = np.where(ok, out["peer_anomaly"], np.nan)

    s_int = pd.Series(integral)
    out["productivity_pct"] = _percentile_in_groups(
        s_int, [out["season_start"], out["crop"]], min_peers
    ).to_numpy()
    by_parcel = s_int.groupby(out["parcel_id"])
    total = by_parcel.transform("sum")
    count = by_parcel.transform("count")
    mean = by_parcel.transform("mean")
    std = by_parcel.transform("std")
    loo_mean = (total - s_int) / (count - 1)
    sq = (s_int**2).groupby(out["parcel_id"]).transform("sum")
    loo_var = ((sq - s_int**2) - (count - 1) * loo_mean**2) / (count - 2)
    loo_sd = np.maximum(np.sqrt(loo_var.clip(lower=0)), Z_SD_FLOOR * loo_mean.abs())
    with np.errstate(all="ignore"):
        out["condition_z"] = np.where(count >= 3, (s_int - loo_mean) / loo_sd, np.nan)
        out["stability_cv"] = np.where((count >= 2) & (mean > 0), std / mean, np.nan)
    out.loc[~ok, "condition_z"] = np.nan
    out["condition_z"] = out["condition_z"].replace([np.inf, -np.inf], np.nan)

    if series is not None:
        starts = list(pd.to_datetime(smoothed["season"].to_numpy()).date)
        ends = list(pd.to_datetime(smoothed["season_end"].to_numpy()).date)
        cf = cropped_fraction(series, starts, ends)
        cf = cf.set_index(["parcel_id", "season_start"])["cropped_fraction"]
        out["cropped_fraction"] = cf.reindex(key).to_numpy(dtype=float)
    else:
        out["cropped_fraction"] = np.nan
    if area_ha is not None:
        area_s = pd.Series(area_ha.to_numpy(), index=area_ha.index.astype(str))
        area = area_s.reindex(out["parcel_id"]).to_numpy(dtype=float)
        out["measured_area_ha"] = out["cropped_fraction"] * area
    else:
        out["measured_area_ha"] = np.nan
    return out[
        [
            "parcel_id",
            "season_start",
            "crop",
            "vci",
            "condition_z",
            "peer_anomaly",
            "productivity_pct",
            "stability_cv",
            "cropped_fraction",
            "measured_area_ha",
        ]
    ]


def condition_at(
    smoothed: xr.Dataset, date: dt.date, crops: pd.Series | None = None
) -> pd.DataFrame:
    """Condition of every field on one date, for in-season monitoring.

    Parameters
    ----------
    smoothed : output of :func:`~agririsk.crop_models.smoothing.smooth_series`; the
        season whose (widened) window holds ``date`` is used.
    date : the day to read.
    crops : crop per parcel, for the peer anomaly.

    Returns
    -------
    DataFrame ``parcel_id, date, ndvi, vci, peer_anomaly``; empty when no season holds
    ``date``.

    Notes
    -----
    The smoothed value on the last observed day leans on the observations before it
    only: read it as "as of the last clear view".
    """
    dates = pd.to_datetime(smoothed["date"].to_numpy().ravel()).values.reshape(
        smoothed.sizes["season"], smoothed.sizes["day"]
    )
    hit = np.argwhere(dates == np.datetime64(pd.Timestamp(date)))
    cols = ["parcel_id", "date", "ndvi", "vci", "peer_anomaly"]
    if len(hit) == 0:
        return pd.DataFrame(columns=cols)
    k, d = (int(x) for x in hit[-1])
    vci = vegetation_condition(smoothed).to_numpy()[k, :, d]
    anom = peer_anomaly(smoothed, crops).to_numpy()[k, :, d]
    return pd.DataFrame(
        {
            "parcel_id": smoothed["parcel_id"].to_numpy().astype(str),
            "date": date,
            "ndvi": smoothed["smoothed"].to_numpy()[k, :, d].astype(float),
            "vci": vci,
            "peer_anomaly": anom,
        }
    )[cols]
