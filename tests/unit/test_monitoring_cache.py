"""The monitoring caches: same inputs and observations as a cold read, invalidated by edits."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd
import pytest

from agririsk.imagery import parcel_series
from agririsk.inputs import Report
from agririsk.monitoring import cache
from agririsk.monitoring.detectors import MIN_CLEAR, clear_observations
from agririsk.pipeline import load_inputs
from agririsk.region import Region


def _until(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")


def test_region_inputs__cached_read_equals_cold_read_and_replays_problems(sample_region, tmp_path):
    region = Region.from_toml(sample_region)
    day = dt.date(2026, 7, 1)
    cold = Report()
    ref = load_inputs(region, until=day, report=cold)
    ws = tmp_path / "ws"
    written = []
    for _ in range(2):  # a miss, then a hit
        rep = Report()
        reg, items = cache.region_inputs(region, ws, _until(day), rep)
        pd.testing.assert_frame_equal(reg.parcels, ref.parcels)
        pd.testing.assert_frame_equal(reg.farmers, ref.farmers)
        assert [i.id for i in items] == [i.id for i in ref.items]
        assert {str(p) for p in rep.problems} >= {str(p) for p in cold.problems}
        assert reg.parcels.crs == ref.parcels.crs
        written.append((ws / "monitor" / "inputs-region" / "meta.json").stat().st_mtime_ns)
    assert written[0] == written[1]  # the second call read the cache, did not rebuild it
    # the parcel set from the cache (key kept, geometries not hashed again) is a fresh one
    from agririsk.imagery.zonal import ParcelSet

    fresh, kept = ParcelSet.from_frame(ref.parcels), reg.parcel_set()
    assert reg.valid and kept.key == fresh.key == reg.parcels_key
    assert list(kept.ids) == list(fresh.ids)
    assert kept.wgs84.geom_equals_exact(fresh.wgs84, 1e-12).all()


def test_region_inputs__an_edited_file_is_read_again(sample_region, tmp_path):
    region = Region.from_toml(sample_region)
    ws = tmp_path / "ws"
    reg, _ = cache.region_inputs(region, ws, _until(dt.date(2026, 7, 1)), Report())
    farmers = pd.read_csv(region.farmers_path, dtype=str)
    farmers.iloc[:-1].to_csv(region.farmers_path, index=False)  # one farmer fewer
    st = os.stat(region.farmers_path)
    os.utime(region.farmers_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again, _ = cache.region_inputs(region, ws, _until(dt.date(2026, 7, 1)), Report())
    assert len(again.farmers) == len(reg.farmers) - 1


def test_season_observations__store_equals_the_clear_rows_of_the_series(sample_region, tmp_path):
    """Item by item into the store (segments, then a merge): the clear views are the same."""
    region = Region.from_toml(sample_region)
    season = region.season
    ws = tmp_path / "ws"
    reg, items = cache.region_inputs(region, ws, _until(season.end), Report())
    items = [i for i in items if i.datetime.date() >= season.start - dt.timedelta(days=15)]
    assert len(items) > cache.MAX_SEGMENTS + 2
    full = parcel_series(items, reg.parcels, ws)
    for k in range(1, len(items) + 1):  # one new item a run: segments, then compaction
        got = cache.season_observations(
            items[:k], reg.parcels, reg.parcels_key, ws, season, min_clear=MIN_CLEAR
        )
    folder = next((ws / "monitor").glob("obs-*"))
    # merged as a binary counter: about log2(runs) segments, not one per run
    n_seg = len(list(folder.glob("seg-*.arrow")))
    assert 1 <= n_seg <= min(cache.MAX_SEGMENTS, len(items).bit_length())
    for as_of in (dt.date(2026, 6, 1), season.end):
        pd.testing.assert_frame_equal(
            clear_observations(got, season, as_of), clear_observations(full, season, as_of)
        )
    # an earlier as-of reads only the items it is given, whatever the store holds
    early = cache.season_observations(
        items[:3], reg.parcels, reg.parcels_key, ws, season, min_clear=MIN_CLEAR
    )
    assert set(early["item_id"]) <= {i.id for i in items[:3]}


def test_merge_segments__same_rows_as_read_then_written_and_a_killed_merge_counted_once(tmp_path):
    """The Arrow-level merge gives the file ``_read_obs`` + ``_write_obs`` gave: same rows,
    order, types and metadata; an item in two segments (a merge killed before it removed
    what it merged) is kept once, from the older segment; an unreadable one is left out."""
    import pyarrow as pa

    rng = np.random.default_rng(0)

    def rows(item: str, n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "parcel_id": pd.array([f"P{i:04d}" for i in range(n)], dtype="string"),
                "item_id": pd.array([item] * n, dtype="string"),
                "datetime": pd.Timestamp("2026-07-01", tz="UTC"),
                "clear_fraction": rng.uniform(0.6, 1.0, n),
                "ndvi": rng.uniform(-0.2, 0.9, n),
            }
        )

    parts = [
        (rows("I1", 5), {"I1"}),
        (pd.concat([rows("I2", 3), rows("I3", 4)]), {"I2", "I3"}),
        (rows("I2", 3), {"I2"}),  # I2 again
    ]
    folders = [tmp_path / "a", tmp_path / "b"]
    segs: list[list] = [[], []]
    for folder, paths in zip(folders, segs, strict=True):
        folder.mkdir()
        paths.extend(cache._write_obs(folder, df, ids) for df, ids in parts)
        bad = folder / "seg-99999999999999999998-1.arrow"
        bad.write_bytes(b"not arrow")
        paths.append(bad)
    got, ids, _ = cache._read_obs(folders[0], segs[0])
    assert ids == {"I1", "I2", "I3"} and len(got) == 12
    old = cache._write_obs(folders[0], got, ids)
    new = cache._merge_segments(folders[1], segs[1])
    assert new is not None
    with pa.memory_map(str(old)) as a, pa.memory_map(str(new)) as b:
        assert (
            pa.ipc.open_file(b)
            .read_all()
            .equals(pa.ipc.open_file(a).read_all(), check_metadata=True)
        )
    merged, merged_ids, _ = cache._read_obs(folders[1], [new])
    assert merged_ids == ids
    pd.testing.assert_frame_equal(merged, got.reset_index(drop=True))
    assert (
        cache._merge_segments(folders[1], [folders[1] / "seg-99999999999999999998-1.arrow"]) is None
    )
    # segments whose columns differ (an item without a band): unified as pandas would
    other = tmp_path / "c"
    other.mkdir()
    a, b = rows("I4", 4), rows("I5", 3).drop(columns="ndvi")
    paths = [cache._write_obs(other, a, {"I4"}), cache._write_obs(other, b, {"I5"})]
    want = pd.concat([a, b], ignore_index=True)
    pd.testing.assert_frame_equal(cache._read_obs(other)[0], want)
    pd.testing.assert_frame_equal(
        cache._read_obs(other, [cache._merge_segments(other, paths)])[0], want
    )


def test_cached__a_damaged_folder_is_rebuilt_and_nothing_is_pickled(sample_region, tmp_path):
    region = Region.from_toml(sample_region)
    ws = tmp_path / "ws"
    (ws / "monitor").mkdir(parents=True)
    (ws / "monitor" / "inputs-region.pkl").write_bytes(b"an old pickle: never loaded")
    reg, _ = cache.region_inputs(region, ws, _until(dt.date(2026, 7, 1)), Report())
    cache.station_weather(region, ws, reg.parcels, Report())
    files = {p.relative_to(ws / "monitor").as_posix() for p in (ws / "monitor").rglob("*")}
    assert not any(f.endswith(".pkl") for f in files)
    assert {f.rsplit(".", 1)[-1] for f in files if "." in f.rsplit("/", 1)[-1]} == {
        "json",
        "arrow",
    }
    (ws / "monitor" / "inputs-region" / "farmers.arrow").write_bytes(b"truncated")
    again, _ = cache.region_inputs(region, ws, _until(dt.date(2026, 7, 1)), Report())
    pd.testing.assert_frame_equal(again.farmers, reg.farmers)
    pd.testing.assert_frame_equal(again.parcels, reg.parcels)
    assert again.parcels_key == reg.parcels_key


def test_station_weather__cached_read_equals_cold_read(sample_region, tmp_path):
    region = Region.from_toml(sample_region)
    ws = tmp_path / "ws"
    reg, _ = cache.region_inputs(region, ws, _until(dt.date(2026, 7, 1)), Report())
    cold = cache.station_weather(region, ws, reg.parcels, Report())  # a miss: built
    hit = cache.station_weather(region, ws, reg.parcels, Report())
    pd.testing.assert_frame_equal(hit[0], cold[0])
    pd.testing.assert_frame_equal(hit[1], cold[1])
    pd.testing.assert_series_equal(hit[2], cold[2])


def _views(days: list[str], n: int = 9, seed: int = 0) -> pd.DataFrame:
    """Clear views (as :func:`clear_observations` gives them) of ``n`` parcels on ``days``."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"P{i:02d}", pd.Timestamp(d), rng.uniform(0.15, 0.9), rng.uniform(-0.5, 0.3), 1.0)
        for i in range(n)
        for d in days
    ]
    obs = pd.DataFrame(rows, columns=["parcel_id", "date", "ndvi", "ndwi", "clear_fraction"])
    obs.loc[obs.index % 7 == 3, "ndwi"] = np.nan  # green band missing on some views
    return obs.sort_values(["parcel_id", "date"], ignore_index=True)


