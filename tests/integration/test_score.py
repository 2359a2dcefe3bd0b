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


# -- a mid-season re-score: the season's crops identified from its images so far ----------


@pytest.fixture(scope="module")
def scored_in_season(sample_region_pristine, tmp_path_factory):
    """Score a private copy of the sample region at the end of its season, once."""
    root = tmp_path_factory.mktemp("in_season") / "region"
    shutil.copytree(sample_region_pristine.parent, root, ignore=shutil.ignore_patterns(".agririsk"))
    region = Region.from_toml(root / "region.toml")
    out = root.parent / "out"
    rc = main(["-q", "score", str(root / "region.toml"), "--out", str(out), "--as-of", region.season.end.isoformat()])
    return rc, root / "region.toml", out


@pytest.mark.slow
def test_score_in_season__writes_parcel_crops_and_the_mismatch_share(scored_in_season):
    from agririsk.export.tables import PARCEL_CROP_COLUMNS

    rc, region_toml, out = scored_in_season
    assert rc == 0
    crops = pd.read_csv(out / "parcel_crops.csv", dtype={"parcel_id": str, "farmer_id": str})
    parcels = gpd.read_file(region_toml.parent / "parcels.gpkg")
    assert list(crops.columns) == PARCEL_CROP_COLUMNS
    assert sorted(crops["parcel_id"]) == sorted(parcels["parcel_id"].astype(str))
    assert (crops["season_start"] == str(Region.from_toml(region_toml).season.start)).all()
    classified = crops["predicted_crop"].notna()
    assert classified.mean() > 0.9  # the season's images up to its end: enough clear views
    assert crops.loc[classified, "probability"].between(0, 1).all()
    scores = pd.read_csv(out / "scores.csv", dtype={"farmer_id": str}).set_index("farmer_id")
    checked = crops[classified].groupby("farmer_id")
    share = checked["crop_mismatch"].apply(lambda s: s.astype(str).eq("True").mean())
    pd.testing.assert_series_equal(
        scores.loc[share.index, "crop_mismatch_share"], share, check_names=False, check_dtype=False
    )
    assert (scores.loc[share.index, "fields_crop_checked"] == checked.size()).all()
    report = json.loads((out / "score_report.json").read_text())
    assert report["fields_crop_checked"] == int(classified.sum())
    assert "parcel_crops.csv" in json.loads((out / "manifest.json").read_text())["files"]


@pytest.mark.slow
def test_score_in_season__a_mismatch_that_drives_the_score_is_named(scored_in_season):
    _, _, out = scored_in_season
    scores = pd.read_csv(out / "scores.csv", dtype={"farmer_id": str}).set_index("farmer_id")
    crops = pd.read_csv(out / "parcel_crops.csv", dtype={"farmer_id": str})
    flagged = scores[scores["crop_mismatch_share"] > 0]
    assert len(flagged) >= 1  # seed 3 plants 4 mismatched fields; at least one is seen
    for farmer, row in flagged.iterrows():
        named = [r for r in row[["reason_1", "reason_2", "reason_3"]] if str(r).startswith("Satellite images show ")]
        assert named, f"{farmer}: mismatch share {row['crop_mismatch_share']} not among the reasons"
        bad = crops[(crops["farmer_id"] == farmer) & crops["crop_mismatch"].astype(str).eq("True")].iloc[0]
        assert f"not the declared {bad['declared_crop']}" in named[0]


@pytest.mark.slow
def test_score_pre_season__no_crop_check_and_same_data_quality(scored, scored_in_season):
    """As of the season start nothing of the season is seen: no crop type is invented,
    the share is empty (not 0) and the evidence verdict is that of the past seasons."""
    _, _, pre = scored
    _, _, late = scored_in_season
    before = pd.read_csv(pre / "scores.csv", dtype={"farmer_id": str}).set_index("farmer_id")
    after = pd.read_csv(late / "scores.csv", dtype={"farmer_id": str}).set_index("farmer_id")
    assert not (pre / "parcel_crops.csv").exists()
    assert before["crop_mismatch_share"].isna().all()
    assert (before["fields_crop_checked"] == 0).all()
    assert before["data_quality"].equals(after["data_quality"])
    assert after["crop_mismatch_share"].notna().any()


@pytest.mark.slow
def test_score_in_season__no_imagery_after_as_of_is_read(scored_in_season, tmp_path):
    """The leakage property for a mid-season as-of: break every raster acquired after it, in
    a fresh copy (no workspace): scores and crop types stay the same."""
    _, region_toml, out = scored_in_season
    root = tmp_path / "region"
    shutil.copytree(region_toml.parent, root, ignore=shutil.ignore_patterns(".agririsk"))
    region = Region.from_toml(root / "region.toml")
    as_of = region.season.end
    later = [it for it in load_items(region.imagery_catalog) if it.datetime.date() > as_of]
    assert later, "sample must hold imagery after the season's end"
    for it in later:
        for band in it.assets.values():
            Path(band.href).write_bytes(b"not a tiff")
    out2 = tmp_path / "out"
    assert main(["-q", "score", str(root / "region.toml"), "--out", str(out2), "--as-of", as_of.isoformat()]) == 0
    report = json.loads((out2 / "score_report.json").read_text())
    named = " ".join(p["where"] + p["what"] for p in report["problems"])
    assert not any(it.id in named for it in later)
    for name in ("scores.csv", "parcel_crops.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name, dtype=str), pd.read_csv(out2 / name, dtype=str))
