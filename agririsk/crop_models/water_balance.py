"""Daily root-zone soil-water balance (FAO-56 single crop coefficient) and yield response (FAO-33).

:func:`run_season` runs one field and season from a daily weather table;
:func:`run_seasons` runs many fields at once on (day, field) arrays, one numpy step per
day, so a region's parcels x seasons cost milliseconds, not minutes.

The model, per day i (FAO-56 chapter 8):

- crop coefficient Kc: Kc_ini during L_ini, linear to Kc_mid over L_dev, Kc_mid over
  L_mid, linear to Kc_end over L_late (FAO-56 Fig. 25, eq. 66); ETc = Kc ET0 (eq. 56);
- root depth Zr grows linearly from Zr_min at sowing to Zr_max at the start of the
  mid-season stage; TAW = 1000 (theta_FC - theta_WP) Zr (eq. 82), with the water held per
  metre of soil from the texture (FAO-56 Table 19, middle of the range);
- readily available water RAW = p TAW (eq. 83), p from FAO-56 Table 22 adjusted for the
  evaporative demand, p = p_table + 0.04 (5 - ETc), 0.1 <= p <= 0.8 (Table 22 footnote);
- water stress coefficient Ks = (TAW - Dr) / ((1 - p) TAW) when Dr > RAW, else 1 (eq. 84);
  ETa = Ks Kc ET0 (eq. 80);
- depletion Dr,i = Dr,i-1 - P_i + ETa,i (eq. 85 without runoff, capillary rise or
  irrigation), bounded to [0, TAW]; rain above field capacity drains (deep percolation,
  eq. 88). Runoff is neglected (FAO-56 ch. 8 allows it for small daily rains; on heavy
  rains it makes this model slightly optimistic). Irrigated fields are refilled to field
  capacity whenever Dr would exceed RAW, so Ks = 1;
- relative yield by FAO-33 (Doorenbos & Kassam 1979):
  1 - Ya/Ym = Ky (1 - sum ETa / sum ETc), bounded to [0, 1].

References
----------
Allen, R.G., Pereira, L.S., Raes, D., Smith, M. (1998). FAO Irrigation and Drainage
Paper 56, chapters 6 and 8, Tables 11, 12, 19, 22.
Doorenbos, J., Kassam, A.H. (1979). Yield response to water. FAO Irrigation and Drainage
Paper 33.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from agririsk.crop_models.crops import CropParams, crop_params

__all__ = [
    "SeasonResult",
    "SeasonsResult",
    "SOIL_TAW_MM_PER_M",
    "run_season",
    "run_seasons",
    "taw_per_m",
]

logger = logging.getLogger(__name__)

#: Total available water per metre of root depth, mm/m: the middle of the
#: (theta_FC - theta_WP) range of FAO-56 Table 19, by USDA soil texture class.
SOIL_TAW_MM_PER_M: dict[str, float] = {
    "sand": 80.0,  # 0.05-0.11
    "loamy sand": 90.0,  # 0.06-0.12
    "sandy loam": 130.0,  # 0.11-0.15
    "loam": 155.0,  # 0.13-0.18
    "silt loam": 160.0,  # 0.13-0.19
    "silt": 180.0,  # 0.16-0.20
    "silty clay loam": 155.0,  # 0.13-0.18
    "silty clay": 160.0,  # 0.13-0.19
    "clay": 160.0,  # 0.12-0.20
}


def taw_per_m(soil: str | float) -> float:
    """Water held between field capacity and wilting point, mm per m of soil.

    ``soil`` is a texture class of :data:`SOIL_TAW_MM_PER_M` or a number in mm/m.
    """
    if isinstance(soil, int | float):
        if not 20 <= soil <= 300:
            raise ValueError(
                f"soil water holding {soil} mm/m is implausible; give 20-300 mm per m of soil"
            )
        return float(soil)
    key = str(soil).strip().lower().replace("_", " ")
    if key not in SOIL_TAW_MM_PER_M:
        raise ValueError(
            f"unknown soil texture {soil!r}; use one of {', '.join(SOIL_TAW_MM_PER_M)} or mm/m"
        )
    return SOIL_TAW_MM_PER_M[key]


@dataclass(frozen=True)
class SeasonResult:
    """One field's season.

    Attributes
    ----------
    relative_yield : Ya/Ym by FAO-33, 0-1 (1: no water-limited loss).
    etc_mm : potential crop ET, sum of Kc ET0 over the season (to date), mm.
    eta_mm : actual crop ET, sum of Ks Kc ET0, mm.
    stress_days : days with Ks < 1.
    irrigation_mm : water added to keep an irrigated field free of stress, mm.
    complete : False when the weather ends before the season does (a season to date).
    daily : per day: ``kc``, ``et0_mm``, ``etc_mm``, ``eta_mm``, ``ks``, ``precip_mm``,
        ``irrigation_mm``, ``depletion_mm`` (end of day), ``taw_mm``, ``raw_mm``, ``zr_m``, ``stage``.
    """

    relative_yield: float
    etc_mm: float
    eta_mm: float
    stress_days: int
    irrigation_mm: float
    complete: bool
    daily: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class SeasonsResult:
    """Many fields' seasons (arrays of one value per field, as in :class:`SeasonResult`)."""

    relative_yield: np.ndarray
    etc_mm: np.ndarray
    eta_mm: np.ndarray
    stress_days: np.ndarray
    irrigation_mm: np.ndarray
    complete: np.ndarray
    missing_days: np.ndarray
    daily: dict[str, np.ndarray] | None = field(default=None, repr=False)


