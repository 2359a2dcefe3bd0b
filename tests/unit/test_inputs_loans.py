"""read_loans: the loan history that labels the PD model."""

from __future__ import annotations

import pytest

from agririsk.errors import MissingColumnError
from agririsk.inputs import Report, read_loans

HEADER = "farmer_id,loan_id,season_start,season_end,loan_amount,defaulted\n"


def write(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "loans.csv"
    path.write_text(header + body)
    return path


def problems(report: Report) -> set[tuple[str, str]]:
    return {(p.where, p.what.split(";")[0]) for p in report.problems}


def test_read_loans__types(tmp_path):
    report = Report()
    loans = read_loans(
        write(tmp_path, "F1,L1,2024-04-15,2024-10-15,20000,0\nF2,L2,2025-04-15,2025-10-15,5e3,1\n"),
        report,
    )
    assert loans["loan_id"].tolist() == ["L1", "L2"]
    assert loans["defaulted"].tolist() == [0, 1] and loans["defaulted"].dtype == "int64"
    assert loans["season_start"].dt.year.tolist() == [2024, 2025]
    assert loans["loan_amount"].tolist() == [20000.0, 5000.0]
    assert report.problems == []


def test_read_loans__row_problems(tmp_path):
    body = (
        "F1,L1,2024-04-15,2024-10-15,20000,0\n"
        "F9,L2,2024-04-15,2024-10-15,20000,0\n"  # unknown farmer
        "F1,L3,2024-10-15,2024-04-15,20000,0\n"  # end before start
        "F1,L4,2024-04-15,2024-10-15,20000,2\n"  # defaulted not 0/1
        "F1,L5,15/04/2024,2024-10-15,20000,0\n"  # not ISO
        "F1,L6,2024-04-15,2024-10-15,20000,0\n"
        "F1,L6,2024-04-15,2024-10-15,30000,1\n"  # conflicting duplicate
        "F1,L7,2024-04-15,2024-10-15,0,0\n"  # amount 0
    )
    report = Report()
    loans = read_loans(write(tmp_path, body), report, farmer_ids=["F1"])
    assert loans["loan_id"].tolist() == ["L1"]
    assert {
        ("row 3, loan_id L2", "farmer_id F9 is not in the farmers table"),
        ("row 4, loan_id L3", "season_end is not after season_start"),
        ("row 5, loan_id L4", "defaulted must be 0 (repaid) or 1 (defaulted)"),
        ("row 6, loan_id L5", "season_start is missing or not a date"),
        ("row 7, loan_id L6", "loan_id appears 2 times (row 7, row 8)"),
        ("row 8, loan_id L6", "loan_id appears 2 times (row 7, row 8)"),
        ("row 9, loan_id L7", "loan_amount is missing, not a number or not > 0"),
    } == problems(report)


def test_read_loans__missing_column(tmp_path):
    with pytest.raises(MissingColumnError, match="defaulted missing"):
        read_loans(
            write(
                tmp_path,
                "F1,L1,2024-04-15,2024-10-15,1\n",
                header="farmer_id,loan_id,season_start,season_end,loan_amount\n",
            ),
            Report(),
        )
