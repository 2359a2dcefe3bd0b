"""The monitoring store: one SQLite file per region (``workspace/monitor.sqlite`` or ``--db``).

Tables
------
``meta``          key/value; ``schema_version`` is the number of migrations applied.
``runs``          run_id, started, finished, as_of, items_read, status (running/ok), summary JSON.
``alerts``        a view, one row per alert (CONTRACTS.md §7) plus ``opened_as_of``,
                 ``onset`` and ``updated_run`` (the run that last changed the alert): the
                 rows of ``alert_rows``, with the current severity, ``last_observed`` and
                 evidence of the shared verdict an open weather alert follows.
``alert_rows``    the stored alerts; ``verdict_id`` names the row of ``verdicts`` an open
                 alert follows (NULL: the row holds its own values).
``verdicts``      one row per weather group and kind with open alerts (``kind|station|crop``):
                 severity, last_observed, evidence, ``updated_run``, ``promoted_run``
                 (the run that turned its ``new`` alerts ``ongoing``) and ``members`` (a
                 hash of the group's parcels). The parcels of a group share every
                 weather verdict, so a run that extends a drought writes one row, not one
                 per parcel (:mod:`agririsk.monitoring.lifecycle`).
``items_seen``    item_id, run_id: the imagery items a successful run has read.
``farmer_risk``   farmer_id, run_id (the run that last changed the row), open alert counts by
                 severity, ``risk_points``, ``risk_level``.
``crop_predictions`` parcel_id, crop, probability, date, run_id: the latest crop-type check
                 of the season (:mod:`agririsk.monitoring.crops`); ``meta`` key
                 ``crop_check_as_of`` is the as-of date of that check.

A run is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): a run killed at any moment
leaves the store as it was before that run. Two runs cannot overlap: :func:`run_lock`
takes a non-blocking ``fcntl.flock`` on ``<db>.lock``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from agririsk.errors import AgririskError

__all__ = [
    "SCHEMA_VERSION",
    "MIGRATIONS",
    "ALERT_COLUMNS",
    "MonitorLockedError",
    "connect",
    "run_lock",
    "schema_version",
    "last_successful_run",
    "open_alerts",
    "read_verdicts",
    "read_alerts",
    "read_farmer_risk",
    "read_runs",
]

logger = logging.getLogger(__name__)


class MonitorLockedError(AgririskError):
    """Another monitoring run holds the store's lock."""


