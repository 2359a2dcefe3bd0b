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
