"""Hail or flood? The likelihood of a collapsed field's trajectory under each signature.

Pure functions over one parcel's clear views (the arrays of
:func:`agririsk.monitoring.detectors.detect_imagery_obs`), used by the imagery detector to
name a canopy collapse it found (docs/monitoring.md, "Naming a collapse: hail or flood").

Notes
-----
After hail the field keeps ``0.3 + 0.4 min(s / 25, 1)`` of its own green amplitude ``s``
days on; after a flood ``0.15 + 0.3 clip((s - 10) / 30, 0, 1)``, with open water on the
field for about 10 days (docs/sample-region.md §3; the hail figures are those of crop
hail-damage trials, ~70 % of the leaf area back within a month for defoliation around
flowering, Vorst 1991, "Assessing hail damage to soybeans", Iowa State Univ. Ext. PM-1266;
a flood's canopy is killed for as long as the roots sit in water, Kozlowski 1984,
"Plant responses to flooding of soil", BioScience 34:162). The field's canopy as a share
of its peers', ``f``, is then ``r x share(s)``, ``r`` the field's share before the event.

For a collapse first seen on view ``i``, the event fell after the previous clear view:
hail on any day of that interval, a flood on a storm day of it (a flood needs the rain).
The views ``i .. n`` give

    L(kind) = sum over (event day e, r) of p(e) p(r) prod_j p(f_j | r share(day_j - e))
              prod_j p(water_j | kind, day_j - e),

``p(e)`` uniform over the kind's candidate days, ``p(r)`` normal around the field's
share before the drop (sd ``R_SD``), ``p(f_j | mu)`` a Student t (4 degrees of freedom,
heavy tails: the view-to-view change of ``f`` on event-free fields has a standard
deviation of 0.09 but a robust one of 0.05) with scale ``F_SCALE + F_SCALE_REL mu``, and
the water terms from how often a flooded, hail-struck or undamaged field shows open water
above its peers' (``WATER_P``). ``log L(flood) - log L(hail)`` is returned.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HAIL", "FLOOD", "share", "flood_log_ratio", "water_state"]

HAIL = "hail"
FLOOD = "flood"

#: the Student-t scale of an observed canopy share around its prediction ``mu``:
#: ``F_SCALE + F_SCALE_REL * mu`` (the NDVI noise, and the drift of the field's share
#: relative to its peers, which grows with the canopy)
F_SCALE = 0.04
F_SCALE_REL = 0.08
#: degrees of freedom of that Student t
F_DOF = 4.0
#: the field's share of its peers' canopy before the event: normal around the share on the
#: previous comparable view (clipped to 0.6-1.2), with this sd; 0.93 +- 0.25 without one
#: (the median and about the spread of event-free fields at the peers' plateau)
R_SD = 0.15
R_DEFAULT = 0.93
R_DEFAULT_SD = 0.25
R_GRID = np.linspace(0.4, 1.6, 25)
#: probability that a view shows open water above the peers' (peers dry), by kind and days
#: since the event: a flood's water stands ~10 days (almost surely seen within a week,
#: less surely in the days it drains, now and then in the 10 days after); hail and
#: undamaged fields rarely show it (seeds 0-41: 148 of 148 flood views 0-10 days on,
#: 17 % 11-20 days on, 2.2 % of hail views, 0.1 % of event-free views)
WATER_P = {"flood_week": 0.95, "flood_drain": 0.6, "flood_after": 0.15, "dry": 0.02}
#: a view's water only counts when its peers are dry (median NDWI at most this): a paddy's
#: peers stand in water too, and a flooded paddy shows little more (1 of 9 such views)
PEERS_DRY_NDWI = -0.15
#: only the views at most this many days after the event are compared with a signature
#: (both have stopped changing by then)
HORIZON_DAYS = 45


def share(kind: str, since: np.ndarray) -> np.ndarray:
    """The field's canopy as a share of its own undamaged canopy ``since`` days after ``kind``.

    Parameters
    ----------
    kind : ``"hail"`` or ``"flood"``.
    since : days since the event (>= 0).

    Returns
    -------
    ndarray of the same shape: hail ``0.3 + 0.4 min(since / 25, 1)``; flood
    ``0.15 + 0.3 clip((since - 10) / 30, 0, 1)`` (docs/sample-region.md §3).
    """
    s = np.asarray(since, float)
    if kind == HAIL:
        return 0.3 + 0.4 * np.clip(s / 25.0, 0.0, 1.0)
    if kind == FLOOD:
        return 0.15 + 0.3 * np.clip((s - 10.0) / 30.0, 0.0, 1.0)
    raise ValueError(f"share: unknown kind {kind!r}; use 'hail' or 'flood'")


def water_state(ndwi: np.ndarray, ref_ndwi: np.ndarray, wet: np.ndarray) -> np.ndarray:
    """Per view: 1.0 open water above the peers', 0.0 none, NaN unknown.

    Unknown where NDWI or the peers' NDWI is missing, or where the peers themselves stand
    in water (``ref_ndwi > PEERS_DRY_NDWI``: paddies), which hides a flood's water.
    """
    known = ~np.isnan(ndwi) & ~np.isnan(ref_ndwi) & (ref_ndwi <= PEERS_DRY_NDWI)
    return np.where(known, wet.astype(float), np.nan)


def _water_p(kind: str, since: np.ndarray) -> np.ndarray:
    if kind == HAIL:
        return np.full(np.shape(since), WATER_P["dry"])
    return np.select(
        [since <= 7, since <= 10, since <= 20],
        [WATER_P["flood_week"], WATER_P["flood_drain"], WATER_P["flood_after"]],
        WATER_P["dry"],
    )


def _log_t(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Log density of a Student t with ``F_DOF`` degrees of freedom and ``scale``."""
    nu = F_DOF
    z = x / scale
    # log Gamma((nu+1)/2) - log Gamma(nu/2) - log sqrt(nu pi) for nu = 4: log(3/8)
    return np.log(3.0 / 8.0) - np.log(scale) - (nu + 1) / 2 * np.log1p(z * z / nu)


