"""Weather: readers and quality control, ET0, agro-climatic indices, assignment to parcels, exposure.

The public names below; the modules :mod:`agririsk.weather.et0` (``penman_monteith``,
``hargreaves``: a public API used outside agririsk), :mod:`agririsk.weather.indices`,
:mod:`agririsk.weather.qc`, :mod:`agririsk.weather.assign` and
:mod:`agririsk.weather.exposure` hold the rest.
"""

from agririsk.weather.et0 import hargreaves, penman_monteith
from agririsk.weather.exposure import farm_weather_history, weather_exposure
from agririsk.weather.readers import (
    PHYSICAL_LIMITS,
    read_station_daily,
    read_stations,
    read_weather_grid,
)

__all__ = [
    "PHYSICAL_LIMITS",
    "farm_weather_history",
    "hargreaves",
    "penman_monteith",
    "read_station_daily",
    "read_stations",
    "read_weather_grid",
    "weather_exposure",
]
