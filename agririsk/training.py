"""``agririsk train``: the PD model learned from a region's loan history, validated out of time.

For every past season with loans, the features are rebuilt exactly as a pre-loan score on
that season's start would have seen them (imagery acquired before the season, credit
history from loans that ended before it, that season's loan amount): no outcome or image
from after the decision leaks into the row. The model is validated out of time (fitted on
the earlier seasons, tested on the latest), then refitted on all seasons and saved.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from agririsk.errors import InputError, NoDataError
from agririsk.inputs import Report, read_loans
from agririsk.parallel import Parallel
from agririsk.pipeline import credit_history, gather_evidence, load_inputs
from agririsk.region import Region, Season
from agririsk.scoring.features import FEATURE_COLUMNS, WEATHER_FEATURES
from agririsk.scoring.scorecard import DEFAULT_FACTORS, ExpertScorecard, Factor
from agririsk.scoring.trained import TrainedScorecard, save_model
from agririsk.scoring.validation import (
    by_credit_history,
    calibration_by_grade,
    discrimination,
    psi_table,
)

__all__ = ["training_table", "train_region", "TrainResult"]

logger = logging.getLogger(__name__)

_CREDIT = ["prior_loans", "prior_defaults"]


@dataclass
class TrainResult:
    model: TrainedScorecard
    report: dict[str, Any]
    table: pd.DataFrame


def training_table(
    region: Region,
    *,
    workspace: Path,
    workers: int | Parallel = 1,
    progress: Callable[[int, int], None] | None = None,
    report: Report | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per past loan with the features known at its season's start, and the
    current population's features (for stability checks).

    Returns
    -------
    (history, current): ``history`` has the feature columns plus ``loan_id``, ``season``,
    ``defaulted`` and ``data_quality``; ``current`` the features of today's applicants.
    ``history.attrs["seasons_without_imagery"]`` lists the loan seasons left out because
    no imagery precedes them (season, loans, defaults).
    """
    report = report if report is not None else Report()
    if region.history_path is None:
        raise InputError(f"{region.path}: no [history] path = \"loans.csv\"; training needs past loans with outcomes.")
    inputs = load_inputs(region, until=region.season.start, report=report)
    loans = read_loans(region.history_path, report, farmer_ids=set(inputs.farmers["farmer_id"]))
    loans = loans[pd.to_datetime(loans["season_end"]).dt.date < region.season.start]
    if loans.empty:
        raise NoDataError(f"{region.history_path}: no loans that ended before {region.season.start}; nothing to learn from.")
    base = inputs.farmers.drop(columns=[c for c in _CREDIT if c in inputs.farmers])  # farmers.csv counts are as of today
    rows = []
    skipped: list[dict[str, Any]] = []
    for (start, end), season_loans in loans.groupby(["season_start", "season_end"], sort=True):
        season = Season(pd.Timestamp(start).date(), pd.Timestamp(end).date())
        farmers = base.drop(columns="loan_amount").merge(
            season_loans[["farmer_id", "loan_id", "loan_amount", "defaulted"]], on="farmer_id", how="inner"
        )
        ev = gather_evidence(
            inputs, region=region, season=season, as_of=season.start, workspace=workspace, workers=workers, progress=progress,
            farmers=farmers.drop_duplicates("farmer_id"), credit_history=credit_history(loans, season.start),
        )
        if not ev.seasons:
            skipped.append({"season": season.start.year, "season_start": str(season.start), "loans": len(season_loans),
                            "defaults": int(season_loans["defaulted"].sum())})
            report.warning(str(region.history_path), f"season {season.start}", "no imagery in the seasons before it; its loans are left out of training",
                           "add older imagery to the catalog to use these loans")
            continue
        f = ev.features.join(ev.quality.rename("data_quality"))
        f = f.reset_index().merge(farmers[["farmer_id", "loan_id", "defaulted"]], on="farmer_id")
        f["season"] = season.start.year
        rows.append(f)
    if not rows:
        raise NoDataError(f"{region.history_path}: no loan season has imagery before it; nothing to learn from.")
    history = pd.concat(rows, ignore_index=True)
    history.attrs["seasons_without_imagery"] = skipped
    current = gather_evidence(
        inputs, region=region, season=region.season, as_of=region.season.start, workspace=workspace, workers=workers,
        credit_history=credit_history(loans, region.season.start),
    ).features
    return history, current


def _usable(t: pd.DataFrame) -> pd.DataFrame:
    return t[t["data_quality"].eq("ok") | t["data_quality"].str.startswith("limited")]


