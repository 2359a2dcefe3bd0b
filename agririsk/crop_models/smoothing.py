"""Gap-filled, cloud-resistant daily vegetation index series: a weighted Whittaker smoother.

The parcel time series of :func:`agririsk.imagery.parcel_series` has one row per parcel
and item, irregular in time and contaminated by clouds the mask missed (they make NDVI
too *low*). This module puts each parcel-season on a daily grid and fits

.. math::

    \\hat z = \\arg\\min_z \\sum_i w_i (y_i - z_i)^2 + \\lambda \\sum_i (\\Delta^d z_i)^2
    \\quad\\Leftrightarrow\\quad (W + \\lambda D_d^\\top D_d)\\, z = W y

(Eilers 2003), with ``w_i = 0`` on days without an observation, which gap-fills. The
prior weight of an observation is its clear fraction. The fit is then repeated with
negative residuals down-weighted (Tukey's bisquare on ``r / (c s)``, ``s`` a robust
residual scale), so that the curve follows the *upper envelope* of the observations as
in Chen et al. (2004) and TIMESAT (Jönsson & Eklundh 2004).

Every parcel of a season shares the daily grid and the penalty, so the pentadiagonal
systems of many parcels are factorised together by a banded Cholesky whose loop over the
days is vectorised over parcels: the cost is linear in parcels and days. The arrays stay
in the solver's day-major layout through the robustness iterations, and the residual
medians and weights are computed on the observations only (some 20 a season, against
the window's 224 days), which gives the same floats as the dense formulation.

References
----------
Eilers, P.H.C. (2003) A perfect smoother. Analytical Chemistry 75, 3631-3636.
Chen, J. et al. (2004) A simple method for reconstructing a high-quality NDVI time-series
data set based on the Savitzky-Golay filter. Remote Sensing of Environment 91, 332-344.
Jönsson, P., Eklundh, L. (2004) TIMESAT - a program for analyzing time-series of
satellite sensor data. Computers & Geosciences 30, 833-845.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr
from scipy.linalg import solveh_banded

from agririsk.errors import MissingColumnError
from agririsk.region import Season

__all__ = [
    "whittaker",
    "smooth_series",
    "value_column",
    "DEFAULT_LAMBDA",
    "MIN_CLEAR_FRACTION",
    "MARGIN_DAYS",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Smoothing parameter on a daily grid with second differences. The smoother's
#: half-power period is about 2 pi lambda^(1/4) days: 20 d for 100, i.e. it keeps a
#: three-week green-up and a harvest drop, and smooths over single noisy dates.
DEFAULT_LAMBDA = 100.0
#: Observations of a parcel with a smaller clear share are not used.
MIN_CLEAR_FRACTION = 0.3
#: Days added before and after each season window, so that the pre- and post-season
#: base levels are seen.
MARGIN_DAYS = 20
#: The smoothed curve is not extrapolated farther than this beyond the first or last
#: observation (days); beyond, the daily series is NaN.
MAX_EXTRAPOLATION_DAYS = 10
#: Robustness iterations and the bisquare tuning constant (in robust residual scales).
N_ITER = 3
BISQUARE_C = 4.0
#: Floor of the robust residual scale (NDVI units): sensor noise of a parcel mean.
MIN_SCALE = 0.02
#: Series tried in order when no value column is given.
VALUE_COLUMNS = ("ndvi_p50", "ndvi_mean")
#: Upper bound of stacked unknowns per banded solve (bounds memory, ~40 MB).
_CHUNK = 1_000_000
#: Parcels smoothed together: enough to amortise the solver's per-day Python loop, few
#: enough to bound its working memory (~10 arrays of days x parcels, ~70 MB).
_BATCH = 4096


def value_column(series: pd.DataFrame, candidates: Sequence[str] = VALUE_COLUMNS) -> str:
    """The first of ``candidates`` present in ``series`` (the median NDVI, else the mean).

    Raises
    ------
    MissingColumnError
        When none is present.
    """
    for c in candidates:
        if c in series.columns:
            return c
    raise MissingColumnError(
        f"The parcel series has none of the columns {list(candidates)}; "
        "build it with agririsk.imagery.parcel_series."
    )


@functools.lru_cache(maxsize=16)
def _penalty_bands(n_days: int, d: int) -> list[FloatArray]:
    """Upper diagonals 0..d of D_d' D_d for one series of ``n_days`` (index k: k-th diagonal)."""
    eye = np.eye(n_days)
    dmat = np.diff(eye, n=d, axis=0)
    p = dmat.T @ dmat
    return [np.diagonal(p, k).copy() for k in range(d + 1)]


