"""``agririsk score --scheduler`` on a real Dask cluster: a ``dask scheduler`` and two
``dask worker`` processes on 127.0.0.1, started from this venv and always torn down.

The scores must equal the single-process scores (to floating-point tolerance); a worker
killed in the middle of a task must cost a retry, not the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agririsk.cli import main

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

#: seconds to wait for the scheduler file and for both workers
START_TIMEOUT = 45


def _dask() -> list[str]:
    exe = Path(sys.executable).parent / "dask"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:  # workers first, then the scheduler
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 3
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # each was started in its own process group
            p.wait(timeout=5)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """The address of a scheduler with two single-threaded workers (nanny-managed)."""
    root = tmp_path_factory.mktemp("dask")
    sched_file = root / "scheduler.json"
    logs = [open(root / f"{n}.log", "wb") for n in ("scheduler", "worker1", "worker2")]  # noqa: SIM115
    env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="2")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [*_dask(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(sched_file)],
            stdout=logs[0], stderr=subprocess.STDOUT, env=env, start_new_session=True,
        ))
        deadline = time.monotonic() + START_TIMEOUT
        while not sched_file.exists() or not sched_file.read_text().strip():
            assert procs[0].poll() is None, (root / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for log in logs[1:]:
            procs.insert(0, subprocess.Popen(
                [*_dask(), "worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "1GiB"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            ))
        with distributed.Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield address
    finally:
        _stop(procs)
        for log in logs:
            log.close()


def test_score__on_dask_cluster_equals_single_process(dask_cluster, sample_region, tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "agririsk.cli", "score", str(sample_region),
           "--scheduler", dask_cluster, "--out", str(tmp_path / "d1"),
           "--workspace", str(tmp_path / "w1")]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "imagery items:" in run.stderr and "(100%)" in run.stderr  # progress on a cluster
    assert main(["-q", "score", str(sample_region), "--out", str(tmp_path / "d2"),
                 "--workspace", str(tmp_path / "w2")]) == 0

    cluster = pd.read_parquet(tmp_path / "d1" / "scores.parquet").set_index("farmer_id")
    single = pd.read_parquet(tmp_path / "d2" / "scores.parquet").set_index("farmer_id")
    assert list(cluster.columns) == list(single.columns)
    assert cluster.index.sort_values().equals(single.index.sort_values())
    cluster = cluster.loc[single.index]
    numbers = [c for c in single.columns if c != "geometry" and pd.api.types.is_numeric_dtype(single[c])]
    assert {"pd", "score"} <= set(numbers) and len(numbers) > 10  # the features behind the score
    np.testing.assert_allclose(
        cluster[numbers].to_numpy(float), single[numbers].to_numpy(float), rtol=1e-9, atol=1e-12
    )
    for col in ("grade", "decision", "reason_1", "data_quality"):
        assert cluster[col].tolist() == single[col].tolist(), col
    items1 = sorted(p.name for p in (tmp_path / "w1" / "items").glob("*.parquet"))
    items2 = sorted(p.name for p in (tmp_path / "w2" / "items").glob("*.parquet"))
    assert items1 == items2 and items1  # the workers filled the shared workspace cache
    report = json.loads((tmp_path / "d1" / "score_report.json").read_text())
    assert report["counters"]["imagery.items_computed"] == len(items1)


def test_run_tasks__lost_worker_is_retried_by_the_cluster(dask_cluster, tmp_path):
    from agririsk.parallel import Parallel, run_tasks

    def kill_my_worker_once(marker: Path, x: int) -> int:
        # a local function: pickled by value, since the workers cannot import tests/
        if x == 1 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return x * 10

    where = Parallel.cluster(dask_cluster)
    out = dict(run_tasks(kill_my_worker_once, tmp_path / "killed", [0, 1, 2, 3], where))
    assert out == {0: 0, 1: 10, 2: 20, 3: 30}
    assert (tmp_path / "killed").exists()  # a worker did die while running item 1
