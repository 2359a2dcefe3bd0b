"""The monitoring store: schema version, migrations, the run lock."""

from __future__ import annotations

import sqlite3

import pytest

from agririsk.errors import AgririskError
from agririsk.monitoring import store


def test_connect__creates_schema_at_current_version(tmp_path):
    con = store.connect(tmp_path / "m.sqlite")
    assert store.schema_version(con) == store.SCHEMA_VERSION == len(store.MIGRATIONS)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "runs", "alert_rows", "verdicts", "items_seen", "farmer_risk"} <= tables
    views = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert views == {"alerts"}
    con.close()
    con = store.connect(tmp_path / "m.sqlite")  # reopening migrates nothing
    assert store.schema_version(con) == store.SCHEMA_VERSION


def test_connect__newer_schema_is_refused(tmp_path):
    con = store.connect(tmp_path / "m.sqlite")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(AgririskError, match="schema version 99 is newer"):
        store.connect(tmp_path / "m.sqlite")


def test_connect__not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "m.sqlite"
    bad.write_text("hello, not sqlite " * 200)
    with pytest.raises(AgririskError, match="not a usable monitoring store"):
        store.connect(bad)


def test_run_lock__second_run_refused_until_first_ends(tmp_path):
    db = tmp_path / "m.sqlite"
    with store.run_lock(db):
        with pytest.raises(store.MonitorLockedError, match="another monitoring run is in progress"):
            with store.run_lock(db):
                pass
    with store.run_lock(db):  # free again
        pass


def test_alerts__severity_and_status_are_checked(tmp_path):
    con = store.connect(tmp_path / "m.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(
            "INSERT INTO alert_rows (alert_id, parcel_id, kind, severity, status, first_detected, last_observed, "
            "opened_as_of, evidence) VALUES ('a', 'P1', 'flood', 'extreme', 'new', '2026-07-01', '2026-07-01', "
            "'2026-07-01', '{}')"
        )


def test_read_alerts__missing_store_says_how_to_make_one(tmp_path):
    with pytest.raises(AgririskError, match="run 'agririsk monitor"):
        store.read_alerts(tmp_path / "none.sqlite")


def test_connect__migrates_a_version_2_store_keeping_its_alerts(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for migration in store.MIGRATIONS[:2]:
        for stmt in migration.split(";"):
            if stmt.strip():
                con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    row = (
        "a1", "P1", "F1", "drought", "medium", "ongoing", "2026-06-10", "2026-07-01",
        "2026-06-10", "2026-06-15", 3, '{"taw_mm": 180.0}',
    )  # fmt: skip
    con.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
    con.close()
    con = store.connect(db)
    try:
        assert store.schema_version(con) == 3
        # the alerts read as before (now a view over alert_rows, which follow no verdict)
        assert con.execute("SELECT * FROM alerts").fetchall() == [row]
        assert con.execute("SELECT verdict_id FROM alert_rows").fetchall() == [(None,)]
    finally:
        con.close()
    got = store.read_alerts(db)
    assert got.loc[0, ["alert_id", "severity", "last_observed"]].tolist() == [
        "a1",
        "medium",
        "2026-07-01",
    ]


def test_connect__commit_survives_a_killed_process_and_an_open_transaction_does_not(tmp_path):
    """WAL mode: a process killed (SIGKILL) right after COMMIT, before
    closing or checkpointing, keeps the commit; one killed inside a transaction leaves the
    store as before it."""
    import signal
    import subprocess
    import sys

    db = tmp_path / "m.sqlite"
    store.connect(db).close()
    script = (
        "import os, signal, sys\n"
        "from agririsk.monitoring import store\n"
        "con = store.connect(sys.argv[1])\n"
        "assert con.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'\n"
        "con.execute('BEGIN IMMEDIATE')\n"
        "con.execute(\"INSERT INTO meta VALUES ('committed', 'yes')\")\n"
        "con.execute('COMMIT')\n"
        "con.execute('BEGIN IMMEDIATE')\n"
        "con.execute(\"INSERT INTO meta VALUES ('open', 'no')\")\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(db)], check=False)
    assert proc.returncode == -signal.SIGKILL
    con = store.connect(db)
    assert store.get_meta(con, "committed") == "yes"
    assert store.get_meta(con, "open") is None
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
