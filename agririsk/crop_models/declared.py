"""Declared against observed: crop-type mismatches and area overstatement, per parcel and farm.

>>> parcel_table, farm_table = crop_checks(series, parcels, seasons, as_of=as_of)  # doctest: +SKIP
>>> preds = crop_predictions(parcel_table)                                        # doctest: +SKIP

Method and thresholds: ``docs/crop-identification.md``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from agririsk.crop_models.croptype import (
    MIN_CLEAR_VIEWS,
    CropTypeClassifier,
    croptype_features,
    cross_fit_evidence,
    past_season_features,
    rotation_group,
    top_crop,
)
from agririsk.region import Season

__all__ = [
    "crop_checks",
    "crop_predictions",
    "overstatement",
    "MISMATCH_PROBABILITY",
    "OVERSTATEMENT_FLAG",
    "MIN_TRAINING_PARCELS",
    "RECOGNISED_CONFIDENCE",
    "history_explains",
]

logger = logging.getLogger(__name__)

#: a prediction that differs from the declaration is a mismatch when the current season's
#: evidence forest gives a crop other than the declared one (any other crop, for a declared
#: crop of :data:`RECOGNISED_CONFIDENCE`) at least this probability (the same level as
#: :func:`agririsk.monitoring.detectors.crop_mismatch_conditions`)
MISMATCH_PROBABILITY = 0.8
#: a declared crop whose training fields the evidence forest gives, on average, at least
#: this out-of-sample probability of it (``CropTypeClassifier.self_confidence_``) is one
#: the season's images recognise: for it, the evidence against the declaration is the
#: probability of *any* other crop (docs/crop-identification.md §4, §8.11)
RECOGNISED_CONFIDENCE = 0.8
#: Σ declared / Σ measured cropped area at or above which a farm is flagged
OVERSTATEMENT_FLAG = 1.3
#: fewer labelled parcel-seasons with enough clear views: no classifier is trained
MIN_TRAINING_PARCELS = 30

PARCEL_COLUMNS = [
    "parcel_id",
    "farmer_id",
    "season_start",
    "current",
    "n_clear_views",
    "declared_crop",
    "predicted_crop",
    "probability",
    "season_probability",
    "declared_probability",
    "crop_mismatch",
]
FARM_COLUMNS = [
    "crop_checked_share",
    "fields_crop_checked",
    "fields_crop_mismatch",
    "crop_mismatch_share",
    "main_predicted_crop",
    "declared_area_ha",
    "measured_area_ha",
    "overstatement_ratio",
    "area_flag",
]


def _parcel_area_ha(parcels: gpd.GeoDataFrame) -> pd.Series:
    projected = (
        parcels.to_crs(parcels.estimate_utm_crs())
        if parcels.crs is not None and parcels.crs.is_geographic
        else parcels
    )
    return pd.Series(
        projected.geometry.area.to_numpy() / 1e4, index=parcels["parcel_id"].astype(str).to_numpy()
    )


def crop_checks(
    series: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    seasons: Iterable[Season],
    *,
    as_of: dt.date,
    current: Season | None = None,
    parcel_seasons: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    estimator: BaseEstimator | None = None,
    threshold: float = MISMATCH_PROBABILITY,
    min_clear_views: int = MIN_CLEAR_VIEWS,
    n_splits: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Crop type of every parcel and season, declaration mismatches, and the farm area check.

    Parameters
    ----------
    series : tidy parcel series (:func:`agririsk.imagery.parcel_series`).
    parcels : ``parcel_id, farmer_id, declared_crop, declared_area_ha`` and geometry; the
        declarations are those of the ``current`` season.
    seasons : season windows: past seasons and, when it has begun, the current one.
    as_of : no imagery after this date is used.
    current : the season the declarations are for. Default: the season of ``seasons``
        that contains ``as_of``; when none does (e.g. a pre-loan run with past seasons
        only) nothing is compared with the declarations (``crop_mismatch`` all NA).
        Pass it explicitly to check a season after its end.
    parcel_seasons : :func:`agririsk.crop_models.season_table` rows (``parcel_id,
        season_start, data_quality, measured_area_ha``) for the area check; computed
        here when None.
    labels : surveyed crops ``parcel_id, season_start, crop`` (optional). When given, the
        classifier learns from them (cross-fitted on the labelled rows); otherwise from
        the current season's declarations, cross-fitted by farmer.
    estimator : unfitted classifier (default :class:`CropTypeClassifier`).
    threshold : probability of a contradicting prediction that makes a mismatch.
    min_clear_views : fewer clear views of a parcel in a season: not classified.
    n_splits : K of the cross-fitting.

    Returns
    -------
    parcel_table : one row per parcel and season, :data:`PARCEL_COLUMNS`. ``crop_mismatch``
        is True / False on the current season's classified rows (NA elsewhere: past
        seasons' crops rotate and are not compared with this season's declaration).
    farm_table : indexed by ``farmer_id``, :data:`FARM_COLUMNS` (see Notes).

    Notes
    -----
    Without labels, the current season's parcels with enough clear views are split by
    farmer into K folds; each fold is classified by a model trained on the declarations
    of the other folds, so no declaration grades itself (nor one of the same farmer).
    The seasons of ``seasons`` that ended before ``as_of`` add each parcel's past
    phenology (:func:`~agririsk.crop_models.croptype.past_season_features`), from which
    the classifier reads its rotation group (maize-soybean or a crop that stays).
    Only seasons with labels are classified (without surveyed labels: the current season):
    a model trained on one year's calendar misreads another year's (sowing moves with
    the spring, drought years senesce early). With surveyed labels, past seasons' features
    are truncated at the current season's time of season (``as_of - season start``) so that labelled rows of
    any season describe the same part of the crop calendar.

    ``crop_mismatch`` = predicted crop ≠ declared crop and ``season_probability`` ≥
    ``threshold``: ``predicted_crop`` and ``probability`` are the classifier's
    (``predict_proba``: forest A, with the green-up-aligned composites and the past
    seasons' rotation group); ``season_probability`` is the highest probability of a crop
    other than the declared one from the current season's images alone
    (``CropTypeClassifier.season_proba``: forest B, the features without the aligned
    composites and without history; the same fold models) — or, where the declared crop
    is one the images recognise (the grading fold model's ``self_confidence_`` of it, the
    mean out-of-bag probability forest B gives its own training fields of that crop, is
    ≥ :data:`RECOGNISED_CONFIDENCE`), the probability of *any* crop other than it
    (1 − forest B's probability of the declared crop): a wheat field read as maize 0.5,
    soybean 0.45, wheat 0.05 is not wheat at 0.95 even though which crop it is stays open.
    A crop the field's own past canopy explains (:func:`history_explains`: a crop of
    another rotation group, on a field whose canopy kept its size from its past seasons
    rather than changing as a switch to that crop would) is left out of that highest
    probability. History and the aligned composites may settle which crop a field most
    likely grows, and history may explain a reading away, but a flag is an accusation:
    this season's images, read as before the composites, must contradict the declaration
    by themselves (docs/crop-identification.md §4, §8.10, §8.11, §8.12).
    ``fields_crop_checked`` = the farm's parcels classified in the current season,
    ``fields_crop_mismatch`` = those of them with ``crop_mismatch``, and
    ``crop_mismatch_share`` = their ratio (NaN when none was classified: not zero, since
    nothing was checked); ``crop_checked_share`` = mapped area classified / mapped area;
    ``main_predicted_crop`` = the crop with the largest classified area in the latest
    classified season. ``overstatement_ratio`` = Σ declared area / Σ measured cropped area
    over the farm's parcels with a measurement, the measurement being the largest
    ``measured_area_ha`` over the parcel's seasons with ``data_quality == "ok"`` (a failed
    season reads as land not cropped; see ``scoring.features._cropped_area``);
    ``area_flag`` = ratio ≥ :data:`OVERSTATEMENT_FLAG`.
    """
    seasons = sorted(seasons, key=lambda s: s.start)
    p = pd.DataFrame(
        {
            "parcel_id": parcels["parcel_id"].astype(str).to_numpy(),
            "farmer_id": parcels["farmer_id"].astype(str).to_numpy(),
            "declared_crop": parcels["declared_crop"].astype(str).to_numpy(),
            "declared_area_ha": pd.to_numeric(
                parcels["declared_area_ha"], errors="coerce"
            ).to_numpy()
            if "declared_area_ha" in parcels
            else np.nan,
        }
    ).set_index("parcel_id")
    p["mapped_area_ha"] = _parcel_area_ha(parcels).reindex(p.index)
    day = pd.to_datetime(series["datetime"], utc=True).dt.tz_localize(None).dt.normalize()
    series = series[series["parcel_id"].astype(str).isin(p.index) & (day <= pd.Timestamp(as_of))]
    started = [s for s in seasons if s.start <= as_of]
    if current is None:
        # the declarations speak of the season under way; a past season's crop may have rotated
        under_way = [s for s in started if s.contains(as_of)]
        current = under_way[-1] if under_way else None
    elif current not in started:
        started = sorted([*started, current], key=lambda s: s.start)
    table = _classify(
        series,
        p,
        started,
        current,
        as_of=as_of,
        labels=labels,
        estimator=estimator if estimator is not None else CropTypeClassifier(),
        threshold=threshold,
        min_clear_views=min_clear_views,
        n_splits=n_splits,
    )
    if parcel_seasons is None:
        from agririsk.crop_models import season_table

        parcel_seasons = (
            season_table(series, started, p["declared_crop"], area_ha=p["mapped_area_ha"])
            if started and not series.empty
            else pd.DataFrame()
        )
    farm = _farm_table(table, p, parcel_seasons, current)
    return table, farm


