"""Benchmark: an incremental monitoring run that finds ONE new imagery item (issue 7).

On a sample region (``agririsk.sample.make_sample_region``), monitoring is run up to the
day before an acquisition (every earlier item reduced and cached, the store up to date),
then timed:

- **floor**: merely reading that one item's red, NIR and mask (SCL) bands block by block
  with rasterio, in this process;
- **incremental run**: ``monitor_region(..., as_of=that day)`` on a copy of the warm store,
  which finds exactly one new item (checked), reduces it, runs every detector and writes
  the alerts in one transaction. Between repeats the new item's cached table is removed,
  so every repeat really reads the item.

Both are best of ``--repeat``; the floor is measured before and after the runs and the
ratio is taken against the faster of the two. Goal (issue 7): run / floor <= 2. The CPU
seconds of each run and of each phase (``RunSummary.cpu_timings``, best per phase) are
printed too: on a loaded machine they move far less than the wall clock.

    python benchmarks/bench_monitor.py --region DIR              # an existing sample region
    python benchmarks/bench_monitor.py --size 2048 --parcels 5000 --seed 3 --out /tmp/r2048
    python benchmarks/bench_monitor.py --region DIR --profile run.prof   # cProfile one run

Note the load (``uptime``) next to the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

#: the bands the run reduces (every index: blue for EVI, green for NDWI, SWIR for NDMI)
RUN_BANDS = ("blue", "green", "red", "nir", "swir16")


def read_floor(item, bands: tuple[str, ...] = ("red", "nir")) -> float:  # type: ignore[no-untyped-def]
    """Seconds to read the item's ``bands`` (those it has) and its mask block by block (decoded)."""
    import rasterio

    t0 = time.perf_counter()
    for band in (*[b for b in bands if b in item.assets], item.mask_band):
        with rasterio.open(item.assets[band].href) as ds:
            for _, window in ds.block_windows(1):
                ds.read(1, window=window)
    return time.perf_counter() - t0


def read_floor_threads(item, bands: tuple[str, ...], threads: int) -> float:  # type: ignore[no-untyped-def]
    """Like :func:`read_floor`, the bands read by ``threads`` threads (one band per task)."""
    from concurrent.futures import ThreadPoolExecutor

    import rasterio

    def read(band: str) -> None:
        with rasterio.open(item.assets[band].href) as ds:
            for _, window in ds.block_windows(1):
                ds.read(1, window=window)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read, [*[b for b in bands if b in item.assets], item.mask_band]))
    return time.perf_counter() - t0