def _full_reference(obs: pd.DataFrame, crops: pd.Series) -> pd.DataFrame:
    """The peers' reference recomputed over every view, row by row (pandas groupby)."""
    from agririsk.monitoring.detectors import MIN_PEERS, calendar_ndvi

    o = obs.copy()
    o["crop"] = o["parcel_id"].map(crops).fillna("other").astype(str)
    g = o.groupby(["crop", "date"])
    o["n_peers"] = g["ndvi"].transform("size")
    o["ref"] = g["ndvi"].transform("quantile", 0.75)
    o["ref_ndwi"] = g["ndwi"].transform("median")
    few = o["n_peers"] < MIN_PEERS
    for c, idx in o.loc[few].groupby("crop").groups.items():
        o.loc[idx, "ref"] = calendar_ndvi(str(c), pd.DatetimeIndex(o.loc[idx, "date"]))
    o.loc[few, "ref_ndwi"] = np.nan
    return o


def test_peer_table__kept_reference_equals_a_full_recomputation_after_an_item(tmp_path):
    """Run by run (a new date, then a late view on an old date), the kept table gives every
    view the reference of a full recomputation; unchanged groups are taken from the kept
    file, changed ones recomputed; a damaged file is rebuilt."""
    from agririsk.monitoring import detectors
    from agririsk.region import Season

    season = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))
    # five maize parcels, three soybean (fewer than MIN_PEERS: the calendar), one undeclared
    crops = pd.Series(["maize"] * 5 + ["soybean"] * 3, index=[f"P{i:02d}" for i in range(8)])
    days = ["2026-06-01", "2026-06-06", "2026-06-11"]
    ws = tmp_path / "ws"

    def kept(obs: pd.DataFrame) -> pd.DataFrame:
        return cache.peer_table(obs, crops, ws, "key", season, min_clear=MIN_CLEAR)

    def check(obs: pd.DataFrame) -> pd.DataFrame:
        table = kept(obs)
        pd.testing.assert_frame_equal(table, detectors.peer_table(obs, crops))
        got = detectors.peer_reference(obs, crops, table=table)
        ref = _full_reference(obs, crops)
        for col in ("n_peers", "ref", "ref_ndwi"):
            np.testing.assert_array_equal(got[col].to_numpy(float), ref[col].to_numpy(float))
        assert got["crop"].astype(str).tolist() == ref["crop"].tolist()
        return table

    obs = _views(days)
    first = check(obs[obs["date"] < days[2]].reset_index(drop=True))
    assert len(first) == 3 * 2  # maize, soybean, other on two dates
    # the next run adds a date: the kept groups are reused (a marked value stays), the new
    # date's are computed
    path = next((ws / "monitor").glob("obs-*")) / "peers.arrow"
    marked = first.copy()
    marked.loc[0, "ref"] = 0.5  # maize, June 1: unchanged views keep the kept value
    import pyarrow as pa

    cache._write_arrow(pa.Table.from_pandas(marked, preserve_index=False), path)
    table = kept(obs)
    assert table.loc[0, "ref"] == 0.5
    assert len(table) == 3 * 3
    # ... and a view of an old date that changed is recomputed with its group
    path.unlink()
    check(obs)
    late = obs.copy()
    late.loc[(late["parcel_id"] == "P01") & (late["date"] == days[0]), "ndvi"] = 0.2
    check(late)
    # a damaged file is rebuilt
    path.write_bytes(b"truncated")
    check(late)
    assert path.stat().st_size > len(b"truncated")


