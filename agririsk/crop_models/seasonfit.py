"""A parametric season: a double-logistic curve fitted to each parcel's clear NDVI views.

>>> fit = fit_double_logistic(t, y, theta0)                           # doctest: +SKIP
>>> feats = season_fit_features(smooth_series(series, seasons))     # doctest: +SKIP

The model (Beck et al. 2006, with a separate base before and after the season as in the
half-season logistics of Zhang et al. 2003):

.. math::

    f(t) = b_0 + (p - b_0)\\,U(t) - (p - b_1)\\,D(t), \\quad
    U = \\sigma\\!\\left(\\frac{t - t_u}{s_u}\\right),\\;
    D = \\sigma\\!\\left(\\frac{t - t_d}{s_d}\\right)

with :math:`\\sigma` the logistic function: :math:`b_0` the base before the season,
:math:`b_1` after it, :math:`p` the plateau, :math:`t_u, t_d` the green-up and
senescence inflection days (half-way up and half-way down) and :math:`s_u, s_d` their
time scales (days; the 10-90 % rise takes :math:`4.4\\,s`). Because the shape is known,
one view part-way along a slope places its inflection between sparse views, where a
smoother only interpolates (TIMESAT's function fitting, Jönsson & Eklundh 2004).

The fit is a Levenberg-Marquardt least squares (Marquardt 1963), batched over
parcel-seasons in numpy with a fixed number of iterations; the bounds are projected.
Initial values and bounds come from the parcel's own smoothed curve (never from a
declared crop). An inflection is reported only when it is identifiable: clear views on
both sides of it and at least one on its slope (the fitted logistic between 0.1 and
0.9); otherwise it is NaN, and so are the values that depend on it. Nothing is invented.

References
----------
Beck, P. et al. (2006) Improved monitoring of vegetation dynamics at very high latitudes:
a new method using MODIS NDVI. Remote Sensing of Environment 100, 321-334.
Jönsson, P., Eklundh, L. (2004) TIMESAT - a program for analyzing time-series of
satellite sensor data. Computers & Geosciences 30, 833-845.
Zhang, X. et al. (2003) Monitoring vegetation phenology using MODIS. Remote Sensing of
Environment 84, 471-475.
Marquardt, D. (1963) An algorithm for least-squares estimation of nonlinear parameters.
J. Soc. Ind. Appl. Math. 11, 431-441.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import xarray as xr

from agririsk.crop_models.phenology import MIN_AMPLITUDE, crossing

__all__ = [
    "double_logistic",
    "fit_double_logistic",
    "initial_guess",
    "after_harvest",
    "season_fit_features",
    "SeasonFit",
    "FIT_COLUMNS",
    "N_PARAMS",
    "N_ITER",
    "SLOPE_RANGE",
    "MAX_RMSE",
]

FloatArray = npt.NDArray[np.float64]

#: parameters of the curve: b0, b1, p, t_u, s_u, t_d, s_d
N_PARAMS = 7
#: Levenberg-Marquardt iterations (fixed, so the cost is known; the fits of the sample
#: region converge in fewer)
N_ITER = 40
#: bounds of the slopes' time scales s (days): 1.5 d is a 7-day rise, 25 d a 110-day one
SLOPE_RANGE = (1.5, 25.0)
#: an inflection may lie at most this many days beyond the smoothed peak (on its side)
PEAK_SLACK_DAYS = 15.0
#: the green-up inflection is at least this many days before the senescence one
MIN_LENGTH_DAYS = 10.0
#: a fit whose root-mean-square residual exceeds this (NDVI) is not a single season:
#: no dates are reported
MAX_RMSE = 0.08
#: a senescence brings the curve down by at least this share of the green-up's amplitude
MIN_DECLINE = 0.5
#: a view is "on a slope" when the fitted logistic of that slope is between these
ON_SLOPE = (0.1, 0.9)
#: views after the peak within this of the lowest one (NDVI) are stubble (:func:`after_harvest`)
FLOOR_NDVI = 0.05
#: feature columns of :func:`season_fit_features`
FIT_COLUMNS = (
    "fit_greenup_day",
    "fit_senescence_day",
    "fit_greenup_slope_days",
    "fit_senescence_slope_days",
    "fit_season_days",
    "fit_base_ndvi",
    "fit_amplitude",
    "fit_rmse",
    "fit_n_views",
)
#: parcel-seasons fitted together (keeps the (rows x views x 7) temporaries small)
_ROWS = 4096


def _expit(x: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, without overflow


def double_logistic(t: npt.ArrayLike, theta: npt.ArrayLike) -> FloatArray:
    """The curve at days ``t`` for parameters ``theta`` (``b0, b1, p, t_u, s_u, t_d, s_d``).

    Parameters
    ----------
    t : (n, m) or (m,) days.
    theta : (n, 7) or (7,) parameters.

    Returns
    -------
    Values of the shape of ``t``.

    Examples
    --------
    >>> theta = [0.2, 0.3, 0.8, 50.0, 5.0, 150.0, 7.0]
    >>> np.round(double_logistic([0.0, 50.0, 100.0, 150.0, 250.0], theta), 3).tolist()
    [0.2, 0.5, 0.8, 0.55, 0.3]
    """
    t = np.asarray(t, dtype=float)
    th = np.asarray(theta, dtype=float)
    b0, b1, p, tu, su, td, sd = (th[..., k, None] for k in range(N_PARAMS))
    if th.ndim == 1:
        b0, b1, p, tu, su, td, sd = (v[0] for v in (b0, b1, p, tu, su, td, sd))
    u = _expit((t - tu) / su)
    d = _expit((t - td) / sd)
    return np.asarray(b0 + (p - b0) * u - (p - b1) * d, dtype=float)


def _jacobian(t: FloatArray, th: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Model values and their (n, m, 7) derivatives with respect to the parameters."""
    b0, b1, p, tu, su, td, sd = (th[:, k, None] for k in range(N_PARAMS))
    xu, xd = (t - tu) / su, (t - td) / sd
    u, d = _expit(xu), _expit(xd)
    du, dd = u * (1.0 - u), d * (1.0 - d)
    f = b0 + (p - b0) * u - (p - b1) * d
    jac = np.stack(
        [
            1.0 - u,
            d,
            u - d,
            -(p - b0) * du / su,
            -(p - b0) * du * xu / su,
            (p - b1) * dd / sd,
            (p - b1) * dd * xd / sd,
        ],
        axis=-1,
    )
    return f, jac


