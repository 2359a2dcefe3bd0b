"""Farm features: one row per farmer, from parcels, their season indicators and the farmer record.

``scoring`` knows nothing of pixels: it receives per-parcel, per-season indicators from
:mod:`agririsk.crop_models` and turns them into farm-level numbers a scorecard can read.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from agririsk.crop_models.crops import crop_table

__all__ = [
    "farm_features",
    "crop_check_features",
    "peer_productivity",
    "mapped_area_ha",
    "FEATURE_COLUMNS",
    "FEATURE_SET_VERSION",
    "WEATHER_FEATURES",
    "CROP_CHECK_FEATURES",
]

logger = logging.getLogger(__name__)

#: below this peak percentile a season counts as a poor one for the farm
POOR_SEASON_PCT = 20.0
#: share of a farm's area that must be observed for the farm's season to count
MIN_OBSERVED_AREA_SHARE = 0.5

#: neighbouring fields within this distance (m, centroid to centroid) are a field's peers
PEER_RADIUS_M = 1000.0
#: fewer peers (fields of other farmers) than this: the field-season has no peer comparison
MIN_PEERS = 3
#: crops that rotate with each other share a peer group: a past season's crop is not
#: declared (the declaration is this season's), and maize-soybean rotation is the norm
ROTATION_GROUPS = {"maize": "maize/soybean", "soybean": "maize/soybean"}

#: changes whenever a feature's meaning changes; trained models record it and are refused otherwise
FEATURE_SET_VERSION = "farm-features-5"

FEATURE_COLUMNS = [
    "n_parcels",
    "main_crop",
    "mapped_area_ha",
    "cropped_area_ha",
    "declared_area_ha",
    "area_ratio",
    "expected_revenue",
    "loan_amount",
    "loan_burden",
    "seasons_total",
    "seasons_observed",
    "productivity_pct",
    "peer_productivity",
    "poor_seasons",
    "peak_ndvi_mean",
    "peak_ndvi_cv",
    "prior_loans",
    "prior_defaults",
    "thin_file",
    "irrigated",
    "insured",
    "cooperative_member",
]

#: per-farmer weather history (``agririsk.weather.exposure.farm_weather_history``), joined by the pipeline
WEATHER_FEATURES = [
    "weather_seasons",
    "weather_drought_frequency",
    "weather_relative_yield_mean",
    "weather_relative_yield_sd",
]

#: the current season's crop identification per farmer (:func:`crop_check_features`), joined
#: by the pipeline; NaN / empty when the season was not classified (e.g. a pre-loan score)
CROP_CHECK_FEATURES = [
    "fields_crop_checked",
    "crop_mismatch_share",
    "crop_mismatch_fields",
    "predicted_crops",
]


def mapped_area_ha(parcels: gpd.GeoDataFrame) -> pd.Series:
    """Area of each parcel's geometry in hectares, computed in a local UTM projection.

    Parameters
    ----------
    parcels : polygons in any CRS with a ``parcel_id`` column.

    Returns
    -------
    Series indexed by ``parcel_id``.
    """
    projected = parcels.to_crs(parcels.estimate_utm_crs()) if parcels.crs.is_geographic else parcels
    return pd.Series(projected.geometry.area.to_numpy() / 1e4, index=parcels["parcel_id"].to_numpy())


def farm_features(
    parcels: gpd.GeoDataFrame,
    farmers: pd.DataFrame,
    parcel_seasons: pd.DataFrame,
    *,
    credit_history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Aggregate parcel-season indicators and farmer records into one row per farmer.

    Parameters
    ----------
    parcels : ``parcel_id``, ``farmer_id``, ``declared_crop``, ``declared_area_ha``, geometry.
    farmers : the farmer table (``farmer_id``, ``loan_amount`` and optional columns of
        CONTRACTS.md §4), without personal data.
    parcel_seasons : output of :func:`agririsk.crop_models.seasons.relative_productivity`
        for the past seasons only (nothing after the as-of date).
    credit_history : optional per-farmer ``prior_loans`` / ``prior_defaults`` derived from the
        loan history; used where farmers.csv leaves them empty.

    Returns
    -------
    DataFrame indexed by ``farmer_id`` with :data:`FEATURE_COLUMNS`.

    Notes
    -----
    - ``cropped_area_ha``: the measured cropped area, per parcel the median over observed
      past seasons of ``measured_area_ha`` in ``parcel_seasons`` (the share of the parcel
      that shows a crop cycle × its area); the outline's area where never observed.
    - ``area_ratio`` = declared area / cropped area (sum over the farmer's parcels); a farmer
      who declares 60 % more land than their fields grow crops on has 1.6. It is the
      ``overstatement_ratio`` of :func:`agririsk.crop_models.declared.overstatement` except
      that a parcel never observed counts with its outline's area instead of being left
      out; the scorecard flags it at the same level (``OVERSTATEMENT_FLAG`` = 1.3).
    - ``expected_revenue`` = Σ cropped area × attainable yield × price of the declared crop
      (``agririsk/data/crops.csv``); ``loan_burden`` = loan amount / expected revenue.
    - ``productivity_pct``: area-weighted mean, over observed past seasons, of each field's
      season-peak NDVI percentile among fields of the same crop (50 = median field).
    - ``peak_ndvi_cv``: coefficient of variation of the farm's area-weighted season peak
      across observed seasons (needs two), a measure of instability between years.
    - ``peer_productivity``: how far the farm's fields peaked above (+) or below (−) their
      neighbours, in NDVI units; see :func:`peer_productivity`.
    """
    crops = crop_table()
    p = pd.DataFrame(
        {
            "parcel_id": parcels["parcel_id"].to_numpy(),
            "farmer_id": parcels["farmer_id"].to_numpy(),
            "crop": parcels["declared_crop"].where(parcels["declared_crop"].isin(crops.index), "other").to_numpy(),
            "declared_area_ha": pd.to_numeric(parcels.get("declared_area_ha"), errors="coerce").to_numpy()
            if "declared_area_ha" in parcels
            else np.nan,
        }
    )
    p["mapped_area_ha"] = mapped_area_ha(parcels).to_numpy()
    p["cropped_area_ha"] = p["parcel_id"].map(_cropped_area(parcel_seasons)).fillna(p["mapped_area_ha"])
    p["revenue"] = p["cropped_area_ha"] * p["crop"].map(crops["yield_t_ha"] * crops["price_per_t"])

    by_farm = p.groupby("farmer_id")
    out = pd.DataFrame(index=pd.Index(farmers["farmer_id"].astype(str), name="farmer_id"))
    out["n_parcels"] = by_farm.size().reindex(out.index).fillna(0).astype(int)
    out["main_crop"] = (
        p.groupby(["farmer_id", "crop"])["mapped_area_ha"].sum().reset_index()
        .sort_values("mapped_area_ha").groupby("farmer_id").tail(1).set_index("farmer_id")["crop"]
    ).reindex(out.index)
    out["mapped_area_ha"] = by_farm["mapped_area_ha"].sum().reindex(out.index)
    out["cropped_area_ha"] = by_farm["cropped_area_ha"].sum().reindex(out.index)
    declared = by_farm["declared_area_ha"].sum(min_count=1).reindex(out.index)
    out["declared_area_ha"] = declared
    out["area_ratio"] = declared / out["cropped_area_ha"].where(out["cropped_area_ha"] > 0)
    out["expected_revenue"] = by_farm["revenue"].sum().reindex(out.index)
    loans = farmers.set_index(farmers["farmer_id"].astype(str))["loan_amount"].astype(float)
    out["loan_amount"] = loans.reindex(out.index)
    out["loan_burden"] = out["loan_amount"] / out["expected_revenue"].where(out["expected_revenue"] > 0)

    out = out.join(_season_aggregates(p, parcel_seasons))
    out["peer_productivity"] = peer_productivity(parcels, parcel_seasons).reindex(out.index)

    rec = farmers.set_index(farmers["farmer_id"].astype(str))
    for col in ("prior_loans", "prior_defaults"):
        values = pd.to_numeric(rec[col], errors="coerce") if col in rec else pd.Series(np.nan, index=rec.index)
        if credit_history is not None and col in credit_history:
            values = values.fillna(credit_history[col].reindex(values.index))
        out[col] = values.reindex(out.index).astype("Float64")
    out["thin_file"] = out["prior_loans"].isna() | (out["prior_loans"] == 0)
    for col in ("irrigated", "insured", "cooperative_member"):
        out[col] = rec[col].reindex(out.index).astype("boolean") if col in rec else pd.NA
    return out[FEATURE_COLUMNS]


