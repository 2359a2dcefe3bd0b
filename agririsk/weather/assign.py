"""Which weather serves each parcel: nearest station (lapse-rate corrected) or IDW, or a grid cell.

An :class:`Assignment` says, per parcel, which sources serve it, with what weight and what
temperature correction, and carries a plain table for the output (source, distance).
:meth:`Assignment.apply` turns (day, source) arrays into (day, parcel) arrays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from agririsk.errors import InputError, NoDataError
from agririsk.weather.qc import _haversine_km

__all__ = ["Assignment", "LAPSE_RATE_C_PER_KM", "parcel_centroids", "assign_stations", "assign_grid"]

logger = logging.getLogger(__name__)

#: Environmental lapse rate of air temperature, degC per km of elevation (ICAO standard atmosphere).
LAPSE_RATE_C_PER_KM = -6.5


@dataclass(frozen=True)
class Assignment:
    """Weather sources of each parcel.

    Attributes
    ----------
    table : one row per parcel: ``parcel_id``, ``lat``, ``lon`` (centroid), ``source``
        (``station``, ``idw`` or ``grid``), ``source_id`` (station id, ``+``-joined ids for
        IDW, ``lat,lon`` of the grid cell), ``distance_km`` (to the nearest source used),
        ``elevation_m`` (assumed parcel elevation; NaN for grids), ``temp_offset_c``
        (lapse-rate correction added to the nearest station's temperature).
    index : (parcel, k) column of each serving source in the source arrays.
    weight : (parcel, k) weights summing to 1 over k.
    temp_offset : (parcel, k) degC added to source k's temperatures for this parcel.
    """

    table: pd.DataFrame
    index: np.ndarray
    weight: np.ndarray
    temp_offset: np.ndarray

    def apply(self, x: np.ndarray, *, temperature: bool = False) -> np.ndarray:
        """(day, source) -> (day, parcel): weighted over the serving sources.

        A source missing a day (NaN) drops out of that day's weights; a parcel with no
        source on a day gets NaN. Temperatures get the lapse-rate correction.
        """
        picked = x[:, self.index]  # (day, parcel, k)
        if temperature:
            picked = picked + self.temp_offset[None]
        ok = ~np.isnan(picked)
        w = np.where(ok, self.weight[None], 0.0)
        total = w.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (np.where(ok, picked, 0.0) * w).sum(axis=2) / total, np.nan)


def parcel_centroids(parcels: gpd.GeoDataFrame) -> pd.DataFrame:
    """``parcel_id``, ``lat``, ``lon`` of each parcel's centroid (computed in a local UTM CRS)."""
    if parcels.crs is None:
        raise InputError("parcels have no CRS; set one (e.g. parcels.set_crs('EPSG:4326'))")
    projected = parcels.to_crs(parcels.estimate_utm_crs()) if parcels.crs.is_geographic else parcels
    pts = projected.geometry.centroid.to_crs(4326)
    return pd.DataFrame({"parcel_id": parcels["parcel_id"].astype(str).to_numpy(), "lat": pts.y.to_numpy(),
                         "lon": pts.x.to_numpy()})


def assign_stations(
    parcels: gpd.GeoDataFrame,
    stations: pd.DataFrame,
    *,
    method: Literal["nearest", "idw"] = "nearest",
    power: float = 2.0,
    max_stations: int = 4,
    parcel_elevation_m: pd.Series | None = None,
    lapse_rate_c_per_km: float = LAPSE_RATE_C_PER_KM,
) -> Assignment:
    """Assign stations to parcels.

    Parameters
    ----------
    parcels : parcel polygons with ``parcel_id`` (any CRS).
    stations : ``station_id``, ``lat``, ``lon``, ``elevation_m``.
    method : ``nearest`` (one station, temperature corrected for the elevation difference)
        or ``idw`` (inverse-distance weights 1/d^power over the ``max_stations`` nearest,
        each station's temperature corrected to the parcel's elevation first).
    parcel_elevation_m : elevation per ``parcel_id``. Unknown (the default: CONTRACTS.md
        parcels carry none): the mean elevation of the stations is assumed.
    lapse_rate_c_per_km : temperature change per km of height (default -6.5 degC/km).

    Returns
    -------
    Assignment

    Notes
    -----
    Distances are great-circle (haversine, R = 6371 km). Temperature at the parcel:
    T_parcel = T_station + lapse (z_parcel - z_station) / 1000. A station of unknown
    elevation gets no correction.
    """
    if stations.empty:
        raise NoDataError("no usable weather station; check stations.csv")
    cent = parcel_centroids(parcels)
    d = _haversine_km(cent["lat"].to_numpy()[:, None], cent["lon"].to_numpy()[:, None],
                      stations["lat"].to_numpy()[None, :], stations["lon"].to_numpy()[None, :])
    z_st = stations["elevation_m"].to_numpy(dtype=float)
    mean_z = float(np.nanmean(z_st)) if np.isfinite(z_st).any() else np.nan
    z_parcel = np.full(len(cent), mean_z)
    if parcel_elevation_m is not None:
        given = parcel_elevation_m.reindex(cent["parcel_id"]).to_numpy(dtype=float)
        z_parcel = np.where(np.isnan(given), z_parcel, given)
    k = 1 if method == "nearest" else min(max_stations, len(stations))
    if method not in ("nearest", "idw"):
        raise ValueError(f"method must be 'nearest' or 'idw', not {method!r}")
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, order, axis=1)
    if method == "nearest":
        weight = np.ones_like(dist)
    else:
        inv = 1.0 / np.maximum(dist, 0.01) ** power  # a parcel on a station: that station dominates
        weight = inv / inv.sum(axis=1, keepdims=True)
    offset = lapse_rate_c_per_km * (z_parcel[:, None] - z_st[order]) / 1000.0
    offset = np.where(np.isnan(offset), 0.0, offset)
    ids = stations["station_id"].astype(str).to_numpy()
    table = cent.assign(
        source="station" if method == "nearest" else "idw",
        source_id=["+".join(ids[row]) for row in order],
        distance_km=dist[:, 0].round(3),
        elevation_m=z_parcel,
        temp_offset_c=offset[:, 0].round(3) if method == "nearest" else (offset * weight).sum(axis=1).round(3),
    )
    return Assignment(table, order, weight, offset)


