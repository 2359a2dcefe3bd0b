"""Peak memory of the imagery stage against the region's area (issue 3: "not growing with
region size").

Makes (or reuses) the synthetic stacks of ``bench_zonal.py`` at two sizes with the same
parcels and dates, and a third with more parcels, then runs ``parcel_series`` once with
the label raster built (cold) and once with it on disk (warm), each in a fresh process
that samples its own ``/proc/self/status`` every 20 ms: peak resident memory, and its
anonymous part (the process's own arrays) apart from the file-backed part (libraries and
the memory-mapped label raster, which the kernel can drop and re-read).

    python benchmarks/bench_memory.py --dir /tmp/bz
    python benchmarks/bench_memory.py --dir /tmp/bz --stacks 2048:6:5000 4096:6:5000 4096:12:20000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_zonal import make_stack  # noqa: E402


def _status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def _measure(stack: str, workspace: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    import geopandas as gpd

    from agririsk.imagery import INDICES, load_items, parcel_series

    parcels = gpd.read_parquet(Path(stack) / "parcels.parquet")
    items = load_items(Path(stack) / "catalog.json")
    peak = {"RssAnon": 0.0, "RssFile": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = _status()
            for key in peak:
                peak[key] = max(peak[key], now[key])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    parcel_series(items, parcels, Path(workspace), workers=1, indices=INDICES)
    done.set()
    sampler.join()
    queue.put((_status()["VmHWM"], peak["RssAnon"], peak["RssFile"]))


def _in_child(stack: Path, workspace: Path) -> tuple[float, float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(str(stack), str(workspace), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_memory"))
    parser.add_argument(
        "--stacks",
        nargs="+",
        default=["2048:6:5000", "4096:6:5000", "4096:12:20000"],
        help="size:dates:parcels of each stack (default: %(default)s)",
    )
    parser.add_argument("--blocksize", type=int, default=512)
    args = parser.parse_args()
    print(f"{'stack':>16s} {'run':>5s} {'peak RSS MB':>11s} {'anon MB':>8s} {'file MB':>8s}")
    for spec in args.stacks:
        size, dates, n = (int(v) for v in spec.split(":"))
        stack = args.dir / f"stack_{size}_{dates}_{n}_{args.blocksize}"
        if not (stack / "catalog.json").exists():
            make_stack(stack, size, dates, n, args.blocksize)
        workspace = args.dir / f"ws_memory_{size}_{dates}_{n}"
        shutil.rmtree(workspace, ignore_errors=True)
        for run in ("cold", "warm"):
            shutil.rmtree(workspace / "items", ignore_errors=True)
            hwm, anon, file = _in_child(stack, workspace)
            print(f"{spec:>16s} {run:>5s} {hwm:11.0f} {anon:8.0f} {file:8.0f}")
    print("cold: label raster and window plans built; warm: read from the workspace.")


if __name__ == "__main__":
    main()