def _log_likelihood(
    kind: str,
    candidates: np.ndarray,
    day: np.ndarray,
    f: np.ndarray,
    water: np.ndarray,
    r0: float,
) -> float:
    """log of the mean over event days ``candidates`` and ``r`` of the views' likelihood."""
    if not len(candidates):
        return -np.inf
    since = (day[None, :] - candidates[:, None]).astype("timedelta64[D]").astype(float)
    use_f = ~np.isnan(f)[None, :] & (since >= 0) & (since <= HORIZON_DAYS)
    mu = R_GRID[:, None, None] * share(kind, np.maximum(since, 0))[None, :, :]
    lf = _log_t(np.nan_to_num(f)[None, None, :] - mu, F_SCALE + F_SCALE_REL * mu)
    lf = np.where(use_f[None, :, :], lf, 0.0).sum(axis=2)  # (r, candidate)
    p = _water_p(kind, since)
    seen = ~np.isnan(water)[None, :] & (since >= 0)
    lw = np.where(seen, np.where(water[None, :] > 0.5, np.log(p), np.log1p(-p)), 0.0).sum(1)
    if np.isfinite(r0):
        centre, sd = float(np.clip(r0, 0.6, 1.2)), R_SD
    else:
        centre, sd = R_DEFAULT, R_DEFAULT_SD
    lr = -0.5 * ((R_GRID - centre) / sd) ** 2
    lr -= np.logaddexp.reduce(lr)
    total = lf + lw[None, :] + lr[:, None] - np.log(len(candidates))
    return float(np.logaddexp.reduce(total.ravel()))


def flood_log_ratio(
    day: np.ndarray,
    f: np.ndarray,
    water: np.ndarray,
    after: np.datetime64,
    drop: np.datetime64,
    storms: np.ndarray,
    r0: float,
) -> float:
    """``log L(flood) - log L(hail)`` of a collapse seen on ``drop`` (module Notes).

    Parameters
    ----------
    day : dates (datetime64[D]) of the views used: the drop view and those after it up to
        the one the name is given on.
    f : the field's canopy as a share of its peers' on those views (NaN: not comparable,
        or the peers past their plateau).
    water : :func:`water_state` of those views.
    after : the previous clear view: the event fell after it.
    drop : the view that first shows the collapse (the event fell on it or before).
    storms : storm days (datetime64[D]); a flood falls on one of those in ``(after, drop]``.
    r0 : the field's share of its peers' canopy before the event (NaN: unknown).

    Returns
    -------
    float: > 0 favours a flood, < 0 hail; ``-inf`` without a storm in the interval.
    """
    day = np.asarray(day, "datetime64[D]")
    lo, hi = np.array([after, drop], dtype="datetime64[D]")
    storms = np.unique(np.asarray(storms, "datetime64[D]"))
    flood_days = storms[(storms > lo) & (storms <= hi)]
    if not len(flood_days):
        return -np.inf
    hail_days = np.arange(lo + 1, hi + 1, dtype="datetime64[D]")
    f = np.asarray(f, float)
    water = np.asarray(water, float)
    return _log_likelihood(FLOOD, flood_days, day, f, water, r0) - _log_likelihood(
        HAIL, hail_days, day, f, water, r0
    )
