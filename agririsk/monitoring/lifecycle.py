"""Alert lifecycle: open alerts + this run's conditions → the alert changes (pure).

Rules
-----
- one open alert per (parcel, kind);
- a condition without an open alert opens one (``new``); its id hashes
  (parcel, kind, first_detected) so a rerun of the same run makes the same id;
- a condition with an open alert updates it (``ongoing``; severity, last_observed, evidence);
- an open alert whose condition is absent is ``resolved`` only if the parcel had fresh data
  for that kind in this run (a new clear view for imagery kinds, new weather days for
  weather kinds); no fresh data (clouds) changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd

__all__ = ["Condition", "AlertChange", "alert_id", "apply_lifecycle"]


@dataclass(frozen=True)
class Condition:
    """A condition a detector sees on a parcel at a run's as-of date.

    Attributes
    ----------
    parcel_id, kind : the parcel and the alert kind (CONTRACTS.md §7).
    severity : ``low``, ``medium`` or ``high``.
    observed : date of the latest observation (clear image or weather day) showing it.
    onset : date of the first observation showing it.
    evidence : expected and observed values with their dates (JSON-serialisable).
    """

    parcel_id: str
    kind: str
    severity: str
    observed: dt.date
    onset: dt.date
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)


class AlertChange(NamedTuple):
    """One row to write: a new alert, or the new state of an existing one.

    A named tuple (immutable; an ongoing drought updates thousands of alerts a run and
    a tuple is four times cheaper to make than a frozen dataclass).
    """

    alert_id: str
    parcel_id: str
    kind: str
    severity: str
    status: str
    first_detected: str
    last_observed: str
    onset: str | None
    evidence: dict[str, Any]
    action: str  # "open", "update" or "resolve"


def alert_id(parcel_id: str, kind: str, first_detected: dt.date | str) -> str:
    """Stable alert id: the first 16 hex digits of SHA-256 of ``parcel|kind|first_detected``."""
    key = f"{parcel_id}|{kind}|{pd.Timestamp(first_detected).date().isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def apply_lifecycle(
    open_alerts: pd.DataFrame,
    conditions: Iterable[Condition],
    fresh: Container[Any],
    *,
    as_of: dt.date,
) -> list[AlertChange]:
    """The alert changes of one run.

    Parameters
    ----------
    open_alerts : alerts with status new/ongoing: ``alert_id, parcel_id, kind, severity,
        first_detected, last_observed, onset, evidence`` (dict, or its JSON text).
    conditions : what the detectors see at ``as_of``.
    fresh : parcels (``parcel_id``) or (``parcel_id``, ``kind``) pairs that had fresh data
        in this run; only those can resolve.
    as_of : the run's as-of date; a new alert's ``first_detected`` is its onset
        observation date (so ids do not depend on the run cadence).

    Returns
    -------
    list of AlertChange, sorted by alert_id (deterministic).
    """
    by_key: dict[tuple[str, str], Condition] = {}
    for c in conditions:
        key = (c.parcel_id, c.kind)
        if key in by_key:  # keep the more severe, then the earlier onset
            old = by_key[key]
            if (_RANK[c.severity], -c.onset.toordinal()) <= (
                _RANK[old.severity],
                -old.onset.toordinal(),
            ):
                continue
        by_key[key] = c
    changes: list[AlertChange] = []
    seen: set[tuple[str, str]] = set()
    cols = [
        "alert_id",
        "parcel_id",
        "kind",
        "severity",
        "first_detected",
        "last_observed",
        "onset",
        "evidence",
    ]
    rows = (
        [_Open(*r) for r in zip(*(open_alerts[c].tolist() for c in cols), strict=True)]
        if len(open_alerts)
        else []
    )
    for row in rows:
        key = (row.parcel_id, row.kind)
        seen.add(key)
        cond = by_key.get(key)
        if cond is not None:
            changes.append(
                AlertChange(
                    row.alert_id,
                    row.parcel_id,
                    row.kind,
                    cond.severity,
                    "ongoing",
                    row.first_detected,
                    max(str(row.last_observed), cond.observed.isoformat()),
                    row.onset,
                    cond.evidence,
                    "update",
                )
            )
        elif _is_fresh(fresh, row.parcel_id, row.kind):
            ev = json.loads(row.evidence) if isinstance(row.evidence, str) else row.evidence
            evidence = dict(ev) if isinstance(ev, dict) else {}
            evidence["resolved_as_of"] = as_of.isoformat()
            changes.append(
                AlertChange(
                    row.alert_id,
                    row.parcel_id,
                    row.kind,
                    row.severity,
                    "resolved",
                    row.first_detected,
                    row.last_observed,
                    row.onset,
                    evidence,
                    "resolve",
                )
            )
    for key, cond in by_key.items():
        if key in seen:
            continue
        first = cond.onset.isoformat()
        changes.append(
            AlertChange(
                alert_id(cond.parcel_id, cond.kind, first),
                cond.parcel_id,
                cond.kind,
                cond.severity,
                "new",
                first,
                cond.observed.isoformat(),
                cond.onset.isoformat(),
                cond.evidence,
                "open",
            )
        )
    return sorted(changes, key=lambda c: c.alert_id)


_RANK = {"low": 0, "medium": 1, "high": 2}


class _Open(NamedTuple):
    alert_id: str
    parcel_id: str
    kind: str
    severity: str
    first_detected: str
    last_observed: str
    onset: str | None
    evidence: Any


def _is_fresh(fresh: Container[Any], parcel_id: str, kind: str) -> bool:
    return parcel_id in fresh or (parcel_id, kind) in fresh
