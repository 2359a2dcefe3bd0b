"""agririsk train, then score --model, on the sample region."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from agririsk.cli import main


@pytest.fixture(scope="module")
def trained(sample_region_pristine, tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "region"
    shutil.copytree(sample_region_pristine.parent, root)
    # a history row of a farmer the bank does not know: reported and skipped, never learnt from
    with (root / "loans.csv").open("a") as f:
        f.write("F99999,LX-UNKNOWN,2025-04-15,2025-10-15,20000,1\n")
    model = root.parent / "model.json"
    rc = main(["-q", "train", str(root / "region.toml"), "--out", str(model)])
    return rc, root / "region.toml", model


def test_train__writes_model_and_validation_report(trained):
    rc, _, model = trained
    assert rc == 0
    doc = json.loads(model.with_suffix(".report.json").read_text())
    assert doc["loans_used"] > 0
    assert "points_table" in doc and "stability" in doc
    assert "trained" in doc["out_of_time"] or "note" in doc["out_of_time"]
    md = model.with_suffix(".report.md").read_text()
    assert "Out-of-time validation" in md and "Population stability" in md


def test_score_with_model__scores_every_farmer(trained, tmp_path):
    _, region_toml, model = trained
    out = tmp_path / "out"
    assert main(["-q", "score", str(region_toml), "--out", str(out), "--model", str(model)]) == 0
    scores = pd.read_csv(out / "scores.csv", dtype={"farmer_id": str})
    farmers = pd.read_csv(region_toml.parent / "farmers.csv", dtype={"farmer_id": str})
    assert len(scores) == len(farmers)
    assert json.loads((out / "score_report.json").read_text())["model"] == str(model)


def test_score_with_tampered_model__exit_1_nothing_written(trained, tmp_path, capsys):
    _, region_toml, model = trained
    bad = tmp_path / "bad.json"
    doc = json.loads(model.read_text())
    doc["model"]["coef"][0] = 9.0
    bad.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert main(["score", str(region_toml), "--out", str(out), "--model", str(bad)]) == 1
    assert "changed after it was written" in capsys.readouterr().err
    assert not out.exists()


def test_train__report_has_thin_file_section(trained):
    _, _, model = trained
    doc = json.loads(model.with_suffix(".report.json").read_text())
    tf = doc["thin_file"]
    if "groups" in tf:  # an out-of-time season exists: both groups, both models
        got = {(r["group"], r["model"]) for r in tf["groups"]}
        assert len(got) == 4 and {m for _, m in got} == {"trained", "expert"}
        oot = doc["out_of_time"]
        assert sum(r["n"] for r in tf["groups"] if r["model"] == "trained") == oot["trained"]["n"]
        for r in tf["groups"]:
            assert r["auc"] is None or 0 <= r["auc"] <= 1  # NaN is written as null, not NaN
    md = model.with_suffix(".report.md").read_text()
    assert "## Thin-file farmers" in md


def test_train__unknown_farmer_loan_reported_and_skipped(trained):
    _, _, model = trained
    doc = json.loads(model.with_suffix(".report.json").read_text())
    problems = [p for p in doc["input_problems"] if "LX-UNKNOWN" in p["where"]]
    assert len(problems) == 1 and "F99999 is not in the farmers table" in problems[0]["what"]
    assert "F99999" in model.with_suffix(".report.md").read_text()
    loans = pd.read_csv(model.parent / "region" / "loans.csv")
    usable = len(loans) - 1 - sum(s["loans"] for s in doc["seasons_without_imagery"])
    assert doc["loans_used"] + doc["loans_left_out"] == usable


def test_train__season_without_imagery_is_named_and_left_out(trained):
    _, region_toml, model = trained
    doc = json.loads(model.with_suffix(".report.json").read_text())
    # the sample's imagery starts in 2023: nothing precedes the 2023 loans
    assert [s["season"] for s in doc["seasons_without_imagery"]] == [2023]
    assert 2023 not in doc["seasons"]
    assert "Seasons left out" in model.with_suffix(".report.md").read_text()


def test_train__no_season_with_imagery__exit_1_nothing_written(sample_region, tmp_path, capsys):
    loans = pd.read_csv(sample_region.parent / "loans.csv")
    loans[loans["season_start"].str.startswith("2023")].to_csv(sample_region.parent / "loans.csv", index=False)
    model = tmp_path / "m" / "model.json"
    assert main(["train", str(sample_region), "--out", str(model)]) == 1
    err = capsys.readouterr().err
    assert "no loan season has imagery before it" in err and "loans.csv" in err
    assert not model.exists() and not model.with_suffix(".report.json").exists()
    assert not model.with_suffix(".report.md").exists()


def test_score_with_model_of_other_feature_set__exit_1_nothing_written(trained, tmp_path, capsys):
    from agririsk.scoring.trained import _digest

    _, region_toml, model = trained
    doc = json.loads(model.read_text())
    doc["metadata"]["feature_set"] = "farm-features-0"
    doc["sha256"] = _digest({"model": doc["model"], "metadata": doc["metadata"]})  # a genuine file, other features
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert main(["score", str(region_toml), "--out", str(out), "--model", str(other)]) == 1
    err = capsys.readouterr().err
    assert "feature set 'farm-features-0'" in err and "retrain" in err
    assert not out.exists()