def _cropped_area(parcel_seasons: pd.DataFrame) -> pd.Series:
    """Each parcel's measured cropped area: the largest over its observed past seasons.

    The measurement is the share of the parcel green enough to show a crop cycle; a
    season of crop failure (hail, flood, a crop that never emerged) reads as land not
    cropped although it was sown, so the largest season is the area the farmer is seen
    to crop (docs/crop-identification.md §5: with the median, 21 of 836 honest farms of
    nine sample regions were flagged as over-declaring, all by failed seasons; with the
    largest, none, and every planted over-declarer is still caught).
    """
    if "measured_area_ha" not in parcel_seasons or parcel_seasons.empty:
        return pd.Series(dtype=float)
    ok = parcel_seasons[parcel_seasons["observed"].astype(bool)]
    return ok.groupby("parcel_id")["measured_area_ha"].max()


def _season_aggregates(p: pd.DataFrame, parcel_seasons: pd.DataFrame) -> pd.DataFrame:
    """Farm-season aggregates (area-weighted), then across seasons."""
    cols = ["seasons_total", "seasons_observed", "productivity_pct", "poor_seasons", "peak_ndvi_mean", "peak_ndvi_cv"]
    if parcel_seasons.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="farmer_id"))
    ps = parcel_seasons.merge(p[["parcel_id", "farmer_id", "mapped_area_ha"]], on="parcel_id", how="inner")
    ps["w"] = ps["mapped_area_ha"].where(ps["observed"], 0.0)
    ps["w_pct"] = ps["w"] * ps["peak_pct"].fillna(0)
    ps["w_peak"] = ps["w"] * ps["peak_ndvi"].fillna(0)
    fs = ps.groupby(["farmer_id", "season_start"]).agg(
        w=("w", "sum"), w_pct=("w_pct", "sum"), w_peak=("w_peak", "sum"), area=("mapped_area_ha", "sum")
    )
    fs["observed"] = fs["w"] >= MIN_OBSERVED_AREA_SHARE * fs["area"]
    fs["pct"] = (fs["w_pct"] / fs["w"]).where(fs["observed"])
    fs["peak"] = (fs["w_peak"] / fs["w"]).where(fs["observed"])
    g = fs.groupby("farmer_id")
    agg = pd.DataFrame(
        {
            "seasons_total": g.size(),
            "seasons_observed": g["observed"].sum().astype(int),
            "productivity_pct": g["pct"].mean(),
            "poor_seasons": g["pct"].apply(lambda s: int((s < POOR_SEASON_PCT).sum())),
            "peak_ndvi_mean": g["peak"].mean(),
            "peak_ndvi_cv": g["peak"].std(ddof=1) / g["peak"].mean(),
        }
    )
    return agg[cols]


