"""Helpers shared by the table readers: reading a CSV safely, parsing columns, capped row reports.

Row numbers are the line numbers a person sees in a text editor or a spreadsheet: the
header is row 1, the first record row 2.  Values of personal columns are never echoed:
the readers drop them before anything else happens, and messages quote cell values only
for columns that are not personal.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agririsk.errors import InputError, MissingColumnError, MissingFileError
from agririsk.inputs.report import Report, Severity

logger = logging.getLogger(__name__)

#: Individual problems of one kind reported per file before the rest are summarised.
ROW_REPORT_LIMIT = 20

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def row_label(index: Any) -> str:
    """``"row N"`` for the record at 0-based position ``index`` (header is row 1)."""
    return f"row {int(index) + 2}"


def read_csv_table(
    path: str | Path,
    *,
    required: Sequence[str],
    drop: Iterable[str] = (),
    kind: str = "table",
    report: Report | None = None,
) -> pd.DataFrame:
    """Read a CSV file as text columns, with clean headers and cells.

    Parameters
    ----------
    path : path of the CSV file.
    required : columns that must be present.
    drop : columns dropped right after reading (personal data); their names and values
        appear in no message.
    kind : what the file is, for messages (``"farmers table"``).
    report : rows with more fields than the header are reported here and skipped (by row
        number only); without a report they are skipped silently.

    Returns
    -------
    pandas.DataFrame
        One text column per CSV column (names stripped), cells stripped, empty cells
        missing, fully blank lines removed.  The index is the file line number minus 2,
        so :func:`row_label` gives the row number a person sees.

    Raises
    ------
    MissingFileError
        The file does not exist.
    InputError
        The file cannot be read as CSV.
    MissingColumnError
        A required column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {kind} not found. Check the path in region.toml.")
    dropped = {c.strip().lower() for c in drop}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            table = pd.read_csv(path, dtype=str, encoding="utf-8-sig", skip_blank_lines=False, on_bad_lines="warn")
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: {kind} is empty. It needs a header row and one row per record.") from exc
    except pd.errors.ParserError as exc:
        # The tokenizer's message names line numbers only, never cell contents.
        raise InputError(
            f"{path}: cannot be read as CSV ({_first_line(exc)}). "
            "Check that every row has as many comma-separated fields as the header."
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: is not UTF-8 text. Save it as UTF-8 CSV.") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__}).") from exc
    table.columns = [str(c).strip() for c in table.columns]
    table = table.drop(columns=[c for c in table.columns if c.lower() in dropped])
    ragged = sorted({int(n) for w in caught for n in re.findall(r"Skipping line (\d+)", str(w.message))})
    if ragged:
        lines = [n for n in range(2, 2 + len(table) + len(ragged)) if n not in set(ragged)]
        table.index = pd.Index(lines[: len(table)]) - 2
        if report is not None:
            rows = RowProblems(report, path)
            for n in ragged:
                rows.add("ragged row", f"row {n}", "row has more fields than the header; row skipped",
                         "check for an unquoted comma in that row")
            rows.flush()
    missing = [c for c in required if c not in table.columns]
    if missing:
        found = ", ".join(c for c in table.columns if c.lower() not in dropped)
        raise MissingColumnError(
            f"{path}: required column(s) {', '.join(missing)} missing (found: {found}). "
            "Add them or fix the header spelling (CONTRACTS.md)."
        )
    table = table.apply(lambda col: col.str.strip().replace("", pd.NA))
    table = table.loc[table.notna().any(axis=1)]
    return table


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a text column as float.

    Returns
    -------
    (numbers, bad) : the float64 values (NaN where missing or not a number) and a boolean
        mask of cells that held something that is not a number.
    """
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = values.notna() & numbers.isna()
    return numbers, bad


def parse_booleans(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse true/false, yes/no, t/f, y/n, 1/0 (any case) into pandas' nullable boolean.

    Returns
    -------
    (flags, bad) : the ``boolean`` values (``<NA>`` where missing or not understood) and
        a boolean mask of cells that could not be understood.
    """
    lowered = values.str.lower()
    flags = pd.Series(pd.NA, index=values.index, dtype="boolean")
    flags[lowered.isin(_TRUE)] = True
    flags[lowered.isin(_FALSE)] = False
    bad = values.notna() & flags.isna()
    return flags, bad


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse ISO dates (``YYYY-MM-DD``, a time part is allowed and dropped).

    Returns
    -------
    (dates, bad) : ``datetime64`` day values (NaT where missing or not a date) and the mask
        of cells that held something that is not a date.
    """
    dates = pd.to_datetime(values, errors="coerce", format="ISO8601").dt.normalize()
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    bad = values.notna() & dates.isna()
    return dates, bad


def as_integers(numbers: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Nullable ``Int64`` from floats; the mask marks values that are not whole numbers."""
    whole = numbers.notna() & np.isclose(numbers, np.round(numbers))
    bad = numbers.notna() & ~whole
    out = numbers.where(whole).round().astype("Int64")
    return out, bad


