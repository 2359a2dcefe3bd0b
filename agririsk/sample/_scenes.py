"""Writing the imagery of the sample region: one STAC item of six COGs per acquisition."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import Transformer

from agririsk.export.cog import write_cog
from agririsk.sample import _imagery as im
from agririsk.sample._crops import double_logistic
from agririsk.sample._landscape import SPECIAL_UNITS, Landscape
from agririsk.sample._seasons import field_state
from agririsk.sample._stac import Acquisition, item_document, sun_angles

logger = logging.getLogger(__name__)

EPSG = 32651


@dataclass
class SceneContext:
    """Everything a scene needs, fixed for the whole region."""

    seed: int
    landscape: Landscape
    transform: Affine
    seasons: dict[int, dict[str, np.ndarray]]  # year -> field columns as arrays
    regional_rain: pd.Series  # mm/day, indexed by date (station mean)
    lat: float


def _special_units(doy: float, wet: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NDVI, vegetation and background spectra of forest, water, built-up, road, grassland."""
    forest = double_logistic(doy, 135.0, 6.0, 275.0, 8.0, 0.30, 0.56)
    grass = double_logistic(doy, 140.0, 8.0, 258.0, 10.0, 0.18, 0.50)
    built = double_logistic(doy, 145.0, 8.0, 255.0, 10.0, 0.12, 0.12)
    ndvi = {
        "forest": forest,
        "water": -1.0,
        "built": built,
        "road": -1.0,
        "grass": grass,
    }
    table = {  # class -> (ndvi, veg spectrum, background spectrum)
        3: (ndvi["forest"], im.FOREST_CANOPY, im.FOREST_FLOOR),
        4: (ndvi["water"], im.VEG, im.WATER),
        5: (ndvi["built"], im.VEG, im.BUILT),
        6: (ndvi["road"], im.VEG, im.ROAD),
        7: (ndvi["grass"], im.VEG, im.SOIL * wet),
    }
    rows = [table[c] for c in SPECIAL_UNITS]
    return (
        np.array([r[0] for r in rows], float),
        np.stack([r[1] for r in rows]),
        np.stack([r[2] for r in rows]),
    )


