"""The score run: region inputs → parcel time series → season indicators → farm features → pd.

This is the thin orchestration layer the CLI and notebooks share; each step is a call into
one room's public API (imagery, crop_models, scoring).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from agririsk.crop_models import season_table
from agririsk.crop_models.croptype import MIN_CLEAR_VIEWS
from agririsk.crop_models.declared import crop_checks
from agririsk.crop_models.smoothing import MARGIN_DAYS as CROPTYPE_MARGIN_DAYS
from agririsk.errors import AgririskError, NoDataError
from agririsk.imagery import SceneItem, load_items, parcel_series
from agririsk.inputs import Report, read_farmers, read_loans, read_parcels
from agririsk.parallel import Parallel
from agririsk.region import Region, Season
from agririsk.scoring.features import (
    WEATHER_FEATURES,
    crop_check_features,
    farm_features,
    mapped_area_ha,
)
from agririsk.scoring.scorecard import ExpertScorecard, grade_of, pd_to_score
from agririsk.scoring.trained import TrainedScorecard
from agririsk.weather.exposure import farm_weather_history, weather_exposure

__all__ = [
    "ScoreRun",
    "RegionInputs",
    "Evidence",
    "load_inputs",
    "gather_evidence",
    "score_region",
    "past_seasons",
    "credit_history",
    "MAX_PAST_SEASONS",
]

logger = logging.getLogger(__name__)

#: how many seasons back the pre-loan score looks
MAX_PAST_SEASONS = 5
#: a farm needs this many observed past seasons (or all there are, if fewer) for "ok"
MIN_OBSERVED_SEASONS = 2

Progress = Callable[[int, int], None]


@dataclass
class ScoreRun:
    """What a score run produced and what it was based on."""

    scores: gpd.GeoDataFrame
    as_of: dt.date
    seasons: list[Season]
    items_used: int
    report: Report
    parcel_seasons: pd.DataFrame = field(repr=False)
    #: the financed season's crop identification per parcel (``crop_checks``), None when
    #: the season was not classified (as of its start, or too few images yet)
    parcel_crops: pd.DataFrame | None = field(default=None, repr=False)


def past_seasons(season: Season, as_of: dt.date, items: list[SceneItem], *, max_back: int = MAX_PAST_SEASONS) -> list[Season]:
    """The financed season's window in earlier years that ended by ``as_of`` and have imagery.

    Parameters
    ----------
    season : the season being financed.
    as_of : the pre-loan decision date.
    items : the imagery available on ``as_of``.
    """
    dates = pd.DatetimeIndex([it.datetime for it in items]).tz_convert(None).normalize() if items else pd.DatetimeIndex([])
    out = []
    for k in range(1, max_back + 1):
        s = season.shifted_years(-k)
        if s.end >= as_of:
            continue
        if ((dates >= pd.Timestamp(s.start)) & (dates <= pd.Timestamp(s.end))).any():
            out.append(s)
    return sorted(out, key=lambda s: s.start)


def _day(item: SceneItem) -> dt.date:
    return item.datetime.tz_convert(None).date() if item.datetime.tzinfo else item.datetime.date()


def _in_any(item: SceneItem, seasons: list[Season]) -> bool:
    return any(s.contains(_day(item)) for s in seasons)


def credit_history(loans: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """``prior_loans`` and ``prior_defaults`` per farmer from loans whose season ended before ``as_of``."""
    ended = loans[pd.to_datetime(loans["season_end"]).dt.date < as_of]
    g = ended.groupby("farmer_id")
    return pd.DataFrame({"prior_loans": g.size(), "prior_defaults": g["defaulted"].sum()}).astype(float)


def _credit_history(region: Region, as_of: dt.date, farmer_ids: pd.Index, report: Report) -> pd.DataFrame | None:
    if region.history_path is None:
        return None
    return credit_history(read_loans(region.history_path, report, farmer_ids=set(farmer_ids)), as_of)


@dataclass
class RegionInputs:
    """A region's parcels, farmers (no personal data) and imagery items, read once."""

    parcels: gpd.GeoDataFrame
    farmers: pd.DataFrame
    items: list[SceneItem]
    report: Report


