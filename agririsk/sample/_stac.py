"""Sentinel-2 L2A acquisition schedule, sun geometry and STAC item documents."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json",
]
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
SCALE, OFFSET = 0.0001, -0.1
# asset key -> (band name, common name, centre wavelength um, FWHM um, resolution m)
BANDS = {
    "blue": ("B02", "blue", 0.490, 0.098, 10),
    "green": ("B03", "green", 0.560, 0.045, 10),
    "red": ("B04", "red", 0.665, 0.038, 10),
    "nir": ("B08", "nir", 0.842, 0.145, 10),
    "swir16": ("B11", "swir16", 1.610, 0.143, 20),
}
TILE = "51TYM"
_EPOCH = dt.date(2023, 1, 1)


@dataclass(frozen=True)
class Acquisition:
    """One Sentinel-2 overpass over the region."""

    date: dt.date
    platform: str  # "sentinel-2a" | "sentinel-2b"
    seconds: int  # overpass time after 02:40 UTC, s

    @property
    def item_id(self) -> str:
        sat = "S2A" if self.platform.endswith("a") else "S2B"
        return f"{sat}_{TILE}_{self.date:%Y%m%d}_0_L2A"

    @property
    def datetime(self) -> str:
        t = dt.datetime.combine(self.date, dt.time(2, 40)) + dt.timedelta(seconds=self.seconds)
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def acquisitions(rng: np.random.Generator, years: list[int]) -> list[Acquisition]:
    """Overpasses from ~1 April to 31 October of each year, every 5 or 10 days.

    The two satellites alternate on a 5-day cycle; a 10-day step stands for a
    product not delivered (e.g. a dropped downlink or a skipped datatake).
    """
    out = []
    for y in years:
        day = dt.date(y, 4, 1) + dt.timedelta(days=int(rng.integers(0, 5)))
        end = dt.date(y, 10, 31)
        while day <= end:
            cycle = (day - _EPOCH).days // 5
            platform = "sentinel-2a" if cycle % 2 == 0 else "sentinel-2b"
            out.append(Acquisition(day, platform, int(rng.integers(0, 240))))
            day += dt.timedelta(days=int(rng.choice([5, 10], p=[0.4, 0.6])))
    return out


def sun_angles(
    date: dt.date, lat_deg: float, local_solar_hour: float = 10.75
) -> tuple[float, float]:
    """Solar zenith and azimuth (degrees, azimuth clockwise from north) at overpass.

    Notes
    -----
    cos(z) = sin(phi) sin(delta) + cos(phi) cos(delta) cos(h), Cooper's declination
    delta = 23.45 sin(360 (284 + doy) / 365).
    """
    doy = date.timetuple().tm_yday
    delta = np.deg2rad(23.45 * np.sin(np.deg2rad(360 * (284 + doy) / 365)))
    phi = np.deg2rad(lat_deg)
    h = np.deg2rad(15 * (local_solar_hour - 12))
    cosz = np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.cos(h)
    z = np.arccos(np.clip(cosz, -1, 1))
    cos_az = (np.sin(delta) - np.sin(phi) * cosz) / (np.cos(phi) * np.sin(z))
    az = np.rad2deg(np.arccos(np.clip(cos_az, -1, 1)))
    if h > 0:
        az = 360 - az
    return float(np.rad2deg(z)), float(az)


def item_document(
    acq: Acquisition,
    *,
    epsg: int,
    transform10: tuple[float, ...],
    shape10: tuple[int, int],
    geometry: dict,
    bbox: list[float],
    cloud_cover: float,
    sun: tuple[float, float],
) -> dict:
    """The STAC Item of one acquisition, with relative asset hrefs ``<id>/<band>.tif``."""
    a, b, c, d, e, f = transform10[:6]
    t20 = [a * 2, b, c, d, e * 2, f]
    shape20 = [shape10[0] // 2, shape10[1] // 2]
    assets: dict[str, dict] = {}
    for key, (name, common, cw, fwhm, res) in BANDS.items():
        assets[key] = {
            "href": f"{acq.item_id}/{key}.tif",
            "type": COG_TYPE,
            "title": f"{common} ({name}) - {res}m",
            "roles": ["data", "reflectance"],
            "eo:bands": [
                {
                    "name": name,
                    "common_name": common,
                    "center_wavelength": cw,
                    "full_width_half_max": fwhm,
                }
            ],
            "raster:bands": [
                {
                    "nodata": 0,
                    "data_type": "uint16",
                    "spatial_resolution": res,
                    "scale": SCALE,
                    "offset": OFFSET,
                }
            ],
            "proj:shape": list(shape10) if res == 10 else shape20,
            "proj:transform": [a, b, c, d, e, f] if res == 10 else t20,
        }
    assets["scl"] = {
        "href": f"{acq.item_id}/scl.tif",
        "type": COG_TYPE,
        "title": "Scene classification map (SCL)",
        "roles": ["data"],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
        "proj:shape": shape20,
        "proj:transform": t20,
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": STAC_EXTENSIONS,
        "id": acq.item_id,
        "collection": "sentinel-2-l2a",
        "geometry": geometry,
        "bbox": bbox,
        "properties": {
            "datetime": acq.datetime,
            "platform": acq.platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": round(cloud_cover, 3),
            "proj:epsg": epsg,
            "proj:shape": list(shape10),
            "proj:transform": [a, b, c, d, e, f],
            "view:sun_elevation": round(90 - sun[0], 3),
            "view:sun_azimuth": round(sun[1], 3),
            "s2:processing_baseline": "05.10",
            "mgrs:utm_zone": int(TILE[:2]),
            "mgrs:latitude_band": TILE[2],
            "mgrs:grid_square": TILE[3:],
        },
        "links": [],
        "assets": assets,
    }
