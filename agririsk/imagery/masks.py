"""Cloud and quality masks: which pixels are clear (CONTRACTS §2).

Pure, vectorised functions; ``True`` means the pixel is clear and may be used.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SCL_INVALID", "QA_PIXEL_BITS", "scl_clear", "qa_pixel_clear", "clear_mask"]

#: Sentinel-2 L2A scene classes masked: 0 no data, 1 saturated or defective,
#: 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus.
SCL_INVALID: frozenset[int] = frozenset({0, 1, 3, 8, 9, 10})

#: Landsat Collection 2 ``QA_PIXEL`` bits masked when set (USGS LSDS-1619, table 6-1).
QA_PIXEL_BITS: dict[str, int] = {
    "fill": 0,
    "dilated_cloud": 1,
    "cirrus": 2,
    "cloud": 3,
    "cloud_shadow": 4,
}
_QA_MASK = sum(1 << b for b in QA_PIXEL_BITS.values())  # 0b11111 = 31


def scl_clear(scl: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Clear pixels of a Sentinel-2 scene classification (SCL) layer.

    Parameters
    ----------
    scl : integer SCL classes (0-11).

    Returns
    -------
    bool array, ``True`` where the class is not in :data:`SCL_INVALID`.

    References
    ----------
    ESA, Sentinel-2 Level-2A Algorithm Theoretical Basis Document, scene classification.
    """
    arr = np.asarray(scl)
    if arr.dtype == np.uint8:  # SCL_INVALID spelled out: ~5x faster than a lookup table
        return ~((arr <= 1) | (arr == 3) | ((arr - np.uint8(8)) <= 2))
    return ~np.isin(arr, list(SCL_INVALID))


def qa_pixel_clear(qa: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Clear pixels of a Landsat Collection 2 ``QA_PIXEL`` layer.

    Parameters
    ----------
    qa : unsigned 16-bit bit flags.

    Returns
    -------
    bool array, ``True`` where none of the bits fill (0), dilated cloud (1), cirrus (2),
    cloud (3) or cloud shadow (4) is set: ``qa & 0b11111 == 0``.

    References
    ----------
    USGS, Landsat 8-9 Collection 2 Level 2 Science Product Guide (LSDS-1619), QA_PIXEL.
    """
    arr = np.asarray(qa).astype(np.uint32, copy=False)
    return (arr & _QA_MASK) == 0


def clear_mask(mask: npt.ArrayLike, band: str) -> npt.NDArray[np.bool_]:
    """Clear pixels of ``mask`` read from the mask band ``band`` (``"scl"`` or ``"qa_pixel"``)."""
    if band == "scl":
        return scl_clear(mask)
    if band == "qa_pixel":
        return qa_pixel_clear(mask)
    raise ValueError(f"unknown mask band {band!r}; expected 'scl' or 'qa_pixel'")