def train_region(
    region: Region,
    out: Path,
    *,
    workspace: Path | None = None,
    workers: int | Parallel = 1,
    progress: Callable[[int, int], None] | None = None,
    report: Report | None = None,
    shrinkage: float = 2.0,
    factors: tuple[Factor, ...] = DEFAULT_FACTORS,
) -> TrainResult:
    """Fit, validate out of time, refit on all seasons, and write the model and its report.

    Writes ``out`` (the model, JSON), ``out.with_suffix('.report.json')`` and ``.report.md``.
    ``factors`` are the bands the model re-weighs (default: the expert scorecard's); a
    subset serves ablation studies (``benchmarks/score_vs_truth.py --without``).
    """
    report = report if report is not None else Report()
    workspace = Path(workspace) if workspace else region.default_workspace()
    history, current = training_table(region, workspace=workspace, workers=workers, progress=progress, report=report)
    data = _usable(history)
    seasons = sorted(data["season"].unique())
    if data["defaulted"].nunique() < 2:
        raise NoDataError(f"{region.history_path}: the usable history has no {'defaults' if data['defaulted'].sum() == 0 else 'repaid loans'}; nothing to learn from.")
    doc: dict[str, Any] = {"region": region.name, "seasons": [int(s) for s in seasons], "loans_used": len(data),
                           "loans_left_out": int(len(history) - len(data)), "defaults": int(data["defaulted"].sum()),
                           "seasons_without_imagery": history.attrs.get("seasons_without_imagery", [])}
    if len(seasons) >= 2:
        test_season = seasons[-1]
        train, test = data[data["season"] < test_season], data[data["season"] == test_season]
        doc["out_of_time"] = _validate(train, test, shrinkage, factors)
        doc["out_of_time"]["train_seasons"] = [int(s) for s in seasons[:-1]]
        doc["out_of_time"]["test_season"] = int(test_season)
        doc["thin_file"] = _thin_file_section(doc["out_of_time"], int(test_season))
    else:
        doc["out_of_time"] = {"note": f"only one season ({seasons[0]}) has usable loans: no out-of-time test possible"}
        doc["thin_file"] = {"note": "no out-of-time test season: thin-file performance not measured"}
        report.warning(str(region.history_path), "", "only one loan season is usable: the model is not validated out of time",
                       "add loan history of more seasons")
    model = TrainedScorecard(factors=factors, shrinkage=shrinkage).fit(data, data["defaulted"], season=data["season"])
    doc["season_intercepts"] = model.season_intercepts_
    doc["points_table"] = model.points_table().to_dict("records")
    doc["stability"] = psi_table(data, current, [c for c in FEATURE_COLUMNS + WEATHER_FEATURES if c != "main_crop"]).to_dict("records")
    meta = {"region": region.name, "training_seasons": [int(s) for s in seasons], "n_loans": len(data),
            "n_defaults": int(data["defaulted"].sum())}
    out = Path(out)
    save_model(model, out, meta)
    from agririsk.export.tables import write_json

    doc["input_problems"] = [r for r in report.to_records() if r["source"] == str(region.history_path)]
    write_json(out.with_suffix(".report.json"), _json_safe(doc))
    out.with_suffix(".report.md").write_text(_markdown(doc, out.name))
    return TrainResult(model, doc, history)


def _validate(
    train: pd.DataFrame, test: pd.DataFrame, shrinkage: float, factors: tuple[Factor, ...] = DEFAULT_FACTORS
) -> dict[str, Any]:
    if train["defaulted"].nunique() < 2:
        return {"note": "the training seasons hold a single outcome class; no out-of-time test possible"}
    model = TrainedScorecard(factors=factors, shrinkage=shrinkage).fit(train, train["defaulted"], season=train["season"])
    p = model.predict_proba(test)[:, 1]
    expert = ExpertScorecard(factors=factors, target_default_rate=float(train["defaulted"].mean())).fit(test)
    pe = expert.predict_proba(test)[:, 1]
    y = test["defaulted"].to_numpy()
    thin = test["thin_file"].astype(bool).to_numpy()
    split = by_credit_history(y, p, thin)
    return {
        "trained": discrimination(y, p),
        "expert": discrimination(y, pe),
        "trained_thin_file": split["thin_file"],
        "trained_with_history": split["with_history"],
        "expert_by_credit_history": by_credit_history(y, pe, thin),
        "calibration": calibration_by_grade(y, p).reset_index().to_dict("records"),
    }


def _thin_file_section(oot: dict[str, Any], test_season: int) -> dict[str, Any]:
    """Test-season performance for farmers with and without (thin file) credit history."""
    if "trained" not in oot:
        return {"note": oot.get("note", "no out-of-time test")}
    rows = []
    for group, label in (("with_history", "with credit history"), ("thin_file", "thin file (no prior loans)")):
        for model, d in (("trained", oot[f"trained_{group}"]), ("expert", oot["expert_by_credit_history"][group])):
            rows.append({"group": label, "model": model, "n": d["n"], "defaults": d["defaults"],
                         "default_rate": d["default_rate"], "mean_pd": d["mean_pd"], "auc": d["auc"]})
    return {"test_season": test_season, "groups": rows,
            "note": "AUC is – where a group holds a single outcome class (or no loans). In past seasons a thin "
                    "file is a first loan, so the group is small; with a few dozen defaults a group's AUC is "
                    "uncertain by about ±0.05-0.1."}


