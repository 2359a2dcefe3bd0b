"""Validation measures of a probability-of-default model (pure functions).

References: Siddiqi (2017) *Intelligent Credit Scoring*, ch. 11 (KS, Gini, PSI);
Brier (1950) for the Brier score; Basel Committee WP14 (2005) for calibration by grade.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from agririsk.scoring.scorecard import grade_of

__all__ = [
    "discrimination",
    "calibration_by_grade",
    "min_loans_for_calibration",
    "lift_share",
    "by_credit_history",
    "psi",
    "psi_table",
    "auc",
    "stratified_bootstrap",
]

#: calibration goal of issue #6: predicted default rate within this of the observed, per grade
CALIBRATION_TOLERANCE = 0.02
#: two-sided 95 % normal quantile
Z95 = 1.959964


def discrimination(y: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    """AUC, Gini (= 2 AUC − 1), KS (max |TPR − FPR|), Brier score and the default rates.

    Returns NaN for the rank measures when ``y`` holds a single class.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(pd_, dtype=float)
    out = {"n": int(y.size), "defaults": int(y.sum()), "default_rate": float(y.mean()) if y.size else np.nan,
           "mean_pd": float(p.mean()) if p.size else np.nan}
    if y.size and 0 < y.sum() < y.size:
        auc = float(roc_auc_score(y, p))
        fpr, tpr, _ = roc_curve(y, p)
        out.update(auc=auc, gini=2 * auc - 1, ks=float(np.max(tpr - fpr)), brier=float(brier_score_loss(y, p)))
    else:
        out.update(auc=np.nan, gini=np.nan, ks=np.nan, brier=float(np.mean((p - y) ** 2)) if y.size else np.nan)
    return out


def min_loans_for_calibration(pd_: float | np.ndarray, tolerance: float = CALIBRATION_TOLERANCE, z: float = Z95) -> np.ndarray:
    """Loans a grade needs before its observed default rate can test a calibration tolerance.

    Notes
    -----
    If the model is right, a grade of ``n`` loans with mean pd ``p`` shows an observed rate
    whose binomial standard deviation is ``sqrt(p (1 − p) / n)``. The check "predicted
    within ``tolerance`` of observed" can only separate a calibrated grade from a
    miscalibrated one when the 95 % interval of the observed rate is no wider than the
    tolerance: ``z · sqrt(p (1 − p) / n) ≤ tolerance``, i.e.

        n ≥ z² · p (1 − p) / tolerance²

    With a 2-point tolerance: 140 loans at p = 1.5 %, 330 at 3.5 %, 860 at 10 %, 2,020 at
    30 %. Smaller grades are reported, not judged.
    """
    p = np.asarray(pd_, dtype=float)
    return np.ceil(z**2 * p * (1 - p) / tolerance**2)