def _classify(
    series: pd.DataFrame,
    p: pd.DataFrame,
    seasons: list[Season],
    current: Season | None,
    *,
    as_of: dt.date,
    labels: pd.DataFrame | None,
    estimator: BaseEstimator,
    threshold: float,
    min_clear_views: int,
    n_splits: int,
) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product(
        [p.index, [s.start for s in seasons]], names=["parcel_id", "season_start"]
    )
    out = pd.DataFrame(index=grid)
    out["predicted_crop"] = pd.Series(pd.NA, index=grid, dtype=object)
    out["probability"] = np.nan
    out["season_probability"] = np.nan
    out["declared_probability"] = np.nan
    if not seasons or series.empty:
        out["n_clear_views"] = 0
        return _finish(out, p, current, threshold)
    offset = (as_of - current.start).days if current is not None else None
    # by date, not identity: an equal Season object passed as ``current`` is the same season
    past = [s for s in seasons if current is None or s.start != current.start]
    frames = []
    if current is not None:
        frames.append(croptype_features(series, [current], as_of=as_of))
    past_feats = None
    if past and labels is None:
        # not classified, only read for the rotation group (below): their whole seasons
        past_feats = croptype_features(series, past, as_of=as_of)
        frames.append(past_feats)
    elif past:
        frames.append(croptype_features(series, past, as_of=as_of, truncate_days=offset))
    X = pd.concat(frames).reindex(grid)
    X["n_clear_views"] = X["n_clear_views"].fillna(0).astype(int)
    out["n_clear_views"] = X["n_clear_views"]
    usable = X["n_clear_views"] >= min_clear_views
    feats = X.drop(columns="n_clear_views")
    if past_feats is not None and current is not None:
        feats = _with_past_seasons(feats, series, past, past_feats, current, as_of, min_clear_views)

    if labels is not None:
        lab = labels.assign(
            parcel_id=labels["parcel_id"].astype(str),
            season_start=pd.to_datetime(labels["season_start"]).dt.date,
        )
        y = lab.set_index(["parcel_id", "season_start"])["crop"].astype(str)
    elif current is not None:
        y = pd.Series(
            p["declared_crop"].to_numpy(),
            index=pd.MultiIndex.from_arrays(
                [p.index, [current.start] * len(p)], names=["parcel_id", "season_start"]
            ),
        )
    else:
        y = pd.Series(dtype=object)
    y = y[y.index.isin(grid)]
    train = y.index[usable.reindex(y.index, fill_value=False).to_numpy()]
    if len(train) < MIN_TRAINING_PARCELS or y[train].nunique() < 2:
        logger.info(
            "crop type: %d labelled parcel-seasons with enough clear views; no classifier",
            len(train),
        )
        return _finish(out, p, current, threshold)
    groups = p.loc[train.get_level_values("parcel_id"), "farmer_id"].to_numpy()
    oof, oof_season, *oof_model = cross_fit_evidence(
        estimator, feats.loc[train], y[train].to_numpy(), groups=groups, n_splits=n_splits
    )
    # only seasons with labels of their own: a model moved to another year misreads its calendar
    # (sowing shifts with the spring, drought years senesce early); measured 31-83 % accuracy
    labelled = grid.get_level_values("season_start").isin(
        set(train.get_level_values("season_start"))
    )
    rest = grid[usable.to_numpy() & ~grid.isin(train) & labelled]
    proba, season = oof, oof_season
    conf, shift, canopy = oof_model
    if len(rest):
        # a model of all the labels only for the rows without one (none when the labels are
        # the declarations: every classified row is then graded out of fold)
        fit_groups = (
            {"groups": groups} if "groups" in inspect.signature(estimator.fit).parameters else {}
        )
        model = clone(estimator).fit(feats.loc[train], y[train].to_numpy(), **fit_groups)
        classes = np.asarray(model.classes_).astype(str)
        by_season = getattr(model, "season_proba", model.predict_proba)
        proba, season = (
            pd.concat([a, pd.DataFrame(f(feats.loc[rest]), index=rest, columns=classes)]).fillna(
                0.0
            )
            for a, f in ((oof, model.predict_proba), (oof_season, by_season))
        )
        conf, shift, canopy = (
            pd.concat(
                [
                    a,
                    pd.DataFrame(
                        getattr(model, m, lambda x: np.full((len(x), len(classes)), np.nan))(
                            feats.loc[rest]
                        ),
                        index=rest,
                        columns=classes,
                    ),
                ]
            )
            for a, m in zip(
                oof_model, ("class_confidence", "canopy_shift", "class_canopy"), strict=True
            )
        )
    crop, prob = top_crop(proba)
    out.loc[proba.index, "predicted_crop"] = crop
    out.loc[proba.index, "probability"] = prob
    season = season.reindex(index=proba.index, columns=proba.columns, fill_value=0.0)
    declared = p["declared_crop"].reindex(proba.index.get_level_values("parcel_id")).to_numpy()
    # the flag's evidence: this season's images alone, the most probable crop other than
    # the declared one that the field's own past canopy does not explain; for a declared
    # crop the images recognise, any crop other than it (docs/crop-identification.md §4)
    scol = season.columns.get_indexer(declared)
    conf = conf.reindex(index=proba.index, columns=season.columns)
    explained = history_explains(
        scol,
        conf.to_numpy(),
        shift.reindex(index=proba.index, columns=season.columns).to_numpy(),
        canopy.reindex(index=proba.index, columns=season.columns).to_numpy(),
        season.columns.to_numpy(),
    )
    other = season.to_numpy() * (season.columns.to_numpy()[None, :] != declared[:, None])
    evidence = np.where(explained, 0.0, other).max(axis=1)
    rows = np.arange(len(season))
    own_conf = np.where(scol >= 0, conf.to_numpy()[rows, np.maximum(scol, 0)], np.nan)
    recognised = (scol >= 0) & (np.nan_to_num(own_conf, nan=0.0) >= RECOGNISED_CONFIDENCE)
    not_declared = 1.0 - season.to_numpy()[rows, np.maximum(scol, 0)]
    out.loc[proba.index, "season_probability"] = np.where(recognised, not_declared, evidence)
    col = proba.columns.get_indexer(declared)
    dp = np.where(col >= 0, proba.to_numpy()[np.arange(len(proba)), np.maximum(col, 0)], 0.0)
    out.loc[proba.index, "declared_probability"] = dp
    return _finish(out, p, current, threshold)


