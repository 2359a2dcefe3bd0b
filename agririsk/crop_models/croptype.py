"""Crop type per parcel and season from its time series: features, estimator, cross-fitting.

>>> X = croptype_features(series, seasons, as_of=as_of)                 # doctest: +SKIP
>>> proba = cross_fit_proba(CropTypeClassifier(), X_season, declared, groups=farmer)  # doctest: +SKIP

Features are season-relative, so that one season's model reads another season's
imagery: dekadal means of the smoothed NDVI curve, monthly medians of the other indices
over clear views, and phenology metrics (days since the season start). The parcel's past
seasons (:func:`past_season_features`) give its rotation group. Method and
thresholds: ``docs/crop-identification.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import warnings
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from agririsk.crop_models.phenology import phenology
from agririsk.crop_models.seasonfit import season_fit_features
from agririsk.crop_models.smoothing import MARGIN_DAYS, smooth_series
from agririsk.region import Season

__all__ = [
    "CropTypeClassifier",
    "croptype_features",
    "greenup_aligned",
    "past_season_features",
    "rotation_group",
    "canopy_size",
    "cross_fit_proba",
    "cross_fit_evidence",
    "top_crop",
    "DEKAD_DAYS",
    "MIN_CLEAR_VIEWS",
    "N_TREES",
    "PAST_TREES",
    "PAST_SEASONS",
    "PAST_BELOW",
    "ROTATION",
    "CANOPY_COLUMNS",
]

logger = logging.getLogger(__name__)

#: width of the NDVI composites (days)
DEKAD_DAYS = 10
#: width of the composites of the other indices (days)
MONTH_DAYS = 30
#: green-up-aligned NDVI composites: ``DEKAD_DAYS`` bins from ``ALIGN_DAYS[0]`` to
#: ``ALIGN_DAYS[1]`` days since the parcel's own green-up inflection
ALIGN_DAYS = (-20, 160)
#: a day of the smoothed curve farther than this from every clear view is not averaged
#: into a green-up-aligned composite (nothing is read from the inside of a gap)
NEAR_VIEW_DAYS = 10
#: a view counts as clear when it shows at least this share of the parcel
CLEAR_VIEW = 0.6
#: fewer clear views in the season: the parcel-season is not classified
MIN_CLEAR_VIEWS = 6
#: trees of the forest (docs/crop-identification.md: 150 trees with out-of-bag cleaning
#: classify the sample region as well as 300 with cross-fitted cleaning, at ~1/5 the CPU)
N_TREES = 150
#: per-item index statistics composited besides NDVI (taken where present in the series)
OTHER_INDICES = ("evi_p50", "ndmi_p50", "ndwi_p50", "ndwi_p90", "ndvi_std", "green_fraction")
#: phenology dates turned into days since the season start (emergence is left out: it is
#: back-extrapolated with the *declared* crop's lag and would leak the declaration)
_PHEN_DATES = ("greenup_date", "midgreenup_date", "peak_date", "senescence_date", "harvest_date")
_PHEN_VALUES = ("base_ndvi", "peak_ndvi", "amplitude", "season_integral")
#: crops grown in rotation with each other (maize-soybean, the rotation of north-east China
#: and of the US corn belt): a past season tells the parcel's rotation group, not which of
#: the two it grows this year. Every other crop is its own group.
ROTATION = ("maize", "soybean")
#: name of the rotation group of :data:`ROTATION`
ROTATION_GROUP = "+".join(ROTATION)
#: a past season's features (:func:`past_season_features`): its phenology metrics
PAST_FEATURES = (
    *(c.replace("_date", "_day") for c in _PHEN_DATES),
    "greenup_to_peak_days",
    "greenup_to_harvest_days",
    "senescence_to_harvest_days",
    *_PHEN_VALUES,
)
#: trees of each past season's rotation-group forest (docs/crop-identification.md)
PAST_TREES = 25
#: at most this many past seasons (the latest) are read for the rotation group
PAST_SEASONS = 3
#: the past seasons weigh in only where the current season's most probable crop is less
#: probable than this: they may settle an uncertain reading, never overturn a confident one
#: (a field that changed crop is what the mismatch check is for). The level of
#: ``declared.MISMATCH_PROBABILITY``, chosen a priori.
PAST_BELOW = 0.8
#: the canopy's size in one number, log(peak NDVI × season integral): lowered by a poor field
#: (soil, water, management) as by a crop of a smaller canopy; its change from the parcel's
#: own past seasons tells the two apart (:func:`canopy_size`, docs/crop-identification.md §4)
CANOPY_COLUMNS = ("peak_ndvi", "season_integral")
#: suffix of the past seasons' columns: ``<feature>_past<k>``, k = 1 for the latest season
_PAST_COLUMN = re.compile(r"_past(\d+)$")
#: the green-up-aligned composites (``ndvi_g<k>``, ``ndvi_g<k>_shape``): read by the forest
#: of the predicted crop, not by the forest of the flag's evidence (``season_proba``)
_ALIGNED_COLUMN = re.compile(r"^ndvi_g\d+(_shape)?$")


def _naive_days(values: pd.Series) -> pd.Series:
    ts = pd.to_datetime(values, utc=True).dt.tz_localize(None)
    return ts.dt.normalize()


def croptype_features(
    series: pd.DataFrame,
    seasons: Iterable[Season],
    *,
    as_of: dt.date | None = None,
    truncate_days: int | None = None,
) -> pd.DataFrame:
    """Season-relative features of every parcel and season for crop classification.

    Parameters
    ----------
    series : tidy parcel series of :func:`agririsk.imagery.parcel_series` (``parcel_id,
        datetime, clear_fraction, ndvi_p50`` or ``ndvi_mean``; other index columns used
        where present).
    seasons : season windows.
    as_of : no observation after this date is used.
    truncate_days : in every season, no observation later than ``truncate_days`` after
        the season start is used (to read past seasons as far as the current one is seen).

    Returns
    -------
    DataFrame indexed by ``(parcel_id, season_start)`` with ``n_clear_views`` and the
    feature columns: ``ndvi_d<k>`` (mean smoothed NDVI of dekad ``k``, day 0 = season
    start − 20 d), ``<index>_m<k>`` (median over clear views of 30-day window ``k``),
    ``ndvi_d<k>_shape`` (the same rescaled to (NDVI − base) / amplitude), the
    phenology dates as days since the season start (``greenup_day`` ...), the
    durations ``greenup_to_peak_days, greenup_to_harvest_days,
    senescence_to_harvest_days`` and ``base_ndvi, peak_ndvi, amplitude,
    season_integral``. NaN where there is no evidence (the estimator handles
    missing values).

    Notes
    -----
    The NDVI curve is the robust upper-envelope Whittaker smoother of
    :func:`~agririsk.crop_models.smoothing.smooth_series`; a dekad more than 10 days away
    from any observation stays NaN.
    """
    seasons = sorted(seasons, key=lambda s: s.start)
    s = series.copy()
    s["parcel_id"] = s["parcel_id"].astype(str)
    s["_day"] = _naive_days(s["datetime"])
    if as_of is not None:
        s = s[s["_day"] <= pd.Timestamp(as_of)]
    season_of = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    for season in seasons:
        lo = pd.Timestamp(season.start) - pd.Timedelta(days=MARGIN_DAYS)
        hi = pd.Timestamp(season.end) + pd.Timedelta(days=MARGIN_DAYS)
        if truncate_days is not None:
            hi = min(hi, pd.Timestamp(season.start) + pd.Timedelta(days=truncate_days))
        sel = (s["_day"] >= lo) & (s["_day"] <= hi)
        season_of[sel & season_of.isna()] = pd.Timestamp(season.start)
    s = s[season_of.notna()].assign(_season=season_of[season_of.notna()])
    index = pd.MultiIndex.from_product(
        [sorted(series["parcel_id"].astype(str).unique()), [se.start for se in seasons]],
        names=["parcel_id", "season_start"],
    )
    if s.empty:
        return pd.DataFrame({"n_clear_views": 0}, index=index)

    rel = (s["_day"] - s["_season"]).dt.days + MARGIN_DAYS
    s = s.assign(_rel=rel)
    clear = s["clear_fraction"].fillna(0) >= CLEAR_VIEW
    key = [s["parcel_id"], s["_season"].dt.date.rename("season_start")]
    n_views = clear.groupby(key).sum().rename("n_clear_views")

    parts = [
        n_views,
        _ndvi_composites(s, seasons, truncate_days),
        _other_composites(s[clear], seasons),
    ]
    out = pd.concat(parts, axis=1).reindex(index)
    out["n_clear_views"] = out["n_clear_views"].fillna(0).astype(int)
    return out


def past_season_features(
    series: pd.DataFrame,
    seasons: Iterable[Season],
    *,
    as_of: dt.date,
    min_clear_views: int = MIN_CLEAR_VIEWS,
    features: pd.DataFrame | None = None,
    max_seasons: int = PAST_SEASONS,
) -> pd.DataFrame:
    """The phenology of each parcel in the seasons that ended before ``as_of``, one row per parcel.

    Parameters
    ----------
    series : tidy parcel series (as for :func:`croptype_features`).
    seasons : season windows; only those that ended before ``as_of`` are used (a season
        still under way on ``as_of`` is not a past season).
    as_of : no observation after this date is used.
    min_clear_views : a parcel with fewer clear views in a past season has NaN for it.
    features : :func:`croptype_features` of those seasons (with the same ``as_of``), when
        already computed.
    max_seasons : only the latest this many past seasons.

    Returns
    -------
    DataFrame indexed by ``parcel_id`` with the columns ``<feature>_past<k>`` for the
    features of :data:`PAST_FEATURES`, ``k`` = 1 for the latest past season, 2 for the one
    before, ...; empty (no columns) without a past season.

    Notes
    -----
    The same metrics as :func:`croptype_features` (days since that season's start), from
    the season's whole imagery. :class:`CropTypeClassifier` reads them to tell a parcel's
    rotation group (:func:`rotation_group`) from its past seasons.
    """
    past = sorted((s for s in seasons if s.end < as_of), key=lambda s: s.start, reverse=True)
    past = past[:max_seasons]
    pids = pd.Index(sorted(series["parcel_id"].astype(str).unique()), name="parcel_id")
    if not past:
        return pd.DataFrame(index=pids)
    feats = croptype_features(series, past, as_of=as_of) if features is None else features
    blocks = []
    for k, season in enumerate(past, start=1):
        f = feats.xs(season.start, level="season_start").reindex(pids)
        block = f.reindex(columns=list(PAST_FEATURES)).astype(float)
        block[f["n_clear_views"].fillna(0).to_numpy() < min_clear_views] = np.nan
        blocks.append(block.add_suffix(f"_past{k}"))
    return pd.concat(blocks, axis=1)


def rotation_group(crops: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """The rotation group of each crop: :data:`ROTATION_GROUP` for maize and soybean, else the crop."""
    arr = np.asarray(crops).astype(str)
    return np.where(np.isin(arr, ROTATION), ROTATION_GROUP, arr)


def canopy_size(X: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The current season's canopy size and its change from the parcel's own past seasons.

    Parameters
    ----------
    X : features with the :data:`CANOPY_COLUMNS` and, for the change, their past seasons'
        columns ``<column>_past<k>`` (:func:`past_season_features`).

    Returns
    -------
    level : log(peak NDVI × season integral) per row (NaN where a value is missing or not
        positive).
    change : ``level`` minus the mean of the same quantity over the row's past seasons
        with values: how much larger or smaller the canopy is this season than on the same
        field before (NaN without a past season). A field's yield potential (soil, water,
        management) persists from year to year, so on a field that keeps its crop the
        change is the season's alone, while a change of crop moves it by the difference
        of the two crops' canopies.
    """
    X = _frame(X)

    def log_size(cols: list[str]) -> npt.NDArray[np.float64]:
        if not all(c in X.columns for c in cols):
            return np.full(len(X), np.nan)
        size = np.prod([X[c].to_numpy(dtype=float) for c in cols], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(size > 0, np.log(np.where(size > 0, size, 1.0)), np.nan)

    level = log_size(list(CANOPY_COLUMNS))
    past = np.column_stack(
        [log_size([f"{c}_past{k}" for c in CANOPY_COLUMNS]) for k in range(1, PAST_SEASONS + 1)]
    )
    seen = np.isfinite(past).sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean_past = np.where(seen > 0, np.nansum(past, axis=1) / np.maximum(seen, 1), np.nan)
    return level, level - mean_past


def _ndvi_composites(
    s: pd.DataFrame, seasons: list[Season], truncate_days: int | None
) -> pd.DataFrame:
    """Dekadal means of the smoothed NDVI and phenology metrics (days since season start)."""
    daily = smooth_series(s.drop(columns=["_day", "_season", "_rel"]), seasons)
    sm = daily["smoothed"].transpose("season", "parcel_id", "day").to_numpy().astype(float)
    n_season, n_parcel, n_day = sm.shape
    if truncate_days is not None:
        sm[:, :, truncate_days + MARGIN_DAYS + 1 :] = np.nan
    n_dek = n_day // DEKAD_DAYS
    blocks = sm[:, :, : n_dek * DEKAD_DAYS].reshape(n_season, n_parcel, n_dek, DEKAD_DAYS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN dekads stay NaN
        dek = np.nanmean(blocks, axis=3)
    pids = daily["parcel_id"].to_numpy().astype(str)
    starts = [pd.Timestamp(v).date() for v in daily["season"].to_numpy()]
    idx = pd.MultiIndex.from_product([starts, pids], names=["season_start", "parcel_id"])
    comp = pd.DataFrame(
        dek.reshape(n_season * n_parcel, n_dek),
        index=idx,
        columns=[f"ndvi_d{k:02d}" for k in range(n_dek)],
    )
    comp = comp.swaplevel().sort_index()

    phen = phenology(daily).set_index(["parcel_id", "season_start"])
    phen.index = phen.index.set_levels(phen.index.levels[0].astype(str), level=0)
    start = pd.to_datetime(pd.Series(phen.index.get_level_values("season_start"), index=phen.index))
    feats = pd.DataFrame(index=phen.index)
    for col in _PHEN_DATES:
        feats[col.replace("_date", "_day")] = (pd.to_datetime(phen[col]) - start).dt.days.astype(
            float
        )
    for col in _PHEN_VALUES:
        feats[col] = phen[col].astype(float)
    # durations: the crop calendar's signature, independent of the year's sowing date
    feats["greenup_to_peak_days"] = feats["peak_day"] - feats["greenup_day"]
    feats["greenup_to_harvest_days"] = feats["harvest_day"] - feats["greenup_day"]
    feats["senescence_to_harvest_days"] = feats["harvest_day"] - feats["senescence_day"]
    out = comp.join(feats, how="left")
    # the curve's shape apart from its height: a poor season lowers the peak, not the calendar
    amp = out["amplitude"].where(out["amplitude"] > 0)
    shape = out[comp.columns].sub(out["base_ndvi"], axis=0).div(amp, axis=0)
    shape.columns = [f"{c}_shape" for c in comp.columns]
    # the late season seen from the parcel's own green-up (docs/crop-identification.md §8.9):
    # the double-logistic green-up inflection, else the smoother's mid-green-up
    last = None if truncate_days is None else truncate_days + MARGIN_DAYS
    fit = season_fit_features(daily, clear_view=CLEAR_VIEW, offset_days=MARGIN_DAYS, last_day=last)
    fit = fit.reindex(out.index)
    aligned = _greenup_composites(daily, sm, fit["fit_greenup_day"].fillna(out["midgreenup_day"]))
    # its shape: base and amplitude of the phenology, else of the fit
    base = out["base_ndvi"].fillna(fit["fit_base_ndvi"])
    height = out["amplitude"].fillna(fit["fit_amplitude"])
    aligned_shape = aligned.sub(base, axis=0).div(height.where(height > 0), axis=0)
    aligned_shape.columns = [f"{c}_shape" for c in aligned.columns]
    return pd.concat([out, shape, aligned, aligned_shape], axis=1)


def greenup_aligned(
    smoothed: npt.ArrayLike,
    clear: npt.ArrayLike,
    greenup: npt.ArrayLike,
    *,
    days: tuple[int, int] = ALIGN_DAYS,
    width: int = DEKAD_DAYS,
    near_days: int = NEAR_VIEW_DAYS,
) -> npt.NDArray[np.float64]:
    """Means of a daily curve in bins of days since each row's own green-up.

    Parameters
    ----------
    smoothed : (n, T) daily curve, day ``t`` = column ``t`` (NaN where unknown).
    clear : (n, T) True on the days of a clear view.
    greenup : (n,) green-up day of each row on the same axis (may be fractional; NaN:
        the row's bins are NaN).
    days : first and last day of the bins, relative to the green-up.
    width : days per bin.
    near_days : a day farther than this from every clear view of its row is left out of
        the means, so that nothing is read from the inside of a longer gap.

    Returns
    -------
    (n, (days[1] - days[0]) // width) means: bin ``k`` covers the days ``t`` with
    ``days[0] + k width <= t - greenup < days[0] + (k + 1) width``; NaN where no such day
    has a value within ``near_days`` of a clear view.
    """
    z = np.atleast_2d(np.asarray(smoothed, dtype=float))
    ok = np.atleast_2d(np.asarray(clear, dtype=bool))
    g = np.asarray(greenup, dtype=float).reshape(-1)
    n, n_day = z.shape
    n_bin = (days[1] - days[0]) // width
    with np.errstate(invalid="ignore"):
        k = np.floor((np.arange(n_day)[None, :] - g[:, None] - days[0]) / width)
    use = (
        (_view_distance(ok) <= near_days) & np.isfinite(z) & np.isfinite(k) & (k >= 0) & (k < n_bin)
    )
    r, d = np.nonzero(use)
    flat = r * n_bin + k[r, d].astype(int)
    total = np.bincount(flat, weights=z[r, d], minlength=n * n_bin)
    count = np.bincount(flat, minlength=n * n_bin)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).reshape(n, n_bin)


def _greenup_composites(
    daily: xr.Dataset, sm: npt.NDArray[np.float64], anchor: pd.Series
) -> pd.DataFrame:
    """:func:`greenup_aligned` of the smoothed NDVI of every parcel-season (``ndvi_g<k>``).

    ``anchor`` is the green-up in days since the season start per ``(parcel_id,
    season_start)``; ``sm`` the (season, parcel, day) curve, NaN beyond the last usable
    day (truncated seasons), where a clear view does not count either.
    """
    n_season, n_parcel, n_day = sm.shape
    starts = [pd.Timestamp(v).date() for v in daily["season"].to_numpy()]
    pids = daily["parcel_id"].to_numpy().astype(str)
    idx = pd.MultiIndex.from_product(
        [starts, pids], names=["season_start", "parcel_id"]
    ).swaplevel()
    z = sm.reshape(n_season * n_parcel, n_day)
    obs = daily["observed"].transpose("season", "parcel_id", "day").to_numpy()
    wt = daily["weight"].transpose("season", "parcel_id", "day").to_numpy()
    clear = (np.isfinite(obs) & (wt >= CLEAR_VIEW)).reshape(z.shape) & np.isfinite(z)
    greenup = anchor.reindex(idx).to_numpy(dtype=float) + MARGIN_DAYS  # the smoothing's axis
    means = greenup_aligned(z, clear, greenup)
    cols = [f"ndvi_g{k:02d}" for k in range(means.shape[1])]
    return pd.DataFrame(means, index=idx, columns=cols).sort_index()


def _view_distance(clear: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Days from each day to the nearest clear view of its row (inf for a row without one)."""
    grid = np.arange(clear.shape[1], dtype=float)
    prev = np.maximum.accumulate(np.where(clear, grid, -np.inf), axis=1)
    nxt = np.minimum.accumulate(np.where(clear, grid, np.inf)[:, ::-1], axis=1)[:, ::-1]
    return np.asarray(np.minimum(grid - prev, nxt - grid), dtype=float)


def _other_composites(clear: pd.DataFrame, seasons: list[Season]) -> pd.DataFrame:
    """Monthly medians of the other index statistics over clear views."""
    cols = [c for c in OTHER_INDICES if c in clear.columns]
    if not cols or clear.empty:
        return pd.DataFrame()
    n_month = (max((se.end - se.start).days for se in seasons) + 2 * MARGIN_DAYS) // MONTH_DAYS + 1
    month = (clear["_rel"] // MONTH_DAYS).clip(0, n_month - 1).astype(int)
    key = [clear["parcel_id"], clear["_season"].dt.date.rename("season_start"), month.rename("m")]
    med = clear[cols].groupby(key).median().unstack("m")
    med.columns = [f"{c}_m{m}" for c, m in med.columns]
    wanted = [f"{c}_m{m}" for c in cols for m in range(n_month)]
    return med.reindex(columns=wanted)


class CropTypeClassifier(ClassifierMixin, BaseEstimator):
    """Crop type from :func:`croptype_features`: a random forest with balanced classes.

    A random forest votes over many deep trees grown on bootstrap samples, which makes it
    tolerant to a few wrong labels (declarations); missing features are handled natively.
    With ``clean`` (default), one round of confident learning (Northcutt et al. 2021)
    first drops the training rows that the forest's out-of-bag votes (Breiman 2001) give
    little probability of their own label, and refits on the rest.

    **Two forests** (``two_forests``, default). Forest B (``evidence_model_``) reads the
    current season's features without the green-up-aligned composites (``ndvi_g<k>``,
    :func:`greenup_aligned`); the cleaning round is B's, and B is the flag's evidence
    (:meth:`season_proba`). Forest A (``model_``) reads all of them, composites included,
    and is fitted on the rows B's cleaning kept; it gives the predicted crop
    (:meth:`predict_proba`). The composites sharpen the predicted crop, but also make a
    forest surer of itself where it is wrong, so the flag keeps the forest without them
    (docs/crop-identification.md §8.10).

    **Past seasons.** Columns named ``<feature>_past<k>`` (:func:`past_season_features`)
    are not fed to that forest. For each past season ``k``, a small forest learns the
    *rotation group* of the labels (:func:`rotation_group`: maize and soybean, which swap
    from year to year, are one group; wheat, rice and the rest stay on their fields) from
    that season's phenology. The crop probabilities of the current season are then
    multiplied by the mean, over the parcel's past seasons with values, of the probability
    of each crop's group, and renormalised (a product of experts, each season read only
    by its own forest, so a year's calendar never meets another year's). This applies
    only where the current season's most probable crop has a probability below
    ``past_below``: history settles an uncertain reading but never overturns a confident
    one, since a field that broke its rotation (soybean for three years, wheat now) is
    what a mismatch check must see. A parcel without a past season keeps the current
    season's probabilities.

    Parameters
    ----------
    n_estimators, min_samples_leaf, max_features :
        of :class:`sklearn.ensemble.RandomForestClassifier`.
    class_weight : ``"balanced"`` (default) so that rare crops are not swallowed by
        common ones, or None.
    clean : one round of confident learning for noisy labels (declarations): the
        training rows whose out-of-sample probability of their own label is below
        ``clean_below`` are dropped and the forest refitted.
    clean_below : see ``clean``.
    n_splits : how the cleaning round's out-of-sample probabilities are made. None
        (default): the forest's out-of-bag votes (each row graded by the trees whose
        bootstrap sample left it out; one forest instead of ``K`` + 1, same accuracy on
        the sample region, docs/crop-identification.md); an integer ``K``: ``K``-fold
        cross-fitting, by ``groups`` when given (the slower, stricter variant: a farmer's
        other fields do not vouch for his label either).
    past_trees : trees of each past season's rotation-group forest; 0 ignores the
        ``_past<k>`` columns.
    past_below : the past seasons change only the rows whose current-season top
        probability is below this.
    two_forests : fit forest B (``evidence_model_``, without the green-up-aligned
        columns ``ndvi_g<k>``) for :meth:`season_proba` beside forest A (``model_``, all
        the current season's columns) for :meth:`predict_proba`; False: one forest for both.
    n_jobs : parallel jobs of the forest (``-1``: all cores).
    random_state : seed.

    Attributes
    ----------
    classes_ : crop names.
    feature_names_in_ : columns seen in ``fit``.
    features_used_ : those with at least one value (all-NaN columns are dropped).
    model_ : forest A, of the current season's features with the green-up-aligned
        composites: the predicted crop (:meth:`predict_proba`).
    current_features_ : the columns of :attr:`features_used_` that ``model_`` reads.
    evidence_model_ : forest B, of the current season's features without the aligned
        composites (the forest of the classifier before them, cleaned the same way): the
        flag's evidence (:meth:`season_proba`). ``model_`` itself when ``two_forests`` is
        False or ``X`` has no aligned column.
    evidence_features_ : the columns ``evidence_model_`` reads.
    group_models_ : ``{k: (forest, columns)}`` per past season ``k`` with a rotation-group
        forest (empty without past-season columns).
    groups_ : the rotation groups those forests predict.
    dropped_ : boolean array over the training rows, True where the cleaning round
        dropped the row.
    self_confidence_ : per class of :attr:`classes_`, the mean out-of-sample probability
        (the cleaning round's, forest B's features) of their own label over the training
        rows with that label, before any is dropped: confident learning's per-class
        threshold (Northcutt et al. 2021), how well this season's images recognise the
        class. NaN without a cleaning round. :func:`cross_fit_evidence`.
    canopy_level_, canopy_change_ : per class of :attr:`classes_`, the median over the
        training rows with that label (before any is dropped) of the canopy size and of
        its change from the field's past seasons (:func:`canopy_size`); NaN where no row
        has a value. :meth:`class_canopy`, :meth:`canopy_shift`.
    n_dropped_ : training rows dropped by the cleaning round.

    References
    ----------
    Breiman, L. (2001) Random forests. Machine Learning 45, 5-32 (out-of-bag estimates).
    Northcutt, C., Jiang, L., Chuang, I. (2021) Confident learning. JAIR 70, 1373-1411.
    Hinton, G. (2002) Training products of experts by minimizing contrastive divergence.
    Neural Computation 14, 1771-1800.
    """

    def __init__(
        self,
        *,
        n_estimators: int = N_TREES,
        min_samples_leaf: int = 2,
        max_features: float | str = 0.3,
        class_weight: str | None = "balanced",
        clean: bool = True,
        clean_below: float = 0.2,
        n_splits: int | None = None,
        past_trees: int = PAST_TREES,
        past_below: float = PAST_BELOW,
        two_forests: bool = True,
        n_jobs: int | None = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.class_weight = class_weight
        self.clean = clean
        self.clean_below = clean_below
        self.n_splits = n_splits
        self.past_trees = past_trees
        self.past_below = past_below
        self.two_forests = two_forests
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _forest(self, *, oob: bool = False, trees: int | None = None) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators if trees is None else trees,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            oob_score=oob,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    def fit(
        self, X: pd.DataFrame | npt.ArrayLike, y: npt.ArrayLike, groups: npt.ArrayLike | None = None
    ) -> CropTypeClassifier:
        """Fit on features ``X`` and crop labels ``y``.

        Parameters
        ----------
        X : features (rows: parcel-seasons), NaN allowed.
        y : crop label per row.
        groups : group of each row (e.g. farmer) for the cleaning round's folds when
            ``n_splits`` is an integer; rows are their own group when None. Not used by
            the out-of-bag cleaning (``n_splits=None``).

        Returns
        -------
        self
        """
        X = _frame(X)
        y = np.asarray(y).astype(str)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels.")
        if len(np.unique(y)) < 2:
            raise ValueError("CropTypeClassifier needs at least two crops in y.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        X = X.loc[:, X.notna().any(axis=0).to_numpy()]  # an all-NaN column carries nothing
        self.features_used_ = np.asarray(X.columns, dtype=object)
        past = _past_blocks(X.columns)
        Xp = X
        X = X.drop(columns=[c for cols in past.values() for c in cols])
        self.current_features_ = np.asarray(X.columns, dtype=object)
        Xa = X  # forest A's columns
        aligned = [c for c in X.columns if _ALIGNED_COLUMN.match(str(c))]
        if self.two_forests and aligned:
            X = X.drop(columns=aligned)  # forest B: cleaned and fitted as without them
        self.evidence_features_ = np.asarray(X.columns, dtype=object)
        keep = np.ones(len(y), dtype=bool)
        first: RandomForestClassifier | None = None
        self_confidence = pd.Series(np.nan, index=np.unique(y))  # without a cleaning round
        if self.clean and self.n_splits is None and len(y) >= 10:
            with warnings.catch_warnings():
                # a row in every tree's bootstrap sample has no out-of-bag vote: it is kept
                warnings.simplefilter("ignore", category=UserWarning)
                first = self._forest(oob=True).fit(X, y)
            votes = np.asarray(first.oob_decision_function_, dtype=float)
            own = votes[np.arange(len(y)), np.searchsorted(first.classes_, y)]
            keep = ~(own < self.clean_below)  # NaN (no out-of-bag vote) is kept
            self_confidence = _class_means(own, y)
        elif self.clean and self.n_splits is not None and len(y) >= 2 * self.n_splits:
            base = clone(self).set_params(clean=False)
            proba = cross_fit_proba(
                base, X, y, groups=groups, n_splits=self.n_splits, random_state=self.random_state
            )
            own = proba.to_numpy()[np.arange(len(y)), proba.columns.get_indexer(y)]
            keep = ~(own < self.clean_below)
            self_confidence = _class_means(own, y)
        if len(np.unique(y[keep])) < len(np.unique(y)):
            keep = np.ones(len(y), dtype=bool)  # never drop a whole class
        self.dropped_ = ~keep
        self.n_dropped_ = int((~keep).sum())
        if first is not None and keep.all():
            self.evidence_model_ = first  # nothing dropped: the first forest is the model
        else:
            self.evidence_model_ = self._forest().fit(X[keep], y[keep])
        if Xa.shape[1] == X.shape[1]:
            self.model_ = self.evidence_model_
        else:
            # forest A on the same kept rows, with the aligned composites
            self.model_ = self._forest().fit(Xa[keep], y[keep])
        self.classes_ = self.model_.classes_
        self.self_confidence_ = self_confidence.reindex(self.classes_).to_numpy(dtype=float)
        level, change = canopy_size(Xp)
        self.canopy_level_ = _class_medians(level, y, self.classes_)
        self.canopy_change_ = _class_medians(change, y, self.classes_)
        self._fit_groups(Xp, y, keep, past)
        return self

    def _fit_groups(
        self,
        X: pd.DataFrame,
        y: npt.NDArray[np.str_],
        keep: npt.NDArray[np.bool_],
        past: dict[int, list[str]],
    ) -> None:
        """One rotation-group forest per past season, on the kept rows with values in it."""
        self.group_models_: dict[int, tuple[RandomForestClassifier, list[str]]] = {}
        group = rotation_group(y)
        self.groups_ = np.unique(group)
        if not self.past_trees or len(self.groups_) < 2:
            return
        for k, cols in sorted(past.items()):
            seen = (X[cols].notna().any(axis=1).to_numpy()) & keep
            if seen.sum() < 10 or len(np.unique(group[seen])) < 2:
                continue
            forest = self._forest(trees=self.past_trees).fit(X.loc[seen, cols], group[seen])
            self.group_models_[k] = (forest, cols)

    def predict_proba(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Probability of each crop of :attr:`classes_`, one row per row of ``X``."""
        check_is_fitted(self, "model_")
        Xa = self._align(X)
        proba = np.asarray(self.model_.predict_proba(Xa[self.current_features_]), dtype=float)
        if not self.group_models_:
            return proba
        total = np.zeros((len(Xa), len(self.groups_)))
        n_seen = np.zeros(len(Xa))
        unsure = proba.max(axis=1) < self.past_below
        for forest, cols in self.group_models_.values():
            seen = Xa[cols].notna().any(axis=1).to_numpy() & unsure
            if seen.any():
                at = np.searchsorted(self.groups_, np.asarray(forest.classes_).astype(str))
                total[np.ix_(seen, at)] += forest.predict_proba(Xa.loc[seen, cols])
                n_seen[seen] += 1
        if not n_seen.any():
            return proba
        weight = np.ones_like(total)
        weight[n_seen > 0] = total[n_seen > 0] / n_seen[n_seen > 0, None]
        col = np.searchsorted(self.groups_, rotation_group(self.classes_))
        # a small floor: a group no past season showed is unlikely, not impossible
        combined = proba * (weight[:, col] + _GROUP_FLOOR)
        return np.asarray(combined / combined.sum(axis=1, keepdims=True), dtype=float)

    def season_proba(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Probability of each crop of :attr:`classes_` from the current season alone: the flag's evidence.

        Forest B (``evidence_model_``): the current season's features without the
        green-up-aligned composites and without the past seasons' rotation group, the
        evidence of this season's own images on which a mismatch flag rests
        (docs/crop-identification.md §4). With one forest (``two_forests=False`` or no
        aligned column) equal to :meth:`predict_proba` for rows without past seasons and
        rows the past seasons do not change (see ``past_below``).
        """
        check_is_fitted(self, "model_")
        Xa = self._align(X)
        return np.asarray(
            self.evidence_model_.predict_proba(Xa[self.evidence_features_]), dtype=float
        )

    def class_confidence(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """:attr:`self_confidence_` repeated for every row of ``X`` (one column per class).

        A per-model quantity, in the shape of a probability table so that
        :func:`cross_fit_evidence` gives every row the value of the fold model that graded
        it (fitted without that row's label).
        """
        check_is_fitted(self, "model_")
        n = len(_frame(X))
        return np.tile(np.asarray(self.self_confidence_, dtype=float), (n, 1))

    def class_canopy(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """:attr:`canopy_level_` repeated for every row of ``X`` (one column per class).

        Like :meth:`class_confidence`, a per-model quantity in the shape of a probability
        table, so that :func:`cross_fit_evidence` gives every row its fold model's value.
        """
        check_is_fitted(self, "model_")
        n = len(_frame(X))
        return np.tile(np.asarray(self.canopy_level_, dtype=float), (n, 1))

    def canopy_shift(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Each row's canopy change from its past seasons minus each class's usual change.

        Column k is the row's ``change`` (:func:`canopy_size`) minus
        :attr:`canopy_change_` of class k: near 0 where the field's canopy moved from its
        past seasons as the training fields declared k moved this season (the season's
        own weather). NaN without past seasons.
        """
        check_is_fitted(self, "model_")
        _, change = canopy_size(self._align(X))
        return np.asarray(
            change[:, None] - np.asarray(self.canopy_change_, dtype=float)[None, :], dtype=float
        )

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.object_]:
        """Most probable crop per row of ``X``."""
        check_is_fitted(self, "model_")
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)], dtype=object)

    def _align(self, X: pd.DataFrame | npt.ArrayLike) -> pd.DataFrame:
        X = _frame(X)
        if isinstance(X.columns, pd.RangeIndex):
            X = (
                X.set_axis(self.feature_names_in_, axis=1)
                if X.shape[1] == len(self.feature_names_in_)
                else X
            )
        return X.reindex(columns=self.features_used_)


