"""How well do the pre-loan scores rank and calibrate the sample region's true current-season defaults?

Generates a sample region (not the test one), then

1. scores it as of season start with the expert scorecard;
2. trains a model on the region's past seasons (``train_region``: features as of each past
   season's start, outcomes of loans that ended before today) and scores the current
   season with it;
3. compares both with the defaults the generator drew for the current season
   (``truth/defaults.csv``) and with two oracles of the generator:

   - ``oracle_pd``: the probability each outcome was drawn from; it knows the season's
     realised weather and field events, a ceiling no pre-loan score can reach;
   - ``oracle_pd_preseason``: the best pd statable at season start (every hidden trait
     known, the season's weather and events not), the yardstick of issue #6.

Figures: AUC, lift share ``(AUC − 0.5) / (oracle AUC − 0.5)`` against the pre-season
oracle, calibration of the trained model per grade, and AUC of farmers with and without
credit history (thin file). Goals of issue #6: expert AUC ≥ 0.70 and lift share ≥ 0.60;
trained lift share ≥ 0.80 and predicted pd within 2 pp of the observed rate in every grade
with enough farmers (n ≥ 1.96² p(1 − p) / 0.02², so that the 95 % binomial interval of the
observed rate is no wider than the tolerance: 860 farmers at p = 10 %); thin-file AUC within
0.05 of the with-history AUC.

    .venv/bin/python benchmarks/score_vs_truth.py --size 1024 --parcels 1000 --seed 11 --dir /tmp/score/s11 \
        --rows /tmp/score/rows_s11.csv

One region of ~400 farmers holds ~40 current-season defaults: too few to decide the goals
(an AUC has a standard error of ~0.04, a grade's observed rate one of 1.5-9 points). The
per-farmer rows (``--rows``: seed, farmer_id, outcome, the three pds, thin file; no personal
data) of several regions are pooled with ``--pool``:

    .venv/bin/python benchmarks/score_vs_truth.py --pool /tmp/score/rows_s*.csv [--json pooled.json]

which reports each goal with a 95 % interval (bootstrap over farmers within each region)
next to the pre-season oracle's figure on the same farmers (:func:`pooled`).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score

from agririsk.pipeline import score_region
from agririsk.region import Region
from agririsk.sample import make_sample_region
from agririsk.scoring.scorecard import DEFAULT_FACTORS, ExpertScorecard, Factor, grade_of
from agririsk.scoring.validation import (
    auc,
    by_credit_history,
    calibration_by_grade,
    lift_share,
    stratified_bootstrap,
)
from agririsk.training import train_region

GOALS = {"expert_auc": 0.70, "expert_lift": 0.60, "trained_lift": 0.80, "calibration_pp": 0.02, "thin_gap": 0.05}


def _auc(y: pd.Series, p: pd.Series) -> float:
    m = p.notna() & y.notna()
    return float(roc_auc_score(y[m], p[m])) if m.any() and y[m].nunique() == 2 else float("nan")


def evaluate(
    root: Path, *, workers: int = 1, workspace: Path | None = None, factors: tuple[Factor, ...] = DEFAULT_FACTORS
) -> dict[str, Any]:
    """Score the region under ``root`` with both models and compare with its truth.

    ``factors``: the scorecard factors both models use (a subset for an ablation).
    Returns a JSON-able dict of every figure (see the module docstring).
    """
    region = Region.from_toml(root / "region.toml")
    workspace = workspace or region.default_workspace()
    t0 = time.perf_counter()
    expert = score_region(region, workers=workers, workspace=workspace, scorecard=ExpertScorecard(factors=factors))
    t_expert = time.perf_counter() - t0
    model_dir = Path(tempfile.mkdtemp(prefix="agririsk-bench-model-"))
    t0 = time.perf_counter()
    trained_fit = train_region(region, model_dir / "model.json", workspace=workspace, workers=workers, factors=factors)
    trained = score_region(region, workers=workers, workspace=workspace, model=trained_fit.model)
    t_trained = time.perf_counter() - t0

    truth = pd.read_csv(root / "truth" / "defaults.csv", dtype={"farmer_id": str})
    current = truth[truth["season"] == region.season.start.year].set_index("farmer_id")
    cols = ["defaulted", "oracle_pd", "oracle_pd_preseason", "prior_defaults"]
    s = expert.scores.set_index("farmer_id")[["pd", "grade", "thin_file"]].join(
        trained.scores.set_index("farmer_id")[["pd", "grade"]].add_suffix("_trained")
    ).join(current[cols].rename(columns={"prior_defaults": "true_prior_defaults"}), how="inner")
    scored = s[s["pd"].notna() & s["pd_trained"].notna()].copy()
    y = scored["defaulted"].astype(int)
    thin = scored["thin_file"].astype(bool).to_numpy()

    out: dict[str, Any] = {
        "farmers": len(s), "scored": len(scored), "defaults": int(y.sum()), "default_rate": float(y.mean()),
        "seconds_expert": round(t_expert, 1), "seconds_train_and_score": round(t_trained, 1),
        "auc": {
            "expert": _auc(y, scored["pd"]),
            "trained": _auc(y, scored["pd_trained"]),
            "oracle_preseason": _auc(y, scored["oracle_pd_preseason"]),
            "oracle_realised": _auc(y, scored["oracle_pd"]),
        },
        "train_report_out_of_time": {
            k: trained_fit.report["out_of_time"].get(k, {}).get("auc") for k in ("trained", "expert")
        },
    }
    # rank agreement with the pre-season oracle over every farmer: a figure far less noisy than
    # an AUC on a few dozen defaults (diagnostic only; no model sees the oracle)
    out["oracle_rank_corr"] = {
        name: float(scored[col].rank().corr(scored["oracle_pd_preseason"].rank()))
        for name, col in (("expert", "pd"), ("trained", "pd_trained"))
    }
    out["train_report_thin_file"] = trained_fit.report.get("thin_file")
    a = out["auc"]
    out["lift_share"] = {
        "expert": lift_share(a["expert"], a["oracle_preseason"]),
        "trained": lift_share(a["trained"], a["oracle_preseason"]),
    }
    cal = calibration_by_grade(y.to_numpy(), scored["pd_trained"].to_numpy())
    cal["oracle_preseason_mean"] = scored.groupby(scored["grade_trained"])["oracle_pd_preseason"].mean().round(4)
    oracle_obs = scored.groupby(scored["grade_trained"])["defaulted"].mean()
    cal["oracle_within_2pp"] = (oracle_obs - cal["oracle_preseason_mean"]).abs() <= GOALS["calibration_pp"]
    # sampling sd of an observed rate when the predicted pd is the true one: the noise floor of the check
    cal["binomial_sd"] = np.sqrt(cal["predicted"] * (1 - cal["predicted"]) / cal["loans"]).round(4)
    out["calibration_trained"] = cal.reset_index().to_dict("records")
    # the alternative level: the same ranking shifted so that today's portfolio has the
    # history's realised default rate (the way the expert card is calibrated)
    rate = trained_fit.report["defaults"] / trained_fit.report["loans_used"]
    z = np.log(scored["pd_trained"] / (1 - scored["pd_trained"])).to_numpy()
    shift = brentq(lambda d: float(np.mean(1 / (1 + np.exp(-(z + d))))) - rate, -10.0, 10.0)
    p_re = 1 / (1 + np.exp(-(z + shift)))
    cal_re = calibration_by_grade(y.to_numpy(), p_re)
    out["recalibrated_to_history_rate"] = {"history_rate": rate, "shift_log_odds": shift, "mean_pd": float(p_re.mean()),
                                           "calibration": cal_re.reset_index().to_dict("records")}
    out["mean_pd"] = {"expert": float(scored["pd"].mean()), "trained": float(scored["pd_trained"].mean()),
                      "oracle_preseason": float(scored["oracle_pd_preseason"].mean()),
                      "oracle_realised": float(scored["oracle_pd"].mean())}
    out["credit_history"] = {
        name: by_credit_history(y.to_numpy(), scored[col].to_numpy(), thin)
        for name, col in (("expert", "pd"), ("trained", "pd_trained"), ("oracle_preseason", "oracle_pd_preseason"))
    }
    out["oracle_gap_by_component"] = oracle_gap_by_component(root, current, expert.scores, scored)
    # per-farmer rows for --pool (no personal data: ids, outcome and probabilities only)
    out["rows"] = pd.DataFrame({
        "farmer_id": scored.index, "defaulted": y.to_numpy(), "pd_expert": scored["pd"].to_numpy(),
        "pd_trained": scored["pd_trained"].to_numpy(), "oracle_pd_preseason": scored["oracle_pd_preseason"].to_numpy(),
        "thin_file": thin,
    })
    return out


def oracle_gap_by_component(
    root: Path, current: pd.DataFrame, features: pd.DataFrame, scored: pd.DataFrame
) -> dict[str, float]:
    """What the trained model misses of the pre-season oracle, by the oracle's inputs (a diagnostic).

    The oracle's logit is the generator's ``default_logit`` (``agririsk/sample/_finance.py``):
    a sum of terms in the true loan burden, the true prior defaults, the hidden farmer skill,
    the mitigants, and the season's expected shortfall (the rest). The part of the oracle's
    logit the trained model's logit does not explain linearly is correlated with each term: a
    large correlation names the input the model sees worst. Truth and generator coefficients
    are read here only, never by a model.

    Returns
    -------
    ``{term: correlation}`` plus ``residual_sd`` (log-odds) and ``explained`` (R² of the oracle's
    logit on the model's).
    """
    from agririsk.sample._finance import COEF

    skill = pd.read_csv(root / "truth" / "farmers.csv", dtype={"farmer_id": str}).set_index("farmer_id")["skill"]
    f = features.set_index("farmer_id").reindex(scored.index)
    c = current.reindex(scored.index)
    terms = pd.DataFrame({
        "log_burden": COEF["log_burden"] * np.log(c["burden"].clip(lower=1e-3)),
        "prior_defaults": COEF["prior_defaults"] * c["prior_defaults"],
        "low_skill": COEF["low_skill"] * np.maximum(0.0, -skill.reindex(scored.index)),
        "insured": COEF["insured"] * _flag(f["insured"]),
        "cooperative_member": COEF["cooperative_member"] * _flag(f["cooperative_member"]),
        "irrigated": COEF["irrigated"] * _flag(f["irrigated"]),
    }, index=scored.index)
    oracle = np.log(scored["oracle_pd_preseason"] / (1 - scored["oracle_pd_preseason"]))
    terms["expected_shortfall"] = oracle - terms.sum(axis=1)
    model = np.log(scored["pd_trained"] / (1 - scored["pd_trained"]))
    ok = terms.notna().all(axis=1) & np.isfinite(oracle) & np.isfinite(model)
    slope, icpt = np.polyfit(model[ok], oracle[ok], 1)
    resid = oracle[ok] - (icpt + slope * model[ok])
    out = {k: float(np.corrcoef(resid, terms.loc[ok, k])[0, 1]) for k in terms}
    out["residual_sd"] = float(resid.std())
    out["explained"] = float(1 - resid.var() / oracle[ok].var())
    return out


def _flag(v: pd.Series) -> np.ndarray:
    return v.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


MODELS = {"expert": "pd_expert", "trained": "pd_trained", "oracle_preseason": "oracle_pd_preseason"}


def _per_seed_auc(rows: pd.DataFrame, idx: np.ndarray, col: str, mask: np.ndarray | None = None) -> np.ndarray:
    """AUC of ``col`` in each seed's rows among ``idx`` (and ``mask``), in the order of ``rows.seed`` uniques."""
    sub = rows.iloc[idx]
    if mask is not None:
        sub = sub[mask[idx]]
    return np.array([auc(g["defaulted"].to_numpy(), g[col].to_numpy()) for _, g in sub.groupby("seed", sort=True)])


def pooled(rows: pd.DataFrame, *, n_boot: int = 1000) -> dict[str, Any]:
    """The goals of issue #6 on several regions' farmers at once, each with a 95 % interval.

    Parameters
    ----------
    rows : per-farmer rows of :func:`evaluate` with a ``seed`` column (one region per seed).
    n_boot : bootstrap resamples; farmers are resampled within each region.

    Returns
    -------
    JSON-able dict:

    - ``lift``: per model, the per-seed AUCs and the pooled lift share
      ``(mean AUC − 0.5) / (mean oracle AUC − 0.5)`` over the seeds, with its interval;
    - ``calibration``: the trained model's grades over all farmers
      (:func:`~agririsk.scoring.validation.calibration_by_grade`: predicted, observed,
      the binomial half-width and the loans a grade needs to be judged), and the same
      table for the pre-season oracle's own grades; per seed, mean pd against the
      observed rate (the portfolio level);
    - ``thin_file``: per model, the AUC gap thin file − with history per seed, their mean
      with its interval, and the gap over all farmers pooled with its interval.
    """
    rows = rows.sort_values(["seed", "farmer_id"]).reset_index(drop=True)
    seeds = rows["seed"].to_numpy()
    thin = rows["thin_file"].astype(bool).to_numpy()
    out: dict[str, Any] = {"seeds": sorted(int(v) for v in np.unique(seeds)), "farmers": len(rows),
                           "defaults": int(rows["defaulted"].sum())}

    lift: dict[str, Any] = {}
    for name in ("expert", "trained"):
        col = MODELS[name]

        def share(idx: np.ndarray, col: str = col) -> float:
            m = np.nanmean(_per_seed_auc(rows, idx, col))
            o = np.nanmean(_per_seed_auc(rows, idx, MODELS["oracle_preseason"]))
            return lift_share(float(m), float(o))

        est, lo, hi = stratified_bootstrap(seeds, share, n_boot)
        per_seed = _per_seed_auc(rows, np.arange(len(rows)), col)
        lift[name] = {"per_seed_auc": per_seed.round(4).tolist(), "mean_auc": float(np.nanmean(per_seed)),
                      "lift_share": est, "ci95": [lo, hi]}
    lift["oracle_per_seed_auc"] = _per_seed_auc(rows, np.arange(len(rows)), MODELS["oracle_preseason"]).round(4).tolist()
    out["lift"] = lift

    y = rows["defaulted"].to_numpy()
    cal = calibration_by_grade(y, rows["pd_trained"].to_numpy())
    oracle_in_grade = rows.groupby(grade_of(rows["pd_trained"].to_numpy(dtype=float)))
    cal["oracle_mean_pd"] = oracle_in_grade["oracle_pd_preseason"].mean().reindex(cal.index).round(4)
    out["calibration"] = {
        "trained": cal.reset_index().to_dict("records"),
        "oracle_preseason_own_grades": calibration_by_grade(y, rows["oracle_pd_preseason"].to_numpy()).reset_index().to_dict("records"),
        "expert_own_grades": calibration_by_grade(y, rows["pd_expert"].to_numpy()).reset_index().to_dict("records"),
        "portfolio_by_seed": rows.groupby("seed").agg(
            farmers=("defaulted", "size"), observed=("defaulted", "mean"), trained=("pd_trained", "mean"),
            expert=("pd_expert", "mean"), oracle_preseason=("oracle_pd_preseason", "mean")).round(4).reset_index().to_dict("records"),
    }

    gaps: dict[str, Any] = {}
    for name, col in MODELS.items():
        def mean_gap(idx: np.ndarray, col: str = col) -> float:
            return float(np.nanmean(_per_seed_auc(rows, idx, col, thin) - _per_seed_auc(rows, idx, col, ~thin)))

        def pooled_gap(idx: np.ndarray, col: str = col) -> float:
            t, h = idx[thin[idx]], idx[~thin[idx]]
            return auc(y[t], rows[col].to_numpy()[t]) - auc(y[h], rows[col].to_numpy()[h])

        all_idx = np.arange(len(rows))
        per_seed = _per_seed_auc(rows, all_idx, col, thin) - _per_seed_auc(rows, all_idx, col, ~thin)
        m, mlo, mhi = stratified_bootstrap(seeds, mean_gap, n_boot)
        p_, plo, phi = stratified_bootstrap(seeds, pooled_gap, n_boot)
        gaps[name] = {"per_seed_gap": per_seed.round(4).tolist(), "mean_gap": m, "mean_gap_ci95": [mlo, mhi],
                      "pooled_gap": p_, "pooled_gap_ci95": [plo, phi]}
    out["thin_file"] = {"farmers": int(thin.sum()), "defaults": int(y[thin].sum()),
                        "with_history_farmers": int((~thin).sum()), "with_history_defaults": int(y[~thin].sum()),
                        "gaps": gaps}
    return out


def _print_pooled(r: dict[str, Any]) -> None:
    g = GOALS
    print(f"pooled: seeds {r['seeds']}, {r['farmers']} farmers, {r['defaults']} defaults; 95 % intervals: bootstrap "
          "over farmers within each region")
    lf = r["lift"]
    print(f"pre-season oracle AUC per seed: {lf['oracle_per_seed_auc']}")
    for name, goal in (("expert", g["expert_lift"]), ("trained", g["trained_lift"])):
        d = lf[name]
        lo, hi = d["ci95"]
        verdict = "met" if lo >= goal else "MISSED" if hi < goal else "undecided (interval spans the goal)"
        print(f"  {name:<8s} AUC per seed {d['per_seed_auc']} (mean {d['mean_auc']:.3f}); lift share "
              f"{d['lift_share']:.3f} [{lo:.3f}, {hi:.3f}]  goal >= {goal:.2f}: {verdict}; point estimate "
              f"{'met' if d['lift_share'] >= goal else 'missed'}")
    c = r["calibration"]
    for key, label in (("trained", "trained model, its grades"), ("oracle_preseason_own_grades", "pre-season oracle, its own grades"),
                       ("expert_own_grades", "expert card, its own grades")):
        print(f"calibration, {label} (judged where loans >= 9604·p(1−p), the 95 % half-width then <= 2 pp):")
        print("  grade  farmers  predicted  observed   diff   half-width  needed  verdict" + ("   oracle mean pd" if key == "trained" else ""))
        for row in c[key]:
            verdict = ("within 2 pp" if row["within"] else "MISSED") if row["enough"] else "too few to judge"
            extra = f"   {row['oracle_mean_pd']:.3f}" if key == "trained" else ""
            print(f"  {row['grade']:<5}  {row['loans']:>7}  {row['predicted']:>9.3f}  {row['observed']:>8.3f}  "
                  f"{row['difference']:+.3f}  {row['half_width']:>10.3f}  {row['min_loans']:>6}  {verdict}{extra}")
    print("portfolio level per seed (mean pd against the observed rate):")
    for row in c["portfolio_by_seed"]:
        print(f"  seed {row['seed']}: {row['farmers']} farmers, observed {row['observed']:.3f}, trained {row['trained']:.3f}, "
              f"expert {row['expert']:.3f}, pre-season oracle {row['oracle_preseason']:.3f}")
    t = r["thin_file"]
    print(f"thin file: {t['farmers']} farmers ({t['defaults']} defaults), with history {t['with_history_farmers']} "
          f"({t['with_history_defaults']} defaults); AUC gap thin − history (goal |gap| <= {g['thin_gap']}):")
    for name, d in t["gaps"].items():
        lo, hi = d["mean_gap_ci95"]
        decided = "met" if -g["thin_gap"] <= lo and hi <= g["thin_gap"] else (
            "MISSED" if lo > g["thin_gap"] or hi < -g["thin_gap"] else "undecided (interval spans ±0.05)")
        print(f"  {name:<17s} per seed {d['per_seed_gap']}; mean {d['mean_gap']:+.3f} [{lo:+.3f}, {hi:+.3f}] {decided}; "
              f"all farmers pooled {d['pooled_gap']:+.3f} [{d['pooled_gap_ci95'][0]:+.3f}, {d['pooled_gap_ci95'][1]:+.3f}]")


def _print(r: dict[str, Any]) -> None:
    a, lift = r["auc"], r["lift_share"]
    g = GOALS
    print(f"farmers {r['farmers']}, scored by both {r['scored']}, defaults {r['defaults']} ({r['default_rate']:.1%}); "
          f"expert {r['seconds_expert']:.0f}s, train+score {r['seconds_train_and_score']:.0f}s")
    print(f"AUC pre-season oracle {a['oracle_preseason']:.3f}   (realised-weather oracle {a['oracle_realised']:.3f}, "
          "a ceiling no pre-loan score reaches)")
    print(f"AUC expert            {a['expert']:.3f}   lift share {lift['expert']:.2f}  "
          f"[goal AUC >= {g['expert_auc']:.2f}: {'met' if a['expert'] >= g['expert_auc'] else 'MISSED'}; "
          f"lift >= {g['expert_lift']:.2f}: {'met' if lift['expert'] >= g['expert_lift'] else 'MISSED'}]")
    print(f"AUC trained           {a['trained']:.3f}   lift share {lift['trained']:.2f}  "
          f"[goal lift >= {g['trained_lift']:.2f}: {'met' if lift['trained'] >= g['trained_lift'] else 'MISSED'}]")
    rc = r["oracle_rank_corr"]
    print(f"rank correlation with the pre-season oracle (all farmers): expert {rc['expert']:.3f}, trained {rc['trained']:.3f}")
    og = r["oracle_gap_by_component"]
    print(f"  the part of the oracle's logit the trained model misses (R² {og['explained']:.2f}, residual sd {og['residual_sd']:.2f} "
          "log-odds), correlated with the oracle's terms: " + ", ".join(
              f"{k} {v:+.2f}" for k, v in og.items() if k not in ("explained", "residual_sd")))
    oot = r["train_report_out_of_time"]
    print(f"  (train report, out of time on the latest past season: trained {oot['trained'] or float('nan'):.3f}, "
          f"expert {oot['expert'] or float('nan'):.3f})")
    tf = r.get("train_report_thin_file") or {}
    for row in tf.get("groups", []):
        auc = "–" if row["auc"] is None or not np.isfinite(row["auc"]) else f"{row['auc']:.3f}"
        print(f"    {tf['test_season']} {row['model']:<7s} {row['group']:<27s} n {row['n']:>3}, {row['defaults']:>2} defaults, AUC {auc}")
    m = r["mean_pd"]
    print(f"mean pd: expert {m['expert']:.3f}, trained {m['trained']:.3f}, pre-season oracle "
          f"{m['oracle_preseason']:.3f}, realised oracle {m['oracle_realised']:.3f}, observed {r['default_rate']:.3f}")
    print("calibration of the trained model by grade (goal |diff| <= 2 pp; judged where farmers >= 9604·p(1−p), "
          "so that the 95 % half-width is <= 2 pp):")
    print("  grade  farmers  predicted  observed  diff    binomial sd  pre-season oracle (within 2 pp)  verdict")
    for c in r["calibration_trained"]:
        verdict = ("within 2 pp" if c["within"] else "MISSED") if c["enough"] else f"too few to judge ({c['min_loans']} needed)"
        print(f"  {c['grade']:<5}  {c['loans']:>7}  {c['predicted']:>9.3f}  {c['observed']:>8.3f}  "
              f"{c['difference']:+.3f}  {c['binomial_sd']:>11.3f}  {c['oracle_preseason_mean']:>17.3f} "
              f"({'yes' if c['oracle_within_2pp'] else 'no'})  {verdict}")
    rc = r["recalibrated_to_history_rate"]
    print(f"  recalibrated to the history's default rate {rc['history_rate']:.3f} (shift {rc['shift_log_odds']:+.2f} "
          f"log-odds, mean pd {rc['mean_pd']:.3f}):")
    for c in rc["calibration"]:
        verdict = ("within 2 pp" if c["within"] else "MISSED") if c["enough"] else f"too few to judge ({c['min_loans']} needed)"
        print(f"  {c['grade']:<5}  {c['loans']:>7}  {c['predicted']:>9.3f}  {c['observed']:>8.3f}  {c['difference']:+.3f}  {verdict}")
    print("credit history (thin file = no prior loans at season start):")
    for name, d in r["credit_history"].items():
        h, t = d["with_history"], d["thin_file"]
        gap = t["auc"] - h["auc"]
        verdict = f"  [thin − history {gap:+.3f}: |gap| <= {g['thin_gap']}: {'met' if abs(gap) <= g['thin_gap'] else 'MISSED'}"
        verdict += f"; thin file not worse by > {g['thin_gap']}: {'met' if gap >= -g['thin_gap'] else 'MISSED'}]"
        print(f"  {name:<17s} with history AUC {h['auc']:.3f} (n {h['n']}, {h['defaults']} defaults, rate "
              f"{h['default_rate']:.3f})  thin file AUC {t['auc']:.3f} (n {t['n']}, {t['defaults']} defaults, rate "
              f"{t['default_rate']:.3f}){verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--parcels", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="reuse/keep the region here")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    ap.add_argument("--without", action="append", default=[], metavar="FACTOR",
                    help="leave this scorecard factor out of both models (an ablation; repeatable)")
    ap.add_argument("--rows", type=Path, default=None, help="also write the per-farmer rows (CSV) for --pool")
    ap.add_argument("--pool", type=Path, nargs="+", default=None, metavar="ROWS_CSV",
                    help="pool the rows of several regions (files written by --rows) and report the goals with intervals")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples of --pool")
    args = ap.parse_args()
    if args.pool:
        frames = [pd.read_csv(f, dtype={"farmer_id": str}) for f in args.pool]
        pr = pooled(pd.concat(frames, ignore_index=True), n_boot=args.boot)
        _print_pooled(pr)
        if args.json:
            args.json.write_text(json.dumps(pr, indent=1, default=_jsonable))
        return
    unknown = set(args.without) - {f.name for f in DEFAULT_FACTORS}
    if unknown:
        ap.error(f"unknown factor(s) {sorted(unknown)}; factors: {[f.name for f in DEFAULT_FACTORS]}")
    factors = tuple(f for f in DEFAULT_FACTORS if f.name not in args.without)
    logging.basicConfig(level=logging.ERROR)

    root = args.dir or Path(tempfile.mkdtemp(prefix="agririsk-bench-"))
    t0 = time.perf_counter()
    if not (root / "region.toml").exists():
        make_sample_region(root, seed=args.seed, n_parcels=args.parcels, size=args.size)
    t_gen = time.perf_counter() - t0
    print(f"region {args.size}px, {args.parcels} parcels, seed {args.seed} ({root}): generated in {t_gen:.0f}s")
    if args.without:
        print(f"without factor(s): {', '.join(args.without)}")
    r = evaluate(root, workers=args.workers, factors=factors)
    rows = r.pop("rows")
    _print(r)
    if args.rows:
        rows.assign(seed=args.seed).to_csv(args.rows, index=False)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, default=_jsonable))


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else str(v)


if __name__ == "__main__":
    main()
