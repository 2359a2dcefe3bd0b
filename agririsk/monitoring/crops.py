"""Crop-type checks during monitoring: the ``crop_mismatch`` alerts.

The season's parcels are classified against their declarations with
:func:`agririsk.crop_models.declared.crop_checks` (cross-fitted by farmer, parcels with
fewer than 6 clear views left out; docs/crop-identification.md), and
:func:`~agririsk.monitoring.detectors.crop_mismatch_conditions` turns a confident
contradicting prediction into a ``crop_mismatch`` condition. The monitoring run passes the
images of earlier years too (``past_items``): the parcels' past seasons give their rotation
group, which may settle the predicted crop but never raises an alert by itself (the
predictions' ``probability`` is capped at the current season's own, see
:func:`agririsk.crop_models.declared.crop_predictions`).

When
----
A classification reads the season's per-parcel series and fits one random forest per
cross-fitting fold (5 folds; each forest cleans its labels with its own out-of-bag votes
and refits once at most, plus three small forests of the past seasons): about 4 s of CPU
for 250 parcels (3.1 s without the past seasons; the first check also reduces the past
years' items once, after which they are cached), several times a monitoring run's
reduction of one new item, and early in the season it says little (the crops
differ most in when they peak and senesce). So a run classifies only

- from :func:`first_check_date`: 30 days after the calendar peak (``sowing_doy +
  days_to_peak``) of the latest-peaking crop declared in the region, when every declared
  crop has shown its peak and the start of its senescence (an a-priori date from the crop
  calendar of ``agririsk/data/crops.csv``, not fitted to any truth);
- and then at most every ``CHECK_EVERY_DAYS`` (30) days.

The predictions are kept in the store (``crop_predictions``; ``meta.crop_check_as_of``)
and the runs in between raise their ``crop_mismatch`` conditions from them, so a run that
only reads a new item never classifies.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

from agririsk.imagery import SceneItem
from agririsk.inputs import Report
from agririsk.parallel import Parallel
from agririsk.region import Season

__all__ = ["CHECK_AFTER_PEAK_DAYS", "CHECK_EVERY_DAYS", "first_check_date", "check_due", "classify"]

logger = logging.getLogger(__name__)

#: the first check waits until the latest declared crop is this many days past its calendar peak
CHECK_AFTER_PEAK_DAYS = 30
#: days between two checks
CHECK_EVERY_DAYS = 30


def first_check_date(declared: pd.Series, season: Season) -> dt.date:
    """Calendar peak + ``CHECK_AFTER_PEAK_DAYS`` of the latest-peaking declared crop."""
    from agririsk.crop_models.crops import crop_params

    year = season.start.year
    latest = max(
        (crop_params(str(c)).sowing_doy + crop_params(str(c)).days_to_peak for c in set(declared)),
        default=180,
    )
    return dt.date(year, 1, 1) + dt.timedelta(days=latest - 1 + CHECK_AFTER_PEAK_DAYS)


def check_due(
    declared: pd.Series, season: Season, as_of: dt.date, last_check: dt.date | None
) -> bool:
    """Whether a run at ``as_of`` classifies the season's crops (see the module notes)."""
    if not season.contains(as_of) or as_of < first_check_date(declared, season):
        return False
    return last_check is None or (as_of - last_check).days >= CHECK_EVERY_DAYS


def classify(
    items: list[SceneItem],
    parcels: gpd.GeoDataFrame,
    workspace: Path,
    season: Season,
    as_of: dt.date,
    report: Report,
    *,
    workers: int | Parallel = 1,
    estimator: object | None = None,
    past_items: list[SceneItem] | None = None,
) -> pd.DataFrame:
    """Predicted crop of the season's parcels at ``as_of``: ``parcel_id, crop, probability, date``.

    Empty when nothing could be classified; a classifier that cannot be built (too few
    usable fields, a single declared crop) is reported as a warning, not raised.
    ``estimator``: an unfitted classifier for ``crop_checks`` (default its
    :class:`~agririsk.crop_models.croptype.CropTypeClassifier`). ``past_items``: images
    of earlier years; the season's window in the latest years (``PAST_SEASONS``) that ended before
    ``as_of`` gives each parcel's rotation group (docs/crop-identification.md). Without
    them the season's images alone are classified. Either way the ``probability`` of a
    crop is capped at what the season's images alone give it, so a ``crop_mismatch``
    alert never rests on the past seasons alone.
    """
    from agririsk.crop_models.croptype import PAST_SEASONS
    from agririsk.crop_models.declared import crop_checks, crop_predictions
    from agririsk.errors import AgririskError
    from agririsk.imagery import parcel_series

    empty = pd.DataFrame(columns=["parcel_id", "crop", "probability", "date"])
    if not items or parcels.empty:
        return empty
    past = [
        s for s in (season.shifted_years(-k) for k in range(PAST_SEASONS, 0, -1)) if s.end < as_of
    ]
    old = [
        it
        for it in past_items or []
        if any(s.contains(pd.Timestamp(it.datetime).date()) for s in past)
    ]
    series = parcel_series([*old, *items], parcels, workspace, workers=workers, report=report)
    try:
        table, _ = crop_checks(
            series,
            parcels,
            [*past, season] if old else [season],
            as_of=as_of,
            current=season,
            estimator=estimator,  # type: ignore[arg-type]
        )
    except (AgririskError, ValueError) as exc:
        report.warning(
            "crop check",
            as_of.isoformat(),
            f"the season's crops could not be classified ({exc}); no crop_mismatch alerts this run",
            "Nothing to do if the region has few fields or a single crop; otherwise check the declarations.",
        )
        return empty
    return crop_predictions(table, date=as_of)
