"""agririsk score on the sample region, the way an analyst runs it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from agririsk.cli import main
from agririsk.imagery import load_items
from agririsk.region import Region


@pytest.fixture(scope="module")
def scored(sample_region_pristine, tmp_path_factory):
    """Score a private copy of the sample region once for this module."""
    root = tmp_path_factory.mktemp("scored") / "region"
    shutil.copytree(sample_region_pristine.parent, root)
    out = root.parent / "out"
    rc = main(["-q", "score", str(root / "region.toml"), "--out", str(out)])
    return rc, root / "region.toml", out


def test_score__every_farmer_scored_with_contract_columns(scored):
    rc, region_toml, out = scored
    assert rc == 0
    farmers = pd.read_csv(region_toml.parent / "farmers.csv", dtype={"farmer_id": str})
    scores = pd.read_csv(out / "scores.csv", dtype={"farmer_id": str})
    assert sorted(scores["farmer_id"]) == sorted(farmers["farmer_id"])
    for col in ["farmer_id", "pd", "score", "grade", "decision", "reason_1", "reason_2", "reason_3", "data_quality"]:
        assert col in scores.columns
    ok = scores["data_quality"] == "ok"
    assert ok.mean() > 0.8, scores["data_quality"].value_counts()
    assert scores.loc[ok, "pd"].between(0, 1).all()
    assert set(scores.loc[ok, "grade"]) <= set("ABCDE")
    assert set(scores["decision"]) <= {"approve", "review", "decline"}
    # score scale: 600 at odds 50:1, 20 points to double the odds
    p = scores.loc[ok, "pd"].to_numpy()
    expected = 600 + 20 / np.log(2) * (np.log((1 - p) / p) - np.log(50))
    assert np.allclose(scores.loc[ok, "score"], expected, atol=0.2)


def test_score__geoparquet_holds_farm_multipolygons(scored):
    _, _, out = scored
    gdf = gpd.read_parquet(out / "scores.parquet")
    assert gdf.crs is not None
    has = gdf.geometry.notna()
    assert (gdf.geometry[has].geom_type == "MultiPolygon").all()
    assert (gdf.loc[has, "n_parcels"] > 0).all()


def test_score__report_names_as_of_and_seasons(scored):
    _, region_toml, out = scored
    report = json.loads((out / "score_report.json").read_text())
    region = Region.from_toml(region_toml)
    assert report["as_of"] == str(region.season.start)
    assert len(report["past_seasons"]) >= 3
    assert report["items_used"] > 0


def test_score__rerun_uses_cache_and_reads_nothing_after_as_of(scored, tmp_path):
    """Copy the scored region with its workspace, then break every raster: the rerun must
    give the same scores from the cache alone, so nothing after the as-of date was needed
    and nothing before it is read twice."""
    _, region_toml, out = scored
    root = tmp_path / "region"
    shutil.copytree(region_toml.parent, root)
    region = Region.from_toml(root / "region.toml")
    items = load_items(region.imagery_catalog)
    assert any(it.datetime.date() > region.season.start for it in items), "sample must hold imagery after season start"
    for it in items:
        for band in it.assets.values():
            Path(band.href).write_bytes(b"not a tiff")
    out2 = tmp_path / "again"
    assert main(["-q", "score", str(root / "region.toml"), "--out", str(out2)]) == 0
    first = pd.read_csv(out / "scores.csv", dtype={"farmer_id": str})
    second = pd.read_csv(out2 / "scores.csv", dtype={"farmer_id": str})
    pd.testing.assert_frame_equal(first, second)


def test_score__earlier_as_of_uses_fewer_seasons(sample_region, tmp_path):
    region = Region.from_toml(sample_region)
    as_of = region.season.start - dt.timedelta(days=365)
    out = tmp_path / "out"
    assert main(["-q", "score", str(sample_region), "--out", str(out), "--as-of", as_of.isoformat()]) == 0
    report = json.loads((out / "score_report.json").read_text())
    assert max(report["past_seasons"]) < as_of.year


def test_score__no_personal_data_in_any_output(scored, capsys):
    _, region_toml, out = scored
    farmers = pd.read_csv(region_toml.parent / "farmers.csv", dtype=str)
    secrets = [s for col in ("name", "national_id", "phone") for s in farmers[col].dropna()]
    assert secrets
    workspace = region_toml.parent / ".agririsk"
    files = [p for d in (out, workspace) for p in d.rglob("*") if p.is_file()]
    assert files
    for path in files:
        blob = path.read_bytes()
        for s in secrets:
            assert s.encode() not in blob, f"{path.name} carries personal data"


def test_score__include_personal_data_is_explicit(sample_region, tmp_path):
    out = tmp_path / "out"
    assert main(["-q", "score", str(sample_region), "--out", str(out), "--include-personal-data"]) == 0
    scores = pd.read_csv(out / "scores.csv", dtype=str)
    assert {"name", "national_id", "phone"} <= set(scores.columns)
    import pyarrow.parquet as pq

    md = pq.read_schema(out / "scores.parquet").metadata
    assert md[b"agririsk:personal_data"] == b"included"
    # CSV has no metadata of its own: the folder's manifest says it
    assert json.loads((out / "manifest.json").read_text())["personal_data"].startswith("included")


def test_score__no_imagery_or_weather_after_as_of_is_read(scored, tmp_path):
    """Break every raster acquired after the as-of date and delete the weather after it, in a
    fresh copy (no workspace): not a single score may change and no problem may name those
    items."""
    _, region_toml, out = scored
    root = tmp_path / "region"
    shutil.copytree(region_toml.parent, root, ignore=shutil.ignore_patterns(".agririsk"))
    region = Region.from_toml(root / "region.toml")
    later = [it for it in load_items(region.imagery_catalog) if it.datetime.date() > region.season.start]
    assert later
    for it in later:
        for band in it.assets.values():
            Path(band.href).write_bytes(b"not a tiff")
    # and the weather after the as-of date is gone too
    daily = pd.read_csv(root / "weather" / "daily.csv", dtype=str)
    daily[daily["date"] <= str(region.season.start)].to_csv(root / "weather" / "daily.csv", index=False)
    out2 = tmp_path / "out"
    assert main(["-q", "score", str(root / "region.toml"), "--out", str(out2)]) == 0
    report = json.loads((out2 / "score_report.json").read_text())
    named = " ".join(p["where"] + p["what"] for p in report["problems"])
    assert not any(it.id in named for it in later)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "scores.csv", dtype={"farmer_id": str}),
        pd.read_csv(out2 / "scores.csv", dtype={"farmer_id": str}),
    )