@dataclass
class Evidence:
    """What was known of every farmer on an as-of date."""

    features: pd.DataFrame
    quality: pd.Series
    parcel_seasons: pd.DataFrame
    seasons: list[Season]
    items_used: int
    crop_table: pd.DataFrame | None = None


def load_inputs(region: Region, *, until: dt.date, report: Report | None = None) -> RegionInputs:
    """Read parcels, farmers and the imagery items acquired up to the end of ``until``."""
    report = report if report is not None else Report()
    parcels = read_parcels(region.parcels_path, report)
    farmers = read_farmers(region.farmers_path, report)
    if farmers.empty:
        raise NoDataError(f"{region.farmers_path}: no usable farmer rows; run 'agririsk validate' to see why.")
    end = dt.datetime.combine(until, dt.time.max, tzinfo=dt.UTC)
    items = load_items(region.imagery_catalog, collection=region.imagery_collection, report=report, until=end)
    return RegionInputs(parcels, farmers, items, report)


def gather_evidence(
    inputs: RegionInputs,
    *,
    region: Region | None = None,
    season: Season,
    as_of: dt.date,
    workspace: Path,
    farmers: pd.DataFrame | None = None,
    credit_history: pd.DataFrame | None = None,
    workers: int | Parallel = 1,
    progress: Progress | None = None,
) -> Evidence:
    """Farm features and data quality for ``season`` from the imagery acquired by ``as_of``.

    Parameters
    ----------
    inputs : the region's inputs (items after ``as_of`` are ignored here too).
    region : the region, for its weather inputs; without it the weather factors are empty.
    season : the season being financed; its window in earlier years are the past seasons.
    as_of : the decision date.
    workspace : per-item cache folder.
    farmers : the farmer rows to describe (default ``inputs.farmers``), e.g. with the loan
        amounts of a past season.
    credit_history : ``prior_loans`` / ``prior_defaults`` per farmer where farmers.csv has none.
    workers : where the imagery items are reduced: local processes or a
        :class:`~agririsk.parallel.Parallel` (e.g. a Dask cluster); same results either way.

    Notes
    -----
    Once ``season`` has begun (``as_of`` after its start) and at least
    ``MIN_CLEAR_VIEWS`` images of it were acquired by ``as_of``, its parcels are classified
    by crop type from those images against the declared crops
    (:func:`agririsk.crop_models.declared.crop_checks`, cross-fitted by farmer) and the
    result joins the features (:data:`CROP_CHECK_FEATURES`); otherwise those are NaN /
    empty. The past-season features never see the season's images.
    """
    farmers = inputs.farmers if farmers is None else farmers
    known = [it for it in inputs.items if _day(it) <= as_of]
    seasons = past_seasons(season, as_of, known)
    used = [it for it in known if _in_any(it, seasons)]
    # the season's images, with the margin before its start that the crop-type features read
    margin = dt.timedelta(days=CROPTYPE_MARGIN_DAYS)
    window = Season(season.start - margin, season.end + margin)
    in_season = [it for it in known if window.contains(_day(it))] if as_of > season.start else []
    classify = len(in_season) >= MIN_CLEAR_VIEWS
    logger.info(
        "as of %s: %d imagery items in %d past seasons (%s)%s",
        as_of, len(used), len(seasons), ", ".join(str(s.start.year) for s in seasons) or "none",
        f", {len(in_season)} in the season under way" if classify else "",
    )
    parcels = inputs.parcels
    read = used + (in_season if classify else [])
    if read and not parcels.empty:
        series = parcel_series(read, parcels, workspace, workers=workers, progress=progress, report=inputs.report)
    else:
        series = pd.DataFrame(columns=["parcel_id", "item_id", "datetime", "clear_fraction", "ndvi_mean"])
    past = series[series["item_id"].isin({it.id for it in used})]
    ps = parcel_season_table(past, parcels, seasons)
    features = farm_features(parcels, farmers, ps, credit_history=credit_history)
    crop_table = None
    if classify and not parcels.empty:
        # the past seasons' images give each parcel's rotation group (docs/crop-identification.md)
        crop_table = _crop_identification(series, parcels, ps, [*seasons, season], season, as_of, inputs.report)
    features = features.join(crop_check_features(crop_table, features.index))
    features["seasons_total"] = len(seasons)
    weather = _weather_history(region, inputs, farmers, seasons, as_of) if region is not None else None
    for col in WEATHER_FEATURES:
        features[col] = weather[col].reindex(features.index) if weather is not None and col in weather else np.nan
    n_used = len(read) if classify else len(used)
    return Evidence(features, _data_quality(features, len(seasons)), ps, seasons, n_used, crop_table)


