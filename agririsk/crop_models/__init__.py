"""The crop-models room: parcel time series in, phenology and crop-health indicators out.

>>> table = season_table(series, seasons, crops, area_ha=area)          # doctest: +SKIP
>>> daily = smooth_series(series, seasons)                               # doctest: +SKIP
>>> phen = phenology(daily, crops)                                       # doctest: +SKIP
>>> health = health_indicators(daily, phen, crops, series=series)       # doctest: +SKIP

Methods and references: ``docs/crop-models.md``. The foundation's simple indicators
remain importable from :mod:`agririsk.crop_models.seasons`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from agririsk.crop_models.crops import CropParams, crop_params, crop_table
from agririsk.crop_models.croptype import CropTypeClassifier, croptype_features, cross_fit_proba
from agririsk.crop_models.declared import crop_checks, crop_predictions, overstatement
from agririsk.crop_models.health import condition_at, health_indicators
from agririsk.crop_models.phenology import phenology
from agririsk.crop_models.smoothing import DEFAULT_LAMBDA, smooth_series, whittaker
from agririsk.region import Season

__all__ = [
    "CropParams",
    "CropTypeClassifier",
    "crop_checks",
    "crop_predictions",
    "croptype_features",
    "cross_fit_proba",
    "overstatement",
    "condition_at",
    "crop_params",
    "crop_table",
    "health_indicators",
    "phenology",
    "season_table",
    "smooth_series",
    "whittaker",
]


def season_table(
    series: pd.DataFrame,
    seasons: Iterable[Season],
    crops: pd.Series | pd.DataFrame | None = None,
    *,
    area_ha: pd.Series | None = None,
    value: str | None = None,
    lam: float = DEFAULT_LAMBDA,
) -> pd.DataFrame:
    """Phenology and health of every parcel and season, in one call.

    Parameters
    ----------
    series : tidy parcel series of :func:`agririsk.imagery.parcel_series`.
    seasons : season windows (e.g. the financed season and the same window in past years).
    crops : crop per parcel (Series indexed by ``parcel_id``, e.g. the declared crop) or
        per parcel and season (MultiIndex ``(parcel_id, season start date)``).
    area_ha : parcel area in hectares (index ``parcel_id``) for ``measured_area_ha``.
    value : index column to smooth; default ``ndvi_p50`` if present, else ``ndvi_mean``.
    lam : Whittaker smoothing parameter (daily grid).

    Returns
    -------
    DataFrame, one row per parcel and season: the columns of
    :func:`~agririsk.crop_models.phenology.phenology` (``parcel_id, season_start,
    season_end, n_obs, has_cycle, data_quality, base_ndvi, peak_ndvi, amplitude``,
    dates, ``season_integral``, gap lengths) followed by those of
    :func:`~agririsk.crop_models.health.health_indicators` (``crop, vci, condition_z,
    peer_anomaly, productivity_pct, stability_cv, cropped_fraction,
    measured_area_ha``). Rows with ``data_quality == "insufficient_imagery"`` carry
    no dates nor indicators.
    """
    seasons = list(seasons)
    daily = smooth_series(series, seasons, value=value, lam=lam)
    phen = phenology(daily, crops)
    health = health_indicators(daily, phen, crops, series=series, area_ha=area_ha)
    return phen.merge(health, on=["parcel_id", "season_start"], how="left", validate="1:1")
