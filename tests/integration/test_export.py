"""agririsk export on the sample region: files a risk officer and a GIS can open."""

from __future__ import annotations

import datetime as dt
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from agririsk.cli import main


@pytest.fixture(scope="module")
def exported(sample_region_pristine, tmp_path_factory):
    root = tmp_path_factory.mktemp("export") / "region"
    shutil.copytree(sample_region_pristine.parent, root)
    scores = root.parent / "scores"
    assert main(["-q", "score", str(root / "region.toml"), "--out", str(scores)]) == 0
    out = root.parent / "out"
    rc = main(["-q", "export", str(root / "region.toml"), "--out", str(out), "--scores", str(scores / "scores.parquet")])
    return rc, root / "region.toml", out


def test_export__geopackage_one_row_per_parcel_with_contract_columns(exported):
    rc, region_toml, out = exported
    assert rc == 0
    gdf = gpd.read_file(out / "parcels_risk.gpkg")
    parcels = gpd.read_file(region_toml.parent / "parcels.gpkg")
    assert len(gdf) == len(parcels)
    assert {"parcel_id", "farmer_id", "pd", "score", "grade", "decision", "reason_1", "open_alerts"} <= set(gdf.columns)
    assert gdf["parcel_id"].is_unique


def test_export__png_is_a_real_picture(exported):
    import matplotlib.image as mpimg

    _, _, out = exported
    img = mpimg.imread(out / "risk_map.png")
    h, w = img.shape[:2]
    assert w > 1000 and h > 700 and abs(w / h - 297 / 210) < 0.02  # A4 landscape
    assert np.unique(img.reshape(-1, img.shape[-1]), axis=0).shape[0] > 5  # not one colour


def test_export__html_is_offline_and_draws_parcels(exported):
    _, region_toml, out = exported
    doc = (out / "risk_map.html").read_text()
    parcels = gpd.read_file(region_toml.parent / "parcels.gpkg")
    assert doc.count("<path data-pid=") >= len(parcels)
    import re

    code = re.sub(r"data:[^\"]+", "", doc).lower()  # embedded images are data, not references
    for external in ("src=\"http", "href=\"http", "//cdn", "unpkg", "<link "):
        assert external not in code


def test_export__no_personal_data_in_any_file(exported):
    _, region_toml, out = exported
    farmers = pd.read_csv(region_toml.parent / "farmers.csv", dtype=str)
    secrets = [s for col in ("name", "national_id", "phone") for s in farmers[col].dropna()]
    for path in out.rglob("*"):
        blob = path.read_bytes()
        assert not [s for s in secrets if s.encode() in blob], path.name


def test_export__bad_scores_file_is_one_clear_error(exported, tmp_path, capsys):
    _, region_toml, _ = exported
    bad = tmp_path / "scores.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["export", str(region_toml), "--out", str(tmp_path / "o"), "--scores", str(bad)]) == 1
    assert "not a scores file" in capsys.readouterr().err


def _chromium():
    import shutil as sh

    return sh.which("chromium") or sh.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_export__html_renders_offline_in_headless_chromium(exported, tmp_path):
    import subprocess

    import matplotlib.image as mpimg

    _, _, out = exported
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--proxy-server=127.0.0.1:9",  # no network at all
        "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,800",
        f"--screenshot={shot}", (out / "risk_map.html").as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists()
    img = mpimg.imread(shot)[..., :3]
    # parcels are drawn: a good share of the map area carries grade colours, not background
    background = np.all(np.abs(img - img[5, -5]) < 0.02, axis=-1)
    assert (~background).mean() > 0.2
    assert np.unique((img * 255).astype(int).reshape(-1, 3), axis=0).shape[0] > 5


def test_export__condition_date_picks_the_latest_clear_image_up_to_it(exported, tmp_path):
    import json

    from agririsk.export.run import grain_fill_date
    from agririsk.region import Region

    _, region_toml, default_out = exported
    region = Region.from_toml(region_toml)
    fill = grain_fill_date(region)
    # the sample's summer crops flower mid-July and are harvested from mid-September
    assert dt.date(2026, 7, 25) <= fill <= dt.date(2026, 9, 10)
    assert region.season.start <= fill <= region.season.end
    scores = region_toml.parent.parent / "scores" / "scores.parquet"
    out = tmp_path / "o"
    args = ["-q", "export", str(region_toml), "--out", str(out), "--scores", str(scores),
            "--condition-date", fill.isoformat()]
    assert main(args) == 0
    day = dt.date.fromisoformat(json.loads((out / "manifest.json").read_text())["condition_date"])
    default = json.loads((default_out / "manifest.json").read_text())["condition_date"]
    assert fill - dt.timedelta(days=40) <= day <= fill
    assert day > dt.date.fromisoformat(default)  # the default is the scores' date, the season start
