"""Benchmark: crop type from the declarations only, graded against the sample region's truth (issue 4).

For each sample region (``agririsk sample-region``), the season's parcels are classified
exactly as ``agririsk score`` and ``agririsk monitor`` do it
(:func:`agririsk.crop_models.declared.crop_checks` on the season's images up to
``--as-of``, cross-fitted by farmer, the declarations as the only labels), then graded
with ``truth/parcels.csv`` (read only here):

- **accuracy** of the predicted crop against ``true_crop_2026`` on the parcels with at
  least ``MIN_CLEAR_VIEWS`` clear views;
- **mismatch precision / recall**: ``crop_mismatch`` flags against the planted mismatches
  (and, for comparison, the flags the classifier's probability alone would raise:
  predicted ≠ declared at ≥ 0.8 with the past seasons' rotation group, the rule before
  26 November; since §8.10 the probability of forest A, with the green-up-aligned
  composites; docs/crop-identification.md §4);
- **area overstatement**: farms with ``area_flag`` (Σ declared / Σ measured ≥ 1.3, the
  measured area from the past seasons as ``score`` takes it) among the planted
  over-declarers (``truth/farmers.csv``) and among the others;
- **CPU seconds** of ``crop_checks`` (the features and every forest fit; process time, so
  that other jobs on a shared machine do not inflate it) and the wall time.

    python benchmarks/croptype_vs_truth.py --seed 0 1 2 --out /tmp/crop    # generate, then grade
    python benchmarks/croptype_vs_truth.py --region /tmp/crop/s1             # an existing region
    python benchmarks/croptype_vs_truth.py --seed 1 --out /tmp/crop --estimator legacy
    python benchmarks/croptype_vs_truth.py --region /tmp/crop/s1 --no-past --random-state 1

The past seasons (the season's window in earlier years that ended before ``--as-of`` and
have images, as ``score`` finds them) are read too: the classifier takes each parcel's
rotation group from them. ``--no-past`` leaves them out of the classification (they
still give the measured areas).

``--ceiling`` (a DIAGNOSTIC that reads the truth beyond grading; issue 4, 26 November)
adds, per run: the accuracy of the same ``crop_checks`` (same features, classifier,
past seasons and cross-fitting by farmer) with the **true** 2026 crops put in place of
the declarations — the ceiling of the images, since label-noise handling cannot beat
it; both accuracies split by whether a clear view falls within ±15 (and ±5) days of the
parcel's true harvest date (``truth/parcel_seasons.csv``); and two "enough clear views"
rules a bank could apply, from the crop table (``agririsk/data/crops.csv``: calendar
harvest = ``sowing_doy + season_days``) and the clear views only, stated before being
measured: **A** a clear view within ±15 days of the declared crop's calendar harvest;
**B** a clear view between the earliest and the latest calendar harvest of the
declared crops that are harvested within 30 days of another declared crop (in the
sample region other 250, soybean 261, maize 271: day of year 250-271). For each, the
parcels it would leave unclassified and the accuracy on the rest and on those.

    python benchmarks/croptype_vs_truth.py --region /tmp/crop/s1 --random-state 0 1 2 --ceiling

``--estimator legacy`` is the classifier before the out-of-bag cleaning (300 trees, the
cleaning round cross-fitted in 5 folds). The parcel series are cached in
``REGION/.ws`` (per-item tables), so a second run only classifies. Note the load
(``uptime``) next to wall times: the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from agririsk.crop_models.crops import crop_params
from agririsk.crop_models.croptype import CLEAR_VIEW, MIN_CLEAR_VIEWS, CropTypeClassifier
from agririsk.crop_models.declared import MISMATCH_PROBABILITY, crop_checks
from agririsk.imagery import parcel_series
from agririsk.pipeline import load_inputs, parcel_season_table, past_seasons
from agririsk.region import Region, Season

#: images read before the season start (the crop-type features' widened window)
MARGIN_DAYS = 20
#: ``--ceiling``: a clear view within this many days of the (true or calendar) harvest
HARVEST_VIEW_DAYS = 15
#: ``--ceiling``'s diagnostic split also at this tighter distance from the true harvest (half
#: the ~10 days between the calendar harvests of soybean and maize)
HARVEST_TIGHT_DAYS = 5
#: ``--ceiling`` rule B: crops whose calendar harvests are this close are told apart by it
CONFUSABLE_DAYS = 30


def estimator(kind: str, trees: int | None, past: bool = True, random_state: int = 0) -> CropTypeClassifier:
    """The default classifier, or the one before out-of-bag cleaning (``legacy``)."""
    opts: dict[str, Any] = {"random_state": random_state}
    if not past:
        opts["past_trees"] = 0
    if kind == "legacy":
        return CropTypeClassifier(n_estimators=trees or 300, n_splits=5, **opts)
    return CropTypeClassifier(**opts) if trees is None else CropTypeClassifier(n_estimators=trees, **opts)


def grade(
    region_dir: Path,
    kind: str,
    as_of: dt.date | None,
    trees: int | None,
    past: bool = True,
    random_state: int = 0,
    ceiling: bool = False,
) -> dict[str, object]:
    """Classify one region's season and grade it against its truth (``ceiling``: :func:`ceiling_rows`)."""
    region = Region.from_toml(region_dir / "region.toml")
    season = region.season
    day = as_of or season.end
    inputs = load_inputs(region, until=day)
    known = [it for it in inputs.items if pd.Timestamp(it.datetime).date() <= day]
    before = past_seasons(season, day, known)
    window = Season(season.start - dt.timedelta(days=MARGIN_DAYS), season.end + dt.timedelta(days=MARGIN_DAYS))
    items = [it for it in known if window.contains(pd.Timestamp(it.datetime).date())]
    old = [it for it in known if any(s.contains(pd.Timestamp(it.datetime).date()) for s in before)]
    series = parcel_series(items + old, inputs.parcels, region_dir / ".ws", workers=1, report=inputs.report)
    ps = parcel_season_table(series[series["item_id"].isin({it.id for it in old})], inputs.parcels, before)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    table, farms = crop_checks(series, inputs.parcels, [*before, season], as_of=day, current=season,
                               parcel_seasons=ps, estimator=estimator(kind, trees, past, random_state))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    truth = pd.read_csv(region_dir / "truth" / "parcels.csv", dtype={"parcel_id": str}).set_index("parcel_id")
    over = pd.read_csv(region_dir / "truth" / "farmers.csv", dtype={"farmer_id": str}).set_index("farmer_id")
    over = over["over_declared"].reindex(farms.index).eq(1)
    area_flag = farms["area_flag"].fillna(False).astype(bool)
    cur = table[table["current"]].set_index("parcel_id")
    seen = cur[cur["n_clear_views"] >= MIN_CLEAR_VIEWS]
    correct = seen["predicted_crop"].eq(truth["true_crop_2026"].reindex(seen.index))
    flagged = cur["crop_mismatch"].fillna(False).astype(bool)
    planted = truth["crop_mismatch"].reindex(cur.index).eq(1)
    tp = int((flagged & planted).sum())
    alone = cur["predicted_crop"].ne(cur["declared_crop"]) & cur["probability"].ge(MISMATCH_PROBABILITY)
    row: dict[str, object] = {
        "region": str(region_dir),
        "estimator": kind,
        "as_of": day.isoformat(),
        "past_seasons": len(before) if past else 0,
        "random_state": random_state,
        "parcels_seen": int(len(seen)),
        "parcels": int(len(cur)),
        "accuracy": round(float(correct.mean()), 4),
        "flags": int(flagged.sum()),
        "true_flags": tp,
        "planted": int(planted.sum()),
        "precision": round(tp / max(int(flagged.sum()), 1), 3),
        "recall": round(tp / max(int(planted.sum()), 1), 3),
        "flags_probability_alone": int(alone.sum()),
        "true_flags_probability_alone": int((alone & planted).sum()),
        "over_declarers": int(over.sum()),
        "over_declarers_flagged": int((area_flag & over).sum()),
        "other_farms": int((~over).sum()),
        "false_area_flags": int((area_flag & ~over).sum()),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
    }
    if ceiling:
        # DIAGNOSTIC, reads the truth: the same crop_checks with the true crops as the labels
        true_parcels = inputs.parcels.assign(
            declared_crop=inputs.parcels["parcel_id"].astype(str).map(truth["true_crop_2026"]).to_numpy()
        )
        oracle, _ = crop_checks(series, true_parcels, [*before, season], as_of=day, current=season,
                                parcel_seasons=ps, estimator=estimator(kind, trees, past, random_state))
        oracle = oracle[oracle["current"]].set_index("parcel_id")["predicted_crop"]
        row.update(ceiling_rows(region_dir, series, seen, truth["true_crop_2026"], oracle, season, day))
    return row


