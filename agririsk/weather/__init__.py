"""Weather: station and gridded readers with quality control (later: ET0, indices, water balance)."""

from agririsk.weather.readers import (
    PHYSICAL_LIMITS,
    read_station_daily,
    read_stations,
    read_weather_grid,
)

__all__ = ["PHYSICAL_LIMITS", "read_station_daily", "read_stations", "read_weather_grid"]