def _solve_spd_band2(a0: FloatArray, a1: FloatArray, a2: FloatArray, b: FloatArray) -> FloatArray:
    """Solve many symmetric positive definite pentadiagonal systems at once.

    ``a0`` (T, n) is the diagonal of each system (column k is system k); ``a1`` (T,) and
    ``a2`` (T,) are the first and second sub-diagonals, shared by all systems
    (``a1[j] = A[j + 1, j]``; trailing entries unused); ``b`` (T, n) the right-hand sides,
    overwritten by the solution (which is returned). Banded Cholesky ``A = L L'``, then
    two substitutions: a loop over T whose steps are vectorised over the n systems.
    """
    t = a0.shape[0]
    inv = np.empty_like(a0)  # 1 / L[j, j]
    l1 = np.empty_like(a0)  # L[j + 1, j] (row t - 1 unused)
    l2 = np.empty_like(a0)  # L[j + 2, j] (rows t - 2, t - 1 unused)
    d = np.empty(a0.shape[1])
    tmp = np.empty(a0.shape[1])
    for j in range(t):
        d[:] = a0[j]
        if j >= 1:
            np.multiply(l1[j - 1], l1[j - 1], out=tmp)
            d -= tmp
        if j >= 2:
            np.multiply(l2[j - 2], l2[j - 2], out=tmp)
            d -= tmp
        np.sqrt(d, out=d)
        np.divide(1.0, d, out=inv[j])
        if j + 1 < t:
            if j >= 1:
                np.multiply(l2[j - 1], l1[j - 1], out=tmp)
                np.subtract(a1[j], tmp, out=l1[j])
                l1[j] *= inv[j]
            else:
                np.multiply(inv[j], a1[j], out=l1[j])
        if j + 2 < t:
            np.multiply(inv[j], a2[j], out=l2[j])
    y = b
    for j in range(t):
        if j >= 1:
            np.multiply(l1[j - 1], y[j - 1], out=tmp)
            y[j] -= tmp
        if j >= 2:
            np.multiply(l2[j - 2], y[j - 2], out=tmp)
            y[j] -= tmp
        y[j] *= inv[j]
    for j in range(t - 1, -1, -1):
        if j + 1 < t:
            np.multiply(l1[j], y[j + 1], out=tmp)
            y[j] -= tmp
        if j + 2 < t:
            np.multiply(l2[j], y[j + 2], out=tmp)
            y[j] -= tmp
        y[j] *= inv[j]
    return y


def _whittaker2_t(wt: FloatArray, yt: FloatArray, lam: float) -> FloatArray:
    """Second-order Whittaker fit of many series in day-major layout.

    ``wt`` (T, n) weights (finite, >= 0; the caller guarantees it) and ``yt`` (T, n)
    values (finite; anything where the weight is 0), both C-contiguous, T > 2. Returns
    the (T, n) fits, NaN in the columns with 2 or fewer positive weights. The same
    arithmetic, element by element, as :func:`whittaker`, which calls it.
    """
    t = wt.shape[0]
    ok = np.count_nonzero(wt > 0, axis=0) > 2
    if t <= 2:
        return np.where(ok, yt, np.nan)
    bands = _penalty_bands(t, 2)
    a0 = lam * bands[0][:, None] + wt
    a1 = np.zeros(t)
    a1[:-1] = lam * bands[1]
    a2 = np.zeros(t)
    a2[:-2] = lam * bands[2]
    rhs = wt * yt
    # every column is solved on its own: a singular one (too few weights) spoils only
    # itself, and is set to NaN
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = _solve_spd_band2(a0, a1, a2, rhs)
    z[:, ~ok] = np.nan
    return z