def _rate(hit: pd.Series) -> float | None:
    return round(float(hit.mean()), 4) if len(hit) else None


def clear_view_days(series: pd.DataFrame, season: Season, as_of: dt.date) -> pd.Series:
    """Clear views (``CLEAR_VIEW``) of each parcel in the season's widened window up to ``as_of``."""
    day = pd.to_datetime(series["datetime"], utc=True).dt.tz_localize(None).dt.normalize()
    start = pd.Timestamp(season.start - dt.timedelta(days=MARGIN_DAYS))
    end = pd.Timestamp(min(season.end, as_of))
    keep = series["clear_fraction"].fillna(0).ge(CLEAR_VIEW) & day.between(start, end)
    return day[keep].groupby(series.loc[keep, "parcel_id"].astype(str)).agg(list)


def harvest_windows(declared: pd.Series, year: int, near_days: int = CONFUSABLE_DAYS) -> dict[str, Any]:
    """Calendar-harvest windows of the declared crops, from the crop table only (no truth).

    Rule A, per declared crop: its calendar harvest (``sowing_doy + season_days`` of
    ``agririsk/data/crops.csv``) ± ``HARVEST_VIEW_DAYS``. Rule B, one window for the
    region: from the earliest to the latest calendar harvest of the declared crops whose
    harvest lies within ``near_days`` of another declared crop's (the crops told apart by
    when they are harvested; e.g. maize 271, soybean 261, other 250 → day of year 250-271;
    wheat at 205 is alone and left out).
    """
    jan1 = pd.Timestamp(year, 1, 1)
    harvest = {}
    for crop in sorted(set(declared.astype(str))):
        p = crop_params(crop)  # a crop not in the table gets the "other" row
        harvest[crop] = jan1 + pd.Timedelta(days=int(p.sowing_doy + p.season_days) - 1)
    span = pd.Timedelta(days=HARVEST_VIEW_DAYS)
    rule_a = {c: (h - span, h + span) for c, h in harvest.items()}
    close = [h for c, h in harvest.items()
             if any(abs((h - o).days) <= near_days for k, o in harvest.items() if k != c)]
    rule_b = (min(close), max(close)) if close else None
    return {"a": rule_a, "b": rule_b}


