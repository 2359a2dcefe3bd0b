"""read_farmers: typing, row problems, and that personal data never leaves the reader."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from agririsk.errors import InputError, MissingColumnError, MissingFileError
from agririsk.inputs import Report, read_farmers

HEADER = "farmer_id,name,national_id,phone,loan_amount,age,irrigated,prior_loans,prior_defaults\n"
PERSONAL = ("Zhang Wei", "230101199001011234", "+86 138 0000 1111", "Li Na", "230101198502023456")


def write(tmp_path, body: str, header: str = HEADER):
    path = tmp_path / "farmers.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def assert_no_personal(*texts: str) -> None:
    for text in texts:
        for secret in PERSONAL:
            assert secret not in text


def test_read_farmers__types_and_personal_columns_dropped(tmp_path):
    path = write(
        tmp_path,
        "F1,Zhang Wei,230101199001011234,+86 138 0000 1111,25000,41,yes,3,1\n"
        "F2,Li Na,230101198502023456,,18000.5,,0,,\n",
    )
    report = Report()
    farmers = read_farmers(path, report)
    assert list(farmers.columns[:2]) == ["farmer_id", "loan_amount"]
    assert not {"name", "national_id", "phone"} & set(farmers.columns)
    assert farmers["loan_amount"].tolist() == [25000.0, 18000.5]
    assert farmers["irrigated"].dtype == "boolean"
    assert farmers["irrigated"].tolist() == [True, False]
    assert str(farmers["prior_loans"].dtype) == "Int64"
    assert pd.isna(farmers.loc[1, "prior_loans"])  # thin file
    assert farmers.loc[0, "age"] == 41.0
    assert report.problems == []
    assert_no_personal(farmers.to_csv())


def test_read_farmers__include_personal_keeps_them(tmp_path):
    path = write(tmp_path, "F1,Zhang Wei,230101199001011234,+86 138 0000 1111,25000,41,yes,3,1\n")
    farmers = read_farmers(path, Report(), include_personal=True)
    assert farmers.loc[0, "name"] == "Zhang Wei"


def test_read_farmers__row_problems_reported_without_personal_data(tmp_path, caplog):
    path = write(
        tmp_path,
        "F1,Zhang Wei,230101199001011234,+86 138 0000 1111,25000,41,yes,3,1\n"
        "F1,Li Na,230101198502023456,,9000,30,no,,\n"  # duplicate, differs
        "F3,Zhang Wei,230101199001011234,,lots,30,no,,\n"  # loan_amount not a number
        "F4,Li Na,230101198502023456,,-5,30,no,,\n"  # negative loan
        "F5,Li Na,230101198502023456,,100,30,maybe,2,5\n"  # bad flag, defaults > loans
        ",Li Na,230101198502023456,,100,30,no,,\n",  # no id
    )
    report = Report()
    with caplog.at_level(logging.DEBUG):
        farmers = read_farmers(path, report)
    assert farmers["farmer_id"].tolist() == ["F5"]
    text = "\n".join(str(p) for p in report.problems)
    found = {(p.where, p.what.split(";")[0]) for p in report.problems}
    assert ("row 2, farmer_id F1", "farmer_id appears 2 times (row 2, row 3)") in found
    assert ("row 3, farmer_id F1", "farmer_id appears 2 times (row 2, row 3)") in found
    assert ("row 4, farmer_id F3", "loan_amount is not a number") in found
    assert ("row 5, farmer_id F4", "loan_amount must be greater than 0") in found
    assert ("row 6, farmer_id F5", "irrigated is not true/false") in found
    assert ("row 6, farmer_id F5", "prior_defaults is greater than prior_loans") in found
    assert ("row 7", "farmer_id is empty") in found
    assert pd.isna(farmers.loc[0, "prior_loans"]) and pd.isna(farmers.loc[0, "prior_defaults"])
    assert_no_personal(text, caplog.text, farmers.to_csv())


def test_read_farmers__identical_duplicates_keep_first(tmp_path):
    path = write(tmp_path, "F1,A,1,,100,30,no,,\nF1,A,1,,100,30,no,,\n")
    report = Report()
    farmers = read_farmers(path, report)
    assert farmers["farmer_id"].tolist() == ["F1"]
    assert len(report.warnings) == 2 and "first is kept" in report.warnings[0].what


def test_read_farmers__missing_loan_amount_column(tmp_path):
    path = write(tmp_path, "F1,Zhang Wei\n", header="farmer_id,name\n")
    with pytest.raises(MissingColumnError, match="loan_amount missing") as info:
        read_farmers(path, Report())
    assert "name" not in str(info.value)  # personal column names are not even listed
    assert_no_personal(str(info.value))


def test_read_farmers__missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="farmers table not found"):
        read_farmers(tmp_path / "nope.csv", Report())


def test_read_farmers__row_with_extra_fields_is_skipped_and_rows_keep_their_numbers(tmp_path):
    path = write(tmp_path, "F1,100\nF2,Zhang Wei,100\n\nF3,-1\n", header="farmer_id,loan_amount\n")
    report = Report()
    farmers = read_farmers(path, report)
    assert farmers["farmer_id"].tolist() == ["F1"]
    assert [(p.where, p.what.split(";")[0]) for p in report.problems] == [
        ("row 3", "row has more fields than the header"),
        ("row 5, farmer_id F3", "loan_amount must be greater than 0"),
    ]
    assert_no_personal(str(report.problems))


def test_read_farmers__not_utf8_is_unreadable(tmp_path):
    path = tmp_path / "farmers.csv"
    path.write_bytes("farmer_id,loan_amount\nF1,100\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-8|cannot be read"):
        read_farmers(path, Report())


def test_read_farmers__many_bad_rows_are_summarised(tmp_path):
    body = "".join(f"F{i},x,1,,oops,30,no,,\n" for i in range(100))
    report = Report()
    read_farmers(write(tmp_path, body), report)
    assert len(report.problems) == 21
    assert "80 more like the above" in report.problems[-1].what


def test_read_farmers__columns_outside_the_contract_are_dropped(tmp_path):
    path = write(tmp_path, "F1,100,Harbin Road 5\n", header="farmer_id,loan_amount,address\n")
    report = Report()
    farmers = read_farmers(path, report)
    assert farmers.columns.tolist() == ["farmer_id", "loan_amount"]
    assert [p.severity for p in report.problems] == ["info"]
    assert "address" in report.problems[0].what and "Harbin" not in report.problems[0].what