def whittaker(
    y: npt.ArrayLike, w: npt.ArrayLike, lam: float = DEFAULT_LAMBDA, *, d: int = 2
) -> FloatArray:
    """Weighted Whittaker smoother of many equally long series at once.

    Parameters
    ----------
    y : (n_series, n_days) values; NaN where there is no observation.
    w : (n_series, n_days) non-negative weights; NaN ``y`` gets weight 0.
    lam : smoothing parameter lambda (> 0); larger is smoother.
    d : order of the differences in the penalty (2: a discrete cubic spline in gaps).

    Returns
    -------
    (n_series, n_days) smoothed and gap-filled values. A series with ``d`` or fewer
    weighted observations has no unique solution and comes back NaN.

    Notes
    -----
    Solves :math:`(W + \\lambda D_d^\\top D_d) z = W y` per series (Eilers 2003, eq. 6).
    For ``d = 2`` (the default) the pentadiagonal systems of all series are factorised
    together by a banded Cholesky vectorised over the series; other orders use
    :func:`scipy.linalg.solveh_banded` on the stacked block-diagonal system.

    Examples
    --------
    >>> z = whittaker([[0.0, np.nan, 2.0, 3.0]], [[1, 1, 1, 1]], lam=1e-6)
    >>> np.round(z, 3).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    w = np.broadcast_to(np.asarray(w, dtype=float), y.shape).copy()
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    n, t = y.shape
    out = np.full((n, t), np.nan)
    if n == 0 or t == 0:
        return out
    miss = ~np.isfinite(y)
    w[miss | ~np.isfinite(w) | (w < 0)] = 0.0
    yz = np.where(miss, 0.0, y)
    ok = (w > 0).sum(axis=1) > d
    if t <= d:
        out[ok] = yz[ok]
        return out
    bands = _penalty_bands(t, d)
    rows = np.flatnonzero(ok)
    if d == 2:
        wt = np.ascontiguousarray(w[rows].T)  # (T, n): each step reads contiguous rows
        out[rows] = _whittaker2_t(wt, np.ascontiguousarray(yz[rows].T), lam).T
        return out
    per = max(1, _CHUNK // t)
    for lo in range(0, len(rows), per):
        sel = rows[lo : lo + per]
        m = len(sel)
        ab = np.zeros((d + 1, m * t))
        for k in range(d + 1):
            band = np.zeros(t)
            band[k:] = lam * bands[k]  # upper form: ab[d - k, j] = A[j - k, j]
            ab[d - k] = np.tile(band, m)
        ab[d] += w[sel].ravel()
        rhs = (w[sel] * yz[sel]).ravel()
        out[sel] = solveh_banded(ab, rhs, lower=False, check_finite=False).reshape(m, t)
    return out


def _bisquare_low(r: FloatArray, scale: FloatArray, c: float) -> FloatArray:
    """Weights in [0, 1]: 1 for r >= 0, Tukey's bisquare of r / (c scale) below."""
    u = r / (c * scale)
    wt = np.clip(1.0 - u**2, 0.0, 1.0) ** 2
    return np.where(r >= 0, 1.0, wt)


def _robust_fit_obs(
    col: npt.NDArray[np.intp],
    day: npt.NDArray[np.intp],
    y_obs: FloatArray,
    w0_obs: FloatArray,
    n: int,
    t: int,
    lam: float,
    n_iter: int,
    c: float,
) -> tuple[FloatArray, FloatArray]:
    """Upper-envelope Whittaker fit of ``n`` series from their observations only.

    The observations are given as ``(col, day)`` (series and day, sorted by series then
    day, one per pair) with values ``y_obs`` and prior weights ``w0_obs`` (> 0). Returns
    the (T, n) day-major fitted curves and the final weight of each observation. The
    residual medians and bisquare weights are computed on the observations alone, the
    fits in the day-major layout of the banded solver, so no (n, T) array is sorted or
    transposed; the arithmetic is element by element that of the dense formulation.
    """
    f = day * n + col  # flat index into the (T, n) layout
    y_flat = np.zeros(t * n)
    y_flat[f] = y_obs
    yt = y_flat.reshape(t, n)
    wt = np.zeros(t * n)
    wt[f] = w0_obs
    z = _whittaker2_t(wt.reshape(t, n), yt, lam)
    w_obs = w0_obs
    if n_iter <= 0 or n == 0:
        return z, w_obs
    n_obs = np.bincount(col, minlength=n)
    k = max(int(n_obs.max()), 1)
    first = np.cumsum(n_obs) - n_obs
    slot = np.arange(len(col)) - first[col]
    rows = np.arange(n)
    lo_i, hi_i = np.maximum(n_obs - 1, 0) // 2, np.maximum(n_obs, 1) // 2
    lo_i, hi_i = np.minimum(lo_i, k - 1), np.minimum(hi_i, k - 1)
    for _ in range(n_iter):
        r = y_obs - z.reshape(-1)[f]
        a = np.full((n, k), np.inf)
        a[col, slot] = np.abs(r)
        a.sort(axis=1)
        med = 0.5 * (a[rows, lo_i] + a[rows, hi_i])
        scale = 1.4826 * med
        scale = np.where(np.isfinite(scale), np.maximum(scale, MIN_SCALE), MIN_SCALE)
        w_obs = w0_obs * _bisquare_low(r, scale[col], c)
        wt = np.zeros(t * n)
        wt[f] = np.where(np.isfinite(w_obs) & (w_obs >= 0), w_obs, 0.0)
        z = _whittaker2_t(wt.reshape(t, n), yt, lam)
    return z, w_obs


