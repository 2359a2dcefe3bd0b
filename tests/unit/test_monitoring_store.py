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
    assert {"meta", "runs", "alerts", "items_seen", "farmer_risk"} <= tables
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
            "INSERT INTO alerts (alert_id, parcel_id, kind, severity, status, first_detected, last_observed, "
            "opened_as_of, evidence) VALUES ('a', 'P1', 'flood', 'extreme', 'new', '2026-07-01', '2026-07-01', "
            "'2026-07-01', '{}')"
        )


def test_read_alerts__missing_store_says_how_to_make_one(tmp_path):
    with pytest.raises(AgririskError, match="run 'agririsk monitor"):
        store.read_alerts(tmp_path / "none.sqlite")