#: Each entry is one migration; ``schema_version`` = how many have been applied.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        started TEXT NOT NULL,
        finished TEXT,
        as_of TEXT NOT NULL,
        items_read INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        summary TEXT
    );
    CREATE TABLE alerts (
        alert_id TEXT PRIMARY KEY,
        parcel_id TEXT NOT NULL,
        farmer_id TEXT,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
        status TEXT NOT NULL CHECK (status IN ('new', 'ongoing', 'resolved')),
        first_detected TEXT NOT NULL,
        last_observed TEXT NOT NULL,
        onset TEXT,
        opened_as_of TEXT NOT NULL,
        updated_run INTEGER,
        evidence TEXT NOT NULL
    );
    CREATE INDEX alerts_open ON alerts (status, parcel_id, kind);
    CREATE TABLE items_seen (
        item_id TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL
    );
    CREATE TABLE farmer_risk (
        farmer_id TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL,
        open_alerts INTEGER NOT NULL,
        open_high INTEGER NOT NULL,
        open_medium INTEGER NOT NULL,
        open_low INTEGER NOT NULL,
        risk_points INTEGER NOT NULL,
        risk_level TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE crop_predictions (
        parcel_id TEXT PRIMARY KEY,
        crop TEXT NOT NULL,
        probability REAL NOT NULL,
        date TEXT NOT NULL,
        run_id INTEGER NOT NULL
    );
    """,
    # shared weather verdicts: the open alerts of a (station, crop) group follow one row
    # of ``verdicts``; ``alerts`` becomes a view with the current values
    """
    ALTER TABLE alerts RENAME TO alert_rows;
    ALTER TABLE alert_rows ADD COLUMN verdict_id TEXT;
    CREATE INDEX alert_rows_verdict ON alert_rows (verdict_id, status)
        WHERE verdict_id IS NOT NULL;
    CREATE TABLE verdicts (
        verdict_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
        last_observed TEXT NOT NULL,
        evidence TEXT NOT NULL,
        updated_run INTEGER,
        promoted_run INTEGER,
        members TEXT NOT NULL
    );
    CREATE VIEW alerts AS
    SELECT a.alert_id, a.parcel_id, a.farmer_id, a.kind,
           COALESCE(v.severity, a.severity) AS severity,
           CASE WHEN a.status = 'new' AND v.promoted_run IS NOT NULL THEN 'ongoing'
                ELSE a.status END AS status,
           a.first_detected,
           COALESCE(v.last_observed, a.last_observed) AS last_observed, a.onset,
           a.opened_as_of,
           MAX(a.updated_run, COALESCE(v.updated_run, a.updated_run),
               CASE WHEN a.status = 'new' AND v.promoted_run IS NOT NULL THEN v.promoted_run
                    ELSE a.updated_run END) AS updated_run,
           COALESCE(v.evidence, a.evidence) AS evidence
    FROM alert_rows a LEFT JOIN verdicts v ON v.verdict_id = a.verdict_id;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

ALERT_COLUMNS = [
    "alert_id",
    "parcel_id",
    "farmer_id",
    "kind",
    "severity",
    "status",
    "first_detected",
    "last_observed",
    "evidence",
]


def connect(db: str | Path) -> sqlite3.Connection:
    """Open (create, migrate) the store; autocommit mode, transactions are explicit.

    Raises
    ------
    AgririskError
        The file is not a SQLite database or its schema is newer than this agririsk.
    """
    db = Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db, isolation_level=None, timeout=30.0)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        # FULL: the log is synced at every commit (~1 ms here on an idle disk; NORMAL would
        # be as safe for the alerts, see docs/monitoring.md "The store", but gained < 5 ms)
        con.execute("PRAGMA synchronous=FULL")
        _migrate(con, db)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise AgririskError(
            f"{db}: not a usable monitoring store ({exc}); pass another --db file."
        ) from exc
    return con


def _migrate(con: sqlite3.Connection, db: Path) -> None:
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise AgririskError(
                f"{db}: schema version {version} is newer than this agririsk ({SCHEMA_VERSION}); upgrade agririsk."
            )
        for i in range(version, SCHEMA_VERSION):
            logger.info("%s: migrating monitoring store to schema version %d", db, i + 1)
            for stmt in MIGRATIONS[i].split(";"):
                if stmt.strip():
                    con.execute(stmt)
        con.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def schema_version(con: sqlite3.Connection) -> int:
    """The schema version recorded in ``meta``."""
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def run_lock(db: str | Path) -> Iterator[Path]:
    """Hold the store's run lock (``<db>.lock``) for the duration of a run.

    Raises
    ------
    MonitorLockedError
        Another run holds it (the lock dies with its process, so a killed run never
        leaves a stale lock behind).
    """
    path = Path(str(db) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MonitorLockedError(
                f"{db}: another monitoring run is in progress (lock {path} is held); "
                "wait for it to finish, this run did nothing."
            ) from None
        yield path
    finally:
        os.close(fd)


def last_successful_run(con: sqlite3.Connection) -> dict[str, Any] | None:
    """The latest run with status ``ok`` (by as_of, then run_id), or None."""
    cur = con.execute(
        "SELECT run_id, started, finished, as_of, items_read FROM runs WHERE status = 'ok' "
        "ORDER BY as_of DESC, run_id DESC LIMIT 1"
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip(["run_id", "started", "finished", "as_of", "items_read"], row, strict=True))


def open_alert_parcels(
    con: sqlite3.Connection, kinds: Iterable[str], statuses: Iterable[str] = ("new", "ongoing")
) -> set[str]:
    """Parcels with an alert of one of ``kinds`` whose status is one of ``statuses``."""
    kinds, statuses = list(kinds), list(statuses)
    rows = con.execute(
        f"SELECT DISTINCT parcel_id FROM alert_rows WHERE status IN ({','.join('?' * len(statuses))}) "
        f"AND kind IN ({','.join('?' * len(kinds))})",
        statuses + kinds,
    ).fetchall()
    return {str(r[0]) for r in rows}


def open_alerts(
    con: sqlite3.Connection, *, decode: bool = True, shared: bool = True
) -> pd.DataFrame:
    """Alerts whose status is ``new`` or ``ongoing`` (in no particular order), evidence decoded.

    ``decode=False`` leaves the evidence a JSON string (the lifecycle decodes the few it
    resolves); ``shared=False`` leaves out the alerts that follow a shared verdict (the
    rows of ``alert_rows`` holding their own values, with ``verdict_id``).
    """
    # a scan (no index, no sort) is the fastest way to most rows of the table (56 -> 27 ms)
    if shared:
        cur = con.execute("SELECT * FROM alerts WHERE status != 'resolved'")
    else:
        cur = con.execute(
            "SELECT * FROM alert_rows WHERE status != 'resolved' AND verdict_id IS NULL"
        )
    df = pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])
    if decode:
        df["evidence"] = [json.loads(e) for e in df["evidence"]]
    return df