def peer_productivity(
    parcels: gpd.GeoDataFrame, parcel_seasons: pd.DataFrame, *, radius_m: float = PEER_RADIUS_M
) -> pd.Series:
    """Each farm's season peak against its neighbours' in the same seasons (NDVI units).

    Parameters
    ----------
    parcels : ``parcel_id``, ``farmer_id``, ``declared_crop`` and geometry (any CRS).
    parcel_seasons : past-season rows with ``parcel_id``, ``season_start``, ``observed``
        and ``peak_ndvi``.
    radius_m : a field's peers are the observed fields of *other* farmers of the same
        crop group within this distance, in the same season.

    Returns
    -------
    Series indexed by ``farmer_id``: the median over the farm's observed field-seasons of
    ``peak_ndvi − median peak of the peers``; absent for a farm none of whose
    field-seasons has :data:`MIN_PEERS` peers. The median, not the mean: one field hit
    by hail or a flood in one season is bad luck, not management, and must not set the
    farm's value (measured on sample regions 11-13: correlation with the generator's
    farmer skill 0.53 / 0.66 / 0.53 with the median, 0.48 / 0.58 / 0.46 with the
    area-weighted mean, against 0.30 / 0.31 / 0.34 for ``productivity_pct``).

    Notes
    -----
    The farm's own productivity (``productivity_pct``) ranks it against the whole region,
    so it mixes the farmer with the place: soil and root-zone water are spatially smooth,
    and neighbours share the season's weather. Against fields a few hundred metres away
    in the same season, what is left is mostly the farmer's management: the same farmer
    peaking below the neighbours season after season is a weak manager, not unlucky. The
    crop group is the declared crop, with rotation partners pooled
    (:data:`ROTATION_GROUPS`): a past season's crop is not known from the declaration,
    and maize and soybean peak at similar greenness (``ndvi_peak`` 0.86 and 0.84 in
    ``agririsk/data/crops.csv``). Season peaks, not season integrals, are compared: the
    integral depends on the crop's season length, which rotation changes. The farmer's
    own other fields are never peers (they share the farmer). This is the yield-gap
    idea of comparing a farm with its neighbours on the same soil and weather (Lobell
    2013, *Field Crops Research* 143:56-64, on satellite yield-gap estimates).
    """
    cols = {"parcel_id", "season_start", "observed", "peak_ndvi"}
    if parcel_seasons.empty or not cols <= set(parcel_seasons.columns) or parcels.empty:
        return pd.Series(dtype=float, name="peer_productivity")
    projected = parcels.to_crs(parcels.estimate_utm_crs()) if parcels.crs.is_geographic else parcels
    centroids = projected.geometry.centroid
    crop = parcels["declared_crop"].astype(str)
    geo = pd.DataFrame(
        {
            "x": centroids.x.to_numpy(),
            "y": centroids.y.to_numpy(),
            "farmer_id": parcels["farmer_id"].astype(str).to_numpy(),
            "group": crop.map(ROTATION_GROUPS).fillna(crop).to_numpy(),
        },
        index=parcels["parcel_id"].to_numpy(),
    )
    ps = parcel_seasons[parcel_seasons["observed"].astype(bool)][["parcel_id", "season_start", "peak_ndvi"]]
    ps = ps.join(geo, on="parcel_id", how="inner")
    ps = ps[np.isfinite(ps["peak_ndvi"].to_numpy(dtype=float))].reset_index(drop=True)
    gap = np.full(len(ps), np.nan)
    for _, idx in ps.groupby(["season_start", "group"]).indices.items():
        g = ps.iloc[idx]
        xy = g[["x", "y"]].to_numpy(dtype=float)
        peak = g["peak_ndvi"].to_numpy(dtype=float)
        farmer = g["farmer_id"].to_numpy()
        for i, near in enumerate(cKDTree(xy).query_ball_point(xy, radius_m)):
            peers = [j for j in near if farmer[j] != farmer[i]]
            if len(peers) >= MIN_PEERS:
                gap[idx[i]] = peak[i] - np.median(peak[peers])
    gaps = pd.Series(gap, index=ps["farmer_id"].to_numpy()).dropna()
    return gaps.groupby(level=0).median().rename("peer_productivity").rename_axis("farmer_id")