def history_explains(
    declared: np.ndarray,
    confidence: np.ndarray,
    shift: np.ndarray,
    canopy: np.ndarray,
    classes: np.ndarray,
) -> np.ndarray:
    """Where the field's own past canopy explains a reading of another crop.

    A crop of another rotation group than the declared one, neither of which the season's
    images recognise (self-confidence < :data:`RECOGNISED_CONFIDENCE`), is *explained* for
    a row when the change of the field's canopy from its past seasons (``shift``, relative
    to the usual change of the declared crop's training fields) is nearer to 0 than to the
    change a switch to that crop would bring (the difference of the two crops' usual
    canopy sizes, ``canopy``): a small soybean canopy on a field whose canopies were always small is the
    field's yield potential, not "other" (docs/crop-identification.md §4, §8.12).

    Parameters
    ----------
    declared : per row, the column of the declared crop in ``classes`` (-1: not a class).
    confidence : per row and class, the grading model's self-confidence (NaN: unknown).
    shift, canopy : per row and class, ``CropTypeClassifier.canopy_shift`` and
        ``class_canopy`` of the grading model (NaN: unknown; nothing is explained).
    classes : the crops of the columns.

    Returns
    -------
    Boolean array (rows × classes), True where the crop's reading is explained.
    """
    n = len(declared)
    if n == 0:
        return np.zeros((0, len(classes)), dtype=bool)
    rows = np.arange(n)
    j = np.maximum(declared, 0)
    known = np.nan_to_num(confidence, nan=0.0) < RECOGNISED_CONFIDENCE
    groups = rotation_group(classes)
    other_group = groups[None, :] != groups[j][:, None]
    stay = shift[rows, j][:, None]  # the change if the field kept the declared crop: ~0
    switch = stay - (canopy - canopy[rows, j][:, None])  # ~0 if it switched to the crop
    with np.errstate(invalid="ignore"):
        closer = np.abs(stay) < np.abs(switch)
    return (
        (declared >= 0)[:, None]
        & other_group
        & known
        & known[rows, j][:, None]
        & np.isfinite(switch)
        & closer
    )


