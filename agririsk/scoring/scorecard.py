"""The expert scorecard: points per factor band, calibrated to a stated portfolio default rate.

A bank with no loan outcomes of its own starts here. Each factor adds log-odds of default
for the band a farmer falls in; the bands and weights below are the written-down judgement
of the method, in the spirit of the "points per attribute" scorecards of Siddiqi (2017,
*Intelligent Credit Scoring*, ch. 3) and of the agricultural lending factors of the FAO
rural finance guides (repayment capacity, production risk, character, collateral/mitigants).
Once a bank has outcomes, a model trained on its history replaces these weights.

Scale (CONTRACTS.md §7): ``score = 600 + 20/ln 2 · (ln odds − ln 50)`` with odds = good:bad =
(1 − pd)/pd, so 600 points means odds of 50:1 and every 20 points doubles the odds.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from agririsk.crop_models.declared import OVERSTATEMENT_FLAG

__all__ = [
    "Band",
    "Factor",
    "DEFAULT_FACTORS",
    "ExpertScorecard",
    "pd_to_score",
    "grade_of",
    "GRADE_EDGES",
]

logger = logging.getLogger(__name__)

BASE_SCORE = 600.0
BASE_ODDS = 50.0
PDO = 20.0  # points to double the odds
#: upper pd bounds of grades A, B, C, D; above the last: E
GRADE_EDGES = (0.02, 0.05, 0.10, 0.20)


@dataclass(frozen=True)
class Band:
    """Values below ``upper`` (and at or above the previous band's) get ``weight`` log-odds.

    ``reason`` is a plain sentence template for a loan officer, filled with ``value``;
    bands without one never appear among the reasons.
    """

    upper: float
    weight: float
    reason: str | None = None


@dataclass(frozen=True)
class Factor:
    """One scorecard factor: the feature it reads and its bands.

    ``context`` names text features the reason sentences may quote besides ``value``
    (e.g. ``"Satellite images show {crop_mismatch_fields}"``); they never change a weight.
    An ``optional`` factor's feature may be absent from a feature table (one built before
    the feature existed, or by a run that cannot compute it): every row then counts as
    missing and gets ``missing_weight``.
    """

    name: str
    feature: str
    bands: tuple[Band, ...]
    missing_weight: float = 0.0
    missing_reason: str | None = None
    context: tuple[str, ...] = ()
    optional: bool = False

    def weights(
        self, values: pd.Series, context: pd.DataFrame | None = None
    ) -> tuple[np.ndarray, list[str | None]]:
        """Band weight (log-odds) and reason sentence (or None) of every value."""
        v = pd.to_numeric(values, errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        uppers = np.array([b.upper for b in self.bands])
        idx = np.searchsorted(uppers, v, side="right")
        idx = np.minimum(idx, len(self.bands) - 1)
        missing = ~np.isfinite(v)
        w = np.array([self.bands[i].weight for i in idx])
        w[missing] = self.missing_weight
        if self.context and context is None:
            raise ValueError(f"factor {self.name} needs the columns {list(self.context)} for its reasons")
        extras: list[dict[str, object]] = [{}] * len(v)
        if self.context and context is not None:
            text = context[list(self.context)]
            extras = text.astype(object).where(text.notna(), "").to_dict("records")
        reasons: list[str | None] = []
        for i, val, miss, extra in zip(idx, v, missing, extras, strict=True):
            template = self.missing_reason if miss else self.bands[i].reason
            reasons.append(None if template is None else template.format(value=val, **extra))
        return w, reasons


_INF = math.inf
_BURDEN = "Loan is {value:.1f} times the expected crop revenue"

#: The default factors. Weights are log-odds of default added by the band (+ = riskier).
DEFAULT_FACTORS: tuple[Factor, ...] = (
    # Repayment capacity: the loan against what the land can earn in a normal season.
    # The weights follow one curve, about ln(burden / 0.45) log-odds (the odds of default
    # rise in proportion to the loan-to-revenue ratio), in bands fine enough to separate
    # the ratios most loans have (0.3-1.0); see docs/scorecard.md.
    Factor(
        "loan_burden",
        "loan_burden",
        (
            Band(0.3, -0.6),
            Band(0.35, -0.3),
            Band(0.4, -0.2),
            Band(0.45, -0.1),
            Band(0.5, 0.0),
            Band(0.6, 0.2, _BURDEN),
            Band(0.7, 0.4, _BURDEN),
            Band(0.8, 0.5, _BURDEN),
            Band(1.0, 0.7, _BURDEN),
            Band(1.2, 0.9, _BURDEN),
            Band(_INF, 1.3, _BURDEN),
        ),
        missing_weight=0.5,
        missing_reason="Expected crop revenue unknown (no mapped fields)",
    ),
    # Production record: how the fields performed against same-crop fields in past seasons.
    Factor(
        "productivity",
        "productivity_pct",
        (
            Band(20, 0.8, "Field productivity in the lowest fifth of same-crop fields in past seasons"),
            Band(40, 0.3, "Field productivity below most same-crop fields in past seasons"),
            Band(70, 0.0),
            Band(_INF, -0.4),
        ),
        missing_weight=0.3,
        missing_reason="No clear satellite view of the fields in past seasons",
    ),
    # Management: the same fields against their neighbours (same soil and weather), which
    # leaves mostly the farmer; NDVI units of season peak, farm median over past field-seasons.
    Factor(
        "peer_productivity",
        "peer_productivity",
        (
            Band(-0.06, 0.5, "Crops grew less than on neighbouring fields of the same crop in past seasons"),
            Band(-0.03, 0.2),
            Band(0.03, 0.0),
            Band(_INF, -0.2),
        ),
        optional=True,
    ),
    Factor(
        "poor_seasons",
        "poor_seasons",
        (
            Band(1, 0.0),
            Band(2, 0.2),
            Band(_INF, 0.5, "{value:.0f} poor seasons out of the past seasons observed"),
        ),
    ),
    # Stability: crops that swing between years make repayment less certain.
    Factor(
        "stability",
        "peak_ndvi_cv",
        (
            Band(0.08, -0.1),
            Band(0.15, 0.1),
            Band(_INF, 0.4, "Crop vigour varied strongly between seasons"),
        ),
    ),
    # Weather exposure: how often the weather alone cut the farm's water-limited yield
    # (FAO-56 water balance with the FAO-33 yield response on the farm's own weather).
    Factor(
        "drought_frequency",
        "weather_drought_frequency",
        (
            Band(0.2, 0.0),
            Band(0.5, 0.3, "Drought cut the crop's water supply in {value:.0%} of past seasons"),
            Band(_INF, 0.6, "Drought cut the crop's water supply in {value:.0%} of past seasons"),
        ),
    ),
    Factor(
        "weather_yield",
        "weather_relative_yield_mean",
        (
            Band(0.7, 0.5, "Weather alone held expected yield to {value:.0%} of normal in past seasons"),
            Band(0.85, 0.2),
            Band(_INF, 0.0),
        ),
    ),
    # Honesty of the application: declared land against the land seen cropped, and the
    # declared crop against the crop seen (current season, once it has been classified).
    Factor(
        "area_ratio",
        "area_ratio",
        (
            Band(1.1, 0.0),
            Band(
                OVERSTATEMENT_FLAG,
                0.4,
                "Declared area is {value:.2f} times the area seen cropped on satellite images",
            ),
            Band(_INF, 1.0, "Declared area is {value:.1f} times the area seen cropped on satellite images"),
        ),
    ),
    Factor(
        "crop_mismatch",
        "crop_mismatch_share",
        (
            Band(0.05, 0.0),
            Band(0.5, 0.6, "Satellite images show {crop_mismatch_fields}"),
            Band(_INF, 1.0, "Satellite images show {crop_mismatch_fields}"),
        ),
        context=("crop_mismatch_fields",),
        optional=True,
    ),
    # Character: credit history.
    Factor(
        "prior_defaults",
        "prior_defaults",
        (
            Band(1, 0.0),
            Band(2, 1.0, "One earlier loan defaulted"),
            Band(_INF, 1.5, "{value:.0f} earlier loans defaulted"),
        ),
        missing_weight=0.2,
        missing_reason="No credit history",
    ),
    Factor("repaid_loans", "prior_loans", (Band(2, 0.0), Band(_INF, -0.3))),
    # Mitigants.
    Factor("insured", "insured", (Band(1, 0.0, None), Band(_INF, -0.4))),
    Factor("cooperative", "cooperative_member", (Band(1, 0.0), Band(_INF, -0.2))),
    Factor("irrigated", "irrigated", (Band(1, 0.0), Band(_INF, -0.3))),
)


def pd_to_score(pd_: np.ndarray | float) -> np.ndarray:
    """Score points from a probability of default (CONTRACTS.md §7 scale).

    Notes
    -----
    ``score = 600 + PDO/ln 2 · (ln((1 − pd)/pd) − ln 50)``, PDO = 20.

    Examples
    --------
    >>> float(pd_to_score(1 / 51))
    600.0
    >>> float(pd_to_score(1 / 101))  # odds 100:1, double 50:1
    620.0
    """
    p = np.clip(np.asarray(pd_, dtype=float), 1e-6, 1 - 1e-6)
    return np.round(BASE_SCORE + PDO / math.log(2) * (np.log((1 - p) / p) - math.log(BASE_ODDS)), 1)


def grade_of(pd_: np.ndarray) -> np.ndarray:
    """Grade A–E from pd with :data:`GRADE_EDGES`; empty string where pd is NaN."""
    p = np.asarray(pd_, dtype=float)
    letters = np.array(list("ABCDE"))[np.searchsorted(GRADE_EDGES, np.nan_to_num(p, nan=0.0), side="right")]
    return np.where(np.isfinite(p), letters, "")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ExpertScorecard(ClassifierMixin, BaseEstimator):
    """Points-per-band scorecard whose intercept is set to a stated portfolio default rate.

    Parameters
    ----------
    factors : the factors and bands (default :data:`DEFAULT_FACTORS`).
    target_default_rate : the portfolio default rate the bank expects (share of loans);
        ``fit`` sets the intercept so that the mean pd of the scored portfolio equals it.
    approve_below, decline_above : pd cut-offs of ``decision``; between them, ``review``.

    Attributes
    ----------
    intercept_ : the calibrated log-odds intercept.
    feature_names_in_ : the feature columns read.
    """

    def __init__(
        self,
        factors: tuple[Factor, ...] = DEFAULT_FACTORS,
        target_default_rate: float = 0.08,
        approve_below: float = 0.05,
        decline_above: float = 0.20,
    ) -> None:
        self.factors = factors
        self.target_default_rate = target_default_rate
        self.approve_below = approve_below
        self.decline_above = decline_above

    def _factor_matrix(self, X: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str | None]]]:
        """Band weights of every factor (columns) for every row, and the band sentences."""
        missing = [
            c
            for f in self.factors
            if not (f.optional and f.feature not in X)
            for c in (f.feature, *f.context)
            if c not in X
        ]
        if missing:
            raise ValueError(f"features missing for the scorecard: {', '.join(missing)}")
        weights = {}
        reasons = []
        for f in self.factors:
            if f.feature not in X:  # an optional factor not computed: unknown for every row
                blank = pd.DataFrame("", index=X.index, columns=list(f.context))
                w, r = f.weights(pd.Series(np.nan, index=X.index), blank)
            else:
                w, r = f.weights(X[f.feature], X[list(f.context)] if f.context else None)
            weights[f.name] = w
            reasons.append(r)
        return pd.DataFrame(weights, index=X.index), reasons

    def _factor_scale(self) -> np.ndarray:
        """Multiplier of each factor's band weights (1 for the expert card)."""
        return np.ones(len(self.factors))

    def _raw(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, list[list[str | None]]]:
        contrib, reasons = self._factor_matrix(X)
        contrib = contrib * self._factor_scale()
        return contrib.sum(axis=1).to_numpy(), contrib, reasons

    def fit(self, X: pd.DataFrame, y: object = None) -> ExpertScorecard:
        """Calibrate ``intercept_`` on the portfolio ``X`` (labels are not used)."""
        if not 0 < self.target_default_rate < 1:
            raise ValueError("target_default_rate must be between 0 and 1")
        raw, _, _ = self._raw(X)
        if raw.size == 0:
            raise ValueError("cannot calibrate a scorecard on an empty portfolio")
        target = self.target_default_rate
        self.intercept_ = float(brentq(lambda b: _sigmoid(b + raw).mean() - target, -30.0, 30.0))
        self.feature_names_in_ = np.array([f.feature for f in self.factors], dtype=object)
        self.n_features_in_ = len(self.factors)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns: P(repaid), P(default)."""
        check_is_fitted(self, "intercept_")
        raw, _, _ = self._raw(X)
        p = _sigmoid(self.intercept_ + raw)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Log-odds added by each factor for each row (positive = riskier)."""
        check_is_fitted(self, "intercept_")
        return self._raw(X)[1]

    def reasons(self, X: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        """The ``k`` most adverse factors of each row as plain sentences (``reason_1..k``).

        Only factors that add risk (weight > 0) and carry a sentence are named, largest first.
        """
        check_is_fitted(self, "intercept_")
        _, contrib, texts = self._raw(X)
        w = contrib.to_numpy()
        rows = []
        for i in range(len(X)):
            order = np.argsort(-w[i], kind="stable")
            chosen = [texts[j][i] for j in order if w[i, j] > 0 and texts[j][i]][:k]
            rows.append(chosen + [""] * (k - len(chosen)))
        return pd.DataFrame(rows, index=X.index, columns=[f"reason_{i + 1}" for i in range(k)])

    def decide(self, pd_: np.ndarray) -> np.ndarray:
        """``approve`` / ``review`` / ``decline`` from pd and the cut-offs; ``review`` for NaN."""
        p = np.asarray(pd_, dtype=float)
        out = np.where(p < self.approve_below, "approve", np.where(p > self.decline_above, "decline", "review"))
        return np.where(np.isfinite(p), out, "review")
