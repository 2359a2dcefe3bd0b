"""Smooth random fields: the one noise primitive the sample landscape and clouds are built from."""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

logger = logging.getLogger(__name__)

__all__ = ["smooth_field"]


def smooth_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    scale_px: float,
    *,
    octaves: int = 1,
) -> np.ndarray:
    """A spatially smooth Gaussian random field with mean 0 and standard deviation ~1.

    White noise on a coarse grid (one cell per ``scale_px`` pixels), blurred and
    bilinearly upsampled, so the cost is that of the upsampling alone.

    Parameters
    ----------
    rng : random generator (consumed).
    shape : (rows, cols) of the output, pixels.
    scale_px : correlation length of the field, pixels (>= 1).
    octaves : number of octaves added at halving scales (fractal detail).

    Returns
    -------
    float32 array of ``shape``, standardised to mean 0 and standard deviation 1.
    """
    rows, cols = shape
    out = np.zeros(shape, dtype=np.float32)
    weight = 1.0
    scale = float(max(scale_px, 1.0))
    for _ in range(octaves):
        step = max(int(round(scale)), 1)
        gr, gc = rows // step + 4, cols // step + 4
        coarse = rng.standard_normal((gr, gc)).astype(np.float32)
        coarse = ndimage.gaussian_filter(coarse, sigma=1.0, mode="wrap")
        if step > 1:
            fine = ndimage.zoom(coarse, step, order=1, prefilter=False, grid_mode=False)
        else:
            fine = coarse
        out += weight * fine[1 : rows + 1, 1 : cols + 1]
        weight *= 0.5
        scale /= 2.0
    sd = float(out.std())
    out -= float(out.mean())
    if sd > 0:
        out /= sd
    return out
