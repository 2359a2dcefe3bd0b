"""Problems found while reading a region's inputs, collected in one pass."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

Severity = Literal["error", "warning", "info"]
#: A file path or an item / catalog name.
Source = str | os.PathLike[str]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input.

    Attributes
    ----------
    severity : "error" makes the region (or that whole input) unusable; "warning" means
        the row, parcel, station or item named in ``where`` is skipped or repaired and the
        run goes on; "info" is counted (e.g. filled weather values) but needs no action.
    source : the file (or item) in which the problem was found.
    where : row number, parcel id, station id or item id; empty when the whole file is concerned.
    what : what is wrong.
    fix : what the user should do about it.
    """

    severity: Severity
    source: str
    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        loc = f"{self.source}" + (f" [{self.where}]" if self.where else "")
        text = f"{self.severity.upper():7s} {loc}: {self.what}"
        if self.fix:
            text += f" -> {self.fix}"
        return text


@dataclass
class Report:
    """Collects :class:`Problem` s from every reader of a region.

    Readers append to a report instead of raising for per-row problems, so that one bad
    parcel or station is reported and skipped without sinking the region.
    """

    problems: list[Problem] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)

    def add(self, severity: Severity, source: Source, where: object, what: str, fix: str = "") -> None:
        problem = Problem(severity, os.fspath(source), "" if where is None else str(where), what, fix)
        self.problems.append(problem)
        log = logger.warning if severity != "info" else logger.info
        log("%s", problem)

    def error(self, source: Source, where: object, what: str, fix: str = "") -> None:
        self.add("error", source, where, what, fix)

    def warning(self, source: Source, where: object, what: str, fix: str = "") -> None:
        self.add("warning", source, where, what, fix)

    def info(self, source: Source, where: object, what: str, fix: str = "") -> None:
        self.add("info", source, where, what, fix)

    def count(self, key: str, n: int = 1) -> None:
        """Count something worth reporting that is not a problem (filled values, items read)."""
        self.counters[key] += n

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def usable(self) -> bool:
        """True when no problem makes the region unusable."""
        return not self.errors

    def extend(self, other: Report) -> None:
        self.problems.extend(other.problems)
        self.counters.update(other.counters)

    def to_records(self) -> list[dict[str, str]]:
        return [
            {"severity": p.severity, "source": p.source, "where": p.where, "what": p.what, "fix": p.fix}
            for p in self.problems
        ]
