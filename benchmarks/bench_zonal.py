"""Benchmark of the imagery hot path against the read-only floor (PERFORMANCE.md).

Makes a synthetic Sentinel-2-like stack (uint16 blue/green/red/NIR at 10 m, SWIR16 and
uint8 SCL at 20 m, tiled DEFLATE COGs, parcels in EPSG:4326), then times in fresh processes:

- floor: merely reading the bands block by block, 1 and 2 processes: all six bands (what
  the four indices need) and red, NIR, SCL only (what NDVI alone needs);
- ``parcel_series`` (all four indices, percentiles, 20 m cloud buffer) cold (label
  raster built, nothing cached) and with label rasters on disk, workers 1 and 2;
- the same with ``indices=("ndvi",)`` (reads red, NIR, SCL only), workers 1;
- a rerun that only reads the per-item cache;
- the per-parcel reduction against exactextract on the same masked NDVI (``--exactextract``);
- the season indicators of the series (Whittaker smoothing, phenology, health indicators;
  ``--indicators``): per-parcel work after the reduction, which follows parcels and season
  days, not pixels.

Each ratio is against the floor that reads the *same bands* ("× floor"), and against that
floor measured again just before the measurement ("× adj.", robust to drifting load).
Peak memory is the measuring process's high-water mark (or its workers' maximum).

    python benchmarks/bench_zonal.py                 # 2048², 6 dates, 5000 parcels
    python benchmarks/bench_zonal.py --size 4096 --dates 12 --parcels 20000 --exactextract
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def _affine(x0: float, y0: float, res: float):  # type: ignore[no-untyped-def]
    from affine import Affine

    return Affine(res, 0.0, x0, 0.0, -res, y0)


def make_stack(
    out: Path, size: int, dates: int, n_parcels: int, blocksize: int, seed: int = 0
) -> None:
    """Write ``dates`` items + ``catalog.json`` + ``parcels.parquet`` under ``out``."""
    import geopandas as gpd
    import rasterio.features
    import rasterio.shutil  # noqa: F401  (agririsk.export.cog needs it imported)
    import shapely

    from agririsk.export.cog import write_cog

    rng = np.random.default_rng(seed)
    x0, y0, res = 600_000.0, 5_200_000.0, 10.0
    side = int(np.ceil(np.sqrt(n_parcels)))
    cell = size * res / side
    boxes = []
    for k in range(n_parcels):
        i, j = divmod(k, side)
        w, h = cell * rng.uniform(0.5, 0.9, 2)
        dx, dy = rng.uniform(0, cell - w), rng.uniform(0, cell - h)
        west, north = x0 + j * cell + dx, y0 - i * cell - dy
        boxes.append(shapely.box(west, north - h, west + w, north))
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"P{k:05d}" for k in range(n_parcels)]}, geometry=boxes, crs=32651
    )
    t10, t20 = _affine(x0, y0, res), _affine(x0, y0, 2 * res)
    labels = rasterio.features.rasterize(
        ((g, k + 1) for k, g in enumerate(boxes)),
        out_shape=(size, size),
        transform=t10,
        dtype="int32",
    )
    vigour = np.concatenate([[0.1], rng.uniform(0.2, 0.8, n_parcels)])
    features = []
    for d in range(dates):
        v = vigour[labels] * (0.6 + 0.4 * np.sin(d / max(dates - 1, 1) * np.pi))
        red = (0.08 - 0.04 * v + rng.normal(0, 0.005, (size, size))) * 10_000 + 1_000
        nir = (0.15 + 0.35 * v + rng.normal(0, 0.01, (size, size))) * 10_000 + 1_000
        blue = (0.04 + rng.normal(0, 0.004, (size, size))) * 10_000 + 1_000
        green = (0.07 + 0.02 * v + rng.normal(0, 0.004, (size, size))) * 10_000 + 1_000
        half = v[::2, ::2]
        swir = (0.25 - 0.1 * half + rng.normal(0, 0.01, half.shape)) * 10_000 + 1_000
        scl = np.full((size // 2, size // 2), 4, np.uint8)
        yy, xx = np.ogrid[: size // 2, : size // 2]
        for _ in range(8):  # round cloud blobs with shadows
            cy, cx, r = rng.integers(0, size // 2, 2).tolist() + [
                int(rng.integers(10, size // 16 + 11))
            ]
            scl[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 9
            scl[(yy - cy - r) ** 2 + (xx - cx - r) ** 2 < r * r // 4] = 3
        iid = f"S2_SYN_{d:02d}"
        folder = out / iid
        for name, arr, t in (
            ("blue", blue, t10),
            ("green", green, t10),
            ("red", red, t10),
            ("nir", nir, t10),
            ("swir16", swir, t20),
        ):
            write_cog(
                folder / f"{name}.tif",
                np.clip(arr, 1, 65535).astype(np.uint16),
                transform=t,
                crs=32651,
                nodata=0,
                blocksize=blocksize,
                overviews=False,
            )
        write_cog(
            folder / "scl.tif",
            scl,
            transform=t20,
            crs=32651,
            nodata=0,
            blocksize=blocksize,
            overviews=False,
        )
        ext = [x0, y0 - size * res, x0 + size * res, y0]
        geom = gpd.GeoSeries([shapely.box(*ext)], crs=32651).to_crs(4326).iloc[0]
        rb = [{"nodata": 0, "scale": 0.0001, "offset": -0.1}]
        features.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": iid,
                "links": [],
                "geometry": shapely.geometry.mapping(geom),
                "bbox": list(geom.bounds),
                "properties": {
                    "datetime": f"2026-{5 + d // 3:02d}-{1 + 10 * (d % 3):02d}T02:30:00Z",
                    "proj:epsg": 32651,
                    "platform": "sentinel-2a",
                },
                "assets": {
                    **{
                        b: {"href": f"./{iid}/{b}.tif", "raster:bands": rb}
                        for b in ("blue", "green", "red", "nir", "swir16")
                    },
                    "scl": {"href": f"./{iid}/scl.tif"},
                },
            }
        )
    (out / "catalog.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    parcels.to_crs(4326).to_parquet(out / "parcels.parquet")


def _floor_one(paths: list[str]) -> int:
    import rasterio
    from rasterio.windows import Window

    n = 0
    for p in paths:
        with rasterio.open(p) as ds:
            bh, bw = ds.block_shapes[0]
            for r in range(0, ds.height, bh):
                for c in range(0, ds.width, bw):
                    n += ds.read(
                        1, window=Window(c, r, min(bw, ds.width - c), min(bh, ds.height - r))
                    ).size
    return n


ALL_BANDS = ("blue", "green", "red", "nir", "swir16", "scl")
NDVI_BANDS = ("red", "nir", "scl")


def _floor(stack: Path, workers: int, bands: tuple[str, ...] = ALL_BANDS) -> float:
    items = sorted(p for p in stack.iterdir() if p.is_dir())
    jobs = [[str(i / f"{b}.tif") for b in bands] for i in items]
    t, c = time.perf_counter(), _cpu()
    if workers == 1:
        for j in jobs:
            _floor_one(j)
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_floor_one, jobs))
    return time.perf_counter() - t, _cpu() - c


def _series(
    stack: Path, workspace: str, workers: int, indices: tuple[str, ...] | None = None
) -> float:
    import geopandas as gpd

    from agririsk.imagery import INDICES, load_items, parcel_series

    parcels = gpd.read_parquet(stack / "parcels.parquet")
    items = load_items(stack / "catalog.json")
    t, c = time.perf_counter(), _cpu()
    df = parcel_series(items, parcels, Path(workspace), workers=workers, indices=indices or INDICES)
    elapsed, cpu = time.perf_counter() - t, _cpu() - c
    assert len(df) > 0
    return elapsed, cpu


def _indicators(stack: Path, workspace: str) -> tuple[float, float]:
    """Seconds and CPU of the season indicators (smoothing, phenology, health) of the
    stack's series, read from the per-item cache; the parcels get random declared crops."""
    import datetime as dt

    import geopandas as gpd

    from agririsk.imagery import INDICES, load_items, parcel_series
    from agririsk.pipeline import parcel_season_table
    from agririsk.region import Season

    parcels = gpd.read_parquet(stack / "parcels.parquet")
    crops = np.array(["maize", "soybean", "rice", "wheat"])
    parcels["declared_crop"] = np.random.default_rng(0).choice(crops, len(parcels))
    items = load_items(stack / "catalog.json")
    series = parcel_series(items, parcels, Path(workspace), workers=1, indices=INDICES)
    days = [it.datetime.date() for it in items]
    season = Season(min(days) - dt.timedelta(days=5), max(days) + dt.timedelta(days=5))
    t, c = time.perf_counter(), _cpu()
    table = parcel_season_table(series, parcels, [season])
    elapsed, cpu = time.perf_counter() - t, _cpu() - c
    assert table["data_quality"].eq("ok").any()
    return elapsed, cpu


