"""Vegetation and water indices from surface reflectance: pure, vectorised, float32.

Every index is NaN where it is undefined: a non-finite input, a negative reflectance
(BOA noise over dark surfaces, where a ratio index means nothing) or a zero denominator.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["normalized_difference", "ndvi", "evi", "ndmi", "ndwi"]

Array = npt.NDArray[np.float32]


def _f32(x: npt.ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float32)


def normalized_difference(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """Normalized difference of two reflectances.

    Parameters
    ----------
    a, b : surface reflectance (unitless, 0-1).

    Returns
    -------
    float32 array in [-1, 1]; NaN where ``a < 0``, ``b < 0``, ``a + b == 0`` or an input is NaN.

    Notes
    -----
    .. math:: ND = \\frac{a - b}{a + b}
    """
    a, b = _f32(a), _f32(b)
    den = a + b
    bad = ~((a >= 0) & (b >= 0) & (den > 0))  # also catches NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / den
    out[bad] = np.nan
    return out


def ndvi(red: npt.ArrayLike, nir: npt.ArrayLike) -> Array:
    """Normalized Difference Vegetation Index.

    Parameters
    ----------
    red, nir : surface reflectance (unitless) of the red and near-infrared bands.

    Returns
    -------
    float32 NDVI; NaN where undefined (see module notes).

    Notes
    -----
    .. math:: NDVI = \\frac{\\rho_{NIR} - \\rho_{red}}{\\rho_{NIR} + \\rho_{red}}

    Example: red 0.05, nir 0.45 give 0.40 / 0.50 = 0.8.

    References
    ----------
    Rouse, J. W. et al. (1974). Monitoring vegetation systems in the Great Plains with ERTS.
    """
    return normalized_difference(nir, red)


def evi(blue: npt.ArrayLike, red: npt.ArrayLike, nir: npt.ArrayLike) -> Array:
    """Enhanced Vegetation Index (MODIS coefficients).

    Parameters
    ----------
    blue, red, nir : surface reflectance (unitless).

    Returns
    -------
    float32 EVI; NaN where a reflectance is negative or NaN, or the denominator is <= 0.

    Notes
    -----
    .. math:: EVI = 2.5 \\frac{\\rho_{NIR} - \\rho_{red}}{\\rho_{NIR} + 6\\rho_{red} - 7.5\\rho_{blue} + 1}

    Example: blue 0.05, red 0.05, nir 0.45 give 2.5 * 0.4 / 1.375 = 0.72727.

    References
    ----------
    Huete, A. et al. (2002). Overview of the radiometric and biophysical performance of the
    MODIS vegetation indices. Remote Sensing of Environment 83, 195-213.
    """
    b, r, n = _f32(blue), _f32(red), _f32(nir)
    den = n + 6.0 * r - 7.5 * b + 1.0
    bad = ~((b >= 0) & (r >= 0) & (n >= 0) & (den > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (2.5 * (n - r) / den).astype(np.float32)
    out[bad] = np.nan
    return out


def ndmi(nir: npt.ArrayLike, swir16: npt.ArrayLike) -> Array:
    """Normalized Difference Moisture Index (Gao's NDWI): canopy water content.

    Notes
    -----
    .. math:: NDMI = \\frac{\\rho_{NIR} - \\rho_{SWIR1.6}}{\\rho_{NIR} + \\rho_{SWIR1.6}}

    References
    ----------
    Gao, B.-C. (1996). NDWI - A normalized difference water index for remote sensing of
    vegetation liquid water from space. Remote Sensing of Environment 58, 257-266.
    """
    return normalized_difference(nir, swir16)


def ndwi(green: npt.ArrayLike, nir: npt.ArrayLike) -> Array:
    """Normalized Difference Water Index (McFeeters): open water is positive.

    Notes
    -----
    .. math:: NDWI = \\frac{\\rho_{green} - \\rho_{NIR}}{\\rho_{green} + \\rho_{NIR}}

    References
    ----------
    McFeeters, S. K. (1996). The use of the Normalized Difference Water Index (NDWI) in the
    delineation of open water features. Int. J. Remote Sensing 17(7), 1425-1432.
    """
    return normalized_difference(green, nir)
