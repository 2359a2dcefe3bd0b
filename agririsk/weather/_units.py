"""Units on weather data: read the ``units`` attribute, convert to agririsk's working units.

Working units: temperature degC, precipitation and ET mm/day, radiation MJ m-2 day-1,
wind m s-1, relative humidity %. A pandas Series or xarray DataArray whose ``attrs``
carry ``units`` is converted; one without ``units`` is taken to be in working units
already (the names ``tmin_c``, ``precip_mm`` ... of CONTRACTS.md §5 say so).
"""

from __future__ import annotations

import logging
from typing import TypeVar

import numpy as np
import pandas as pd
import xarray as xr

from agririsk.errors import InputError
from agririsk.weather.readers import _CONVERSIONS, _norm

logger = logging.getLogger(__name__)

T = TypeVar("T", pd.Series, xr.DataArray)

_KIND_OF = {"degC": "temperature", "mm/day": "pr", "MJ m-2 day-1": "rsds", "m/s": "sfcWind", "%": "hurs"}
_TARGET_SPELLING = {"degC": "degC", "mm/day": "mm/day", "MJ m-2 day-1": "MJ m-2 day-1", "m/s": "m s-1", "%": "%"}


def convert(x: T, target: str, name: str = "value") -> T:
    """``x`` in ``target`` units (one of degC, mm/day, MJ m-2 day-1, m/s, %).

    Raises
    ------
    InputError
        ``x`` carries a ``units`` attribute agririsk does not know for this quantity.
    """
    attrs = getattr(x, "attrs", None)
    units = attrs.get("units") if attrs else None
    if units is None:
        return x
    kind = _KIND_OF[target]
    _, table = _CONVERSIONS[kind]
    factor = table.get(_norm(str(units)))
    if factor is None:
        raise InputError(f"{name} has units {units!r}, which cannot be read as {target} "
                         f"(known: {', '.join(sorted(table))}); fix its units attribute")
    scale, offset = factor
    if scale == 1.0 and offset == 0.0:
        out = x.copy()
    else:
        out = x * scale + offset
    out.attrs = {**(attrs or {}), "units": _TARGET_SPELLING[target]}
    return out


def values(x: pd.Series | xr.DataArray | np.ndarray | float, target: str, name: str = "value") -> np.ndarray:
    """The numbers of ``x`` in ``target`` units as a float array."""
    if isinstance(x, pd.Series | xr.DataArray):
        return np.asarray(convert(x, target, name).to_numpy(), dtype=float)
    return np.asarray(x, dtype=float)