def _with_past_seasons(
    feats: pd.DataFrame,
    series: pd.DataFrame,
    past: list[Season],
    past_feats: pd.DataFrame,
    current: Season,
    as_of: dt.date,
    min_clear_views: int,
) -> pd.DataFrame:
    """The current season's rows joined with their parcels' past seasons (``_past<k>`` columns).

    Only seasons that ended before ``as_of`` (:func:`past_season_features`); the rows of
    other seasons get NaN there. The classifier reads them for the rotation group.
    """
    extra = past_season_features(
        series, past, as_of=as_of, min_clear_views=min_clear_views, features=past_feats
    )
    if extra.shape[1] == 0:
        return feats
    pid = feats.index.get_level_values("parcel_id")
    extra = extra.reindex(pid).set_axis(feats.index)
    extra.loc[feats.index.get_level_values("season_start") != current.start] = np.nan
    return pd.concat([feats, extra], axis=1)


def _finish(
    out: pd.DataFrame, p: pd.DataFrame, current: Season | None, threshold: float
) -> pd.DataFrame:
    out = out.reset_index()
    out["farmer_id"] = out["parcel_id"].map(p["farmer_id"])
    out["declared_crop"] = out["parcel_id"].map(p["declared_crop"])
    out["current"] = out["season_start"].eq(current.start) if current is not None else False
    classified = out["predicted_crop"].notna()
    # an accusation rests on this season's own images: the past seasons' rotation group may
    # settle which crop is most likely (predicted_crop), never make a flag by itself
    mismatch = (
        classified
        & out["predicted_crop"].ne(out["declared_crop"])
        & (out["season_probability"] >= threshold)
    )
    flag = pd.array(mismatch.to_numpy(), dtype="boolean")
    flag[~(classified & out["current"]).to_numpy()] = pd.NA
    out["crop_mismatch"] = flag
    return out[PARCEL_COLUMNS].sort_values(["parcel_id", "season_start"]).reset_index(drop=True)