def _crop_identification(
    series: pd.DataFrame, parcels: gpd.GeoDataFrame, ps: pd.DataFrame, seasons: list[Season], season: Season,
    as_of: dt.date, report: Report,
) -> pd.DataFrame | None:
    """The season's parcels classified by crop type from its images up to ``as_of`` (and the past ``seasons``').

    Returns the season's rows of :func:`~agririsk.crop_models.declared.crop_checks`, or
    None (reported) when the classifier cannot be built; it never stops the score.
    """
    try:
        table, _ = crop_checks(series, parcels, seasons, as_of=as_of, current=season, parcel_seasons=ps)
    except (AgririskError, ValueError) as exc:
        report.warning("parcels", f"season {season.start}: crop identification",
                       f"crop types of the season could not be identified, crop factors left out: {exc}",
                       "check the parcels' declared crops (two crops or more, 30 fields or more)")
        return None
    return table[table["current"]].reset_index(drop=True)


def parcel_season_table(series: pd.DataFrame, parcels: gpd.GeoDataFrame, seasons: list[Season]) -> pd.DataFrame:
    """Phenology and health of every parcel in every past season (``crop_models.season_table``).

    Parcels without any observation in a season get a row with ``data_quality`` =
    ``insufficient_imagery`` and no values. Adds ``observed`` (``data_quality == "ok"``)
    and ``peak_pct`` (the season-integral percentile among same-crop fields) for the farm
    features.
    """
    crops = parcels.set_index("parcel_id")["declared_crop"]
    grid = pd.MultiIndex.from_product([parcels["parcel_id"], [s.start for s in seasons]], names=["parcel_id", "season_start"])
    if series.empty or not seasons:
        table = pd.DataFrame(index=grid).reset_index()
    else:
        table = season_table(series, seasons, crops, area_ha=mapped_area_ha(parcels))
        table = table.set_index(["parcel_id", "season_start"]).reindex(grid).reset_index()
    if "data_quality" not in table:
        table["data_quality"] = np.nan
    table["data_quality"] = table["data_quality"].fillna("insufficient_imagery")
    table["observed"] = table["data_quality"].eq("ok")
    table["peak_pct"] = table["productivity_pct"] if "productivity_pct" in table else np.nan
    if "peak_ndvi" not in table:
        table["peak_ndvi"] = np.nan
    return table


def _weather_history(
    region: Region, inputs: RegionInputs, farmers: pd.DataFrame, windows: list[Season], as_of: dt.date
) -> pd.DataFrame | None:
    """Per farmer: drought frequency and water-limited relative yield in the past seasons.

    The past seasons are those the imagery covers, so that both kinds of evidence speak of
    the same years. Weather that cannot be used is reported and the weather factors are
    left out; it never stops the score.
    """
    parcels = inputs.parcels
    if not windows or parcels.empty:
        return None
    irrigated_farm = farmers.set_index("farmer_id")["irrigated"] if "irrigated" in farmers else pd.Series(dtype=bool)
    irrigated = parcels["farmer_id"].map(irrigated_farm).astype("boolean").fillna(False).astype(bool)
    irrigated = pd.Series((irrigated | parcels["declared_crop"].eq("rice")).to_numpy(), index=parcels["parcel_id"].to_numpy())
    try:
        exposure = weather_exposure(region, parcels, inputs.report, seasons=windows, as_of=as_of, irrigated=irrigated)
    except AgririskError as exc:
        inputs.report.warning(str(region.path), "[weather]", f"weather not usable, weather factors left out: {exc}",
                              "run 'agririsk validate' and fix the weather files")
        return None
    return farm_weather_history(exposure, parcels)


