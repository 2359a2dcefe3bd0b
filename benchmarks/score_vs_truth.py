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
with ≥ 30 farmers; thin-file AUC within 0.05 of the with-history AUC.

    .venv/bin/python benchmarks/score_vs_truth.py --size 1024 --parcels 1000 --seed 11 --dir /tmp/score/s11
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
from agririsk.scoring.scorecard import DEFAULT_FACTORS, ExpertScorecard, Factor
from agririsk.scoring.validation import by_credit_history, calibration_by_grade, lift_share
from agririsk.training import train_region

MIN_GRADE_N = 30
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
    cal["checked"] = cal["loans"] >= MIN_GRADE_N
    cal["within_2pp"] = cal["difference"].abs() <= GOALS["calibration_pp"]
    out["calibration_trained"] = cal.reset_index().to_dict("records")
    # the alternative level: the same ranking shifted so that today's portfolio has the
    # history's realised default rate (the way the expert card is calibrated)
    rate = trained_fit.report["defaults"] / trained_fit.report["loans_used"]
    z = np.log(scored["pd_trained"] / (1 - scored["pd_trained"])).to_numpy()
    shift = brentq(lambda d: float(np.mean(1 / (1 + np.exp(-(z + d))))) - rate, -10.0, 10.0)
    p_re = 1 / (1 + np.exp(-(z + shift)))
    cal_re = calibration_by_grade(y.to_numpy(), p_re)
    cal_re["checked"] = cal_re["loans"] >= MIN_GRADE_N
    cal_re["within_2pp"] = cal_re["difference"].abs() <= GOALS["calibration_pp"]
    out["recalibrated_to_history_rate"] = {"history_rate": rate, "shift_log_odds": shift, "mean_pd": float(p_re.mean()),
                                           "calibration": cal_re.reset_index().to_dict("records")}
    out["mean_pd"] = {"expert": float(scored["pd"].mean()), "trained": float(scored["pd_trained"].mean()),
                      "oracle_preseason": float(scored["oracle_pd_preseason"].mean()),
                      "oracle_realised": float(scored["oracle_pd"].mean())}
    out["credit_history"] = {
        name: by_credit_history(y.to_numpy(), scored[col].to_numpy(), thin)
        for name, col in (("expert", "pd"), ("trained", "pd_trained"), ("oracle_preseason", "oracle_pd_preseason"))
    }
    return out


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
    print(f"calibration of the trained model by grade (checked where >= {MIN_GRADE_N} farmers, goal |diff| <= 2 pp):")
    print("  grade  farmers  predicted  observed  diff    binomial sd  pre-season oracle (within 2 pp)  verdict")
    for c in r["calibration_trained"]:
        verdict = ("within 2 pp" if c["within_2pp"] else "MISSED") if c["checked"] else "too few to check"
        print(f"  {c['grade']:<5}  {c['loans']:>7}  {c['predicted']:>9.3f}  {c['observed']:>8.3f}  "
              f"{c['difference']:+.3f}  {c['binomial_sd']:>11.3f}  {c['oracle_preseason_mean']:>17.3f} "
              f"({'yes' if c['oracle_within_2pp'] else 'no'})  {verdict}")
    rc = r["recalibrated_to_history_rate"]
    print(f"  recalibrated to the history's default rate {rc['history_rate']:.3f} (shift {rc['shift_log_odds']:+.2f} "
          f"log-odds, mean pd {rc['mean_pd']:.3f}):")
    for c in rc["calibration"]:
        verdict = ("within 2 pp" if c["within_2pp"] else "MISSED") if c["checked"] else "too few to check"
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
    args = ap.parse_args()
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
    _print(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


if __name__ == "__main__":
    main()
