"""The crop parameter table shipped with agririsk (``agririsk/data/crops.csv``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

import pandas as pd

__all__ = ["CropParams", "crop_table", "crop_params", "KNOWN_CROPS"]


@dataclass(frozen=True)
class CropParams:
    """Planning and crop-water parameters of one crop.

    See ``agririsk/data/README.md`` for units and the source of every number.
    """

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
    l_ini: int
    l_dev: int
    l_mid: int
    l_late: int
    zr_min_m: float
    zr_max_m: float
    p_depletion: float
    t_base_c: float
    t_upper_c: float
    t_heat_c: float

    @property
    def stage_lengths(self) -> tuple[int, int, int, int]:
        """FAO-56 stage lengths (L_ini, L_dev, L_mid, L_late), days (FAO-56 Table 11)."""
        return (self.l_ini, self.l_dev, self.l_mid, self.l_late)

    @property
    def flowering_day(self) -> int:
        """Days from sowing to flowering, taken as the peak green canopy (``days_to_peak``)."""
        return self.days_to_peak

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


@cache
def crop_params(crop: str) -> CropParams:
    """Parameters of ``crop``; crops not in the table get the ``other`` row."""
    table = crop_table()
    key = crop if crop in table.index else "other"
    row = table.loc[key].to_dict()
    return CropParams(
        crop=key,
        **{
            f.name: _CASTS[str(f.type)](row[f.name]) for f in fields(CropParams) if f.name != "crop"
        },
    )


_CASTS = {"int": int, "float": float}