def _season_windows(seasons: Iterable[Season], margin: int) -> tuple[list[Season], int]:
    seasons = list(seasons)
    lengths = [(s.end - s.start).days + 1 + 2 * margin for s in seasons]
    return seasons, max(lengths) if lengths else 0


def smooth_series(
    series: pd.DataFrame,
    seasons: Iterable[Season],
    *,
    value: str | None = None,
    lam: float = DEFAULT_LAMBDA,
    min_clear_fraction: float = MIN_CLEAR_FRACTION,
    margin_days: int = MARGIN_DAYS,
    n_iter: int = N_ITER,
    bisquare_c: float = BISQUARE_C,
) -> xr.Dataset:
    """Daily, gap-filled, cloud-resistant index curves per parcel and season.

    Parameters
    ----------
    series : tidy parcel series with ``parcel_id``, ``datetime``, ``clear_fraction`` and
        the ``value`` column (one row per parcel and item).
    seasons : season windows; each is widened by ``margin_days`` on both sides. All share
        one day axis, ``day`` = days since the widened window's start, so that the same
        ``day`` is the same time of season in every year.
    value : index column; default ``ndvi_p50`` when present, else ``ndvi_mean``.
    lam : Whittaker smoothing parameter for a daily grid (see :data:`DEFAULT_LAMBDA`).
    min_clear_fraction : observations with a smaller clear share get weight 0.
    margin_days : days added before and after each season window.
    n_iter : robustness (upper-envelope) iterations; 0 gives the plain weighted fit.
    bisquare_c : tuning constant of the down-weighting of negative residuals.

    Returns
    -------
    xarray.Dataset with dims ``(season, parcel_id, day)``:

    - ``smoothed`` (float32): the fitted curve, NaN farther than
      :data:`MAX_EXTRAPOLATION_DAYS` from the first or last observation;
    - ``observed`` (float32): the observation on its day, NaN elsewhere (several items
      of one day are averaged with their weights);
    - ``weight`` (float32): the prior weight (clear fraction; 0 where unobserved);
    - ``final_weight`` (float32): the weight after down-weighting negative residuals;

    coordinates ``season`` (window start of the season, ``datetime64``), ``season_end``,
    ``window_start`` and ``date`` (season, day). ``attrs`` records ``value``, ``lam``
    and the method.

    Notes
    -----
    Prior weight :math:`w^0_i` = clear fraction (0 below ``min_clear_fraction``). Each
    robustness step sets :math:`w_i = w^0_i\\,b(r_i)` with :math:`r_i = y_i - \\hat z_i`,
    :math:`b(r) = 1` for :math:`r \\ge 0` and :math:`(1 - (r / c s)^2)_+^2` below, where
    :math:`s = \\max(1.4826\\,\\mathrm{median}|r|, 0.02)` (Chen et al. 2004; Jönsson &
    Eklundh 2004, upper envelope).

    References
    ----------
    Eilers (2003) Anal. Chem. 75, 3631; Chen et al. (2004) RSE 91, 332; Jönsson & Eklundh
    (2004) Comput. Geosci. 30, 833.
    """
    value = value or value_column(series)
    for col in ("parcel_id", "datetime", "clear_fraction", value):
        if col not in series.columns:
            raise MissingColumnError(
                f"The parcel series lacks column {col!r}; build it with "
                "agririsk.imagery.parcel_series."
            )
    seasons, n_days = _season_windows(seasons, margin_days)
    pidx_all, uniques = pd.factorize(series["parcel_id"].astype(str))  # order of appearance
    parcels = pd.Index(uniques, name="parcel_id")
    n_p, n_s = len(parcels), len(seasons)
    shape = (n_s, n_p, n_days)
    smoothed = np.full(shape, np.nan, dtype=np.float32)
    observed = np.full(shape, np.nan, dtype=np.float32)
    weight = np.zeros(shape, dtype=np.float32)
    final = np.zeros(shape, dtype=np.float32)
    starts = [s.start - dt.timedelta(days=margin_days) for s in seasons]
    grid = np.arange(n_days)

    days_all = (
        pd.to_datetime(series["datetime"], utc=True).dt.tz_localize(None).dt.normalize()
    ).to_numpy(dtype="datetime64[D]")
    y_all = series[value].to_numpy(dtype=float)
    cf = series["clear_fraction"].to_numpy(dtype=float)
    w_all = np.where((cf >= min_clear_fraction) & np.isfinite(y_all), cf, 0.0)

    for k, start in enumerate(starts):
        day = (days_all - np.datetime64(start, "D")).astype(int)
        sel = (day >= 0) & (day < n_days) & (w_all > 0)
        flat = pidx_all[sel] * n_days + day[sel]
        wsum = np.bincount(flat, weights=w_all[sel], minlength=n_p * n_days)
        wy = np.bincount(flat, weights=w_all[sel] * y_all[sel], minlength=n_p * n_days)
        cnt = np.bincount(flat, minlength=n_p * n_days)
        pos = np.flatnonzero(cnt)  # observed (parcel, day), sorted by parcel then day
        pid, dy = np.divmod(pos, n_days)
        y_obs, w0_obs = wy[pos] / wsum[pos], wsum[pos] / cnt[pos]
        observed[k].reshape(-1)[pos] = y_obs
        weight[k].reshape(-1)[pos] = w0_obs
        bounds = np.searchsorted(pid, np.arange(0, n_p + _BATCH, _BATCH))
        for b, lo in enumerate(range(0, n_p, _BATCH)):  # batches small enough to stay in cache
            nb = min(_BATCH, n_p - lo)
            e = slice(bounds[b], bounds[b + 1])
            pc, d_b = pid[e] - lo, dy[e]
            if len(pc) == 0:  # no observation: the curves stay NaN, the weights 0
                continue
            z, w_obs = _robust_fit_obs(
                pc, d_b, y_obs[e], w0_obs[e], nb, n_days, lam, n_iter, bisquare_c
            )
            final[k, lo : lo + nb].reshape(-1)[pc * n_days + d_b] = w_obs
            n_obs = np.bincount(pc, minlength=nb)
            has = n_obs > 0
            ends = np.cumsum(n_obs)
            first_day = np.where(has, d_b[np.minimum(ends - n_obs, len(d_b) - 1)], n_days)
            last_day = np.where(has, d_b[np.maximum(ends - 1, 0)], -1)
            inside = (grid[:, None] >= (first_day - MAX_EXTRAPOLATION_DAYS)) & (
                grid[:, None] <= (last_day + MAX_EXTRAPOLATION_DAYS)
            )
            smoothed[k, lo : lo + nb] = np.where(inside, z, np.nan).T
    start64 = np.array(starts, dtype="datetime64[ns]")
    dates = start64[:, None] + np.arange(n_days).astype("timedelta64[D]")[None, :]
    dims = ("season", "parcel_id", "day")
    return xr.Dataset(
        {
            "smoothed": (dims, smoothed),
            "observed": (dims, observed),
            "weight": (dims, weight),
            "final_weight": (dims, final),
        },
        coords={
            "season": np.array([s.start for s in seasons], dtype="datetime64[ns]"),
            "season_end": ("season", np.array([s.end for s in seasons], dtype="datetime64[ns]")),
            "window_start": ("season", start64),
            "parcel_id": parcels.to_numpy(dtype=object),
            "day": np.arange(n_days),
            "date": (("season", "day"), dates),
        },
        attrs={
            "value": value,
            "lam": lam,
            "margin_days": margin_days,
            "method": "weighted Whittaker (d=2), upper envelope (bisquare on negative residuals)",
        },
    )