def _crop_name(crop: str, declared: bool = False) -> str:
    """A crop in the reason's words: "other" is "another crop" seen, "other crop" declared."""
    if crop != "other":
        return crop
    return "other crop" if declared else "another crop"


def crop_check_features(parcel_table: pd.DataFrame | None, farmer_ids: pd.Index) -> pd.DataFrame:
    """The current season's crop identification as farm features (:data:`CROP_CHECK_FEATURES`).

    Parameters
    ----------
    parcel_table : first output of :func:`agririsk.crop_models.declared.crop_checks`
        (``parcel_id, farmer_id, current, declared_crop, predicted_crop, crop_mismatch``);
        None when the season was not classified (every farmer then has 0 fields checked).
    farmer_ids : the farmers to describe.

    Returns
    -------
    DataFrame indexed by ``farmer_id``:

    - ``fields_crop_checked``: the farmer's fields classified in the current season (0 when
      none; the season was then not checked);
    - ``crop_mismatch_share``: share of them whose confident prediction contradicts the
      declared crop (``crop_mismatch``); NaN when none was classified, never 0 by default;
    - ``crop_mismatch_fields``: the mismatches in words, e.g. ``"soybean, not the declared
      maize, on 2 of 3 fields"`` (empty when there is none);
    - ``predicted_crops``: the classified fields by predicted crop, e.g. ``"maize 2,
      soybean 1"`` (empty when none was classified).
    """
    index = pd.Index(farmer_ids.astype(str), name="farmer_id")
    out = pd.DataFrame(index=index)
    if parcel_table is None:
        parcel_table = pd.DataFrame(
            columns=["parcel_id", "farmer_id", "current", "declared_crop", "predicted_crop", "crop_mismatch"]
        )
    cur = parcel_table[parcel_table["current"].astype(bool) & parcel_table["predicted_crop"].notna()]
    cur = cur.assign(farmer_id=cur["farmer_id"].astype(str), predicted_crop=cur["predicted_crop"].astype(str))
    checked = cur.groupby("farmer_id").size().reindex(index).fillna(0).astype(int)
    flagged = cur[cur["crop_mismatch"].fillna(False).astype(bool)]
    n_flagged = flagged.groupby("farmer_id").size().reindex(index).fillna(0)
    out["fields_crop_checked"] = checked
    out["crop_mismatch_share"] = (n_flagged / checked.where(checked > 0)).astype(float)

    def mismatch_words(rows: pd.DataFrame) -> str:
        n = int(checked[rows.name])
        pairs = rows.groupby(["predicted_crop", "declared_crop"]).size().sort_values(ascending=False, kind="stable")
        return "; ".join(
            f"{_crop_name(pred)}, not the declared {_crop_name(str(decl), declared=True)}, on {k} of {n} field{'s' if n > 1 else ''}"
            for (pred, decl), k in pairs.items()
        )

    def crop_counts(rows: pd.DataFrame) -> str:
        counts = rows["predicted_crop"].value_counts()
        counts = counts.sort_index().sort_values(ascending=False, kind="stable")
        return ", ".join(f"{crop} {k}" for crop, k in counts.items())

    words = flagged.groupby("farmer_id")[["predicted_crop", "declared_crop"]].apply(mismatch_words)
    summary = cur.groupby("farmer_id")[["predicted_crop"]].apply(crop_counts)
    out["crop_mismatch_fields"] = words.reindex(index).fillna("").astype(str) if len(words) else ""
    out["predicted_crops"] = summary.reindex(index).fillna("").astype(str) if len(summary) else ""
    return out[CROP_CHECK_FEATURES]