def _json_safe(v: Any) -> Any:
    """NaN (a measure undefined for a group, e.g. AUC without defaults) becomes null."""
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _markdown(doc: dict[str, Any], name: str) -> str:
    lines = [f"# Validation report: {name}", "", f"Region: {doc['region']}. Loan seasons used: "
             f"{', '.join(map(str, doc['seasons']))}; {doc['loans_used']} loans ({doc['defaults']} defaults), "
             f"{doc['loans_left_out']} left out for too little imagery.", ""]
    if doc.get("seasons_without_imagery"):
        lines += ["Seasons left out (no imagery before their start, so no pre-loan features): " + ", ".join(
            f"{r['season']} ({r['loans']} loans, {r['defaults']} defaults)" for r in doc["seasons_without_imagery"]) + ".", ""]
    if doc.get("input_problems"):
        lines += [f"{len(doc['input_problems'])} problem(s) in the loan history (the loans concerned are skipped):", ""]
        lines += [f"- {r['where']}: {r['what']}" for r in doc["input_problems"][:20]]
        if len(doc["input_problems"]) > 20:
            lines.append(f"- ... and {len(doc['input_problems']) - 20} more (see the .report.json)")
        lines.append("")
    oot = doc["out_of_time"]
    lines += ["## Out-of-time validation", ""]
    if "note" in oot:
        lines += [oot["note"], ""]
    else:
        lines += [f"Fitted on {', '.join(map(str, oot['train_seasons']))}, tested on {oot['test_season']}.", "",
                  "| model / group | loans | defaults | AUC | Gini | KS | Brier |", "|---|---|---|---|---|---|---|"]
        for key, label in [("trained", "trained model"), ("expert", "expert scorecard"),
                           ("trained_with_history", "trained, farmers with credit history"),
                           ("trained_thin_file", "trained, thin-file farmers")]:
            d = oot[key]
            lines.append(f"| {label} | {d['n']} | {d['defaults']} | {_fmt(d['auc'])} | {_fmt(d['gini'])} | {_fmt(d['ks'])} | {_fmt(d['brier'])} |")
        lines += ["", "Calibration by grade (test season). A grade's observed rate can test a 2-point tolerance "
                  "only with enough loans: its 95 % binomial interval at the predicted pd, ±1.96·√(p(1−p)/n), must "
                  "be no wider than ±2 points, i.e. n ≥ 9,604·p(1−p) (860 loans at p = 10 %); smaller grades are "
                  "shown, not judged.", "",
                  "| grade | loans | predicted | observed | difference | 95 % half-width | loans needed | within 2 points |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['grade']} | {r['loans']} | {r['predicted']:.3f} | {r['observed']:.3f} | {r['difference']:+.3f} | "
                  f"{r['half_width']:.3f} | {r['min_loans']} | "
                  f"{('yes' if r['within'] else 'no') if r['enough'] else 'too few to judge'} |"
                  for r in oot["calibration"]]
    tf = doc.get("thin_file", {})
    lines += ["", "## Thin-file farmers", ""]
    if "groups" in tf:
        lines += [f"Test season {tf['test_season']}, farmers with and without credit history (prior loans) "
                  "at the season's start.", "", "| group | model | loans | defaults | default rate | mean pd | AUC |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['group']} | {r['model']} | {r['n']} | {r['defaults']} | {_fmt(r['default_rate'])} | "
                  f"{_fmt(r['mean_pd'])} | {_fmt(r['auc'])} |" for r in tf["groups"]]
        lines += ["", tf["note"]]
    else:
        lines.append(tf.get("note", "not measured"))
    if doc.get("season_intercepts"):
        rates = ", ".join(f"{k} {1 / (1 + math.exp(-v)):.3f}" for k, v in doc["season_intercepts"].items())
        lines += ["", "## Season effects", "", "Each season's weather moves the default rate of all its loans. The "
                  "weights are fitted with one intercept per season (default rate at zero band points: "
                  f"{rates}), so that a season's weather is not read as the effect of a feature that shifts "
                  "between seasons; the model's own level is the history's average default rate "
                  f"({doc['defaults']} of {doc['loans_used']} loans)."]
    lines += ["", "## Points table (model refitted on all seasons)", "",
              "| factor | band | β | log-odds | points |", "|---|---|---|---|---|"]
    lines += [f"| {r['factor']} | {r['band']} | {r['beta']} | {r['log_odds']} | {r['points']} |" for r in doc["points_table"]]
    lines += ["", "## Population stability (training loans vs today's applicants)", "",
              "| feature | PSI | reading |", "|---|---|---|"]
    lines += [f"| {r['feature']} | {r['psi']} | {r['reading']} |" for r in doc["stability"]]
    lines.append("")
    return "\n".join(lines)