def read_verdicts(con: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """The stored verdicts: ``verdict_id`` → (severity, last_observed, evidence JSON,
    updated_run, promoted_run, members, number of open alerts following it)."""
    linked = dict(
        con.execute(
            "SELECT verdict_id, COUNT(*) FROM alert_rows WHERE verdict_id IS NOT NULL "
            "GROUP BY verdict_id"
        ).fetchall()
    )
    rows = con.execute(
        "SELECT verdict_id, severity, last_observed, evidence, updated_run, promoted_run, "
        "members FROM verdicts"
    ).fetchall()
    return {str(r[0]): (*r[1:], int(linked.get(r[0], 0))) for r in rows}


def read_alerts(db: str | Path, *, status: str | None = None) -> pd.DataFrame:
    """The alerts of a store as CONTRACTS.md §7 columns (``evidence`` as a JSON string).

    Parameters
    ----------
    db : the store file.
    status : keep only this status (``new``, ``ongoing``, ``resolved``); all if None.
    """
    if not Path(db).is_file():
        raise AgririskError(
            f"{db}: no monitoring store here; run 'agririsk monitor REGION.toml --db {db}' first."
        )
    query = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts"
    args: tuple[str, ...] = ()
    if status is not None:
        query += " WHERE status = ?"
        args = (status,)
    return _read(db, query + " ORDER BY parcel_id, kind, first_detected", args)


def _read(db: str | Path, query: str, params: tuple[str, ...] = ()) -> pd.DataFrame:
    """Run one read-only query on the store and close it."""
    con = connect(db)
    try:
        return pd.read_sql_query(query, con, params=params)
    finally:
        con.close()


def read_farmer_risk(db: str | Path) -> pd.DataFrame:
    """The post-loan risk per farmer as of the latest successful run (``run_id``: the run
    that last changed the farmer's row)."""
    return _read(db, "SELECT * FROM farmer_risk ORDER BY farmer_id")


def read_runs(db: str | Path) -> pd.DataFrame:
    """Every run recorded in the store."""
    return _read(db, "SELECT * FROM runs ORDER BY run_id")


def get_meta(con: sqlite3.Connection, key: str) -> str | None:
    """A value of the ``meta`` table, or None."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    """Set a value of the ``meta`` table (inside the caller's transaction)."""
    con.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def now_iso() -> str:
    """Wall-clock time, UTC, ISO 8601 (seconds)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
