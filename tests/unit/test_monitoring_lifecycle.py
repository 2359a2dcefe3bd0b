"""Alert lifecycle by hand: open → ongoing → resolved; clouds change nothing; stable ids."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from agririsk.monitoring.lifecycle import Condition, alert_id, apply_lifecycle

D = dt.date
AUG4 = D(2026, 8, 4)


def cond(pid="P1", kind="crop_failure", sev="medium", observed=AUG4, onset=AUG4):
    return Condition(pid, kind, sev, observed, onset, {"expected_ndvi": 0.8, "observed_ndvi": 0.4})


def as_open(changes):
    """The open-alert table the store would hold after ``changes``."""
    rows = [
        dict(
            alert_id=c.alert_id,
            parcel_id=c.parcel_id,
            kind=c.kind,
            severity=c.severity,
            status=c.status,
            first_detected=c.first_detected,
            last_observed=c.last_observed,
            onset=c.onset,
            evidence=c.evidence,
        )
        for c in changes
        if c.status != "resolved"
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "alert_id",
            "parcel_id",
            "kind",
            "severity",
            "status",
            "first_detected",
            "last_observed",
            "onset",
            "evidence",
        ],
    )


EMPTY = as_open([])


def test_apply_lifecycle__new_condition_opens_new_alert():
    (c,) = apply_lifecycle(EMPTY, [cond()], {"P1"}, as_of=D(2026, 8, 10))
    assert (c.status, c.action, c.first_detected, c.last_observed) == (
        "new",
        "open",
        "2026-08-04",
        "2026-08-04",
    )
    assert c.alert_id == alert_id("P1", "crop_failure", "2026-08-04")


def test_apply_lifecycle__open_then_ongoing_then_resolved():
    run1 = apply_lifecycle(EMPTY, [cond()], {"P1"}, as_of=D(2026, 8, 10))
    run2 = apply_lifecycle(
        as_open(run1), [cond(sev="high", observed=D(2026, 8, 20))], {"P1"}, as_of=D(2026, 8, 25)
    )
    (c2,) = run2
    assert (c2.status, c2.severity, c2.last_observed, c2.alert_id) == (
        "ongoing",
        "high",
        "2026-08-20",
        run1[0].alert_id,
    )
    (c3,) = apply_lifecycle(as_open(run2), [], {"P1"}, as_of=D(2026, 9, 10))
    assert (c3.status, c3.action, c3.alert_id) == ("resolved", "resolve", run1[0].alert_id)
    assert c3.evidence["resolved_as_of"] == "2026-09-10"


def test_apply_lifecycle__no_fresh_data_changes_nothing():
    run1 = apply_lifecycle(EMPTY, [cond()], {"P1"}, as_of=D(2026, 8, 10))
    assert apply_lifecycle(as_open(run1), [], set(), as_of=D(2026, 8, 25)) == []
    # fresh data for another kind of the parcel does not resolve this one
    assert apply_lifecycle(as_open(run1), [], {("P1", "drought")}, as_of=D(2026, 8, 25)) == []


def test_apply_lifecycle__ids_stable_and_distinct():
    assert alert_id("P1", "flood", D(2026, 7, 1)) == alert_id("P1", "flood", "2026-07-01")
    ids = {
        alert_id(p, k, d)
        for p in ("P1", "P2")
        for k in ("flood", "drought")
        for d in (D(2026, 7, 1), D(2026, 7, 2))
    }
    assert len(ids) == 8
    a = apply_lifecycle(EMPTY, [cond(), cond("P2", "flood")], {"P1", "P2"}, as_of=D(2026, 8, 10))
    b = apply_lifecycle(EMPTY, [cond("P2", "flood"), cond()], {"P1", "P2"}, as_of=D(2026, 8, 10))
    assert a == b


def test_apply_lifecycle__one_alert_per_parcel_and_kind_keeps_most_severe():
    (c,) = apply_lifecycle(
        EMPTY, [cond(sev="low"), cond(sev="high", onset=D(2026, 8, 6))], set(), as_of=D(2026, 8, 10)
    )
    assert c.severity == "high"
