"""Crop physics of the sample region: phenology, canopy curves, water balance, yield.

Pure functions on numpy arrays (one element per field); the parameters come from
``agririsk/data/crops.csv``.
"""

from __future__ import annotations

import logging
from importlib import resources

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CROPS = ("maize", "soybean", "rice", "wheat", "other")
NDVI_SOIL = 0.15  # tilled mollisol
NDVI_STUBBLE = 0.20  # residue after harvest
NDVI_DRY_CANOPY = 0.17  # senesced, still standing crop above bare soil


def load_crops() -> pd.DataFrame:
    """The crop parameter table ``agririsk/data/crops.csv``, indexed by crop."""
    with resources.files("agririsk.data").joinpath("crops.csv").open("r") as fh:
        return pd.read_csv(fh).set_index("crop")


def double_logistic(
    t: np.ndarray | float,
    t_up: np.ndarray | float,
    s_up: np.ndarray | float,
    t_down: np.ndarray | float,
    s_down: np.ndarray | float,
    base: np.ndarray | float,
    amp: np.ndarray | float,
) -> np.ndarray:
    """Green-up and senescence as a product of two logistic curves.

    Notes
    -----
    v(t) = base + amp / (1 + exp(-(t - t_up)/s_up)) * (1 - 1 / (1 + exp(-(t - t_down)/s_down)))

    References
    ----------
    Beck, P.S.A. et al. (2006) Remote Sensing of Environment 100, 321-334 (double logistic
    NDVI model); Zhang, X. et al. (2003) Remote Sensing of Environment 84, 471-475.
    """
    up = 1.0 / (1.0 + np.exp(-(np.asarray(t) - t_up) / s_up))
    down = 1.0 / (1.0 + np.exp(-(np.asarray(t) - t_down) / s_down))
    return np.asarray(base + amp * up * (1.0 - down))


def crop_ndvi(
    t: float | np.ndarray,
    sow: np.ndarray,
    emergence_days: np.ndarray,
    days_to_peak: np.ndarray,
    harvest: np.ndarray,
    ndvi_peak: np.ndarray,
    senescence_shift: np.ndarray | float = 0.0,
) -> np.ndarray:
    """NDVI of a crop canopy on day ``t`` (same day axis as ``sow`` and ``harvest``).

    Bare soil before emergence, double-logistic green-up to ``ndvi_peak`` around
    ``sow + days_to_peak``, senescence towards harvest (earlier by ``senescence_shift``
    days under drought) down to a dry standing canopy, then an abrupt drop to stubble
    on the harvest day.

    Returns
    -------
    NDVI, one value per field.
    """
    emerge = sow + emergence_days
    peak = sow + days_to_peak
    t_up = (emerge + peak) / 2.0 - 3.0
    s_up = np.maximum((peak - emerge) / 9.0, 2.0)
    t_down = peak + 0.62 * (harvest - peak) - senescence_shift
    s_down = np.maximum((harvest - peak) / 9.0, 2.0)
    t = np.asarray(t, float)
    v = double_logistic(t, t_up, s_up, t_down, s_down, NDVI_SOIL, ndvi_peak - NDVI_SOIL)
    # the senesced canopy stays standing (dry leaves and stalks) until harvest
    up = 1.0 / (1.0 + np.exp(-(t - t_up) / s_up))
    down = 1.0 / (1.0 + np.exp(-(t - t_down) / s_down))
    dry = np.minimum(NDVI_DRY_CANOPY, ndvi_peak - NDVI_SOIL) * up * down
    return np.where(t >= harvest, NDVI_STUBBLE, v + dry)


def kc_curve(t: np.ndarray, sow: np.ndarray, crop: pd.DataFrame) -> np.ndarray:
    """FAO-56 single crop coefficient, linear between stage anchors.

    Stages: initial (sowing to emergence + 1/4 of development), development (to peak),
    mid-season (peak to 70 % of the peak-to-harvest span), late (to harvest).

    References
    ----------
    Allen et al. (1998) FAO-56, chapter 6, Fig. 25 and Table 12.
    """
    d = t - sow
    e = crop["emergence_days"].to_numpy(float)
    p = crop["days_to_peak"].to_numpy(float)
    h = crop["season_days"].to_numpy(float)
    ini, mid, end = (crop[c].to_numpy(float) for c in ("kc_ini", "kc_mid", "kc_end"))
    x_ini = e + 0.25 * (p - e)
    x_late = p + 0.5 * (h - p)
    kc = np.where(d < x_ini, ini, 0.0)
    dev = (d >= x_ini) & (d < p)
    kc = np.where(dev, ini + (mid - ini) * (d - x_ini) / np.maximum(p - x_ini, 1), kc)
    kc = np.where((d >= p) & (d < x_late), mid, kc)
    late = d >= x_late
    kc = np.where(late, mid + (end - mid) * (d - x_late) / np.maximum(h - x_late, 1), kc)
    return np.where((d < 0) | (d > h), 0.0, kc)


