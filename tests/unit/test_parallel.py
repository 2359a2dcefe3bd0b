"""agririsk.parallel: the same tasks in this process, a process pool and a Dask cluster.

The cluster here is an in-process ``distributed.LocalCluster`` (threads, starts in ~0.1 s);
tests/integration/test_dask_cluster.py runs real ``dask scheduler`` / ``dask worker``
processes.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

import pandas as pd
import pytest

from agririsk.cli import main
from agririsk.imagery import load_items, parcel_series
from agririsk.inputs.report import Report
from agririsk.parallel import Parallel, SchedulerError, TaskFailed, run_tasks
from agririsk.testing import ITEMS, make_tiny_stac

distributed = pytest.importorskip("distributed")


def _square(offset: int, x: int) -> int:
    return (x - 2) ** 2 + offset if x != 3 else 1 // (x - 3)  # x == 3 raises


def _die_once(marker: Path, x: int) -> int:
    """Kills its worker process the first time it sees x == 2."""
    if x == 2 and not marker.exists():
        marker.touch()
        os._exit(1)
    return x * 10


def _always_die(marker: Path, x: int) -> int:
    if x == 2:
        os._exit(1)
    return x * 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster():
    """An in-process Dask cluster: one worker with two threads."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as lc:
        yield lc.scheduler_address


def test_parallel_of__count_none_and_itself():
    assert Parallel.of(3) == Parallel(workers=3)
    assert Parallel.of(None).is_local and Parallel.of(1).is_local
    where = Parallel.cluster("tcp://10.0.0.5:8786", in_flight=4)
    assert Parallel.of(where) is where and where.is_cluster and not where.is_local
    assert where.describe() == "the Dask cluster at tcp://10.0.0.5:8786"


@pytest.mark.parametrize(
    "kwargs, match",
    [({"workers": 0}, "workers"), ({"in_flight": 0}, "in_flight"), ({"retries": -1}, "retries"),
     ({"scheduler": " "}, "empty")],
)
def test_parallel__rejects_nonsense(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Parallel(**kwargs)


@pytest.mark.parametrize("mode", ["in-process", "pool", "cluster"])
def test_run_tasks__every_task_once_and_a_raising_task_reported_alone(mode, request):
    where = {
        "in-process": Parallel(),
        "pool": Parallel(workers=2, in_flight=2),
        "cluster": Parallel.cluster(request.getfixturevalue("cluster"), retries=0)
        if mode == "cluster" else None,
    }[mode]
    out = dict(run_tasks(_square, 100, [0, 1, 2, 3, 4], where, names=list("abcde")))
    assert sorted(out) == [0, 1, 2, 3, 4]
    assert [out[i] for i in (0, 1, 2, 4)] == [104, 101, 100, 104]
    assert out[3] == TaskFailed("error", "ZeroDivisionError: integer division or modulo by zero")


def test_run_tasks__pool_worker_death_is_retried(tmp_path):
    out = dict(run_tasks(_die_once, tmp_path / "died", [1, 2, 3, 4], Parallel(workers=2)))
    assert out == {0: 10, 1: 20, 2: 30, 3: 40}
    assert (tmp_path / "died").exists()  # the worker did die once


def test_run_tasks__pool_worker_dying_every_time_is_reported_not_fatal(tmp_path):
    out = dict(run_tasks(_always_die, tmp_path, [1, 2, 3], Parallel(workers=2, retries=1)))
    assert isinstance(out[1], TaskFailed) and out[1].cause == "lost_worker"
    assert "died 2 times" in out[1].text
    assert out[0] == 10 and out[2] == 30


def test_parcel_series__cluster_equals_one_process(tmp_path, cluster):
    tiny = make_tiny_stac(tmp_path, other_grid=True)
    items = load_items(tiny.catalog)
    one = parcel_series(items, tiny.parcels, tmp_path / "w1")
    report = Report()
    calls: list[tuple[int, int]] = []
    many = parcel_series(
        items, tiny.parcels, tmp_path / "w2", workers=Parallel.cluster(cluster, in_flight=1),
        report=report, progress=lambda d, t: calls.append((d, t)),
    )
    pd.testing.assert_frame_equal(one, many)
    assert report.counters["imagery.items_computed"] == len(items)
    assert calls == [(k, len(items)) for k in range(1, len(items) + 1)]
    assert len(list((tmp_path / "w2" / "items").glob("*.parquet"))) == len(items)


def test_parcel_series__cluster_corrupt_item_reported_skipped_not_cached(tmp_path, cluster):
    tiny = make_tiny_stac(tmp_path)
    tiny.asset(ITEMS[2], "scl").write_bytes(b"not a tiff")
    report = Report()
    df = parcel_series(
        load_items(tiny.catalog), tiny.parcels, tmp_path / "ws", workers=Parallel.cluster(cluster),
        report=report,
    )
    assert set(df["item_id"]) == {ITEMS[0], ITEMS[1]}
    assert [p.where for p in report.warnings] == [ITEMS[2]]
    assert report.counters["imagery.items_unreadable"] == 1
    files = sorted(p.name for p in (tmp_path / "ws" / "items").iterdir())
    assert len(files) == 2 and all(f.endswith(".parquet") for f in files)
    assert not any(ITEMS[2] in f for f in files)


def test_parcel_series__cluster_task_crashing_mid_write_leaves_no_partial_file(
    tmp_path, cluster, monkeypatch
):
    tiny = make_tiny_stac(tmp_path)
    real = pd.DataFrame.to_parquet

    def crash_for_one_item(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if (self["item_id"] == ITEMS[1]).any():
            Path(path).write_bytes(b"PAR1 half a file")
            raise RuntimeError("disk vanished")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_for_one_item)
    report = Report()
    df = parcel_series(
        load_items(tiny.catalog), tiny.parcels, tmp_path / "ws",
        workers=Parallel.cluster(cluster, retries=1), report=report,
    )
    assert set(df["item_id"]) == {ITEMS[0], ITEMS[2]}
    (problem,) = report.warnings
    assert problem.where == ITEMS[1] and "RuntimeError: disk vanished" in problem.what
    assert report.counters["imagery.items_error"] == 1
    files = sorted(p.name for p in (tmp_path / "ws" / "items").iterdir())
    assert len(files) == 2 and not any(ITEMS[1] in f or f.endswith(".part") for f in files)


def test_parallel_check__unreachable_scheduler_is_one_clear_error():
    where = Parallel.cluster(f"tcp://127.0.0.1:{_free_port()}", connect_timeout=1)
    with pytest.raises(SchedulerError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1"):
        where.check()


def test_parallel_check__without_distributed_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a)
    )
    with pytest.raises(SchedulerError, match=r"pip install 'agririsk\[cluster\]'"):
        Parallel.cluster("tcp://127.0.0.1:8786").check()