def _day(item) -> dt.date:  # type: ignore[no-untyped-def]
    t = pd.Timestamp(item.datetime)
    return (t.tz_convert(None) if t.tzinfo else t).date()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--region", type=Path, help="existing sample region directory")
    ap.add_argument("--out", type=Path, help="where to generate a region (with --size)")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--parcels", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--new-item-after",
        default="2026-07-20",
        help="the new item is the first acquisition after this date (default mid-season)",
    )
    ap.add_argument("--warm-every", type=int, default=15, help="days between warm-up runs")
    ap.add_argument("--workers", type=int, default=2, help="workers for the warm-up runs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", type=Path, help="write a cProfile of one incremental run here")
    ap.add_argument(
        "--workspace",
        type=Path,
        help="workspace for the item cache and the monitoring caches (default: the region's "
        ".agririsk/); use one of your own for a region you may not write to",
    )
    ap.add_argument("--keep-db", type=Path, help="copy the store of the last run here")
    ap.add_argument(
        "--process",
        action="store_true",
        help="also time the run as cron does, as a new process, against a new process that "
        "merely reads the item",
    )
    args = ap.parse_args()

    from agririsk.monitoring import monitor_region
    from agririsk.pipeline import load_inputs
    from agririsk.region import Region

    if args.region is None:
        from agririsk.sample import make_sample_region

        out = args.out or Path(tempfile.mkdtemp(prefix="bench_monitor_")) / "region"
        t0 = time.perf_counter()
        make_sample_region(out, seed=args.seed, n_parcels=args.parcels, size=args.size)
        print(f"generated {out} in {time.perf_counter() - t0:.0f} s")
        args.region = out
    region = Region.from_toml(args.region / "region.toml")
    season = region.season
    inputs = load_inputs(region, until=season.end)
    n_parcels = len(inputs.parcels)
    after = dt.date.fromisoformat(args.new_item_after)
    days = sorted(
        {_day(it) for it in inputs.items if _day(it) >= season.start - dt.timedelta(days=15)}
    )
    new_day = next(d for d in days if d > after)
    new_items = [it for it in inputs.items if _day(it) == new_day]
    prev_day = new_day - dt.timedelta(days=1)
    print(
        f"region {args.region}: {n_parcels} parcels, {len(inputs.items)} items; "
        f"new item {', '.join(i.id for i in new_items)} ({new_day})"
    )

    workspace = args.workspace or region.default_workspace()
    for f in (workspace / "items").glob(f"{new_items[0].id}-*.parquet"):
        f.unlink()
    # warm store: cron runs every --warm-every days up to the day before the new item; the
    # monitoring caches start empty (a previous benchmark left the new item in them)
    shutil.rmtree(workspace / "monitor", ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="bench_monitor_db_"))
    warm_db = work / "warm.sqlite"
    t0 = time.perf_counter()
    for d in pd.date_range(season.start, prev_day, freq=f"{args.warm_every}D"):
        monitor_region(
            region, db=warm_db, as_of=d.date(), workers=args.workers, workspace=workspace
        )
    monitor_region(region, db=warm_db, as_of=prev_day, workers=args.workers, workspace=workspace)
    print(f"warm-up runs up to {prev_day}: {time.perf_counter() - t0:.1f} s")

    # the monitoring caches (workspace/monitor/) as the warm-up left them: restored before
    # every repeat, so that the new item is not yet in the observation store
    snapshot = work / "monitor"
    shutil.copytree(workspace / "monitor", snapshot)
    timings: list[dict[str, float]] = []
    cpu_timings: list[dict[str, float]] = []
    cpu: list[float] = []
    gc_pause: list[tuple[int, float]] = []  # per run: full collections, seconds in all collections
    gc_state = {"t0": 0.0, "full": 0, "s": 0.0}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_state["t0"] = time.perf_counter()
        else:
            gc_state["s"] += time.perf_counter() - gc_state["t0"]
            gc_state["full"] += info.get("generation") == 2

    def one_run(k: int, profile: Path | None = None) -> float:
        for f in (workspace / "items").glob(f"{new_items[0].id}-*.parquet"):
            f.unlink()  # the new item's cached tables: the run must really read it
        shutil.rmtree(workspace / "monitor")
        shutil.copytree(snapshot, workspace / "monitor")
        db = work / f"run{k}.sqlite"
        shutil.copy(warm_db, db)
        prof = cProfile.Profile() if profile else None
        gc_state.update(full=0, s=0.0)
        gc.callbacks.append(on_gc)
        t, c = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        s = monitor_region(region, db=db, as_of=new_day, workers=1, workspace=workspace)
        if prof:
            prof.disable()
            prof.dump_stats(profile)
        el = time.perf_counter() - t
        gc.callbacks.remove(on_gc)
        if not prof:
            cpu.append(time.process_time() - c)
            gc_pause.append((int(gc_state["full"]), gc_state["s"]))
        timings.append(s.timings)
        cpu_timings.append(s.cpu_timings)
        if args.keep_db:
            shutil.copy(db, args.keep_db)
        if s.items_read != len(new_items) or len(new_items) != 1:
            raise SystemExit(f"expected one new item, the run read {s.items_read}")
        return el

    floor_a = min(read_floor(new_items[0]) for _ in range(args.repeat))
    runs = [one_run(k) for k in range(args.repeat)]
    floor_b = min(read_floor(new_items[0]) for _ in range(args.repeat))
    floor = min(floor_a, floor_b)
    best = min(runs)
    load = os.getloadavg()
    print(
        f"\nincremental run, 1 new item, {n_parcels} parcels "
        f"(load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}):"
    )
    print(
        f"  floor (read red, nir, scl of the item): {floor_a:.3f} s before, {floor_b:.3f} s after"
    )
    print(
        f"  monitor run (best of {args.repeat}): {best:.3f} s   (all: {', '.join(f'{r:.3f}' for r in runs)})"
    )
    print(f"  ratio run / floor: {best / floor:.2f}x   (goal <= 2x)")
    print(
        f"  CPU seconds of the runs: {', '.join(f'{c:.3f}' for c in cpu)}; cyclic GC in them: "
        + ", ".join(f"{n} full collections {g:.3f} s" for n, g in gc_pause)
    )
    floor_all = min(read_floor(new_items[0], RUN_BANDS) for _ in range(args.repeat))
    print(
        f"  floor of every band the run reads ({', '.join(RUN_BANDS)}, mask): {floor_all:.3f} s; "
        f"ratio run / that floor: {best / floor_all:.2f}x"
    )
    fastest = timings[runs.index(best)]
    print(
        "  phases of the fastest run (s): " + ", ".join(f"{k} {v:.3f}" for k, v in fastest.items())
    )
    # CPU seconds per phase, best of the runs phase by phase: what the load moves least
    phase_cpu = {k: min(t[k] for t in cpu_timings[: args.repeat]) for k in cpu_timings[0]}
    print(
        "  CPU seconds per phase (best of the runs, phase by phase): "
        + ", ".join(f"{k} {v:.3f}" for k, v in phase_cpu.items())
        + f"; sum {sum(phase_cpu.values()):.3f}"
    )
    # the reduction of the item alone (agririsk.imagery.zonal_item, every index): the part
    # of the run that is imagery work rather than monitoring
    from agririsk.imagery.series import READ_THREADS
    from agririsk.imagery.zonal import LabelCache, ParcelSet, zonal_item

    label_cache = LabelCache(ParcelSet.from_frame(inputs.parcels), workspace)
    for threads in dict.fromkeys((READ_THREADS, 1)):
        reduce_s = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            zonal_item(new_items[0], label_cache, threads=threads)
            reduce_s.append(time.perf_counter() - t)
        print(
            f"  zonal_item alone, {threads} reading thread(s) (best of {args.repeat}): "
            f"{min(reduce_s):.3f} s = {min(reduce_s) / floor_all:.2f}x the floor of every band"
            + (f"; run minus it: {best - min(reduce_s):.3f} s" if threads == READ_THREADS else "")
        )
    if READ_THREADS > 1:
        # the run reads with READ_THREADS threads: the floor read the same way, for comparison
        par = min(
            read_floor_threads(new_items[0], RUN_BANDS, READ_THREADS) for _ in range(args.repeat)
        )
        print(
            f"  every band read by {READ_THREADS} threads (no reduction): {par:.3f} s; "
            f"ratio run / that: {best / par:.2f}x"
        )
    if args.process:
        # as cron runs it: a new process (interpreter, imports, the compiled kernels loaded
        # from numba's cache) against a new process that merely reads the item
        def process_run(k: int) -> float:
            for f in (workspace / "items").glob(f"{new_items[0].id}-*.parquet"):
                f.unlink()
            shutil.rmtree(workspace / "monitor")
            shutil.copytree(snapshot, workspace / "monitor")
            db = work / f"process{k}.sqlite"
            shutil.copy(warm_db, db)
            argv = ["-q", "monitor", str(args.region / "region.toml"), "--workspace", str(workspace)]
            argv += ["--db", str(db), "--as-of", new_day.isoformat()]
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from agririsk.cli import main; sys.exit(main(sys.argv[1:]))",
                    *argv,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return time.perf_counter() - t

        hrefs = [
            new_items[0].assets[b].href
            for b in (*RUN_BANDS, new_items[0].mask_band)
            if b in new_items[0].assets
        ]
        reader = (
            "import sys, rasterio\n"
            "for h in sys.argv[1:]:\n"
            "    with rasterio.open(h) as ds:\n"
            "        for _, w in ds.block_windows(1): ds.read(1, window=w)\n"
        )

        def process_floor() -> float:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", reader, *hrefs], check=True)
            return time.perf_counter() - t

        procs = [process_run(k) for k in range(args.repeat)]
        pfloor = min(process_floor() for _ in range(args.repeat))
        print(
            f"  as a new process (cron), best of {args.repeat}: {min(procs):.3f} s "
            f"(all: {', '.join(f'{r:.3f}' for r in procs)}); a new process reading every band: "
            f"{pfloor:.3f} s; ratio {min(procs) / pfloor:.2f}x"
        )
    if args.profile:
        one_run(args.repeat, args.profile)
        import pstats

        print(f"  profile of one run ({args.profile}), cumulative seconds under cProfile:")
        stats = pstats.Stats(str(args.profile)).get_stats_profile().func_profiles
        for name in (
            "monitor_region",
            "load_inputs",
            "parcel_series",
            "zonal_item",
            "region_inputs",
            "season_observations",
            "station_weather",
            "clear_observations",
            "peer_table",
            "detect_imagery_obs",
            "weather_verdicts",
            "data_gaps_obs",
            "_fresh",
            "apply_lifecycle",
            "_write_changes",
        ):
            if name in stats:
                print(f"    {name:18s} {stats[name].cumtime:7.3f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
