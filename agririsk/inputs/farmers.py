"""``farmers.csv``: what the bank knows of each farmer (CONTRACTS.md §4).

Personal columns (``name``, ``national_id``, ``phone``) are not even loaded unless the
caller asks for them with ``include_personal=True``; problems name rows by row number and
``farmer_id`` only, and never quote a cell of a farmer's row other than its id.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from agririsk.inputs._tables import (
    RowProblems,
    as_integers,
    parse_booleans,
    parse_numbers,
    read_csv_table,
    row_label,
    skip_duplicates,
)
from agririsk.inputs.report import Report

__all__ = ["read_farmers", "PERSONAL_COLUMNS"]

logger = logging.getLogger(__name__)

#: Columns holding personal data: never in an output or a log unless asked for.
PERSONAL_COLUMNS: tuple[str, ...] = ("name", "national_id", "phone")

_REQUIRED = ("farmer_id", "loan_amount")
_FLOATS = ("age", "years_farming")
_INTEGERS = ("loan_term_months", "household_size", "prior_loans", "prior_defaults")
_BOOLEANS = ("irrigated", "insured", "cooperative_member")


def read_farmers(path: str | Path, report: Report, *, include_personal: bool = False) -> pd.DataFrame:
    """Read and check ``farmers.csv``.

    Parameters
    ----------
    path : the farmers table.
    report : problems of single rows are added here; the row is skipped or the bad value
        set missing, and reading goes on.
    include_personal : keep ``name``, ``national_id`` and ``phone`` (as text) in the
        result. Only for a user who asked for personal data explicitly.

    Returns
    -------
    pandas.DataFrame
        One row per farmer, in file order: ``farmer_id`` (str), ``loan_amount`` (float,
        > 0), then whichever optional columns the file has: ``loan_term_months``,
        ``household_size``, ``prior_loans``, ``prior_defaults`` (nullable ``Int64``; a
        missing ``prior_loans`` means no credit history, a thin file), ``age``,
        ``years_farming`` (float), ``irrigated``, ``insured``, ``cooperative_member``
        (nullable ``boolean``). Other columns are dropped (they might hold personal data)
        and named in an ``info`` problem.

    Raises
    ------
    MissingFileError, InputError, MissingColumnError
        The file is missing, unreadable, or lacks ``farmer_id`` or ``loan_amount``.

    Notes
    -----
    Row problems and what happens to the row:

    - empty ``farmer_id``; ``loan_amount`` missing, not a number or <= 0: row skipped;
    - duplicate ``farmer_id``: every copy is reported. Copies that agree in every loaded
      column are one farmer entered twice, and the first is kept; copies that disagree
      are all skipped, because there is no telling which one is right;
    - an optional value that is not a number / not a whole number / negative, or a flag
      that is not true/false/yes/no/1/0: that value becomes missing;
    - ``prior_defaults`` > ``prior_loans``: both become missing (credit history unknown).
    """
    path = Path(path)
    drop = () if include_personal else PERSONAL_COLUMNS
    table = read_csv_table(path, required=_REQUIRED, drop=drop, kind="farmers table", report=report)
    rows = RowProblems(report, path)
    keep = pd.Series(True, index=table.index)

    no_id = table["farmer_id"].isna()
    rows.add_mask("empty farmer_id", no_id, row_label, "farmer_id is empty; row skipped",
                  "give every farmer a unique farmer_id")
    keep &= ~no_id

    def where(label: object) -> str:
        return f"{row_label(label)}, farmer_id {table.at[label, 'farmer_id']}"

    compared = [c for c in table.columns if c not in PERSONAL_COLUMNS]
    skip_duplicates(table, keep, "farmer_id", rows, where, unit="farmer", compared=compared)

    amount, bad = parse_numbers(table["loan_amount"])
    missing_amount = keep & amount.isna() & ~bad
    rows.add_mask("loan_amount missing", missing_amount, where, "loan_amount is empty; farmer skipped",
                  "give the amount applied for")
    rows.add_mask("loan_amount not a number", keep & bad, where,
                  "loan_amount is not a number; farmer skipped", "write the amount as a plain number, e.g. 25000")
    not_positive = keep & (amount <= 0)
    rows.add_mask("loan_amount not positive", not_positive, where,
                  "loan_amount must be greater than 0; farmer skipped", "give the amount applied for")
    keep &= amount.notna() & (amount > 0)

    out = pd.DataFrame({"farmer_id": table["farmer_id"].astype(str), "loan_amount": amount}, index=table.index)
    for column in _INTEGERS + _FLOATS:
        if column not in table.columns:
            continue
        numbers, bad = parse_numbers(table[column])
        rows.add_mask(f"{column} not a number", keep & bad, where,
                      f"{column} is not a number; set missing", "write a plain number or leave it empty")
        negative = numbers < 0
        rows.add_mask(f"{column} negative", keep & negative, where,
                      f"{column} is negative; set missing", "write a count or amount >= 0")
        numbers = numbers.mask(negative)
        if column in _INTEGERS:
            numbers, fraction = as_integers(numbers)
            rows.add_mask(f"{column} not whole", keep & fraction, where,
                          f"{column} is not a whole number; set missing", "write a whole number")
        out[column] = numbers
    for column in _BOOLEANS:
        if column not in table.columns:
            continue
        flags, bad = parse_booleans(table[column])
        rows.add_mask(f"{column} not a flag", keep & bad, where,
                      f"{column} is not true/false; set missing", "write true or false (or yes/no, 1/0)")
        out[column] = flags
    if "prior_loans" in out and "prior_defaults" in out:
        impossible = (out["prior_defaults"] > out["prior_loans"]).fillna(False).astype(bool)
        rows.add_mask("prior_defaults > prior_loans", keep & impossible, where,
                      "prior_defaults is greater than prior_loans; credit history set missing",
                      "check both counts")
        out.loc[impossible, ["prior_loans", "prior_defaults"]] = pd.NA
    if include_personal:
        for column in PERSONAL_COLUMNS:
            if column in table.columns:
                out[column] = table[column]
    known = {"farmer_id", "loan_amount", *_INTEGERS, *_FLOATS, *_BOOLEANS, *PERSONAL_COLUMNS}
    ignored = [c for c in table.columns if c not in known]
    if ignored:
        report.info(path, "", f"column(s) not in CONTRACTS.md §4 ignored: {', '.join(ignored)}",
                    "they may hold personal data, so agririsk does not carry them along")

    rows.flush()
    out = out.loc[keep].reset_index(drop=True)
    report.count("farmers", len(out))
    logger.debug("read %d farmers from %s (%d rows skipped)", len(out), path, int((~keep).sum()))
    return out
