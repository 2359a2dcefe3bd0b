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
  26 November; docs/crop-identification.md §4);
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

import pandas as pd

from agririsk.crop_models.croptype import MIN_CLEAR_VIEWS, CropTypeClassifier
from agririsk.crop_models.declared import MISMATCH_PROBABILITY, crop_checks
from agririsk.imagery import parcel_series
from agririsk.pipeline import load_inputs, parcel_season_table, past_seasons
from agririsk.region import Region, Season

#: images read before the season start (the crop-type features' widened window)
MARGIN_DAYS = 20


def estimator(kind: str, trees: int | None, past: bool = True, random_state: int = 0) -> CropTypeClassifier:
    """The default classifier, or the one before out-of-bag cleaning (``legacy``)."""
    opts: dict[str, int] = {"random_state": random_state}
    if not past:
        opts["past_trees"] = 0
    if kind == "legacy":
        return CropTypeClassifier(n_estimators=trees or 300, n_splits=5, **opts)
    return CropTypeClassifier(**opts) if trees is None else CropTypeClassifier(n_estimators=trees, **opts)


def grade(
    region_dir: Path, kind: str, as_of: dt.date | None, trees: int | None, past: bool = True, random_state: int = 0
) -> dict[str, object]:
    """Classify one region's season and grade it against its truth."""
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
    truth = pd.read_csv(region_dir / "truth" / "parcels.csv").set_index("parcel_id")
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
    return {
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
            row = grade(region_dir, args.estimator, args.as_of, args.trees, not args.no_past, rs)
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
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
