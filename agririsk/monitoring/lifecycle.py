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

Shared weather verdicts
-----------------------
The weather detectors judge a (station, crop) group at once
(:class:`~agririsk.monitoring.weather_detectors.Verdict`): every parcel of the group
has the same condition. An open weather alert can therefore *follow* its group's stored
verdict (``verdicts`` table of :mod:`agririsk.monitoring.store`) instead of holding its
own severity, ``last_observed`` and evidence, and :func:`plan_verdicts` applies the rules
above to the whole group in one step when that gives the same result as alert by alert:

- the group still has the condition and its parcels (``members``) are those of the
  stored verdict, every one with an alert following it: the verdict is updated (severity,
  ``max(last_observed, observed)``, evidence), ``new`` alerts turn ``ongoing`` (the
  verdict's ``promoted_run``, the first run that kept it) (*keep*);
- the condition is gone, the group's parcels are unchanged and new weather days came:
  every alert following it is resolved with the verdict's values (*resolve*); without
  new weather days nothing changes;
- anything else (the group's parcels changed, a new episode, some parcels without an
  alert following the verdict): the alerts stop following it and take its values
  (*unlink*), the group's condition is spread over its parcels and judged alert by alert
  with :func:`apply_lifecycle` (*expand*); the alerts whose result equals the verdict's
  values follow it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from agririsk.monitoring.weather_detectors import Verdict

__all__ = [
    "Condition",
    "AlertChange",
    "alert_id",
    "apply_lifecycle",
    "StoredVerdict",
    "VerdictPlan",
    "plan_verdicts",
    "members_key",
    "evidence_json",
]


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


def evidence_json(evidence: dict[str, Any]) -> str:
    """The evidence as stored: JSON with sorted keys."""
    return json.dumps(evidence, sort_keys=True)


def members_key(parcels: np.ndarray) -> str:
    """A key of a weather group's parcels (sorted ``parcel_id`` strings)."""
    return hashlib.sha256("\n".join(parcels.tolist()).encode()).hexdigest()[:16]


class StoredVerdict(NamedTuple):
    """A row of the ``verdicts`` table and how many open alerts follow it."""

    severity: str
    last_observed: str
    evidence: str  # JSON
    updated_run: int | None
    promoted_run: int | None  # the run that turned the alerts following it ongoing
    members: str
    linked: int


@dataclass
class VerdictPlan:
    """What a run does with the stored verdicts (see the module notes).

    Attributes
    ----------
    keep : (verdict, its new ``last_observed``, whether severity, last_observed or
        evidence changed) of the groups updated in one step.
    resolve : stored verdicts whose alerts all resolve.
    unlink : stored verdicts whose alerts take the verdict's values and stop following it.
    expand : verdicts judged alert by alert (:meth:`conditions`), then followed again.
    drop : stored verdicts no open alert follows (deleted).
    """

    keep: list[tuple[Verdict, str, bool]] = field(default_factory=list)
    resolve: list[str] = field(default_factory=list)
    unlink: list[str] = field(default_factory=list)
    expand: list[Verdict] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)

    def conditions(self) -> list[Condition]:
        """The expanded verdicts as one condition per parcel."""
        return [
            Condition(pid, v.kind, v.severity, v.observed, v.onset, v.evidence)
            for v in self.expand
            for pid in v.parcels.tolist()
        ]


def plan_verdicts(
    stored: Mapping[str, StoredVerdict],
    verdicts: Iterable[Verdict],
    groups: Mapping[str, np.ndarray],
    *,
    weather_fresh: bool,
) -> VerdictPlan:
    """Which groups a run updates or resolves in one step, and which it judges alert by alert.

    Parameters
    ----------
    stored : the stored verdicts by ``verdict_id`` (``kind|station|crop``).
    verdicts : this run's weather verdicts (one per group and kind with a condition).
    groups : every group's parcels this run (sorted ids; a drought group without the
        irrigated parcels), by the same keys.
    weather_fresh : new weather days since the last run (weather alerts can resolve).

    Returns
    -------
    VerdictPlan. Applying it and then :func:`apply_lifecycle` to the alerts that follow
    no verdict, with the expanded conditions, gives the alerts :func:`apply_lifecycle`
    gives on every alert with every parcel's condition (``tests/unit`` checks it).
    """
    current = {v.key: v for v in verdicts}
    plan = VerdictPlan()
    for vid, s in stored.items():
        if s.linked == 0:
            plan.drop.append(vid)
            continue
        members = groups.get(vid)
        same = members is not None and members_key(members) == s.members
        v = current.get(vid)
        if not same:
            # the group's parcels changed: its alerts are judged one by one
            plan.unlink.append(vid)
        elif v is not None and s.linked == len(v.parcels):
            last = max(s.last_observed, v.observed.isoformat())
            new = (v.severity, last, evidence_json(v.evidence))
            plan.keep.append((v, last, new != (s.severity, s.last_observed, s.evidence)))
        elif v is not None:  # some parcels of the group have no alert following it
            plan.unlink.append(vid)
        elif weather_fresh:
            plan.resolve.append(vid)
    kept = {v.key for v, _, _ in plan.keep}
    plan.expand = [v for key, v in current.items() if key not in kept]
    return plan
