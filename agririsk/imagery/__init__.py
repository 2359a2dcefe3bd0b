"""The imagery room: STAC items in, per-parcel vegetation statistics out.

>>> items = load_items("imagery/catalog.json", until=datetime(2026, 4, 15))   # doctest: +SKIP
>>> table = parcel_series(items, parcels, Path(".agririsk"), workers=2)        # doctest: +SKIP
"""

from agririsk.imagery.indices import evi, ndmi, ndvi, ndwi
from agririsk.imagery.masks import qa_pixel_clear, scl_clear
from agririsk.imagery.series import parcel_series
from agririsk.imagery.stac import BandAsset, SceneItem, load_items
from agririsk.imagery.zonal import ALGORITHM_VERSION, COLUMNS

__all__ = [
    "ALGORITHM_VERSION",
    "COLUMNS",
    "BandAsset",
    "SceneItem",
    "evi",
    "load_items",
    "ndmi",
    "ndvi",
    "ndwi",
    "parcel_series",
    "qa_pixel_clear",
    "scl_clear",
]