#: methods of :class:`CropTypeClassifier` that give a per-model value per class, not a
#: probability (:func:`cross_fit_evidence`)
_PER_MODEL = ("class_confidence", "canopy_shift", "class_canopy")
#: added to a past group probability before the product (see ``predict_proba``)
_GROUP_FLOOR = 1e-3


def _class_means(own: npt.NDArray[np.float64], y: npt.NDArray[np.str_]) -> pd.Series:
    """Mean of ``own`` (out-of-sample probability of the row's own label) per label value."""
    return pd.Series(own).groupby(y).mean()


def _class_medians(
    values: npt.NDArray[np.float64], y: npt.NDArray[np.str_], classes: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Median of ``values`` (NaN skipped) per label value, in the order of ``classes``."""
    med = pd.Series(values).groupby(y).median()
    return med.reindex(np.asarray(classes).astype(str)).to_numpy(dtype=float)


def _past_blocks(columns: Iterable[object]) -> dict[int, list[str]]:
    """``{k: columns}`` of the past seasons' columns ``<feature>_past<k>``."""
    out: dict[int, list[str]] = {}
    for c in columns:
        m = _PAST_COLUMN.search(str(c))
        if m:
            out.setdefault(int(m.group(1)), []).append(str(c))
    return out


def _frame(X: pd.DataFrame | npt.ArrayLike) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.astype(float)
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {arr.shape}.")
    return pd.DataFrame(arr)


def cross_fit_proba(
    estimator: BaseEstimator,
    X: pd.DataFrame | npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    groups: npt.ArrayLike | None = None,
    n_splits: int = 5,
    random_state: int = 0,
) -> pd.DataFrame:
    """Out-of-fold crop probabilities: no row is graded by a model that saw its own label.

    Parameters
    ----------
    estimator : an unfitted classifier (cloned for each fold).
    X : features.
    y : labels (e.g. declared crops: noisy).
    groups : rows of one group (farmer, spatial block) go to the same fold, so that a
        farmer's other declarations do not grade his own fields either. Default: each row
        its own group.
    n_splits : folds (K); fewer when there are fewer groups.
    random_state : seed of the assignment of groups to folds.

    Returns
    -------
    DataFrame (index of ``X`` when it is a DataFrame) with one column per label value;
    a fold whose training part lacks a class gives that class probability 0.

    Notes
    -----
    K-fold cross-fitting (Chernozhukov et al. 2018): the groups are split into K folds;
    the rows of fold k are predicted by the estimator fitted on the other K-1 folds.

    References
    ----------
    Chernozhukov, V. et al. (2018) Double/debiased machine learning. Econometrics J. 21,
    C1-C68. Northcutt, C. et al. (2021) Confident learning. JAIR 70, 1373-1411.
    """
    return _cross_fit(estimator, X, y, groups, n_splits, random_state, ("predict_proba",))[0]


def cross_fit_evidence(
    estimator: BaseEstimator,
    X: pd.DataFrame | npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    groups: npt.ArrayLike | None = None,
    n_splits: int = 5,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Out-of-fold probabilities with and without the past seasons, each fold model's
    per-class self-confidence and canopy tables, all from the same fold models.

    Parameters
    ----------
    estimator, X, y, groups, n_splits, random_state : as for :func:`cross_fit_proba`.

    Returns
    -------
    proba : :func:`cross_fit_proba`'s table (``predict_proba``: with the rotation group).
    season : the same folds' ``season_proba`` (the current season's evidence alone), or a
        copy of ``proba`` for an estimator without ``season_proba``.
    confidence : per row, the ``self_confidence_`` of each class of the fold model that
        graded the row (``class_confidence``): computed from the training rows of that
        fold only, so a row's own declaration never enters it. NaN for an estimator
        without ``class_confidence``.
    canopy_shift, canopy_level : the grading fold model's ``canopy_shift`` and
        ``class_canopy`` (:class:`CropTypeClassifier`; per-class medians over that fold's
        training rows), NaN for an estimator without them.
    """
    optional = ("season_proba", "class_confidence", "canopy_shift", "class_canopy")
    methods = [m for m in optional if hasattr(estimator, m)]
    proba, *more = _cross_fit(
        estimator, X, y, groups, n_splits, random_state, ("predict_proba", *methods)
    )
    tables = dict(zip(methods, more, strict=True))
    season = tables.get("season_proba", proba.copy())
    nan = pd.DataFrame(np.nan, index=proba.index, columns=proba.columns)
    return (
        proba,
        season,
        tables.get("class_confidence", nan),
        tables.get("canopy_shift", nan),
        tables.get("class_canopy", nan),
    )


def _cross_fit(
    estimator: BaseEstimator,
    X: pd.DataFrame | npt.ArrayLike,
    y: npt.ArrayLike,
    groups: npt.ArrayLike | None,
    n_splits: int,
    random_state: int,
    methods: tuple[str, ...],
) -> list[pd.DataFrame]:
    """The fold loop of :func:`cross_fit_proba`: one table per probability ``method``."""
    Xf = _frame(X)
    y = np.asarray(y).astype(str)
    classes = np.unique(y)
    g = np.arange(len(y)) if groups is None else pd.factorize(np.asarray(groups))[0]
    uniq = np.unique(g)
    k = int(min(n_splits, len(uniq)))
    if k < 2:
        raise ValueError("cross-fitting needs at least two groups.")
    # shuffle the groups' order so that folds are not runs of neighbouring ids
    perm = np.random.default_rng(random_state).permutation(len(uniq))
    g_shuffled = perm[np.searchsorted(uniq, g)]
    # a probability of a class the fold model lacks is 0; a per-model value of it is unknown
    outs = [np.full((len(y), len(classes)), np.nan if m in _PER_MODEL else 0.0) for m in methods]
    for train, test in GroupKFold(n_splits=k).split(Xf, y, g_shuffled):
        if len(np.unique(y[train])) < 2:
            for out, method in zip(outs, methods, strict=True):
                if method not in _PER_MODEL:
                    out[np.ix_(test, np.flatnonzero(classes == y[train][0]))] = 1.0
            continue
        model = clone(estimator).fit(Xf.iloc[train], y[train])
        cols = np.searchsorted(classes, np.asarray(model.classes_).astype(str))
        for out, method in zip(outs, methods, strict=True):
            out[np.ix_(test, cols)] = getattr(model, method)(Xf.iloc[test])
    index = X.index if isinstance(X, pd.DataFrame) else None
    return [pd.DataFrame(out, index=index, columns=pd.Index(classes, name="crop")) for out in outs]


def top_crop(proba: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Most probable crop and its probability per row of a probability table."""
    arr = proba.to_numpy()
    best = np.argmax(arr, axis=1)
    return (
        pd.Series(proba.columns.to_numpy()[best], index=proba.index, dtype=object),
        pd.Series(arr[np.arange(len(arr)), best], index=proba.index),
    )