def run_season(
    daily: pd.DataFrame,
    crop: str | CropParams,
    sowing_date: dt.date | str | pd.Timestamp,
    soil: str | float = "loam",
    irrigated: bool = False,
    *,
    stage_dates: Sequence[dt.date | str | pd.Timestamp] | None = None,
    initial_depletion: float = 0.0,
    latitude_deg: float | None = None,
) -> SeasonResult:
    """Run the FAO-56 soil-water balance for one field and season.

    Parameters
    ----------
    daily : indexed by date (daily, no gaps inside the season) with ``tmin_c``, ``tmax_c``
        (degC), ``precip_mm`` (mm/day) and optionally ``et0_mm`` (mm/day); units in
        ``daily.attrs["units"]`` are honoured (K, kg m-2 s-1 ...). Without ``et0_mm``, ET0 is
        Hargreaves (FAO-56 eq. 52) and ``latitude_deg`` is required.
    crop : a crop of the crop table (unknown names get ``other``) or a :class:`CropParams`.
    sowing_date : sowing (rice: transplanting) date.
    soil : texture class (default loam, 155 mm/m, FAO-56 Table 19) or mm per m of soil.
    irrigated : refill to field capacity whenever depletion would exceed RAW (Ks = 1).
    stage_dates : the observed last days of the four FAO-56 stages (initial, development,
        mid-season, late season = harvest), e.g. from the field's phenology; overrides
        the crop table's stage lengths.
    initial_depletion : root-zone depletion at sowing as a fraction of TAW (0: field
        capacity, as after snowmelt or heavy rain, FAO-56 ch. 8).
    latitude_deg : for Hargreaves ET0 when ``daily`` has no ``et0_mm``.

    Returns
    -------
    SeasonResult

    Raises
    ------
    ValueError
        The season has missing weather days, or no ET0 can be computed.

    Examples
    --------
    >>> days = pd.date_range("2024-05-01", periods=150)
    >>> w = pd.DataFrame({"tmin_c": 12.0, "tmax_c": 26.0, "precip_mm": 0.0, "et0_mm": 4.0}, index=days)
    >>> run_season(w, "maize", "2024-05-01", irrigated=True).relative_yield
    1.0
    """
    from agririsk.weather import _units

    params = crop if isinstance(crop, CropParams) else crop_params(crop)
    sow = pd.Timestamp(sowing_date).normalize()
    frame = daily.sort_index()
    frame.index = pd.DatetimeIndex(frame.index).normalize()
    units = daily.attrs.get("units", {}) if isinstance(daily.attrs.get("units"), dict) else {}

    def column(name: str, target: str) -> pd.Series:
        s = window[name].astype(float)
        s.attrs = {"units": units[name]} if name in units else {}
        return _units.convert(s, target, name)

    lengths = np.array(params.stage_lengths, dtype=int)
    if stage_dates is not None:
        ends = [pd.Timestamp(d).normalize() for d in stage_dates]
        if len(ends) != 4 or any(b <= a for a, b in zip([sow, *ends[:-1]], ends, strict=True)):
            raise ValueError(
                "stage_dates must be 4 increasing dates after sowing: the ends of the initial, "
                "development, mid-season and late-season stages"
            )
        lengths = np.diff([0, *[(e - sow).days + 1 for e in ends]]).astype(int)  # ends inclusive
    total = int(lengths.sum())
    if frame.empty or not frame.index.min() <= sow <= frame.index.max():
        span = (
            "nothing"
            if frame.empty
            else f"{frame.index.min():%Y-%m-%d}..{frame.index.max():%Y-%m-%d}"
        )
        raise ValueError(f"no weather on the sowing date {sow:%Y-%m-%d}; daily covers {span}")
    last = min(sow + pd.Timedelta(days=total - 1), frame.index.max())
    days = pd.date_range(sow, last, freq="D")  # a season to date when the weather ends early
    frame = frame.loc[~frame.index.duplicated()].reindex(days)
    window = frame
    precip = column("precip_mm", "mm/day").reindex(days).to_numpy()
    if "et0_mm" in window and window["et0_mm"].notna().all():
        et0 = column("et0_mm", "mm/day").reindex(days).to_numpy()
    else:
        if latitude_deg is None:
            raise ValueError(
                "daily has no et0_mm: pass latitude_deg so ET0 can be computed by Hargreaves"
            )
        from agririsk.weather.et0 import hargreaves_array

        et0 = hargreaves_array(
            column("tmin_c", "degC").reindex(days).to_numpy(),
            column("tmax_c", "degC").reindex(days).to_numpy(),
            latitude_deg,
            days.day_of_year,
        )
    missing = np.isnan(precip) | np.isnan(et0)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} day(s) without weather in the season, first "
            f"{days[np.flatnonzero(missing)[0]]:%Y-%m-%d}; fill short gaps first"
        )
    result = run_seasons(
        et0[:, None],
        precip[:, None],
        np.array([0]),
        _params_matrix([params], lengths[None, :]),
        soil_taw_mm_per_m=np.array([taw_per_m(soil)]),
        irrigated=np.array([irrigated]),
        initial_depletion=initial_depletion,
        keep_daily=True,
    )
    assert result.daily is not None
    table = pd.DataFrame({k: v[:, 0] for k, v in result.daily.items()}, index=days)
    table.index.name = "date"
    return SeasonResult(
        relative_yield=float(result.relative_yield[0]),
        etc_mm=float(result.etc_mm[0]),
        eta_mm=float(result.eta_mm[0]),
        stress_days=int(result.stress_days[0]),
        irrigation_mm=float(result.irrigation_mm[0]),
        complete=bool(result.complete[0]),
        daily=table,
    )