def test_cli_score__unreachable_scheduler_exits_1_with_message(
    tiny_region, tmp_path, capsys, monkeypatch
):
    fast = classmethod(lambda cls, address: cls(scheduler=address, connect_timeout=1))
    monkeypatch.setattr(Parallel, "cluster", fast)  # the CLI waits 10 s; 1 s shows the same
    rc = main(["-q", "score", str(tiny_region), "--out", str(tmp_path / "out"),
               "--scheduler", f"tcp://127.0.0.1:{_free_port()}"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err and "drop --scheduler" in err
    assert not (tmp_path / "out").exists()


def test_cli__workers_and_scheduler_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["monitor", str(tmp_path / "region.toml"), "--workers", "2",
              "--scheduler", "tcp://127.0.0.1:8786"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.fixture
def tiny_region(tmp_path) -> Path:
    """A region.toml that parses (its files need not be read before the scheduler check)."""
    path = tmp_path / "region.toml"
    path.write_text(
        'name = "t"\n[imagery]\ncatalog = "c.json"\n[parcels]\npath = "p.gpkg"\n'
        '[farmers]\npath = "f.csv"\n[weather]\nstations = "s.csv"\nobservations = "d.csv"\n'
        '[season]\nstart = "2026-04-15"\nend = "2026-10-15"\n'
    )
    for name in ("c.json", "p.gpkg", "f.csv", "s.csv", "d.csv"):
        (tmp_path / name).touch()
    return path


def test_recent_labels__keeps_only_the_last_grids_in_memory(tmp_path):
    import rasterio

    from agririsk.imagery.series import _RecentLabels
    from agririsk.imagery.zonal import Grid, ParcelSet

    tiny = make_tiny_stac(tmp_path, other_grid=True)
    grids = []
    for item in load_items(tiny.catalog):
        with rasterio.open(item.assets["red"].href) as ds:
            grids.append(Grid.of(ds))
    a, b = list(dict.fromkeys(grids))  # the two grids of the fixture
    cache = _RecentLabels(ParcelSet.from_frame(tiny.parcels), tmp_path / "ws", keep=1)
    first = cache.get(a).labels.copy()
    cache.get(b)
    assert list(cache._memory) == [b.key]  # a was dropped from memory ...
    assert (cache.get(a).labels == first).all()  # ... and is read back from the workspace
    assert list(cache._memory) == [a.key]