def score_region(
    region: Region,
    *,
    as_of: dt.date | None = None,
    workspace: Path | None = None,
    workers: int | Parallel = 1,
    progress: Progress | None = None,
    model: TrainedScorecard | None = None,
    scorecard: ExpertScorecard | None = None,
    report: Report | None = None,
) -> ScoreRun:
    """Pre-loan scores for every farmer of ``region`` from what was known on ``as_of``.

    Parameters
    ----------
    region : the region.
    as_of : decision date (default ``region.season.start``); no imagery acquired after it
        is read.
    workspace : where per-item parcel statistics are cached (default ``.agririsk/`` beside
        region.toml).
    workers : processes for the imagery reduction, or a :class:`~agririsk.parallel.Parallel`
        (e.g. ``Parallel.cluster("tcp://host:8786")`` for a Dask cluster).
    progress : called as ``progress(items_done, items_total)``.
    model : a trained model (``agririsk train``); without one, the expert scorecard.
    scorecard : an unfitted :class:`ExpertScorecard` (default parameters if None).
    report : collects input problems (a new one if None).

    Returns
    -------
    ScoreRun whose ``scores`` has one row per farmer (CONTRACTS.md §7 columns plus the
    indicators behind the score) and the farmer's fields as one MultiPolygon.
    """
    as_of = as_of or region.season.start
    workspace = Path(workspace) if workspace else region.default_workspace()
    inputs = load_inputs(region, until=as_of, report=report)
    ev = gather_evidence(
        inputs, region=region, season=region.season, as_of=as_of, workspace=workspace, workers=workers, progress=progress,
        credit_history=_credit_history(region, as_of, inputs.farmers["farmer_id"], inputs.report),
    )
    features, quality = ev.features, ev.quality
    scorable = quality.isin(["ok"]) | quality.str.startswith("limited")

    if model is not None:
        model.check_features(features)
        card = model
    else:
        card = scorecard if scorecard is not None else ExpertScorecard()
    pd_ = pd.Series(np.nan, index=features.index)
    reasons = pd.DataFrame("", index=features.index, columns=["reason_1", "reason_2", "reason_3"])
    if scorable.any():
        if model is None:
            card.fit(features[scorable])
        pd_[scorable] = card.predict_proba(features[scorable])[:, 1]
        reasons.loc[scorable] = card.reasons(features[scorable]).to_numpy()
    scores = pd.DataFrame(index=features.index)
    scores["pd"] = pd_.round(4)
    scores["score"] = np.where(pd_.notna(), pd_to_score(pd_.fillna(0.5).to_numpy()), np.nan)
    scores["grade"] = grade_of(pd_.to_numpy())
    decision = card.decide(pd_.to_numpy()) if scorable.any() else np.full(len(pd_), "review")
    scores["decision"] = np.where(quality == "ok", decision, "review")
    scores = scores.join(reasons)
    scores["data_quality"] = quality
    scores = scores.join(features)
    geoms = _farm_geometries(inputs.parcels).reindex(scores.index)
    out = gpd.GeoDataFrame(scores.reset_index(), geometry=geoms.to_numpy(), crs=inputs.parcels.crs)
    return ScoreRun(out, as_of, ev.seasons, ev.items_used, inputs.report, ev.parcel_seasons, ev.crop_table)


def _data_quality(features: pd.DataFrame, n_seasons: int) -> pd.Series:
    """``ok`` or a plain statement of why the score rests on too little evidence."""
    need = min(MIN_OBSERVED_SEASONS, n_seasons)
    observed = features["seasons_observed"].fillna(0).astype(int)
    q = pd.Series("ok", index=features.index, dtype=object)
    limited = observed < need
    q[limited] = [f"limited imagery: {o} of {n_seasons} past seasons observed" for o in observed[limited]]
    q[observed == 0] = (
        f"no clear imagery of the fields in the {n_seasons} past seasons" if n_seasons else "no imagery before the as-of date"
    )
    q[features["n_parcels"] == 0] = "no parcels mapped for this farmer"
    return q


def _farm_geometries(parcels: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Each farmer's fields as one MultiPolygon."""
    from shapely.geometry import MultiPolygon, Polygon

    def as_multi(geoms: gpd.GeoSeries) -> MultiPolygon:
        polys: list[Polygon] = []
        for g in geoms:
            polys.extend(getattr(g, "geoms", [g]))
        return MultiPolygon(polys)

    return parcels.groupby("farmer_id")["geometry"].apply(as_multi)
