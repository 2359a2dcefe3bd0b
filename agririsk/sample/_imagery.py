"""Rendering one Sentinel-2 L2A scene of the sample region: surface, clouds, SCL, DN.

Surface reflectance of each pixel is a linear mixture of a vegetation spectrum and a
background spectrum (bare or wet soil, stubble, water, built-up, forest floor) by the
vegetation fraction that reproduces the unit's NDVI; clouds and their shadows are
smooth random fields thresholded to the scene's cloud cover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from agririsk.sample._fields import smooth_field

logger = logging.getLogger(__name__)

BAND_KEYS = ("blue", "green", "red", "nir", "swir16")
# Surface reflectance spectra (blue, green, red, nir, swir16).
VEG = np.array([0.030, 0.070, 0.030, 0.460, 0.210])
FOREST_CANOPY = np.array([0.025, 0.050, 0.025, 0.380, 0.170])
SOIL = np.array([0.070, 0.095, 0.125, 0.170, 0.255])  # tilled black soil (mollisol), NDVI ~0.15
STUBBLE = np.array([0.080, 0.105, 0.130, 0.200, 0.290])  # crop residue, NDVI ~0.2
FOREST_FLOOR = np.array([0.050, 0.070, 0.090, 0.150, 0.220])
WATER = np.array([0.055, 0.065, 0.045, 0.025, 0.012])
BUILT = np.array([0.140, 0.150, 0.165, 0.210, 0.250])
ROAD = np.array([0.120, 0.130, 0.145, 0.180, 0.220])
CLOUD = np.array([0.50, 0.50, 0.50, 0.52, 0.38])
CIRRUS = np.array([0.09, 0.08, 0.07, 0.06, 0.05])

# SCL classes (Sen2Cor).
SCL_NODATA, SCL_SHADOW, SCL_VEG, SCL_NOT_VEG, SCL_WATER = 0, 3, 4, 5, 6
SCL_CLOUD_MED, SCL_CLOUD_HIGH, SCL_CIRRUS = 8, 9, 10


def vegetation_fraction(ndvi: np.ndarray, veg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Fraction of vegetation in a linear two-endmember mixture that has NDVI ``ndvi``.

    Parameters
    ----------
    ndvi : target NDVI, one per unit.
    veg, bg : (..., 5) vegetation and background reflectance spectra (red index 2, nir 3).

    Notes
    -----
    With red = bg_r + f (veg_r - bg_r) and nir likewise, NDVI = (nir - red)/(nir + red)
    solves to f = (N (n_s + r_s) - (n_s - r_s)) / ((dn - dr) - N (dn + dr)),
    dn = n_v - n_s, dr = r_v - r_s. Clipped to [0, 1].
    """
    rs, ns = bg[..., 2], bg[..., 3]
    dr, dn = veg[..., 2] - rs, veg[..., 3] - ns
    num = ndvi * (ns + rs) - (ns - rs)
    den = (dn - dr) - ndvi * (dn + dr)
    return np.clip(num / np.where(np.abs(den) < 1e-9, 1e-9, den), 0.0, 1.0)


def reflectance_to_dn(refl: np.ndarray) -> np.ndarray:
    """Sentinel-2 L2A digital numbers (processing baseline >= 04.00), uint16.

    Notes
    -----
    DN = round((rho + 0.1) / 0.0001), clipped to [1, 65535] (0 is nodata).
    """
    return np.clip(np.round((refl + 0.1) * 10000.0), 1, 65535).astype(np.uint16)


def dn_to_reflectance(dn: np.ndarray) -> np.ndarray:
    """Inverse of :func:`reflectance_to_dn`: rho = DN * 0.0001 - 0.1 (nodata -> NaN)."""
    out = dn.astype(np.float64) * 0.0001 - 0.1
    return np.where(dn == 0, np.nan, out)


def draw_cloud_cover(rng: np.random.Generator, rain_mm: float) -> float:
    """Scene cloud cover (0-1): many clear scenes, some overcast, more on rainy days."""
    p = [0.1, 0.4, 0.5] if rain_mm > 2 else [0.5, 0.38, 0.12]
    kind = rng.choice(3, p=p)
    if kind == 0:
        return float(rng.uniform(0.0, 0.02)) if rng.random() < 0.6 else 0.0
    if kind == 1:
        return float(np.clip(rng.beta(1.1, 2.2), 0.03, 0.9))
    return float(rng.uniform(0.9, 1.0))


@dataclass
class CloudLayer:
    """Cloud opacity, shadow opacity and cirrus on the 20 m grid, plus their SCL flags."""

    alpha: np.ndarray
    shadow: np.ndarray
    cirrus: np.ndarray


