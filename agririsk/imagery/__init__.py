"""The imagery room: STAC items in, per-parcel vegetation statistics out.

>>> items = load_items("imagery/catalog.json", until=datetime(2026, 4, 15))   # doctest: +SKIP
>>> table = parcel_series(items, parcels, Path(".agririsk"), workers=2)        # doctest: +SKIP
>>> cube = open_cube(region, parcel_id="P1", start="2026-05-01")               # doctest: +SKIP
"""

from agririsk.imagery.cube import open_cube
from agririsk.imagery.indices import evi, ndmi, ndvi, ndwi
from agririsk.imagery.masks import cloud_mask, dilate, qa_pixel_clear, scl_clear
from agririsk.imagery.series import parcel_series
from agririsk.imagery.stac import BandAsset, SceneItem, load_items
from agririsk.imagery.stats import COLUMNS, INDICES, hist_quantiles, merge_same_day
from agririsk.imagery.zonal import ALGORITHM_VERSION, CLOUD_BUFFER_M

__all__ = [
    "ALGORITHM_VERSION",
    "CLOUD_BUFFER_M",
    "COLUMNS",
    "INDICES",
    "BandAsset",
    "SceneItem",
    "cloud_mask",
    "dilate",
    "evi",
    "hist_quantiles",
    "load_items",
    "merge_same_day",
    "ndmi",
    "ndvi",
    "ndwi",
    "open_cube",
    "parcel_series",
    "qa_pixel_clear",
    "scl_clear",
]
