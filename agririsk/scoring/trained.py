"""A scorecard learned from the bank's loan history, and its safe model file.

The trained model keeps the expert scorecard's bands (so a loan officer reads the same
factors and sentences) and learns from the outcomes how much each factor really weighs:

    logit pd = b0 + Σ_f β_f · w_f(x),     β_f ≥ 0

where ``w_f`` is the expert band weight of factor ``f``. ``β_f ≥ 0`` keeps every factor
monotone in the direction the expert bands give (a larger loan burden never lowers pd);
an L2 penalty ``λ Σ (β_f − 1)²`` shrinks towards the expert weights, which matters when a
bank has only a few hundred loans and a few dozen defaults. The fit is a bounded
quasi-Newton solve (L-BFGS-B) of the penalised log-likelihood.

Seasons differ in weather, and the weather moves the default rate of a whole season
(on 12 sample regions: 0.135 in the drought season 2024, 0.080 in the wet 2025). The
history's features shift between seasons too: the first loan season with imagery before it
has one past season of imagery and of credit history, later ones more. One shared intercept
lets the season's weather leak into the weights of whatever feature shifts with the season
(on sample region 11 it left ``drought_frequency`` at β = 0 and raised the repaid-loans
bonus to β = 1.5; docs/scorecard.md). Given the loans' seasons, ``fit`` therefore gives
each season its own intercept while it learns the β, then sets the one intercept ``b0`` of
the model so that the mean pd of the training loans equals their realised default rate:
the level is the history's average over the seasons it saw, the ranking is free of the
season effects.

Model files are JSON (no pickle: nothing in them is executed on load) with a SHA-256 of
their content; a file changed after it was written is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize
from sklearn.utils.validation import check_is_fitted

from agririsk.errors import InputError
from agririsk.scoring.features import FEATURE_SET_VERSION
from agririsk.scoring.scorecard import DEFAULT_FACTORS, PDO, Band, ExpertScorecard, Factor

__all__ = ["TrainedScorecard", "save_model", "load_model", "ModelFileError", "MODEL_FORMAT"]

MODEL_FORMAT = "agririsk-model"
MODEL_FORMAT_VERSION = 1


class ModelFileError(InputError):
    """A model file is unreadable, changed after writing, or built for other features."""


class TrainedScorecard(ExpertScorecard):
    """The expert bands re-weighted on loan outcomes (see the module docstring).

    Parameters
    ----------
    factors : the factors and bands (default: the expert scorecard's).
    shrinkage : λ, the pull of each β towards 1 (the expert weight); 0 = free fit.
    approve_below, decline_above : pd cut-offs of ``decision``.

    Attributes
    ----------
    coef_ : β per factor (same order as ``factors``).
    intercept_ : b0.
    season_intercepts_ : the per-season intercepts of a fit given seasons (season label ->
        log-odds; empty without seasons), for the validation report.
    """

    def __init__(
        self,
        factors: tuple[Factor, ...] = DEFAULT_FACTORS,
        shrinkage: float = 2.0,
        approve_below: float = 0.05,
        decline_above: float = 0.20,
    ) -> None:
        self.factors = factors
        self.shrinkage = shrinkage
        self.approve_below = approve_below
        self.decline_above = decline_above

    def _factor_scale(self) -> np.ndarray:
        return np.asarray(self.coef_, dtype=float)

    def fit(self, X: pd.DataFrame, y: Any = None, season: Any = None) -> TrainedScorecard:  # type: ignore[override]
        """Fit β ≥ 0 and the intercept on features ``X`` and outcomes ``y`` (1 = defaulted).

        Parameters
        ----------
        X : feature table (the factors' columns).
        y : outcomes, 1 = defaulted.
        season : optional season label of each row; when given, each season has its own
            intercept during the fit (season fixed effects, see the module docstring) and
            ``intercept_`` is then set so that the mean pd over ``X`` equals the mean of ``y``.
        """
        if y is None:
            raise ValueError("a trained scorecard needs outcomes y (1 = defaulted)")
        yv = np.asarray(y, dtype=float)
        if yv.size == 0 or yv.min() == yv.max():
            raise ValueError("training needs both repaid and defaulted loans")
        W, _ = self._factor_matrix(X)
        Wm = W.to_numpy()
        k = Wm.shape[1]
        lam = float(self.shrinkage)
        codes, labels = pd.factorize(np.zeros(yv.size) if season is None else np.asarray(season))
        if codes.size != yv.size or (codes < 0).any():
            raise ValueError("season needs one label per row of X, none missing")
        m = len(labels)
        S = np.eye(m)[codes]  # one-hot season of each row

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            a, beta = theta[:m], theta[m:]
            z = S @ a + Wm @ beta
            # log(1 + e^z) - y z, numerically stable
            nll = np.sum(np.logaddexp(0.0, z) - yv * z)
            p = 1.0 / (1.0 + np.exp(-z))
            r = p - yv
            grad = np.concatenate([S.T @ r, Wm.T @ r + 2 * lam * (beta - 1.0)])
            return nll + lam * np.sum((beta - 1.0) ** 2), grad

        rate = float(yv.mean())
        theta0 = np.concatenate([np.full(m, math.log(rate / (1 - rate))), np.ones(k)])
        # bounded: a season holding a single outcome class would push its intercept to infinity
        bounds = [(-20.0, 20.0)] * m + [(0.0, None)] * k
        res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
        self.coef_ = res.x[m:].astype(float)
        if m == 1:
            self.intercept_ = float(res.x[0])
        else:  # one level for the model: the history's realised rate over all its seasons
            raw = Wm @ self.coef_
            self.intercept_ = float(brentq(lambda b: float(np.mean(1 / (1 + np.exp(-(b + raw))))) - rate, -30.0, 30.0))
        self.season_intercepts_ = {str(s): float(a) for s, a in zip(labels, res.x[:m], strict=True)} if season is not None else {}
        self.feature_names_in_ = np.array([f.feature for f in self.factors], dtype=object)
        self.n_features_in_ = len(self.factors)
        self.classes_ = np.array([0, 1])
        self.n_train_ = int(yv.size)
        self.n_defaults_ = int(yv.sum())
        return self

    def check_features(self, X: pd.DataFrame) -> None:
        """Refuse features that do not match those the model was trained on."""
        missing = [
            c for f in self.factors if not (f.optional and f.feature not in X) for c in (f.feature, *f.context) if c not in X
        ]
        if missing:
            raise ModelFileError(
                f"the model needs features {missing} that this agririsk does not compute; "
                "retrain it with 'agririsk train'."
            )

    def points_table(self) -> pd.DataFrame:
        """Every band with its learned log-odds weight and its score points (negative = riskier)."""
        check_is_fitted(self, "coef_")
        rows = []
        for f, beta in zip(self.factors, self.coef_, strict=True):
            lower = -math.inf
            for b in f.bands:
                w = beta * b.weight
                rows.append((f.name, f.feature, f"[{lower:g}, {b.upper:g})", round(beta, 3), round(w, 3),
                             round(-PDO / math.log(2) * w, 1)))
                lower = b.upper
            if f.missing_weight:
                w = beta * f.missing_weight
                rows.append((f.name, f.feature, "missing", round(beta, 3), round(w, 3), round(-PDO / math.log(2) * w, 1)))
        return pd.DataFrame(rows, columns=["factor", "feature", "band", "beta", "log_odds", "points"])


# -- the model file ------------------------------------------------------------------------


def _factor_to_dict(f: Factor) -> dict[str, Any]:
    return {
        "name": f.name,
        "feature": f.feature,
        "bands": [[None if math.isinf(b.upper) else b.upper, b.weight, b.reason] for b in f.bands],
        "missing_weight": f.missing_weight,
        "missing_reason": f.missing_reason,
        "context": list(f.context),
        "optional": f.optional,
    }


def _factor_from_dict(d: dict[str, Any]) -> Factor:
    bands = tuple(Band(math.inf if u is None else float(u), float(w), r) for u, w, r in d["bands"])
    return Factor(
        str(d["name"]), str(d["feature"]), bands, float(d["missing_weight"]), d["missing_reason"],
        tuple(str(c) for c in d.get("context", ())), bool(d.get("optional", False)),
    )


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def save_model(model: TrainedScorecard, path: Path, metadata: dict[str, Any]) -> Path:
    """Write ``model`` as JSON with its metadata and a SHA-256 of both (atomically)."""
    from agririsk import __version__
    from agririsk.export.tables import write_json

    check_is_fitted(model, "coef_")
    body = {
        "model": {
            "kind": "trained_scorecard",
            "factors": [_factor_to_dict(f) for f in model.factors],
            "coef": [float(c) for c in model.coef_],
            "intercept": model.intercept_,
            "shrinkage": model.shrinkage,
            "approve_below": model.approve_below,
            "decline_above": model.decline_above,
        },
        "metadata": {
            **metadata,
            "features": [f.feature for f in model.factors],
            "feature_set": FEATURE_SET_VERSION,
            "agririsk_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    body = json.loads(json.dumps(body, default=str))
    doc = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, **body, "sha256": _digest(body)}
    return write_json(Path(path), doc)


def load_model(path: Path) -> tuple[TrainedScorecard, dict[str, Any]]:
    """Read a model file written by :func:`save_model`; nothing in it is executed.

    Raises
    ------
    ModelFileError
        Not a model file, changed after it was written, or built for another feature set.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found; train one with 'agririsk train REGION.toml --out {path}'.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not an agririsk model file ({exc}); train one with 'agririsk train'.") from None
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not an agririsk model file; train one with 'agririsk train'.")
    if doc.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelFileError(f"{path}: model file format {doc.get('format_version')} is not supported; retrain the model.")
    body = {"model": doc.get("model"), "metadata": doc.get("metadata")}
    if _digest(body) != doc.get("sha256"):
        raise ModelFileError(
            f"{path}: the model file was changed after it was written (its SHA-256 does not match); "
            "use the file 'agririsk train' wrote, or retrain."
        )
    meta = doc["metadata"]
    if meta.get("feature_set") != FEATURE_SET_VERSION:
        raise ModelFileError(
            f"{path}: the model was trained on feature set {meta.get('feature_set')!r}, this agririsk computes "
            f"{FEATURE_SET_VERSION!r}; retrain it with 'agririsk train'."
        )
    m = doc["model"]
    model = TrainedScorecard(
        factors=tuple(_factor_from_dict(f) for f in m["factors"]),
        shrinkage=float(m["shrinkage"]),
        approve_below=float(m["approve_below"]),
        decline_above=float(m["decline_above"]),
    )
    model.coef_ = np.asarray(m["coef"], dtype=float)
    model.intercept_ = float(m["intercept"])
    model.feature_names_in_ = np.array([f.feature for f in model.factors], dtype=object)
    model.n_features_in_ = len(model.factors)
    model.classes_ = np.array([0, 1])
    return model, meta