def test_peer_reference__a_table_without_a_crop_and_date_of_the_views_is_refused():
    from agririsk.monitoring import detectors

    crops = pd.Series(["maize"] * 9, index=[f"P{i:02d}" for i in range(9)])
    table = detectors.peer_table(_views(["2026-06-01"]), crops)
    with pytest.raises(ValueError, match="no row for some crop and date"):
        detectors.peer_reference(_views(["2026-06-01", "2026-06-06"]), crops, table=table)


# -- what a run computes once and hands on (monitoring/run.py) -----------------------------


def test_clear_observations__parcel_codes_and_row_order_change_nothing():
    """``categorical=True`` gives the same views (the parcel ids as a Categorical), in any
    row order; of a parcel's views on one day the clearest, then the latest, then the last
    item id is kept (also when only the item id tells two views apart)."""
    from agririsk.region import Season

    rng = np.random.default_rng(7)
    n = 600
    day = pd.Timestamp("2026-05-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 60, n), "D")
    s = pd.DataFrame(
        {
            "parcel_id": [f"P{i:02d}" for i in rng.integers(0, 30, n)],
            "item_id": [f"I{i}" for i in rng.integers(0, 3, n)],
            "datetime": day + pd.to_timedelta(rng.integers(0, 2, n), "h"),
            "clear_fraction": rng.choice([0.7, 1.0], n),
            "ndvi_p50": rng.random(n),
            "ndwi_p50": rng.random(n),
        }
    )
    s = s.drop_duplicates(["parcel_id", "item_id", "datetime"])  # one row per item
    season = Season(dt.date(2026, 5, 1), dt.date(2026, 9, 30))
    as_of = dt.date(2026, 6, 20)
    ref = (
        s[(s["datetime"] < pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1))]
        .assign(date=lambda d: d["datetime"].dt.tz_convert(None).dt.normalize())
        .sort_values(["parcel_id", "date", "clear_fraction", "datetime", "item_id"])
        .drop_duplicates(["parcel_id", "date"], keep="last")
    )
    assert len(ref) < len(s)  # there are same-day views to choose from
    for seed in range(3):
        shuffled = s.sample(frac=1, random_state=seed)
        plain = clear_observations(shuffled, season, as_of)
        coded = clear_observations(shuffled, season, as_of, categorical=True)
        assert isinstance(coded["parcel_id"].dtype, pd.CategoricalDtype)
        as_str = coded.assign(parcel_id=coded["parcel_id"].astype(str))
        pd.testing.assert_frame_equal(as_str, plain)
        assert plain["parcel_id"].tolist() == ref["parcel_id"].tolist()
        assert plain["date"].tolist() == ref["date"].tolist()
        assert plain["ndvi"].tolist() == ref["ndvi_p50"].tolist()