def _exactextract(stack: Path, base: Path, dates: int) -> None:
    """exactextract ``mean`` of masked NDVI vs ``parcel_series`` (no buffer) on ``dates`` dates."""
    import geopandas as gpd
    import rasterio
    from exactextract import exact_extract

    from agririsk.imagery import load_items, parcel_series
    from agririsk.imagery.masks import scl_clear

    parcels = gpd.read_parquet(stack / "parcels.parquet")
    items = load_items(stack / "catalog.json")[:dates]
    ws = base / "ws_ee"
    shutil.rmtree(ws, ignore_errors=True)
    if (base / "ws_1" / "labels").exists():  # the label raster is not part of the reduction
        shutil.copytree(base / "ws_1" / "labels", ws / "labels")
    t, c = time.perf_counter(), time.process_time()
    ours = parcel_series(items, parcels, ws, indices=("ndvi",), cloud_buffer_m=0)
    t_ours, c_ours = time.perf_counter() - t, time.process_time() - c
    utm = parcels.to_crs(32651)
    t_ee, c_ee, diffs, n_cmp = 0.0, 0.0, [], 0
    for item in items:
        folder = stack / item.id
        with rasterio.open(folder / "red.tif") as r, rasterio.open(folder / "nir.tif") as n:
            red = r.read(1).astype(np.float32) * 1e-4 - 0.1
            nir = n.read(1).astype(np.float32) * 1e-4 - 0.1
            profile = r.profile
        with rasterio.open(folder / "scl.tif") as s:
            scl = np.kron(s.read(1), np.ones((2, 2), np.uint8))[: red.shape[0], : red.shape[1]]
        ndvi = np.where(scl_clear(scl), (nir - red) / (nir + red), np.nan).astype(np.float32)
        out = base / f"ndvi_{item.id}.tif"
        profile.update(dtype="float32", nodata=np.nan, compress="deflate", tiled=True)
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(ndvi, 1)
        t, c = time.perf_counter(), time.process_time()
        res = exact_extract(
            str(out), utm, ["mean", "count"], include_cols=["parcel_id"], output="pandas"
        )
        t_ee += time.perf_counter() - t
        c_ee += time.process_time() - c
        mine = ours[ours["item_id"] == item.id].set_index("parcel_id")
        both = res.set_index("parcel_id").join(mine[["ndvi_mean", "clear_fraction"]], how="inner")
        both = both[(both["count"] > 0) & (both["clear_fraction"] >= 0.99)]  # cloud-free parcels
        diffs.append(np.abs(both["mean"] - both["ndvi_mean"]).to_numpy())
        n_cmp += len(both)
    d = np.concatenate(diffs)
    print(
        f"\nexactextract on {len(items)} dates (masked NDVI GeoTIFF precomputed, not timed): "
        f"{t_ee:.2f} s; parcel_series NDVI from the COGs (decode included): {t_ours:.2f} s "
        f"-> exactextract / ours = {t_ee / t_ours:.2f} (CPU {c_ee:.2f} s vs {c_ours:.2f} s: "
        f"{c_ee / c_ours:.2f})"
    )
    print(
        f"cloud-free parcel means compared: {n_cmp}; |difference| median {np.median(d):.4f}, "
        f"p95 {np.quantile(d, 0.95):.4f}, max {d.max():.4f} "
        "(exactextract weights partial edge pixels, ours counts pixel centres)"
    )


