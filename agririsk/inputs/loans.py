"""``loans.csv``: past loans and whether they were repaid, the PD model's labels (CONTRACTS.md §6)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from agririsk.inputs._tables import (
    RowProblems,
    parse_dates,
    parse_numbers,
    read_csv_table,
    row_label,
    skip_duplicates,
)
from agririsk.inputs.report import Report

__all__ = ["read_loans"]

logger = logging.getLogger(__name__)

_REQUIRED = ("farmer_id", "loan_id", "season_start", "season_end", "loan_amount", "defaulted")


def read_loans(
    path: str | Path, report: Report, *, farmer_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read and check the loan history.

    Parameters
    ----------
    path : the loans table.
    report : problems of single loans are added here and the loan is skipped.
    farmer_ids : the farmers the bank knows; loans of any other farmer are reported and
        skipped. ``None`` skips that check.

    Returns
    -------
    pandas.DataFrame
        One row per loan, in file order: ``farmer_id`` (str), ``loan_id`` (str),
        ``season_start``, ``season_end`` (``datetime64``, days), ``loan_amount`` (float,
        > 0), ``defaulted`` (int 0/1).

    Raises
    ------
    MissingFileError, InputError, MissingColumnError
        The file is missing, unreadable, or lacks a column of CONTRACTS.md §6.

    Notes
    -----
    Skipped with a problem: empty ``farmer_id`` or ``loan_id``; a date that is not
    ``YYYY-MM-DD``; ``season_end`` not after ``season_start``; ``loan_amount`` missing,
    not a number or <= 0; ``defaulted`` other than 0 or 1; a loan of an unknown farmer.
    Duplicate ``loan_id``: identical copies keep the first; copies that disagree are all
    skipped (a label of unknown truth is worse than no label).
    """
    path = Path(path)
    table = read_csv_table(path, required=_REQUIRED, kind="loan history", report=report)
    rows = RowProblems(report, path)
    keep = pd.Series(True, index=table.index)

    def where(label: object) -> str:
        loan = table.at[label, "loan_id"]
        return row_label(label) + ("" if pd.isna(loan) else f", loan_id {loan}")

    for column in ("loan_id", "farmer_id"):
        empty = keep & table[column].isna()
        rows.add_mask(f"empty {column}", empty, where, f"{column} is empty; loan skipped", f"fill in {column}")
        keep &= ~empty

    skip_duplicates(table, keep, "loan_id", rows, where, unit="loan")

    if farmer_ids is not None:
        known = set(map(str, farmer_ids))
        unknown = keep & ~table["farmer_id"].isin(known)
        for label in unknown.index[unknown.to_numpy(dtype=bool)]:
            rows.add("unknown farmer", where(label),
                     f"farmer_id {table.at[label, 'farmer_id']} is not in the farmers table; loan skipped",
                     "add the farmer to farmers.csv or fix the farmer_id")
        keep &= ~unknown

    start, bad_start = parse_dates(table["season_start"])
    end, bad_end = parse_dates(table["season_end"])
    for column, dates, bad in (("season_start", start, bad_start), ("season_end", end, bad_end)):
        invalid = keep & (bad | dates.isna())
        rows.add_mask(f"{column} not a date", invalid, where,
                      f"{column} is missing or not a date; loan skipped", "write dates as YYYY-MM-DD")
        keep &= ~invalid
    backwards = keep & (end <= start)
    rows.add_mask("season_end not after season_start", backwards, where,
                  "season_end is not after season_start; loan skipped", "check the two dates")
    keep &= ~backwards

    amount, bad = parse_numbers(table["loan_amount"])
    invalid = keep & ~(amount > 0)
    rows.add_mask("loan_amount invalid", invalid, where,
                  "loan_amount is missing, not a number or not > 0; loan skipped",
                  "write the amount lent as a plain number")
    keep &= ~invalid

    flag, _ = parse_numbers(table["defaulted"])
    invalid = keep & ~flag.isin([0.0, 1.0])
    rows.add_mask("defaulted not 0/1", invalid, where,
                  "defaulted must be 0 (repaid) or 1 (defaulted); loan skipped", "write 0 or 1")
    keep &= ~invalid

    rows.flush()
    out = pd.DataFrame(
        {
            "farmer_id": table["farmer_id"].astype(str),
            "loan_id": table["loan_id"].astype(str),
            "season_start": start,
            "season_end": end,
            "loan_amount": amount,
            "defaulted": flag.fillna(-1).astype("int64"),
        }
    ).loc[keep].reset_index(drop=True)
    report.count("loans", len(out))
    logger.debug("read %d loans from %s (%d rows skipped)", len(out), path, int((~keep).sum()))
    return out