def overstatement(
    declared_ha: pd.Series, measured_ha: pd.Series, farmer: pd.Series
) -> pd.DataFrame:
    """Σ declared / Σ measured cropped area per farmer, over parcels with a measurement.

    Parameters
    ----------
    declared_ha, measured_ha : per parcel (same index), hectares; NaN = unknown.
    farmer : farmer of each parcel (same index).

    Returns
    -------
    DataFrame indexed by ``farmer_id``: ``declared_area_ha, measured_area_ha,
    overstatement_ratio, area_flag`` (ratio ≥ :data:`OVERSTATEMENT_FLAG`; NA without a
    measurement).
    """
    ok = declared_ha.notna() & measured_ha.notna()
    df = pd.DataFrame({"farmer_id": farmer, "d": declared_ha.where(ok), "m": measured_ha.where(ok)})
    g = df.groupby("farmer_id")
    out = pd.DataFrame(
        {"declared_area_ha": g["d"].sum(min_count=1), "measured_area_ha": g["m"].sum(min_count=1)}
    )
    out["overstatement_ratio"] = out["declared_area_ha"] / out["measured_area_ha"].where(
        out["measured_area_ha"] > 0
    )
    flag = pd.array((out["overstatement_ratio"] >= OVERSTATEMENT_FLAG).to_numpy(), dtype="boolean")
    flag[out["overstatement_ratio"].isna().to_numpy()] = pd.NA
    out["area_flag"] = flag
    return out


