"""How well does the pre-loan score rank the sample region's true current-season defaults?

Generates a sample region (not the test one), scores it as of season start, and prints the
AUC of ``pd`` against the defaults the generator drew for the current season, next to the
AUC of the generator's own oracle probabilities (the ceiling any score could reach on these
draws) and of each single indicator.

    .venv/bin/python benchmarks/score_vs_truth.py --size 1024 --parcels 1000 --seed 11
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from agririsk.pipeline import score_region
from agririsk.region import Region
from agririsk.sample import make_sample_region


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--parcels", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="reuse/keep the region here")
    args = ap.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="agririsk-bench-"))
    toml = root / "region.toml"
    t0 = time.perf_counter()
    if not toml.exists():
        make_sample_region(root, seed=args.seed, n_parcels=args.parcels, size=args.size)
    t_gen = time.perf_counter() - t0
    region = Region.from_toml(toml)
    t0 = time.perf_counter()
    run = score_region(region, workers=args.workers)
    t_score = time.perf_counter() - t0

    truth = pd.read_csv(root / "truth" / "defaults.csv", dtype={"farmer_id": str})
    current = truth[truth["season"].astype(str).str.startswith(str(region.season.start.year))]
    s = run.scores.set_index("farmer_id").join(current.set_index("farmer_id")[["defaulted", "oracle_pd"]], how="inner")
    scored = s[s["pd"].notna()]
    y = scored["defaulted"].astype(int)
    print(f"region {args.size}px, {args.parcels} parcels, seed {args.seed}: generated in {t_gen:.0f}s, "
          f"scored in {t_score:.0f}s ({run.items_used} items, workers={args.workers})")
    print(f"farmers {len(s)}, scored {len(scored)}, defaults {int(y.sum())} ({y.mean():.1%})")
    print(f"AUC pd           {roc_auc_score(y, scored['pd']):.3f}")
    print(f"AUC oracle pd    {roc_auc_score(y, scored['oracle_pd']):.3f}  (ceiling on these draws)")
    for col in ["loan_burden", "area_ratio", "productivity_pct", "peak_ndvi_cv", "prior_defaults"]:
        v = pd.to_numeric(scored[col], errors="coerce").astype(float)
        m = v.notna()
        if m.sum() > 10 and y[m].nunique() == 2:
            auc = roc_auc_score(y[m], v[m])
            print(f"  AUC {col:<16s} {max(auc, 1 - auc):.3f} ({'higher' if auc >= 0.5 else 'lower'} = riskier)")
    print("grades:", scored.groupby("grade")["defaulted"].agg(["size", "mean"]).round(3).to_dict("index"))
    _ = np  # keep numpy import for interactive use


if __name__ == "__main__":
    main()
