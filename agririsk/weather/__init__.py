"""Weather: readers and quality control, ET0, agro-climatic indices, assignment to parcels, exposure.

The public names below; the modules :mod:`agririsk.weather.et0` (``penman_monteith``,
``hargreaves``: a public API used outside agririsk), :mod:`agririsk.weather.indices`,
:mod:`agririsk.weather.qc`, :mod:`agririsk.weather.assign` and
:mod:`agririsk.weather.exposure` hold the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agririsk._lazy import lazy_exports

if TYPE_CHECKING:  # static names for type checkers and IDEs
    from agririsk.weather.et0 import hargreaves, penman_monteith  # noqa: F401
    from agririsk.weather.exposure import farm_weather_history, weather_exposure  # noqa: F401
    from agririsk.weather.readers import (  # noqa: F401
        PHYSICAL_LIMITS,
        read_station_daily,
        read_stations,
        read_weather_grid,
    )

# Names are imported on first use: a monitoring run needs ET0 and the readers, not the
# indices and exposure (scipy.special, ~0.2 s to import).
_EXPORTS = {
    "PHYSICAL_LIMITS": "agririsk.weather.readers",
    "farm_weather_history": "agririsk.weather.exposure",
    "hargreaves": "agririsk.weather.et0",
    "penman_monteith": "agririsk.weather.et0",
    "read_station_daily": "agririsk.weather.readers",
    "read_stations": "agririsk.weather.readers",
    "read_weather_grid": "agririsk.weather.readers",
    "weather_exposure": "agririsk.weather.exposure",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