@dataclass(frozen=True)
class SeasonFit:
    """Result of :func:`fit_double_logistic` (one row per curve).

    Attributes
    ----------
    theta : (n, 7) fitted ``b0, b1, p, t_u, s_u, t_d, s_d`` (NaN where not fitted).
    rmse : (n,) root-mean-square residual over the views used.
    n_views : (n,) views used.
    greenup_ok, senescence_ok : (n,) the inflection is identifiable (views on both sides
        and at least one on its slope, the slope's time scale below its upper bound) and
        the fit is one season (``rmse`` ≤ :data:`MAX_RMSE`, amplitude ≥
        ``MIN_AMPLITUDE``); the senescence must also bring the curve down by at least
        :data:`MIN_DECLINE` of the amplitude.
    """

    theta: FloatArray
    rmse: FloatArray
    n_views: npt.NDArray[np.int64]
    greenup_ok: npt.NDArray[np.bool_]
    senescence_ok: npt.NDArray[np.bool_]


def initial_guess(
    smoothed: npt.ArrayLike, t_first: npt.ArrayLike, t_last: npt.ArrayLike
) -> FloatArray:
    """Initial parameters from a smoothed daily curve (one row per parcel-season).

    Parameters
    ----------
    smoothed : (n, T) daily curve (NaN where unknown), day ``k`` = column ``k``.
    t_first, t_last : (n,) days of the first and last view (fallbacks for the crossings).

    Returns
    -------
    (n, 7) initial ``b0, b1, p, t_u, s_u, t_d, s_d``: the bases are the curve's minima
    before and after its maximum ``p``, the inflections its half-amplitude crossings
    (as the phenology's mid-green-up and senescence, without gap checks), the slopes
    6 days. NaN rows where the curve has no value.
    """
    z = np.atleast_2d(np.asarray(smoothed, dtype=float))
    n, n_day = z.shape
    t0 = np.asarray(t_first, dtype=float)
    t1 = np.asarray(t_last, dtype=float)
    has = np.isfinite(z).any(axis=1)
    zz = np.where(np.isfinite(z), z, -np.inf)
    peak_day = np.argmax(zz, axis=1)
    grid = np.arange(n_day)
    p = np.where(has, zz[np.arange(n), peak_day], np.nan)
    with np.errstate(invalid="ignore"):
        before = np.where(grid <= peak_day[:, None], z, np.nan)
        after = np.where(grid >= peak_day[:, None], z, np.nan)
    b0 = _nanmin_rows(before)
    b1 = _nanmin_rows(after)
    tu = crossing(z, b0 + 0.5 * (p - b0), before=peak_day + 1, upward=True)
    td = crossing(z, b1 + 0.5 * (p - b1), after=peak_day - 1, upward=False)
    tu = np.where(np.isfinite(tu), tu, np.clip(0.5 * (t0 + peak_day), t0, peak_day))
    td = np.where(np.isfinite(td), td, np.clip(0.5 * (t1 + peak_day), peak_day, t1))
    six = np.full(n, 6.0)
    theta = np.stack([b0, b1, p, tu, six, td, six], axis=1)
    theta[~has] = np.nan
    return theta