def _farm_table(
    table: pd.DataFrame, p: pd.DataFrame, parcel_seasons: pd.DataFrame, current: Season | None
) -> pd.DataFrame:
    farms = pd.Index(sorted(p["farmer_id"].unique()), name="farmer_id")
    out = pd.DataFrame(index=farms)
    area = table["parcel_id"].map(p["mapped_area_ha"])
    cur = table[table["current"]].assign(area=area[table["current"]])
    total = p.groupby("farmer_id")["mapped_area_ha"].sum()
    classified = cur[cur["predicted_crop"].notna()]
    checked = classified.groupby("farmer_id")["area"].sum()
    out["crop_checked_share"] = (checked.reindex(farms).fillna(0.0) / total.reindex(farms)).where(
        total.reindex(farms) > 0
    )
    n_checked = classified.groupby("farmer_id").size().reindex(farms).fillna(0).astype(int)
    flagged = classified["crop_mismatch"].fillna(False).astype(bool)
    n_mismatch = (
        classified[flagged].groupby("farmer_id").size().reindex(farms).fillna(0).astype(int)
    )
    out["fields_crop_checked"] = n_checked
    out["fields_crop_mismatch"] = n_mismatch
    out["crop_mismatch_share"] = (n_mismatch / n_checked.where(n_checked > 0)).astype(float)

    done = table.assign(area=area)[table["predicted_crop"].notna()]
    if done.empty:
        out["main_predicted_crop"] = pd.Series(pd.NA, index=farms, dtype=object)
    else:
        latest = done[
            done["season_start"] == done.groupby("farmer_id")["season_start"].transform("max")
        ]
        by = latest.groupby(["farmer_id", "predicted_crop"])["area"].sum().reset_index()
        main = (
            by.sort_values(["area", "predicted_crop"])
            .groupby("farmer_id")
            .tail(1)
            .set_index("farmer_id")["predicted_crop"]
        )
        out["main_predicted_crop"] = main.reindex(farms)

    measured = pd.Series(np.nan, index=p.index)
    if not parcel_seasons.empty and "measured_area_ha" in parcel_seasons:
        ok = parcel_seasons[parcel_seasons["data_quality"].eq("ok")]
        measured = (
            ok.groupby(ok["parcel_id"].astype(str))["measured_area_ha"].max().reindex(p.index)
        )
    out = out.join(overstatement(p["declared_area_ha"], measured, p["farmer_id"]).reindex(farms))
    return out[FARM_COLUMNS]


def crop_predictions(parcel_table: pd.DataFrame, *, date: dt.date | None = None) -> pd.DataFrame:
    """The current season's predictions in the form ``monitor_region(crop_predictions=...)`` takes.

    Parameters
    ----------
    parcel_table : first output of :func:`crop_checks`.
    date : the date the predictions speak for (e.g. the as-of date); default the
        current season's start.

    Returns
    -------
    DataFrame ``parcel_id, crop, probability, date`` for the classified parcels of the
    current season. ``probability`` is the parcel table's ``season_probability`` (the
    current season's evidence against the declared crop) where the predicted
    crop differs from the declared one, its ``probability`` elsewhere: the monitoring hook
    raises a ``crop_mismatch`` where it is ≥ 0.8 and the crop differs from the declared
    one, so its alerts are the ``crop_mismatch`` flags (at the default threshold) and
    never rest on the past seasons alone.
    """
    cur = parcel_table[parcel_table["current"] & parcel_table["predicted_crop"].notna()]
    day = date if date is not None else (cur["season_start"].iloc[0] if len(cur) else None)
    return pd.DataFrame(
        {
            "parcel_id": cur["parcel_id"].to_numpy(),
            "crop": cur["predicted_crop"].astype(str).to_numpy(),
            "probability": cur["season_probability"]
            .where(cur["predicted_crop"].ne(cur["declared_crop"]), cur["probability"])
            .astype(float)
            .to_numpy(),
            "date": pd.Timestamp(day) if day is not None else pd.NaT,
        }
    )