def ceiling_rows(
    region_dir: Path,
    series: pd.DataFrame,
    seen: pd.DataFrame,
    true_crop: pd.Series,
    oracle: pd.Series,
    season: Season,
    as_of: dt.date,
) -> dict[str, object]:
    """DIAGNOSTIC (reads truth): true-label ceiling, and accuracy by harvest coverage.

    ``seen``: the current season's classified parcels of the declared-label run. The
    split by the true harvest date (a clear view within ± ``HARVEST_VIEW_DAYS`` of
    ``truth/parcel_seasons.csv``'s ``harvest_date``) is diagnostic only; rules A and B
    (:func:`harvest_windows`) use the crop table and the declarations only, as a bank
    could, and are graded here.
    """
    views = clear_view_days(series, season, as_of).reindex(seen.index)
    views = views.apply(lambda v: v if isinstance(v, list) else [])
    truth_seasons = pd.read_csv(region_dir / "truth" / "parcel_seasons.csv", dtype={"parcel_id": str})
    cur = truth_seasons[truth_seasons["season"].eq(season.start.year)].set_index("parcel_id")
    harvest = pd.to_datetime(cur["harvest_date"]).reindex(seen.index)
    def near(days: int) -> pd.Series:
        span = pd.Timedelta(days=days)
        return pd.Series([pd.notna(h) and any(abs(d - h) <= span for d in v)
                          for v, h in zip(views, harvest, strict=True)], index=seen.index)

    right = seen["predicted_crop"].eq(true_crop.reindex(seen.index))
    right_true = oracle.reindex(seen.index).eq(true_crop.reindex(seen.index))
    windows = harvest_windows(seen["declared_crop"], season.start.year)
    a = windows["a"]
    rule_a = pd.Series([any(a[c][0] <= d <= a[c][1] for d in v) if c in a else True
                        for v, c in zip(views, seen["declared_crop"].astype(str), strict=True)], index=seen.index)
    b = windows["b"]
    rule_b = pd.Series([b is None or any(b[0] <= d <= b[1] for d in v) for v in views], index=seen.index)
    out: dict[str, object] = {
        "accuracy_true_labels": _rate(right_true),
        "rule_b_window": [str(x.date()) for x in b] if b else None,
    }
    for suffix, days in (("", HARVEST_VIEW_DAYS), ("_tight", HARVEST_TIGHT_DAYS)):
        close = near(days)
        out[f"harvest_seen{suffix}"] = int(close.sum())
        out[f"accuracy_harvest_seen{suffix}"] = _rate(right[close])
        out[f"accuracy_true_labels_harvest_seen{suffix}"] = _rate(right_true[close])
        out[f"accuracy_harvest_unseen{suffix}"] = _rate(right[~close])
        out[f"accuracy_true_labels_harvest_unseen{suffix}"] = _rate(right_true[~close])
    for name, keep in (("rule_a", rule_a), ("rule_b", rule_b)):
        out[f"{name}_abstain"] = int((~keep).sum())
        out[f"{name}_accuracy_kept"] = _rate(right[keep])
        out[f"{name}_accuracy_abstained"] = _rate(right[~keep])
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--region", type=Path, nargs="*", default=[], help="existing sample regions")
    ap.add_argument("--seed", type=int, nargs="*", default=[], help="seeds of sample regions to generate")
    ap.add_argument("--out", type=Path, help="folder for the generated regions (OUT/s<seed>)")
    ap.add_argument("--estimator", choices=["default", "legacy"], default="default")
    ap.add_argument("--trees", type=int, help="trees of the forest (default: the classifier's)")
    ap.add_argument("--as-of", type=dt.date.fromisoformat, help="default: the season end")
    ap.add_argument("--no-past", action="store_true", help="classify without the past seasons")
    ap.add_argument("--random-state", type=int, nargs="*", default=[0], help="forest seeds (one run each)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--ceiling", action="store_true",
                    help="DIAGNOSTIC reading the truth: true-crop labels, harvest coverage, abstention rules")
    args = ap.parse_args(argv)
    regions = list(args.region)
    if args.seed:
        if args.out is None:
            ap.error("--seed needs --out")
        from agririsk.sample import make_sample_region

        for seed in args.seed:
            target = args.out / f"s{seed}"
            if not (target / "region.toml").exists():
                make_sample_region(target, seed=seed)
            regions.append(target)
    if not regions:
        ap.error("give --region or --seed")
    rows = []
    for region_dir in regions:
        for rs in args.random_state:
            row = grade(region_dir, args.estimator, args.as_of, args.trees, not args.no_past, rs, args.ceiling)
            rows.append(row)
            print(
                f"{row['region']} (forest seed {rs}, {row['past_seasons']} past seasons): "
                f"accuracy {row['accuracy']:.3f} ({row['parcels_seen']} of {row['parcels']} seen), "
                f"mismatch P/R {row['precision']:.2f}/{row['recall']:.2f} "
                f"({row['true_flags']} of {row['flags']} flags, {row['planted']} planted; "
                f"probability alone {row['true_flags_probability_alone']} of "
                f"{row['flags_probability_alone']}), "
                f"area flags {row['over_declarers_flagged']} of {row['over_declarers']} over-declarers, "
                f"{row['false_area_flags']} of {row['other_farms']} others, "
                f"crop_checks {row['cpu_s']:.1f} s CPU / {row['wall_s']:.1f} s wall",
                flush=True,
            )
            if args.ceiling:
                print(
                    f"  ceiling (diagnostic, truth as labels): {row['accuracy_true_labels']}; "
                    f"clear view within {HARVEST_VIEW_DAYS} d of the true harvest: {row['harvest_seen']} parcels, "
                    f"accuracy {row['accuracy_harvest_seen']} (true labels {row['accuracy_true_labels_harvest_seen']}), "
                    f"others {row['accuracy_harvest_unseen']} ({row['accuracy_true_labels_harvest_unseen']}); "
                    f"within {HARVEST_TIGHT_DAYS} d: {row['harvest_seen_tight']} parcels, "
                    f"{row['accuracy_harvest_seen_tight']} ({row['accuracy_true_labels_harvest_seen_tight']}), "
                    f"others {row['accuracy_harvest_unseen_tight']} ({row['accuracy_true_labels_harvest_unseen_tight']}); "
                    f"rule A abstains {row['rule_a_abstain']}, kept {row['rule_a_accuracy_kept']}, "
                    f"abstained {row['rule_a_accuracy_abstained']}; rule B {row['rule_b_window']} abstains "
                    f"{row['rule_b_abstain']}, kept {row['rule_b_accuracy_kept']}, "
                    f"abstained {row['rule_b_accuracy_abstained']}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