def _nanmin_rows(a: FloatArray) -> FloatArray:
    fin = np.isfinite(a)
    out = np.where(fin, a, np.inf).min(axis=1)
    return np.where(fin.any(axis=1), out, np.nan)


def _bounds(
    theta0: FloatArray, t_first: FloatArray, t_last: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Box bounds from the data: values in NDVI's range, inflections inside the views' span."""
    n = len(theta0)
    peak = np.clip(0.5 * (theta0[:, 3] + theta0[:, 5]), t_first, t_last)
    lo = np.empty((n, N_PARAMS))
    hi = np.empty((n, N_PARAMS))
    lo[:, 0:3], hi[:, 0:3] = -0.2, 1.0
    lo[:, 3], hi[:, 3] = t_first, np.minimum(peak + PEAK_SLACK_DAYS, t_last)
    lo[:, 5], hi[:, 5] = np.maximum(peak - PEAK_SLACK_DAYS, t_first), t_last
    lo[:, [4, 6]], hi[:, [4, 6]] = SLOPE_RANGE
    return lo, hi


def _project(th: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    th = np.clip(th, lo, hi)
    th[:, 5] = np.maximum(th[:, 5], np.minimum(th[:, 3] + MIN_LENGTH_DAYS, hi[:, 5]))
    return th


def fit_double_logistic(
    t: npt.ArrayLike,
    y: npt.ArrayLike,
    theta0: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    n_iter: int = N_ITER,
) -> SeasonFit:
    """Least-squares fit of :func:`double_logistic` to each row's views (Levenberg-Marquardt).

    Parameters
    ----------
    t, y : (n, m) days and values of the views; NaN pads rows with fewer views.
    theta0 : (n, 7) initial parameters (:func:`initial_guess`); a row with NaN is not
        fitted.
    weights : (n, m) weights of the views in [0, 1] (default 1), e.g. the robustness
        weights of an upper-envelope smoother, which discount views darkened by
        undetected haze or shadow. A view of weight < 0.5 neither counts in ``n_views``
        nor makes an inflection identifiable.
    n_iter : iterations (fixed).

    Returns
    -------
    :class:`SeasonFit`. The bounds: bases and plateau in [-0.2, 1]; the green-up
    inflection between the first view and 15 days after the initial peak (mid-point of
    the initial inflections), the senescence one between 15 days before it and the last
    view, and at least 10 days after the green-up; slopes in :data:`SLOPE_RANGE`.
    """
    t = np.atleast_2d(np.asarray(t, dtype=float))
    y = np.atleast_2d(np.asarray(y, dtype=float))
    th0 = np.atleast_2d(np.asarray(theta0, dtype=float))
    n = len(t)
    theta = np.full((n, N_PARAMS), np.nan)
    rmse = np.full(n, np.nan)
    wts = np.ones_like(t) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    wts = np.where(np.isfinite(t) & np.isfinite(y) & np.isfinite(wts), np.clip(wts, 0.0, 1.0), 0.0)
    used = (wts >= 0.5).sum(axis=1)
    g_ok = np.zeros(n, dtype=bool)
    s_ok = np.zeros(n, dtype=bool)
    for lo_row in range(0, n, _ROWS):
        sl = slice(lo_row, min(lo_row + _ROWS, n))
        out = _fit_block(t[sl], y[sl], wts[sl], th0[sl], n_iter)
        theta[sl], rmse[sl], g_ok[sl], s_ok[sl] = out
    return SeasonFit(
        theta=theta, rmse=rmse, n_views=used.astype(np.int64), greenup_ok=g_ok, senescence_ok=s_ok
    )


def _fit_block(
    t: FloatArray, y: FloatArray, wts: FloatArray, th0: FloatArray, n_iter: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    n = len(t)
    mask = wts >= 0.5
    n_obs = mask.sum(axis=1)
    fit = (n_obs >= N_PARAMS) & np.isfinite(th0).all(axis=1)
    theta = np.full((n, N_PARAMS), np.nan)
    rmse = np.full(n, np.nan)
    no = np.zeros(n, dtype=bool)
    if not fit.any():
        return theta, rmse, no, no.copy()
    m = mask[fit]  # the views that count (weight >= 0.5)
    valid = wts[fit] > 0
    tt = np.where(valid, t[fit], 0.0)
    yy = np.where(valid, y[fit], 0.0)
    w = np.sqrt(wts[fit])  # residuals scaled by sqrt(weight): weighted least squares
    t_first = np.where(m, tt, np.inf).min(axis=1)
    t_last = np.where(m, tt, -np.inf).max(axis=1)
    lo, hi = _bounds(th0[fit], t_first, t_last)
    th = _project(th0[fit].copy(), lo, hi)
    f, jac = _jacobian(tt, th)
    r = (f - yy) * w
    cost = (r * r).sum(axis=1)
    lam = np.full(len(th), 1e-2)
    eye = np.eye(N_PARAMS)
    for _ in range(n_iter):
        jw = jac * w[:, :, None]
        a = np.einsum("nmi,nmj->nij", jw, jw)
        g = np.einsum("nmi,nm->ni", jw, r)
        diag = np.einsum("nii->ni", a)
        damp = a + (lam[:, None] * (diag + 1e-9))[:, :, None] * eye
        step = -np.linalg.solve(damp, g[:, :, None])[:, :, 0]
        trial = _project(th + step, lo, hi)
        f_t, jac_t = _jacobian(tt, trial)
        r_t = (f_t - yy) * w
        cost_t = (r_t * r_t).sum(axis=1)
        better = np.isfinite(cost_t) & (cost_t < cost)
        th[better], cost[better] = trial[better], cost_t[better]
        r[better], jac[better] = r_t[better], jac_t[better]
        lam = np.where(better, np.maximum(lam / 3.0, 1e-7), np.minimum(lam * 4.0, 1e7))
    res = np.sqrt(cost / (w * w).sum(axis=1))
    b0, b1, p, tu, su, td, sd = th.T
    one_season = np.isfinite(res) & (res <= MAX_RMSE) & (p - b0 >= MIN_AMPLITUDE)
    theta[fit] = th
    rmse[fit] = res
    g_ok = no.copy()
    s_ok = no.copy()
    steep_up = su < SLOPE_RANGE[1] - 0.5  # a slope at its bound is not a logistic's
    steep_down = sd < SLOPE_RANGE[1] - 0.5
    g_ok[fit] = one_season & steep_up & _identified(tt, m, tu, su)
    # a senescence brings down most of the canopy, not a dip of the plateau
    s_ok[fit] = (
        one_season & steep_down & (p - b1 >= MIN_DECLINE * (p - b0)) & _identified(tt, m, td, sd)
    )
    return theta, rmse, g_ok, s_ok


def _identified(
    t: FloatArray, m: npt.NDArray[np.bool_], t0: FloatArray, s: FloatArray
) -> npt.NDArray[np.bool_]:
    """Views on both sides of the inflection ``t0`` and at least one on its slope."""
    frac = _expit((t - t0[:, None]) / s[:, None])
    before = (m & (t < t0[:, None])).any(axis=1)
    after = (m & (t > t0[:, None])).any(axis=1)
    on = (m & (frac >= ON_SLOPE[0]) & (frac <= ON_SLOPE[1])).any(axis=1)
    return np.asarray(before & after & on)


def after_harvest(y: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> npt.NDArray[np.bool_]:
    """The views at the post-season floor, after the harvest step: left out of the fit.

    The double logistic describes the canopy; the harvest is a step from the dry standing
    canopy down to stubble (``phenology``'s harvest), which a logistic would take for
    part of the senescence slope, pulling the senescence inflection late. The views
    after the season's highest view whose NDVI is within :data:`FLOOR_NDVI` of the
    lowest of them are therefore dropped, when there are at least two of them (one low
    view at the end of the series may be the decline itself, e.g. mid-season).

    Parameters
    ----------
    y : (n, m) values of the views in time order (NaN pads).
    weights : (n, m) view weights; views of weight < 0.5 neither set the peak nor the floor.

    Returns
    -------
    (n, m) boolean, True for the views to leave out.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    w = np.ones_like(y) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    ok = np.isfinite(y) & (w >= 0.5)
    n, m = y.shape
    if m == 0:
        return np.zeros((n, m), dtype=bool)
    peak = np.argmax(np.where(ok, y, -np.inf), axis=1)
    after = ok & (np.arange(m)[None, :] > peak[:, None])
    floor = np.where(after, y, np.inf).min(axis=1)
    low = after & (y <= floor[:, None] + FLOOR_NDVI)
    top = np.where(ok, y, -np.inf).max(axis=1)
    drop = (low.sum(axis=1) >= 2) & (top - floor >= MIN_AMPLITUDE)
    return np.asarray(low & drop[:, None])


def season_fit_features(
    daily: xr.Dataset,
    *,
    clear_view: float,
    offset_days: int,
    last_day: int | None = None,
) -> pd.DataFrame:
    """Double-logistic features of every parcel and season of a smoothed series.

    Parameters
    ----------
    daily : :func:`~agririsk.crop_models.smoothing.smooth_series` output (``observed``,
        ``weight`` and ``smoothed`` on the ``(season, parcel_id, day)`` grid).
    clear_view : views whose clear fraction (``weight``) is below this are not fitted.
    offset_days : the day axis's offset from the season start (the smoothing margin):
        days are reported since the season start.
    last_day : no view after this day of the axis is used (truncated seasons).

    Returns
    -------
    DataFrame indexed by ``(parcel_id, season_start)`` with :data:`FIT_COLUMNS`:
    the green-up and senescence inflection days (since the season start), their slopes'
    time scales (days), the days between them, the base before the season, the
    amplitude (plateau − base), the fit's RMSE and the views used. Days, slopes and
    length are NaN where the inflection is not identifiable (see module notes); base,
    amplitude and RMSE where the fit is not a season.
    """
    obs = daily["observed"].transpose("season", "parcel_id", "day").to_numpy().astype(float)
    wt = daily["weight"].transpose("season", "parcel_id", "day").to_numpy().astype(float)
    sm = daily["smoothed"].transpose("season", "parcel_id", "day").to_numpy().astype(float)
    n_season, n_parcel, n_day = obs.shape
    fw = daily["final_weight"].transpose("season", "parcel_id", "day").to_numpy().astype(float)
    good = np.isfinite(obs) & (wt >= clear_view)
    # the smoother's robustness weights: views far below its upper envelope count less
    with np.errstate(invalid="ignore", divide="ignore"):
        robust = np.where(wt > 0, fw / wt, 0.0).reshape(-1, n_day)
    if last_day is not None:
        good[:, :, last_day + 1 :] = False
        sm = sm.copy()
        sm[:, :, last_day + 1 :] = np.nan
    good = good.reshape(-1, n_day)
    obs = obs.reshape(-1, n_day)
    sm = sm.reshape(-1, n_day)
    n_max = max(int(good.sum(axis=1).max(initial=0)), 1)
    # pack each row's views to the left: (rows, n_max) days and values, NaN-padded
    order = np.argsort(~good, axis=1, kind="stable")[:, :n_max]
    rows = np.arange(len(good))[:, None]
    keep = good[rows, order]
    t = np.where(keep, order.astype(float), np.nan)
    y = np.where(keep, obs[rows, order], np.nan)
    rw = np.where(keep, robust[rows, order], 0.0)
    stubble = after_harvest(y, rw)
    t[stubble], y[stubble], rw[stubble] = np.nan, np.nan, 0.0
    keep &= ~stubble
    t_first = np.where(keep, t, np.inf).min(axis=1)
    t_last = np.where(keep, t, -np.inf).max(axis=1)
    sm = np.where(
        (np.arange(n_day) >= t_first[:, None]) & (np.arange(n_day) <= t_last[:, None]), sm, np.nan
    )
    theta0 = initial_guess(sm, t_first, t_last)
    res = fit_double_logistic(t, y, theta0, weights=rw)
    b0, b1, p, tu, su, td, sd = res.theta.T
    season_ok = np.isfinite(res.rmse) & (res.rmse <= MAX_RMSE) & (p - b0 >= MIN_AMPLITUDE)
    g, s = res.greenup_ok, res.senescence_ok
    cols = {
        "fit_greenup_day": np.where(g, tu - offset_days, np.nan),
        "fit_senescence_day": np.where(s, td - offset_days, np.nan),
        "fit_greenup_slope_days": np.where(g, su, np.nan),
        "fit_senescence_slope_days": np.where(s, sd, np.nan),
        "fit_season_days": np.where(g & s, td - tu, np.nan),
        "fit_base_ndvi": np.where(season_ok, b0, np.nan),
        "fit_amplitude": np.where(season_ok, p - b0, np.nan),
        "fit_rmse": res.rmse,
        "fit_n_views": res.n_views.astype(float),
    }
    starts = [pd.Timestamp(v).date() for v in daily["season"].to_numpy()]
    pids = daily["parcel_id"].to_numpy().astype(str)
    idx = pd.MultiIndex.from_product([starts, pids], names=["season_start", "parcel_id"])
    out = pd.DataFrame(cols, index=idx)[list(FIT_COLUMNS)]
    return out.swaplevel().sort_index()