def cloud_layer(
    rng: np.random.Generator,
    shape20: tuple[int, int],
    cover: float,
    shadow_shift_px: tuple[float, float],
) -> CloudLayer:
    """Clouds as a thresholded smooth field; the shadow is the same field displaced.

    Parameters
    ----------
    shape20 : grid shape (20 m pixels).
    cover : fraction of the scene under cloud (opacity > 0.02).
    shadow_shift_px : (rows, cols) from a cloud to its shadow, 20 m pixels.
    """
    h, w = shape20
    alpha = np.zeros(shape20, dtype=np.float32)
    if cover > 0:
        pad_r, pad_c = int(abs(shadow_shift_px[0])) + 1, int(abs(shadow_shift_px[1])) + 1
        big = (h + pad_r, w + pad_c)
        f = smooth_field(rng, big, 28.0, octaves=4)
        thr = float(np.quantile(f[::3, ::3], 1.0 - cover)) if cover < 1 else float(f.min()) - 1.0
        tau = np.maximum(f - thr, 0.0)
        a_big = (1.0 - np.exp(-6.0 * tau)).astype(np.float32)
        # the grid sits at the end of the padded field on the sides the shadow comes from
        r0 = pad_r if shadow_shift_px[0] > 0 else 0
        c0 = pad_c if shadow_shift_px[1] > 0 else 0
        alpha = a_big[r0 : r0 + h, c0 : c0 + w]
        sr, sc = int(round(shadow_shift_px[0])), int(round(shadow_shift_px[1]))
        shadow = a_big[r0 - sr : r0 - sr + h, c0 - sc : c0 - sc + w]
        shadow = shadow * (1.0 - alpha)
    else:
        shadow = np.zeros(shape20, dtype=np.float32)
    cirrus = np.zeros(shape20, dtype=np.float32)
    if rng.random() < 0.15:
        g = smooth_field(rng, shape20, 120.0, octaves=2)
        cirrus = (np.clip(g - 0.6, 0, None) * 0.12).astype(np.float32)
    return CloudLayer(
        alpha=np.ascontiguousarray(alpha), shadow=np.ascontiguousarray(shadow), cirrus=cirrus
    )


def scl_from_scene(
    ndvi20: np.ndarray, nir20: np.ndarray, green20: np.ndarray, clouds: CloudLayer
) -> tuple[np.ndarray, dict[str, object]]:
    """Scene classification at 20 m and the truth of what it got wrong.

    Thin cloud and shadow edges (opacity below the detection thresholds) keep their
    surface class: the residual clouds a real mask misses.

    Returns
    -------
    (SCL uint8 array, stats: true cloud fraction, labelled cloud fraction, missed fraction)
    """
    scl = np.full(ndvi20.shape, SCL_NOT_VEG, dtype=np.uint8)
    scl[ndvi20 > 0.35] = SCL_VEG
    scl[(nir20 < 0.07) & (green20 > nir20) & (ndvi20 < 0.1)] = SCL_WATER
    a, s = clouds.alpha, clouds.shadow
    scl[s >= 0.08] = SCL_SHADOW
    scl[clouds.cirrus >= 0.02] = SCL_CIRRUS
    scl[a >= 0.06] = SCL_CLOUD_MED
    scl[a >= 0.5] = SCL_CLOUD_HIGH
    true_bad = (a > 0.02) | (s > 0.02)
    missed = true_bad & (scl < 8) & (scl != SCL_SHADOW)
    n = a.size
    stats: dict[str, object] = {
        "cloud_true": float((a > 0.02).mean()),
        "cloud_scl": float(((scl == 8) | (scl == 9)).mean()),
        "cirrus_scl": float((scl == 10).mean()),
        "shadow_scl": float((scl == 3).mean()),
        "missed_of_bad": float(missed.sum() / max(true_bad.sum(), 1)),
        "missed_frac": float(missed.sum() / n),
    }
    return scl, stats


def nodata_wedge(
    rng: np.random.Generator, shape: tuple[int, int]
) -> tuple[np.ndarray, list[tuple[float, float]]] | None:
    """A triangular no-data wedge at one corner (the swath edge), or None.

    Returns
    -------
    (mask of no-data pixels, triangle vertices as (col, row) pixel coordinates)
    """
    if rng.random() >= 0.08:
        return None
    h, w = shape
    lr, lc = rng.uniform(0.1, 0.35) * h, rng.uniform(0.1, 0.35) * w
    rr = np.arange(h, dtype=np.float32)[:, None]
    cc = np.arange(w, dtype=np.float32)[None, :]
    corner = int(rng.integers(0, 4))
    if corner in (1, 3):
        cc = (w - 1) - cc
    if corner in (2, 3):
        rr = (h - 1) - rr
    mask = (rr + 0.5) / lr + (cc + 0.5) / lc < 1.0
    tri = [(0.0, 0.0), (lc, 0.0), (0.0, lr)]
    if corner in (1, 3):
        tri = [(w - x, y) for x, y in tri]
    if corner in (2, 3):
        tri = [(x, h - y) for x, y in tri]
    return mask, tri


def render_surface(
    unit: np.ndarray,
    texture: np.ndarray,
    albedo: np.ndarray,
    unit_ndvi: np.ndarray,
    unit_veg: np.ndarray,
    unit_bg: np.ndarray,
    noise: tuple[np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """Surface reflectance per band (float32, 10 m) from per-unit NDVI and spectra.

    Parameters
    ----------
    unit : int32 unit index per pixel.
    texture : within-unit canopy texture (sd ~1); scales vegetation fraction by +-10 %.
    albedo : static brightness multiplier per pixel.
    unit_ndvi : (n_units,) NDVI per unit.
    unit_veg, unit_bg : (n_units, 5) vegetation and background spectra.
    noise : two standard-normal fields, for brightness and NIR noise.
    """
    fc_unit = vegetation_fraction(unit_ndvi, unit_veg, unit_bg).astype(np.float32)
    fc = fc_unit[unit]
    fc *= 1.0 + 0.10 * texture
    np.clip(fc, 0.0, 1.0, out=fc)
    bright = albedo * (1.0 + 0.015 * noise[0])
    out = {}
    for b, key in enumerate(BAND_KEYS):
        base = unit_bg[:, b].astype(np.float32)
        slope = (unit_veg[:, b] - unit_bg[:, b]).astype(np.float32)
        refl = base[unit] + slope[unit] * fc
        refl *= bright
        if key == "nir":
            refl += 0.008 * noise[1]
        out[key] = refl
    return out
