"""How ``agririsk score`` scales with the region: wall time and peak memory per region size.

For each region folder given (made beforehand by ``agririsk sample-region``), and for
each ``--workers`` value, runs in a fresh subprocess and a fresh workspace (cold: nothing
cached, label rasters built):

- ``score``: the whole command, ``agririsk -q score REGION --workers N`` (imports, inputs,
  imagery reduction, weather, features, scores, files);
- ``reduce``: the imagery reduction alone, :func:`agririsk.imagery.parcel_series` over
  exactly the items that ``score`` read (the part that grows with pixels × dates); its
  wall and CPU seconds (this process plus its reaped pool processes) are timed around the
  call only, so imports and input reading are left out.

Recorded per run: wall seconds; items read; pixels × dates (the sum, over the items read,
of the item's red-band pixel count), seconds per Mpx·date; peak memory as (a) the largest
single process (``ru_maxrss`` of the finished child from ``wait4``, which covers its
reaped worker processes) and (b) the peak of the summed RSS of the process tree, sampled
every 50 ms (pages shared by forked workers are counted once per process, so (b) is an
upper bound); the 1-minute load average before and after (the machine may be shared).

    python benchmarks/bench_scale.py /tmp/scale/r512 /tmp/scale/r2048
    python benchmarks/bench_scale.py /tmp/scale/r4096 --workers 1 2 --json scale-4096.json

Prints a Markdown table and writes the JSON (default ``bench_scale.json`` in the current
folder). Scratch workspaces go to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil


def _tree_rss(proc: psutil.Process) -> int:
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, exit code, peak single-process RSS and peak tree RSS (MB)."""
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    proc = psutil.Process(child.pid)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    return {
        "seconds": round(wall, 2),
        "exit_code": child.returncode,
        "peak_process_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "peak_tree_rss_mb": round(peak[0] / 2**20, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def items_read(workspace: Path) -> list[str]:
    """Ids of the items whose per-parcel table a run cached in ``workspace``."""
    import pandas as pd

    ids = []
    for path in sorted((workspace / "items").glob("*.parquet")):
        col = pd.read_parquet(path, columns=["item_id"])["item_id"]
        if len(col):
            ids.append(str(col.iloc[0]))
    return ids


def pixels_of(region: Path, ids: list[str]) -> tuple[int, int]:
    """(sum of the red-band pixel counts of items ``ids``, pixels of the largest one)."""
    import rasterio

    from agririsk.imagery import load_items
    from agririsk.region import Region

    reg = Region.from_toml(region / "region.toml")
    wanted = set(ids)
    total, largest = 0, 0
    for item in load_items(reg.imagery_catalog, collection=reg.imagery_collection):
        if item.id in wanted:
            with rasterio.open(item.assets["red"].href) as ds:
                n = ds.width * ds.height
            total += n
            largest = max(largest, n)
    return total, largest


def _parcels(region: Path) -> int:
    import pyogrio

    from agririsk.region import Region

    return int(pyogrio.read_info(Region.from_toml(region / "region.toml").parcels_path)["features"])


def _reduce_main(region: Path, workspace: Path, workers: int, ids_file: Path) -> None:
    """Child process of the ``reduce`` measurement: parcel_series over the given items."""
    from agririsk.imagery import parcel_series
    from agririsk.pipeline import load_inputs
    from agririsk.region import Region

    reg = Region.from_toml(region / "region.toml")
    inputs = load_inputs(reg, until=reg.season.start)
    wanted = set(json.loads(ids_file.read_text()))
    items = [it for it in inputs.items if it.id in wanted]
    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    df = parcel_series(items, inputs.parcels, workspace, workers=workers, report=inputs.report)
    wall, used = time.perf_counter() - t0, cpu() - c0  # pool processes are reaped by now
    print(json.dumps({"rows": len(df), "items": len(items), "reduce_seconds": wall, "reduce_cpu": used}))


def bench_region(region: Path, workers: list[int], scratch: Path) -> list[dict[str, Any]]:
    rows = []
    for n in workers:
        tag = f"{region.name}-w{n}"
        ws, out = scratch / f"ws-{tag}", scratch / f"out-{tag}"
        cmd = [sys.executable, "-m", "agririsk.cli", "-q", "score", str(region / "region.toml"),
               "--out", str(out), "--workspace", str(ws), "--workers", str(n)]
        res = run_measured(cmd, scratch / f"score-{tag}.log")
        if res["exit_code"] != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{(scratch / f'score-{tag}.log').read_text()[-3000:]}")
        ids = items_read(ws)
        report = json.loads((out / "score_report.json").read_text())
        px, largest = pixels_of(region, ids)
        base = {
            "region": str(region), "workers": n, "items_read": len(ids),
            "parcels": _parcels(region), "farmers": report.get("farmers"),
            "item_pixels": largest, "pixel_dates": px, "mpx_dates": round(px / 1e6, 2),
        }
        rows.append({**base, "what": "score", **res,
                     "s_per_mpx_date": round(res["seconds"] / (px / 1e6), 4)})
        ids_file = scratch / f"ids-{tag}.json"
        ids_file.write_text(json.dumps(ids))
        ws2 = scratch / f"ws-reduce-{tag}"
        cmd = [sys.executable, __file__, "--_reduce", str(region), str(ws2), str(n), str(ids_file)]
        log = scratch / f"reduce-{tag}.log"
        res = run_measured(cmd, log)
        if res["exit_code"] != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{log.read_text()[-3000:]}")
        inner = json.loads(log.read_text().strip().splitlines()[-1])
        rows.append({**base, "what": "reduce", **res,
                     "reduce_seconds": round(inner["reduce_seconds"], 2),
                     "reduce_cpu_seconds": round(inner["reduce_cpu"], 2),
                     "s_per_mpx_date": round(inner["reduce_seconds"] / (px / 1e6), 4),
                     "cpu_s_per_mpx_date": round(inner["reduce_cpu"] / (px / 1e6), 4)})
        shutil.rmtree(ws, ignore_errors=True)
        shutil.rmtree(ws2, ignore_errors=True)
        print(f"  {tag}: score {rows[-2]['seconds']} s, reduce {rows[-1]['reduce_seconds']} s",
              file=sys.stderr)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| region | run | workers | items | Mpx·dates | wall s | reduce s | s / Mpx·date | "
            "reduce CPU s / Mpx·date | peak process MB | peak tree RSS MB | CPU s | load before/after |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {Path(r['region']).name} | {r['what']} | {r['workers']} | {r['items_read']} | "
            f"{r['mpx_dates']} | {r['seconds']} | {r.get('reduce_seconds', '')} | "
            f"{r['s_per_mpx_date']} | {r.get('cpu_s_per_mpx_date', '')} | {r['peak_process_mb']} | {r['peak_tree_rss_mb']} | "
            f"{r['cpu_seconds']} | {r['load_before']}/{r['load_after']} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_reduce":
        _reduce_main(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("regions", nargs="+", type=Path, help="sample-region folders (with region.toml)")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="default: 1 2")
    ap.add_argument("--json", type=Path, default=Path("bench_scale.json"), help="results file")
    args = ap.parse_args()
    for r in args.regions:
        if not (r / "region.toml").is_file():
            raise SystemExit(f"{r}: no region.toml; make one with agririsk sample-region --out {r}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        for region in args.regions:
            print(f"{region} ...", file=sys.stderr)
            rows += bench_region(region.resolve(), args.workers, Path(tmp))
    doc = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "cpu": platform.processor()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": rows,
    }
    args.json.write_text(json.dumps(doc, indent=2))
    print(markdown(rows))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
