"""Benchmark of the season indicators: CPU of ``pipeline.parcel_season_table``.

After the per-item reduction, ``agririsk score`` turns each parcel's series into its
season indicators (Whittaker smoothing, phenology, health indicators). This times that
step alone on one data set, in CPU seconds (user + system of this process, best of
``--repeat`` calls; robust to the load of other processes), and checks that the output
table is the same as a saved reference:

- ``--stack DIR``: a synthetic stack of ``benchmarks/bench_zonal.py`` (its
  ``parcels.parquet`` and ``catalog.json``; the series is read from the per-item cache
  in ``--workspace``, e.g. the ``ws_1`` folder of bench_zonal's ``--dir``); the parcels get
  random declared crops (seed 0) and one season spans the items, as in
  ``bench_zonal.py --indicators``;
- ``--region region.toml``: a sample region, with its past seasons as of the financed
  season's start, as ``agririsk score`` computes them (``--workspace``: a per-item cache
  folder, never the region's own ``.agririsk``).

``--reference FILE`` (a pickle): written when it does not exist (the baseline's table when
``--baseline-src`` is given, else this code's), compared otherwise (every column, floats
exactly; ``--tolerance`` allows an absolute difference).
``--baseline-src DIR`` runs the same measurement on another copy of the package (a folder
holding ``agririsk/``, e.g. a ``git worktree`` of an earlier commit) in a child process,
on the same data, and prints before / after::

    python benchmarks/bench_indicators.py --stack /tmp/bz/stack_4096_12_20000_512 \\
        --workspace /tmp/bz/ws_1 --reference /tmp/ind/bz_ref.pkl --baseline-src /tmp/old
    python benchmarks/bench_indicators.py --region /tmp/scale/r4096/region.toml \\
        --workspace /tmp/ind/ws --reference /tmp/ind/r4096_ref.pkl
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def load_inputs(args: argparse.Namespace) -> tuple[pd.DataFrame, Any, list[Any]]:
    """(series, parcels, seasons) of the stack or region named by ``args``."""
    import datetime as dt

    from agririsk.imagery import INDICES, load_items, parcel_series
    from agririsk.region import Season

    workspace = Path(args.workspace)
    if args.stack:
        import geopandas as gpd

        stack = Path(args.stack)
        parcels = gpd.read_parquet(stack / "parcels.parquet")
        crops = np.array(["maize", "soybean", "rice", "wheat"])
        parcels["declared_crop"] = np.random.default_rng(0).choice(crops, len(parcels))
        items = load_items(stack / "catalog.json")
        series = parcel_series(items, parcels, workspace, workers=1, indices=INDICES)
        days = [it.datetime.date() for it in items]
        return (
            series,
            parcels,
            [Season(min(days) - dt.timedelta(days=5), max(days) + dt.timedelta(days=5))],
        )
    from agririsk.pipeline import _day, _in_any, past_seasons
    from agririsk.pipeline import load_inputs as region_inputs
    from agririsk.region import Region

    region = Region.from_toml(args.region)
    if workspace.resolve() == region.default_workspace().resolve():
        raise SystemExit(
            "--workspace must not be the region's own cache folder; use a scratch folder"
        )
    as_of = region.season.start
    inputs = region_inputs(region, until=as_of)
    known = [it for it in inputs.items if _day(it) <= as_of]
    seasons = past_seasons(region.season, as_of, known)
    used = [it for it in known if _in_any(it, seasons)]
    series = parcel_series(used, inputs.parcels, workspace, workers=1)
    return series, inputs.parcels, seasons


def measure(
    series: pd.DataFrame, parcels: Any, seasons: list[Any], repeat: int
) -> tuple[float, float, pd.DataFrame]:
    """Best CPU and wall seconds of ``parcel_season_table`` over ``repeat`` calls, and its table."""
    from agririsk.pipeline import parcel_season_table

    cpu, wall, table = np.inf, np.inf, None
    for _ in range(repeat):
        t, c = time.perf_counter(), _cpu()
        table = parcel_season_table(series, parcels, seasons)
        cpu, wall = min(cpu, _cpu() - c), min(wall, time.perf_counter() - t)
    assert table is not None
    return cpu, wall, table


def compare(table: pd.DataFrame, ref: pd.DataFrame, tolerance: float) -> list[str]:
    """Differences between two tables (empty: the same, floats within ``tolerance``)."""
    if list(table.columns) != list(ref.columns) or len(table) != len(ref):
        return [
            f"shape or columns differ: {table.shape} {list(table.columns)} vs {ref.shape} {list(ref.columns)}"
        ]
    problems = []
    for col in ref.columns:
        a, b = table[col], ref[col]
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            x, y = a.to_numpy(), b.to_numpy()
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                problems.append(
                    f"{col}: NaN in different rows ({int((np.isnan(x) != np.isnan(y)).sum())})"
                )
                continue
            diff = float(np.nanmax(np.abs(x - y))) if np.isfinite(x).any() else 0.0
            if diff > tolerance:
                problems.append(f"{col}: max abs difference {diff:.3g}")
        elif not a.equals(b):
            problems.append(f"{col}: {int((a.astype(str) != b.astype(str)).sum())} rows differ")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--stack", help="a bench_zonal.py stack folder")
    src.add_argument("--region", help="a region.toml")
    ap.add_argument("--workspace", required=True, help="per-item cache folder (scratch)")
    ap.add_argument("--repeat", type=int, default=3, help="calls timed; the best is kept")
    ap.add_argument(
        "--reference", help="pickle of the expected table: written if absent, else compared"
    )
    ap.add_argument(
        "--tolerance", type=float, default=0.0, help="allowed absolute float difference"
    )
    ap.add_argument(
        "--baseline-src", help="folder holding another agririsk/ to time on the same data"
    )
    ap.add_argument("--json-out", help=argparse.SUPPRESS)  # child mode: write timings + table here
    args = ap.parse_args()

    series, parcels, seasons = load_inputs(args)
    n_parcels = parcels["parcel_id"].nunique()
    cpu, wall, table = measure(series, parcels, seasons, args.repeat)
    if args.json_out:
        table.to_pickle(args.json_out + ".pkl")
        Path(args.json_out).write_text(json.dumps({"cpu": cpu, "wall": wall}))
        return
    load = os.getloadavg()[0]
    print(
        f"{n_parcels} parcels, {len(seasons)} season(s), {len(series)} series rows; load {load:.1f}"
    )
    print(f"parcel_season_table: {cpu:.2f} s CPU, {wall:.2f} s wall (best of {args.repeat})")
    failed = False
    expected = None  # the table the reference file gets when it does not exist
    if args.baseline_src:
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "baseline.json")
            cmd = [
                sys.executable,
                __file__,
                "--workspace",
                args.workspace,
                "--repeat",
                str(args.repeat),
                "--json-out",
                out,
            ]
            cmd += ["--stack", args.stack] if args.stack else ["--region", args.region]
            env = {**os.environ, "PYTHONPATH": str(Path(args.baseline_src).resolve())}
            subprocess.run(cmd, check=True, env=env, cwd=tempfile.gettempdir())
            base = json.loads(Path(out).read_text())
            base_table = pd.read_pickle(out + ".pkl")
        print(
            f"baseline ({args.baseline_src}): {base['cpu']:.2f} s CPU, {base['wall']:.2f} s wall; "
            f"after / before: {cpu / base['cpu']:.2f} (CPU)"
        )
        expected = base_table
        problems = compare(table, base_table, args.tolerance)
        print(
            "same table as the baseline"
            if not problems
            else "DIFFERS from the baseline: " + "; ".join(problems)
        )
        failed |= bool(problems)
    if args.reference:
        ref_path = Path(args.reference)
        if not ref_path.exists():
            ref_path.parent.mkdir(parents=True, exist_ok=True)
            with ref_path.open("wb") as fh:
                pickle.dump(table if expected is None else expected, fh)
            src = "this code's" if expected is None else "the baseline's"
            print(f"reference written ({src} table): {ref_path}")
        else:
            problems = compare(table, pd.read_pickle(ref_path), args.tolerance)
            print(
                "same table as the reference"
                if not problems
                else "DIFFERS from the reference: " + "; ".join(problems)
            )
            failed |= bool(problems)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