def calibration_by_grade(y: np.ndarray, pd_: np.ndarray, tolerance: float = CALIBRATION_TOLERANCE) -> pd.DataFrame:
    """Per grade: loans, mean predicted pd, observed default rate, their difference, and the check.

    Returns
    -------
    DataFrame indexed by grade with ``loans``, ``predicted``, ``observed``, ``difference``
    (observed − predicted), ``half_width`` (95 % binomial half-width of the observed rate
    at the predicted pd), ``min_loans`` (:func:`min_loans_for_calibration`), ``enough``
    (loans ≥ min_loans) and ``within`` (|difference| ≤ tolerance).
    """
    t = pd.DataFrame({"grade": grade_of(np.asarray(pd_, dtype=float)), "pd": pd_, "y": y})
    g = t.groupby("grade")
    out = pd.DataFrame({"loans": g.size(), "predicted": g["pd"].mean(), "observed": g["y"].mean()})
    out["difference"] = out["observed"] - out["predicted"]
    out["half_width"] = Z95 * np.sqrt(out["predicted"] * (1 - out["predicted"]) / out["loans"])
    out["min_loans"] = min_loans_for_calibration(out["predicted"].to_numpy(), tolerance).astype(int)
    out["enough"] = out["loans"] >= out["min_loans"]
    out["within"] = out["difference"].abs() <= tolerance
    return out.round(4)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney rank sum (ties count one half); NaN for one class.

    Notes
    -----
    Equal to :func:`sklearn.metrics.roc_auc_score` and much faster on small arrays, for the
    thousands of resamples of :func:`stratified_bootstrap`.
    """
    from scipy.stats import rankdata

    yv = np.asarray(y, dtype=bool)
    n1 = int(yv.sum())
    n0 = yv.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(np.asarray(score, dtype=float))
    return float((r[yv].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def stratified_bootstrap(
    strata: np.ndarray, statistic: Callable[[np.ndarray], float], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Statistic and its 95 % percentile interval, resampling rows within each stratum.

    Parameters
    ----------
    strata : stratum label of each row (e.g. the sample region's seed): every resample
        keeps each stratum's size, so a pooled figure stays a pool of the same regions.
    statistic : maps an index array (rows of the resample) to a number; NaN results
        (a resample with a single outcome class in a group) are dropped.
    n_boot, seed : resamples and their random seed.

    Returns
    -------
    (estimate on all rows, 2.5 % quantile, 97.5 % quantile).
    """
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in pd.unique(np.asarray(strata))]
    est = float(statistic(np.concatenate(groups)))
    draws = np.array([statistic(np.concatenate([rng.choice(g, g.size) for g in groups])) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return est, float(lo), float(hi)


def lift_share(auc: float, reference_auc: float) -> float:
    """Share of a reference model's lift over chance that a model achieves.

    Notes
    -----
    ``(AUC − 0.5) / (AUC_ref − 0.5)``; NaN when the reference has no lift.
    """
    if not np.isfinite(auc) or not np.isfinite(reference_auc) or reference_auc <= 0.5:
        return float("nan")
    return float((auc - 0.5) / (reference_auc - 0.5))


def by_credit_history(y: np.ndarray, pd_: np.ndarray, thin_file: np.ndarray) -> dict[str, dict[str, float]]:
    """:func:`discrimination` separately for farmers with and without (thin file) credit history.

    Returns
    -------
    ``{"with_history": {...}, "thin_file": {...}}``, each with ``n``, ``defaults``,
    ``default_rate``, ``mean_pd``, ``auc``, ``gini``, ``ks``, ``brier`` (NaN AUC for a
    group holding a single outcome class).
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(pd_, dtype=float)
    thin = np.asarray(thin_file, dtype=bool)
    return {"with_history": discrimination(y[~thin], p[~thin]), "thin_file": discrimination(y[thin], p[thin])}


def psi(expected: pd.Series, actual: pd.Series, bins: int = 10) -> float:
    """Population stability index of one feature between a reference and a new population.

    Notes
    -----
    ``PSI = Σ_i (a_i − e_i) ln(a_i / e_i)`` over bins of the reference's deciles (missing
    values are a bin of their own; shares floored at 1e-4). Rule of thumb: < 0.1 stable,
    0.1–0.25 some shift, > 0.25 a shift that needs attention.
    """
    e = pd.to_numeric(expected, errors="coerce").astype(float)
    a = pd.to_numeric(actual, errors="coerce").astype(float)
    values = np.unique(e.dropna())
    if values.size <= bins:  # a count or a flag: one bin per value seen in the reference
        edges = np.concatenate([values[:-1] + np.diff(values) / 2, [np.inf]]) if values.size else np.array([np.inf])
    else:
        edges = np.unique(np.nanquantile(e, np.linspace(0, 1, bins + 1))[1:-1])
        edges = np.concatenate([edges, [np.inf]])

    def shares(v: pd.Series) -> np.ndarray:
        idx = np.searchsorted(edges, v.to_numpy(), side="right").clip(max=edges.size - 1)
        idx = np.where(v.isna().to_numpy(), edges.size, idx)
        counts = np.bincount(idx, minlength=edges.size + 1).astype(float)
        return np.maximum(counts / max(len(v), 1), 1e-4)

    se, sa = shares(e), shares(a)
    return float(np.sum((sa - se) * np.log(sa / se)))


def psi_table(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """PSI of each feature with a plain reading (stable / some shift / major shift)."""
    rows = []
    for f in features:
        if f in reference and f in current:
            v = psi(reference[f], current[f])
            rows.append((f, round(v, 3), "stable" if v < 0.1 else "some shift" if v < 0.25 else "major shift"))
    return pd.DataFrame(rows, columns=["feature", "psi", "reading"])