def test_storms_per_station__same_conditions_as_one_row_per_parcel_and_storm():
    """A flood named by a storm 20 km from the field's station: the storms per station
    (:func:`station_heavy_rain` with each parcel's station) give the conditions of
    :func:`area_heavy_rain`'s rows per parcel, on the kernel's and the Python path, with the
    peers' groups computed once and the parcel ids as codes."""
    from agririsk.monitoring.detectors import (
        area_heavy_rain,
        calendar_ndvi,
        detect_imagery_obs,
        peer_groups,
        station_heavy_rain,
    )
    from agririsk.region import Season

    season = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))
    dates = pd.date_range("2026-05-01", "2026-10-10", freq="10D")
    normal = calendar_ndvi("maize", dates)
    after = dates > "2026-07-15"
    flooded = normal.copy()
    flooded[after] = 0.15 + 0.4 * (flooded[after] - 0.15)
    curves = {**{f"N{i}": normal + 0.01 * i for i in range(6)}, "F": flooded, "G": flooded}
    cloudy = set(dates[(dates > "2026-07-10") & (dates < "2026-08-09")])
    k = len(dates)
    s = pd.DataFrame(
        {
            "parcel_id": np.repeat(list(curves), k),
            "item_id": np.tile([f"S2_{d:%Y%m%d}" for d in dates], len(curves)),
            "datetime": np.tile(dates.tz_localize("UTC"), len(curves)),
            "clear_fraction": np.tile([0.0 if d in cloudy else 1.0 for d in dates], len(curves)),
            "ndvi_p50": np.concatenate(list(curves.values())),
            "ndwi_p50": -0.4,
        }
    )
    crops = pd.Series("maize", index=list(curves))
    stations = pd.DataFrame(
        {"station_id": ["A", "B", "C"], "lat": [46.0, 46.18, 46.54], "lon": [127.0] * 3}
    )  # B 20 km north of A, C 60 km
    weather = pd.DataFrame(
        {
            "station_id": ["A", "B", "C"],
            "date": pd.to_datetime(["2026-07-15", "2026-06-01", "2026-07-15"]),
            "precip_mm": [60.0, 5.0, 10.0],
        }
    )
    # F at B (the storm at A is within 30 km), G at C (no storm), the peers at A
    near = pd.Series(["A"] * 6 + ["B", "C"], index=list(curves))
    as_of = dt.date(2026, 8, 19)
    per_parcel = area_heavy_rain(weather, stations, near, 40.0)
    per_station = station_heavy_rain(weather, stations, 40.0)
    assert len(per_station) == 2 and len(per_parcel) == 7  # A's storm seen from A and B
    obs = clear_observations(s, season, as_of)
    coded = clear_observations(s, season, as_of, categorical=True)
    for use_kernel in (True, False):
        ref = detect_imagery_obs(
            obs, crops, season, as_of, heavy_rain=per_parcel, use_kernel=use_kernel
        )
        assert {(c.parcel_id, c.kind) for c in ref} == {("F", "flood"), ("G", "crop_failure")}
        got = detect_imagery_obs(
            coded,
            crops,
            season,
            as_of,
            heavy_rain=per_station,
            parcel_station=near,
            groups=peer_groups(coded, crops),
            use_kernel=use_kernel,
        )
        assert got == ref