def _unit_tables(ctx: SceneContext, day: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    doy = float(day.timetuple().tm_yday)
    rain2 = float(
        ctx.regional_rain.reindex(pd.date_range(day - dt.timedelta(days=2), day)).fillna(0).sum()
    )
    wet = 1.0 - 0.3 * min(rain2 / 10.0, 1.0)  # wet soil is darker
    ndvi, flood, harvested = field_state(doy, ctx.seasons[day.year])
    bg = np.where(harvested[:, None], im.STUBBLE, im.SOIL) * wet
    bg = flood[:, None] * im.WATER + (1 - flood[:, None]) * bg
    veg = np.broadcast_to(im.VEG, bg.shape)
    s_ndvi, s_veg, s_bg = _special_units(doy, wet)
    return np.r_[ndvi, s_ndvi], np.vstack([veg, s_veg]), np.vstack([bg, s_bg])


def _footprint(
    ctx: SceneContext, shape: tuple[int, int], wedge_tri: list | None
) -> shapely.Polygon:
    h, w = shape
    poly = shapely.box(0, 0, w, h)
    if wedge_tri is not None:
        poly = poly.difference(shapely.Polygon(wedge_tri))
    t = ctx.transform
    transformer = Transformer.from_crs(EPSG, 4326, always_xy=True)  # not thread-safe: one per call

    def to_lonlat(xy: np.ndarray) -> np.ndarray:
        x = t.c + xy[:, 0] * t.a
        y = t.f + xy[:, 1] * t.e
        lon, lat = transformer.transform(x, y)
        return np.column_stack([lon, lat])

    return shapely.transform(shapely.segmentize(poly, max(w, h) / 4), to_lonlat)


def render_and_write(
    ctx: SceneContext, index: int, acq: Acquisition, imagery_dir: Path
) -> tuple[dict, dict]:
    """Render one acquisition, write its six COGs, return (STAC item, truth stats)."""
    rng = np.random.default_rng([ctx.seed, 7919, index])
    ls = ctx.landscape
    h, w = ls.unit.shape
    h2, w2 = h // 2, w // 2
    u_ndvi, u_veg, u_bg = _unit_tables(ctx, acq.date)
    noise = (
        rng.standard_normal((h, w), dtype=np.float32),
        rng.standard_normal((h, w), dtype=np.float32),
    )
    refl = im.render_surface(ls.unit, ls.texture, ls.albedo, u_ndvi, u_veg, u_bg, noise)
    del noise
    red20 = refl["red"][::2, ::2]
    nir20 = refl["nir"][::2, ::2]
    ndvi20 = (nir20 - red20) / np.maximum(nir20 + red20, 1e-6)
    green20 = refl["green"][::2, ::2].copy()

    rain = float(ctx.regional_rain.get(pd.Timestamp(acq.date), 0.0))
    cover = im.draw_cloud_cover(rng, rain)
    zen, az = sun_angles(acq.date, ctx.lat)
    height_m = rng.uniform(800, 2500)
    dist_px = height_m * np.tan(np.deg2rad(zen)) / 20.0
    shadow_az = np.deg2rad(az + 180.0)
    shift = (-np.cos(shadow_az) * dist_px, np.sin(shadow_az) * dist_px)  # (rows down, cols right)
    clouds = im.cloud_layer(rng, (h2, w2), cover, shift)
    scl, stats = im.scl_from_scene(ndvi20, nir20.copy(), green20, clouds)
    del red20, nir20, ndvi20, green20
    wedge = im.nodata_wedge(rng, (h, w))

    item_dir = imagery_dir / acq.item_id
    t10 = ctx.transform
    t20 = t10 @ Affine.scale(2)
    a = clouds.alpha[:, None, :, None]
    s = clouds.shadow[:, None, :, None]
    c = clouds.cirrus[:, None, :, None]
    for b, key in enumerate(im.BAND_KEYS):
        r = refl.pop(key)
        r4 = r.reshape(h2, 2, w2, 2)
        r4 *= 1.0 - 0.6 * s
        r4 *= 1.0 - a
        r4 += a * np.float32(im.CLOUD[b]) + c * np.float32(im.CIRRUS[b])
        if key == "swir16":
            r = r4.mean(axis=(1, 3))
            dn = im.reflectance_to_dn(r)
            if wedge is not None:
                dn[wedge[0][::2, ::2]] = 0
            write_cog(
                item_dir / f"{key}.tif",
                dn,
                transform=t20,
                crs=f"EPSG:{EPSG}",
                nodata=0,
                blocksize=256,
                overviews=False,
            )
        else:
            dn = im.reflectance_to_dn(r)
            if wedge is not None:
                dn[wedge[0]] = 0
            write_cog(
                item_dir / f"{key}.tif",
                dn,
                transform=t10,
                crs=f"EPSG:{EPSG}",
                nodata=0,
                blocksize=256,
                overviews=False,
            )
        del r, r4, dn
    if wedge is not None:
        scl[wedge[0][::2, ::2]] = im.SCL_NODATA
    write_cog(
        item_dir / "scl.tif",
        scl,
        transform=t20,
        crs=f"EPSG:{EPSG}",
        nodata=0,
        blocksize=256,
        overviews=False,
    )

    valid = scl != im.SCL_NODATA
    cloud_pct = 100.0 * float(np.isin(scl[valid], (8, 9, 10)).mean()) if valid.any() else 100.0
    geom = _footprint(ctx, (h, w), wedge[1] if wedge is not None else None)
    doc = item_document(
        acq,
        epsg=EPSG,
        transform10=tuple(t10)[:6],
        shape10=(h, w),
        geometry=shapely.geometry.mapping(geom),
        bbox=[round(v, 7) for v in geom.bounds],
        cloud_cover=cloud_pct,
        sun=(zen, az),
    )
    doc["geometry"] = _rounded(doc["geometry"])
    stats.update(
        item_id=acq.item_id,
        date=acq.date.isoformat(),
        cover_drawn=round(cover, 4),
        nodata_wedge=wedge is not None,
        regional_rain_mm=round(rain, 1),
    )
    return doc, stats


def _rounded(geom: dict) -> dict:
    def r(c):
        if isinstance(c, (tuple, list)) and c and isinstance(c[0], (int, float)):
            return [round(float(v), 7) for v in c]
        return [r(x) for x in c]

    return {"type": geom["type"], "coordinates": r(geom["coordinates"])}
