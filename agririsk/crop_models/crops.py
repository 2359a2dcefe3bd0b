"""The crop parameter table shipped with agririsk (``agririsk/data/crops.csv``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

import pandas as pd

__all__ = ["CropParams", "crop_table", "crop_params", "KNOWN_CROPS"]


@dataclass(frozen=True)
class CropParams:
    """Planning parameters of one crop; see ``agririsk/data/README.md`` for units and sources."""

    crop: str
    sowing_doy: int
    emergence_days: int
    days_to_peak: int
    season_days: int
    ndvi_peak: float
    yield_t_ha: float
    price_per_t: float
    cost_per_ha: float
    kc_ini: float
    kc_mid: float
    kc_end: float
    ky: float

    @property
    def revenue_per_ha(self) -> float:
        """Gross revenue of a normal season, currency per hectare."""
        return self.yield_t_ha * self.price_per_t


@cache
def crop_table() -> pd.DataFrame:
    """The crop table indexed by crop name (a copy is safe to modify)."""
    with resources.files("agririsk.data").joinpath("crops.csv").open("r") as fh:
        table = pd.read_csv(fh)
    return table.set_index("crop")


KNOWN_CROPS: tuple[str, ...] = ("maize", "soybean", "rice", "wheat", "cotton", "other")


def crop_params(crop: str) -> CropParams:
    """Parameters of ``crop``; crops not in the table get the ``other`` row."""
    table = crop_table()
    key = crop if crop in table.index else "other"
    row = table.loc[key].to_dict()
    return CropParams(
        crop=key,
        **{f.name: _CASTS[f.type](row[f.name]) for f in fields(CropParams) if f.name != "crop"},
    )


_CASTS = {"int": int, "float": float}