def _in_child(fn, *args, method: str = "fork") -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds reported by ``fn``, peak RSS in MB of the child or its workers), in a new process.

    Timings run in forked children of this lean parent (as the CLI's process pool would);
    peak memory is the child's own high-water mark (``VmHWM``) or its workers' maximum.
    """
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_runner, args=(queue, fn, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _runner(queue, fn, args) -> None:  # type: ignore[no-untyped-def]
    seconds, cpu = fn(*args)
    hwm = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = float(line.split()[1]) / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    queue.put((seconds, cpu, max(hwm, kids)))


def _make(*args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    make_stack(*args)
    return time.perf_counter() - t, 0.0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=2048, help="pixels per side at 10 m (default 2048)")
    ap.add_argument("--dates", type=int, default=6)
    ap.add_argument("--parcels", type=int, default=5000)
    ap.add_argument("--blocksize", type=int, default=512, help="COG tile size (default 512)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per measurement")
    ap.add_argument(
        "--dir", type=Path, default=None, help="keep the stack here (reused if present)"
    )
    ap.add_argument(
        "--exactextract", action="store_true", help="compare the reduction with exactextract"
    )
    ap.add_argument("--ee-dates", type=int, default=2, help="dates for the exactextract check")
    ap.add_argument(
        "--indicators",
        action="store_true",
        help="also time the season indicators (smoothing, phenology, health) of the series",
    )
    ap.add_argument(
        "--no-numba",
        action="store_true",
        help="force the NumPy path even when numba (agririsk[fast]) is installed",
    )
    args = ap.parse_args()
    from agririsk.imagery import _fused  # imports neither numba nor the kernels

    if args.no_numba:  # children are forked (workers too): they inherit the switch
        _fused.HAVE_NUMBA = False
    print(f"compiled kernel (numba): {'yes' if _fused.HAVE_NUMBA else 'no, NumPy path'}")

    base = args.dir or Path(tempfile.mkdtemp(prefix="bench_zonal_"))
    stack = base / f"stack_{args.size}_{args.dates}_{args.parcels}_{args.blocksize}"
    if not (stack / "catalog.json").is_file():
        secs, _, _ = _in_child(
            _make, stack, args.size, args.dates, args.parcels, args.blocksize, method="spawn"
        )
        print(f"made stack {stack} in {secs:.1f} s")
    mpx = args.size**2 * args.dates / 1e6
    print(
        f"{args.size}² × {args.dates} dates ({mpx:.0f} Mpx of red), {args.parcels} parcels, "
        f"tiles {args.blocksize}"
    )

    def best(fn, *a):  # type: ignore[no-untyped-def]
        runs = [fn(*a) for _ in range(args.repeat)]
        return min(runs, key=lambda r: r[0])

    def fresh(workers: int, keep_labels: bool, indices=None) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
        ws = base / (f"ws_{workers}" + ("_" + "_".join(indices) if indices else ""))
        if not keep_labels:
            shutil.rmtree(ws, ignore_errors=True)
        elif not (ws / "labels").exists() and (base / "ws_1" / "labels").exists():
            shutil.copytree(base / "ws_1" / "labels", ws / "labels")  # same parcels, same grid
        shutil.rmtree(ws / "items", ignore_errors=True)
        return _in_child(_series, stack, str(ws), workers, indices)

    # Each measurement is paired with a 1-process floor of the same bands taken just before
    # it, so that a ratio survives load that drifts during the run (shared machines).
    def floor(bands: tuple[str, ...] = ALL_BANDS) -> tuple[float, float, float]:
        return _in_child(_floor, stack, 1, bands)

    rows = []
    floor_all, floor_ndvi = best(floor), best(floor, NDVI_BANDS)
    rows.append(("floor: read 6 bands block by block, 1 process", floor_all, floor_all, floor_all))
    rows.append(("floor: read red, nir, scl, 1 process", floor_ndvi, floor_ndvi, floor_ndvi))
    two = best(lambda: _in_child(_floor, stack, 2))
    rows.append(("floor: 6 bands, 2 processes", two, floor_all, best(floor)))
    for w in (1, 2):
        adj = best(floor)
        rows.append(
            (
                f"4 indices workers={w}, cold (label raster built)",
                best(fresh, w, False),
                floor_all,
                adj,
            )
        )
        adj = best(floor)
        rows.append(
            (f"4 indices workers={w}, label raster on disk", best(fresh, w, True), floor_all, adj)
        )
    adj = best(floor, NDVI_BANDS)
    rows.append(
        (
            "NDVI only workers=1, label raster on disk",
            best(fresh, 1, True, ("ndvi",)),
            floor_ndvi,
            adj,
        )
    )
    cached = _in_child(_series, stack, str(base / "ws_1"), 1)
    rows.append(("rerun, all items cached", cached, floor_all, best(floor)))
    print(
        f"\n{'measurement':50s} {'s':>6s} {'× floor':>7s} {'× adj.':>6s} "
        f"{'cpu s':>6s} {'cpu × floor':>11s} {'peak MB':>7s}"
    )
    for name, (sec, cpu, peak), (fl, fl_cpu, _), (adj_sec, _, _) in rows:
        print(
            f"{name:50s} {sec:6.2f} {sec / fl:7.2f} {sec / adj_sec:6.2f} "
            f"{cpu:6.2f} {cpu / fl_cpu:11.2f} {peak:7.0f}"
        )
    print(
        "× floor: wall time / the floor of the same bands at the start; × adj.: / that floor "
        "measured just before; cpu: user+system seconds of all processes (robust to load)."
    )
    print(f"\nfloor throughput: {mpx / floor_ndvi[0]:.0f} Mpx/s (red, NDVI bands)")
    if args.indicators:
        ind = best(lambda: _in_child(_indicators, stack, str(base / "ws_1")))
        warm = next(r[1] for r in rows if r[0] == "4 indices workers=1, label raster on disk")
        print(
            f"season indicators (smoothing, phenology, health) of the series: {ind[0]:.2f} s, "
            f"{ind[1]:.2f} s CPU; with the reduction (workers=1, label raster on disk): "
            f"{(warm[0] + ind[0]) / floor_all[0]:.2f}× floor, "
            f"{(warm[1] + ind[1]) / floor_all[1]:.2f}× CPU floor"
        )
    if args.exactextract:
        _exactextract(stack, base, args.ee_dates)
    if args.dir is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
