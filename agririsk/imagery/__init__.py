"""The imagery room: STAC items in, per-parcel vegetation statistics out.

>>> items = load_items("imagery/catalog.json", until=datetime(2026, 4, 15))   # doctest: +SKIP
>>> table = parcel_series(items, parcels, Path(".agririsk"), workers=2)        # doctest: +SKIP
>>> cube = open_cube(region, parcel_id="P1", start="2026-05-01")               # doctest: +SKIP

Names are imported on first use, so that ``agririsk --help`` (which builds the
``classify`` parser from :mod:`agririsk.imagery.classify_cli`) does not load xarray and
the rest of the imagery stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agririsk._lazy import lazy_exports

_EXPORTS = {
    "open_cube": "agririsk.imagery.cube",
    "evi": "agririsk.imagery.indices",
    "ndmi": "agririsk.imagery.indices",
    "ndvi": "agririsk.imagery.indices",
    "ndwi": "agririsk.imagery.indices",
    "cloud_mask": "agririsk.imagery.masks",
    "dilate": "agririsk.imagery.masks",
    "qa_pixel_clear": "agririsk.imagery.masks",
    "scl_clear": "agririsk.imagery.masks",
    "parcel_series": "agririsk.imagery.series",
    "BandAsset": "agririsk.imagery.stac",
    "SceneItem": "agririsk.imagery.stac",
    "load_items": "agririsk.imagery.stac",
    "COLUMNS": "agririsk.imagery.stats",
    "INDICES": "agririsk.imagery.stats",
    "hist_quantiles": "agririsk.imagery.stats",
    "merge_same_day": "agririsk.imagery.stats",
    "ALGORITHM_VERSION": "agririsk.imagery.zonal",
    "CLOUD_BUFFER_M": "agririsk.imagery.zonal",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # static names for type checkers and IDEs
    from agririsk.imagery.cube import open_cube  # noqa: F401
    from agririsk.imagery.indices import evi, ndmi, ndvi, ndwi  # noqa: F401
    from agririsk.imagery.masks import cloud_mask, dilate, qa_pixel_clear, scl_clear  # noqa: F401
    from agririsk.imagery.series import parcel_series  # noqa: F401
    from agririsk.imagery.stac import BandAsset, SceneItem, load_items  # noqa: F401
    from agririsk.imagery.stats import COLUMNS, INDICES, hist_quantiles, merge_same_day  # noqa: F401
    from agririsk.imagery.zonal import ALGORITHM_VERSION, CLOUD_BUFFER_M  # noqa: F401


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