_PARAM_COLUMNS = (
    "l_ini",
    "l_dev",
    "l_mid",
    "l_late",
    "kc_ini",
    "kc_mid",
    "kc_end",
    "zr_min_m",
    "zr_max_m",
    "p_depletion",
    "ky",
)


def _params_matrix(
    params: Sequence[CropParams], lengths: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per-field parameter vectors from CropParams (stage lengths optionally overridden)."""
    out = {k: np.array([getattr(p, k) for p in params], dtype=float) for k in _PARAM_COLUMNS}
    if lengths is not None:
        for j, k in enumerate(("l_ini", "l_dev", "l_mid", "l_late")):
            out[k] = lengths[:, j].astype(float)
    return out


def crop_arrays(crops: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-field parameter vectors for :func:`run_seasons` from crop names."""
    known = {c: crop_params(c) for c in dict.fromkeys(crops)}
    return _params_matrix([known[c] for c in crops])


def run_seasons(
    et0_mm: np.ndarray,
    precip_mm: np.ndarray,
    sow_index: np.ndarray,
    params: dict[str, np.ndarray],
    *,
    soil_taw_mm_per_m: np.ndarray | float = SOIL_TAW_MM_PER_M["loam"],
    irrigated: np.ndarray | bool = False,
    initial_depletion: float = 0.0,
    keep_daily: bool = False,
) -> SeasonsResult:
    """The FAO-56 water balance of many fields at once (see the module notes for the model).

    Parameters
    ----------
    et0_mm, precip_mm : (day, field) arrays, mm/day; day 0 is the same calendar day for all.
    sow_index : (field,) row of the sowing day of each field (may differ per field).
    params : per-field vectors ``l_ini, l_dev, l_mid, l_late`` (days), ``kc_ini, kc_mid,
        kc_end``, ``zr_min_m, zr_max_m`` (m), ``p_depletion``, ``ky``; build them with
        :func:`crop_arrays`.
    soil_taw_mm_per_m : water held per metre of soil, per field or one value.
    irrigated : per field or one value.
    initial_depletion : fraction of TAW depleted at sowing.
    keep_daily : keep the daily state as (day, field) arrays in ``SeasonsResult.daily``.

    Returns
    -------
    SeasonsResult. A field whose season has a
    missing (NaN) day gets NaN results and ``missing_days > 0``; a season cut short by the
    end of the arrays is run to date (``complete`` False).
    """
    et0 = np.asarray(et0_mm, dtype=float)
    rain = np.asarray(precip_mm, dtype=float)
    n_days, n = et0.shape
    sow = np.asarray(sow_index, dtype=int)
    lens = np.stack([params[k] for k in ("l_ini", "l_dev", "l_mid", "l_late")], axis=1)
    ends = np.cumsum(lens, axis=1)
    total = ends[:, 3]
    taw_m = np.broadcast_to(np.asarray(soil_taw_mm_per_m, dtype=float), (n,))
    irr = np.broadcast_to(np.asarray(irrigated, dtype=bool), (n,))
    zr_min, zr_max = params["zr_min_m"], params["zr_max_m"]
    kc_ini, kc_mid, kc_end = params["kc_ini"], params["kc_mid"], params["kc_end"]
    p_tab = params["p_depletion"]

    dr = initial_depletion * taw_m * zr_min
    etc_sum, eta_sum, irr_sum = np.zeros(n), np.zeros(n), np.zeros(n)
    stress, missing, run_days = (
        np.zeros(n, dtype=int),
        np.zeros(n, dtype=int),
        np.zeros(n, dtype=int),
    )
    state = (
        {
            k: np.full((n_days, n), np.nan)
            for k in (
                "kc",
                "et0_mm",
                "etc_mm",
                "eta_mm",
                "ks",
                "precip_mm",
                "irrigation_mm",
                "depletion_mm",
                "taw_mm",
                "raw_mm",
                "zr_m",
                "stage",
            )
        }
        if keep_daily
        else {}
    )
    for t in range(n_days):
        age = t - sow
        active = (age >= 0) & (age < total)
        if not active.any():
            continue
        a = age.astype(float)
        kc = np.where(
            a < ends[:, 0],
            kc_ini,
            np.where(
                a < ends[:, 1],
                kc_ini + (kc_mid - kc_ini) * (a - ends[:, 0]) / np.maximum(lens[:, 1], 1),
                np.where(
                    a < ends[:, 2],
                    kc_mid,
                    kc_mid + (kc_end - kc_mid) * (a - ends[:, 2]) / np.maximum(lens[:, 3], 1),
                ),
            ),
        )  # eq. 66
        zr = zr_min + (zr_max - zr_min) * np.clip(a / np.maximum(ends[:, 1], 1), 0.0, 1.0)
        taw = taw_m * zr  # eq. 82
        e0, p_day = et0[t], rain[t]
        gap = active & (np.isnan(e0) | np.isnan(p_day))
        missing += gap
        e0 = np.where(np.isnan(e0), 0.0, e0)
        p_day = np.where(np.isnan(p_day), 0.0, p_day)
        etc = kc * e0  # eq. 56
        p = np.clip(p_tab + 0.04 * (5.0 - etc), 0.1, 0.8)  # Table 22 footnote
        raw = p * taw  # eq. 83
        ks = np.where(dr > raw, np.clip((taw - dr) / ((1 - p) * taw), 0.0, 1.0), 1.0)  # eq. 84
        ks = np.where(irr, 1.0, ks)
        eta = ks * etc  # eq. 80
        new = dr - p_day + eta  # eq. 85
        add = np.where(irr & (new > raw), np.maximum(new, 0.0), 0.0)
        new = np.clip(new - add, 0.0, taw)  # drainage above field capacity, eq. 88
        dr = np.where(active, new, dr)
        etc_sum += np.where(active, etc, 0.0)
        eta_sum += np.where(active, eta, 0.0)
        irr_sum += np.where(active, add, 0.0)
        stress += active & (ks < 1.0 - 1e-9)
        run_days += active
        if keep_daily:
            stage = np.select([a < ends[:, 0], a < ends[:, 1], a < ends[:, 2]], [0, 1, 2], 3)
            for k, v in (
                ("kc", kc),
                ("et0_mm", e0),
                ("etc_mm", etc),
                ("eta_mm", eta),
                ("ks", ks),
                ("precip_mm", p_day),
                ("irrigation_mm", add),
                ("depletion_mm", dr),
                ("taw_mm", taw),
                ("raw_mm", raw),
                ("zr_m", zr),
                ("stage", stage),
            ):
                state[k][t] = np.where(active, v, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(etc_sum > 0, eta_sum / etc_sum, 1.0)
    ry = np.clip(1.0 - params["ky"] * (1.0 - ratio), 0.0, 1.0)  # FAO-33
    bad = missing > 0
    if keep_daily:
        names = np.array(["initial", "development", "mid-season", "late season"], dtype=object)
        st = state["stage"]
        state["stage"] = np.where(np.isnan(st), None, names[np.nan_to_num(st).astype(int)])  # type: ignore[assignment]
    return SeasonsResult(
        relative_yield=np.where(bad, np.nan, ry),
        etc_mm=np.where(bad, np.nan, etc_sum),
        eta_mm=np.where(bad, np.nan, eta_sum),
        stress_days=np.where(bad, np.nan, stress.astype(float)),
        irrigation_mm=np.where(bad, np.nan, irr_sum),
        complete=run_days >= total,
        missing_days=missing,
        daily=state if keep_daily else None,
    )
