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
from typing import TYPE_CHECKING

from agririsk._lazy import lazy_exports

# imported here, not on first use: the function shares its submodule's name, and importing
# the submodule anywhere would otherwise leave the package attribute the module (cheap:
# numpy, pandas, xarray)
from agririsk.crop_models.phenology import phenology

if TYPE_CHECKING:  # static names for type checkers and IDEs
    import pandas as pd

    from agririsk.crop_models.crops import CropParams, crop_params, crop_table  # noqa: F401
    from agririsk.crop_models.croptype import (  # noqa: F401
        CropTypeClassifier,
        croptype_features,
        cross_fit_proba,
    )
    from agririsk.crop_models.declared import (  # noqa: F401
        crop_checks,
        crop_predictions,
        overstatement,
    )
    from agririsk.crop_models.health import condition_at, health_indicators  # noqa: F401
    from agririsk.crop_models.smoothing import (  # noqa: F401
        DEFAULT_LAMBDA,
        smooth_series,
        whittaker,
    )
    from agririsk.region import Season

# Names are imported on first use: a monitoring run needs the crop calendar
# (:mod:`agririsk.crop_models.crops`) on every run but the classifier (scikit-learn, ~0.9 s
# to import) only when it checks the crops.
_EXPORTS = {
    "CropParams": "agririsk.crop_models.crops",
    "crop_params": "agririsk.crop_models.crops",
    "crop_table": "agririsk.crop_models.crops",
    "CropTypeClassifier": "agririsk.crop_models.croptype",
    "croptype_features": "agririsk.crop_models.croptype",
    "cross_fit_proba": "agririsk.crop_models.croptype",
    "crop_checks": "agririsk.crop_models.declared",
    "crop_predictions": "agririsk.crop_models.declared",
    "overstatement": "agririsk.crop_models.declared",
    "condition_at": "agririsk.crop_models.health",
    "health_indicators": "agririsk.crop_models.health",
    "DEFAULT_LAMBDA": "agririsk.crop_models.smoothing",
    "smooth_series": "agririsk.crop_models.smoothing",
    "whittaker": "agririsk.crop_models.smoothing",
}

__all__ = sorted([*_EXPORTS, "phenology", "season_table"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def season_table(
    series: pd.DataFrame,
    seasons: Iterable[Season],
    crops: pd.Series | pd.DataFrame | None = None,
    *,
    area_ha: pd.Series | None = None,
    value: str | None = None,
    lam: float | None = None,
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
    lam : Whittaker smoothing parameter (daily grid); default
        :data:`~agririsk.crop_models.smoothing.DEFAULT_LAMBDA`.

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
    from agririsk.crop_models.health import health_indicators
    from agririsk.crop_models.smoothing import DEFAULT_LAMBDA, smooth_series

    seasons = list(seasons)
    daily = smooth_series(series, seasons, value=value, lam=DEFAULT_LAMBDA if lam is None else lam)
    phen = phenology(daily, crops)
    health = health_indicators(daily, phen, crops, series=series, area_ha=area_ha)
    return phen.merge(health, on=["parcel_id", "season_start"], how="left", validate="1:1")