class RowProblems:
    """Collects per-row problems and reports them to a :class:`Report`, capped per kind.

    The first :data:`ROW_REPORT_LIMIT` problems of each kind are reported one by one; the
    rest are summarised in one problem that gives their count and the first few places,
    so that a file with thousands of bad rows does not produce thousands of lines.

    Parameters
    ----------
    report : where the problems go when :meth:`flush` is called.
    source : the file (or item) the rows come from.
    limit : individual problems per kind.
    """

    def __init__(self, report: Report, source: str | Path, *, limit: int = ROW_REPORT_LIMIT) -> None:
        self._report = report
        self._source = str(source)
        self._limit = limit
        self._items: dict[str, list[tuple[Severity, str, str, str]]] = defaultdict(list)

    def add(self, kind: str, where: object, what: str, fix: str = "", severity: Severity = "warning") -> None:
        """Record one problem; ``kind`` groups problems for the cap (e.g. ``"duplicate id"``)."""
        self._items[kind].append((severity, str(where), what, fix))

    def add_mask(
        self,
        kind: str,
        mask: pd.Series,
        where: Callable[[Any], str],
        what: str,
        fix: str = "",
        severity: Severity = "warning",
    ) -> None:
        """Record one problem for every index label where ``mask`` is true."""
        for label in mask.index[mask.to_numpy(dtype=bool)]:
            self.add(kind, where(label), what, fix, severity)

    def flush(self) -> None:
        """Send the collected problems to the report (and forget them)."""
        for kind, items in self._items.items():
            for severity, where, what, fix in items[: self._limit]:
                self._report.add(severity, self._source, where, what, fix)
            rest = items[self._limit :]
            if rest:
                places = ", ".join(w for _, w, _, _ in rest[:10]) + (", ..." if len(rest) > 10 else "")
                self._report.add(
                    rest[0][0],
                    self._source,
                    f"{len(rest)} more",
                    f"{kind}: {len(rest)} more like the above ({places})",
                    rest[0][3],
                )
        self._items.clear()


def duplicate_groups(keys: pd.Series) -> list[list[Any]]:
    """Index labels of each group of rows sharing a (non-missing) key, in file order."""
    present = keys.dropna()
    dup = present[present.duplicated(keep=False)]
    return [list(group.index) for _, group in dup.groupby(dup, sort=False)]


def skip_duplicates(
    table: pd.DataFrame,
    keep: pd.Series,
    key: str,
    rows: RowProblems,
    where: Callable[[Any], str],
    *,
    unit: str,
    compared: Sequence[str] | None = None,
) -> None:
    """Report every row whose ``key`` repeats, and mark which copies to skip in ``keep``.

    Identical copies (on ``compared`` columns, default all): the first is kept. Copies that
    disagree: all are skipped, since nothing tells which one is right.

    Parameters
    ----------
    table : the rows read; ``keep`` is its boolean mask of rows still kept (changed in place).
    key : the id column (``farmer_id``, ``loan_id``, ``station_id``).
    rows : where the problems go.
    where : row label -> "row N, id X" for messages.
    unit : what one row is, for the fix ("farmer", "loan", "station").
    """
    cols = list(compared) if compared is not None else list(table.columns)
    for group in duplicate_groups(table.loc[keep, key]):
        same = len(table.loc[group, cols].drop_duplicates()) == 1
        others = ", ".join(row_label(g) for g in group)
        for i, label in enumerate(group):
            if same:
                outcome = "identical copy, the first is kept" if i == 0 else "identical copy skipped"
            else:
                outcome = "copies disagree, all skipped"
            rows.add(f"duplicate {key}", where(label), f"{key} appears {len(group)} times ({others}); {outcome}",
                     f"keep one row per {unit}")
            if not same or i > 0:
                keep[label] = False


def format_places(places: Sequence[str], first: int = 5) -> str:
    """``"a, b, c, ..."``: the first few of ``places``."""
    shown = ", ".join(str(p) for p in places[:first])
    return shown + (", ..." if len(places) > first else "")
