"""Benchmark: crop type from the declarations only, graded against the sample region's truth (issue 4).

For each sample region (``agririsk sample-region``), the season's parcels are classified
exactly as ``agririsk score`` and ``agririsk monitor`` do it
(:func:`agririsk.crop_models.declared.crop_checks` on the season's images up to
``--as-of``, cross-fitted by farmer, the declarations as the only labels), then graded
with ``truth/parcels.csv`` (read only here):

- **accuracy** of the predicted crop against ``true_crop_2026`` on the parcels with at
  least ``MIN_CLEAR_VIEWS`` clear views;
- **mismatch precision / recall**: ``crop_mismatch`` flags against the planted mismatches;
- **CPU seconds** of ``crop_checks`` (the features and every forest fit; process time, so
  that other jobs on a shared machine do not inflate it) and the wall time.

    python benchmarks/croptype_vs_truth.py --seed 0 1 2 --out /tmp/crop    # generate, then grade
    python benchmarks/croptype_vs_truth.py --region /tmp/crop/s1             # an existing region
    python benchmarks/croptype_vs_truth.py --seed 1 --out /tmp/crop --estimator legacy

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
from agririsk.crop_models.declared import crop_checks
from agririsk.imagery import parcel_series
from agririsk.pipeline import load_inputs
from agririsk.region import Region, Season

#: images read before the season start (the crop-type features' widened window)
MARGIN_DAYS = 20


def estimator(kind: str, trees: int | None) -> CropTypeClassifier:
    """The default classifier, or the one before out-of-bag cleaning (``legacy``)."""
    if kind == "legacy":
        return CropTypeClassifier(n_estimators=trees or 300, n_splits=5)
    return CropTypeClassifier() if trees is None else CropTypeClassifier(n_estimators=trees)


def grade(region_dir: Path, kind: str, as_of: dt.date | None, trees: int | None) -> dict[str, object]:
    """Classify one region's season and grade it against its truth."""
    region = Region.from_toml(region_dir / "region.toml")
    season = region.season
    day = as_of or season.end
    inputs = load_inputs(region, until=day)
    window = Season(season.start - dt.timedelta(days=MARGIN_DAYS), season.end + dt.timedelta(days=MARGIN_DAYS))
    items = [it for it in inputs.items if window.contains(pd.Timestamp(it.datetime).date()) and
             pd.Timestamp(it.datetime).date() <= day]
    series = parcel_series(items, inputs.parcels, region_dir / ".ws", workers=1, report=inputs.report)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    table, _ = crop_checks(series, inputs.parcels, [season], as_of=day, current=season,
                           estimator=estimator(kind, trees))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    truth = pd.read_csv(region_dir / "truth" / "parcels.csv").set_index("parcel_id")
    cur = table[table["current"]].set_index("parcel_id")
    seen = cur[cur["n_clear_views"] >= MIN_CLEAR_VIEWS]
    correct = seen["predicted_crop"].eq(truth["true_crop_2026"].reindex(seen.index))
    flagged = cur["crop_mismatch"].fillna(False).astype(bool)
    planted = truth["crop_mismatch"].reindex(cur.index).eq(1)
    tp = int((flagged & planted).sum())
    return {
        "region": str(region_dir),
        "estimator": kind,
        "as_of": day.isoformat(),
        "parcels_seen": int(len(seen)),
        "parcels": int(len(cur)),
        "accuracy": round(float(correct.mean()), 4),
        "flags": int(flagged.sum()),
        "true_flags": tp,
        "planted": int(planted.sum()),
        "precision": round(tp / max(int(flagged.sum()), 1), 3),
        "recall": round(tp / max(int(planted.sum()), 1), 3),
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
        row = grade(region_dir, args.estimator, args.as_of, args.trees)
        rows.append(row)
        print(
            f"{row['region']}: accuracy {row['accuracy']:.3f} ({row['parcels_seen']} of {row['parcels']} seen), "
            f"mismatch P/R {row['precision']:.2f}/{row['recall']:.2f} "
            f"({row['true_flags']} of {row['flags']} flags, {row['planted']} planted), "
            f"crop_checks {row['cpu_s']:.1f} s CPU / {row['wall_s']:.1f} s wall",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