def assign_grid(parcels: gpd.GeoDataFrame, grid: xr.Dataset) -> Assignment:
    """Serve each parcel from the grid cell holding its centroid (nearest cell centre).

    The source columns are the grid cells flattened in (lat, lon) order, as
    :func:`agririsk.weather.exposure.load_weather` lays them out.

    Raises
    ------
    InputError
        The grid has no ``lat``/``lon`` coordinates (projected ``x``/``y`` grids need
        lat/lon added), or a parcel lies more than one cell outside the grid.
    """
    if "lat" not in grid.coords or "lon" not in grid.coords:
        raise InputError("the weather grid has no lat/lon coordinates; add CF lat and lon (degrees) "
                         "coordinates to the file (projected x/y grids are not supported yet)")
    lat, lon = grid["lat"].to_numpy(), grid["lon"].to_numpy()
    if lat.ndim != 1 or lon.ndim != 1:
        raise InputError("the weather grid's lat/lon must be 1-D coordinates (a regular lat/lon grid)")
    cent = parcel_centroids(parcels)
    iy = np.abs(cent["lat"].to_numpy()[:, None] - lat[None, :]).argmin(axis=1)
    ix = np.abs(cent["lon"].to_numpy()[:, None] - lon[None, :]).argmin(axis=1)
    step = max(float(np.abs(np.diff(lat)).max(initial=0.25)), float(np.abs(np.diff(lon)).max(initial=0.25)))
    dist = _haversine_km(cent["lat"].to_numpy(), cent["lon"].to_numpy(), lat[iy], lon[ix])
    off = (np.abs(cent["lat"].to_numpy() - lat[iy]) > step) | (np.abs(cent["lon"].to_numpy() - lon[ix]) > step)
    if off.any():
        raise InputError(f"{int(off.sum())} parcel(s) lie outside the weather grid, e.g. "
                         f"{cent.loc[off, 'parcel_id'].iloc[0]}; extend the grid to cover the region")
    table = cent.assign(source="grid", source_id=[f"{lat[a]:.4f},{lon[b]:.4f}" for a, b in zip(iy, ix, strict=True)],
                        distance_km=dist.round(3), elevation_m=np.nan, temp_offset_c=0.0)
    index = (iy * len(lon) + ix)[:, None]
    return Assignment(table, index, np.ones((len(cent), 1)), np.zeros((len(cent), 1)))