def water_balance(
    et0: np.ndarray,
    rain: np.ndarray,
    sow: np.ndarray,
    crop: pd.DataFrame,
    taw_mm: np.ndarray,
    unlimited: np.ndarray,
    p_depletion: float = 0.55,
) -> tuple[np.ndarray, np.ndarray]:
    """Daily root-zone bucket (FAO-56 ch. 8) over one season; flowering-weighted ETa/ETc.

    Parameters
    ----------
    et0, rain : (days, fields) reference ET and rain at each field's station, mm/day;
        day 0 is the season's day axis origin (same axis as ``sow``).
    sow : sowing day per field.
    crop : crops.csv rows, one per field.
    taw_mm : total available water of the root zone, mm.
    unlimited : fields not water-limited (irrigated, paddy rice).
    p_depletion : fraction of TAW depleted before stress starts (FAO-56 Table 22).

    Returns
    -------
    (relative ET, weighted toward flowering, 0-1; days of stress)

    Notes
    -----
    Dr_t = clip(Dr_{t-1} - Peff_t + ETa_t, 0, TAW); Ks = (TAW - Dr)/((1 - p) TAW) when
    Dr > p TAW; ETa = Ks Kc ET0. Peff = P - runoff, runoff = 0.3 (P - 25) above 25 mm.
    Weight 1 + 2 exp(-((t - peak)/15)^2) emphasises flowering (FAO-33 stage sensitivity).
    """
    n_days, n = et0.shape
    dr = 0.25 * taw_mm  # spring soil moist after snowmelt
    raw = p_depletion * taw_mm
    peak = sow + crop["days_to_peak"].to_numpy(float)
    eta_sum = np.zeros(n)
    etc_sum = np.zeros(n)
    stress_days = np.zeros(n)
    for t in range(n_days):
        kc = kc_curve(np.full(n, t, float), sow, crop)
        etc = kc * et0[t]
        p = rain[t]
        peff = p - 0.3 * np.maximum(p - 25.0, 0.0)
        ks = np.where(dr > raw, np.clip((taw_mm - dr) / ((1 - p_depletion) * taw_mm), 0, 1), 1.0)
        ks = np.where(unlimited, 1.0, ks)
        eta = ks * etc
        dr = np.clip(dr - peff + eta, 0.0, taw_mm)
        w = 1.0 + 2.0 * np.exp(-(((t - peak) / 15.0) ** 2))
        eta_sum += w * eta
        etc_sum += w * etc
        stress_days += (ks < 0.9) & (kc > 0)
    rel = np.where(etc_sum > 0, eta_sum / np.maximum(etc_sum, 1e-9), 1.0)
    return rel, stress_days


def water_limited_yield(rel_et: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Relative yield from water: FAO-33 ``1 - ky (1 - ETa/ETc)``, floored at 0.

    References
    ----------
    Doorenbos, J. and Kassam, A.H. (1979) FAO Irrigation and Drainage Paper 33.
    """
    return np.clip(1.0 - ky * (1.0 - rel_et), 0.0, 1.0)


def heat_yield_factor(
    tmax: np.ndarray, t_axis: np.ndarray, peak: np.ndarray, threshold: float = 33.0
) -> np.ndarray:
    """Yield loss to heat at flowering: -1 % per degree-day above ``threshold`` within +-10 d of peak.

    ``tmax`` is (days, fields), ``t_axis`` the day numbers of its rows.
    """
    near = np.abs(t_axis[:, None] - peak[None, :]) <= 10
    dd = np.sum(np.maximum(tmax - threshold, 0.0) * near, axis=0)
    return np.clip(1.0 - 0.01 * dd, 0.5, 1.0)
