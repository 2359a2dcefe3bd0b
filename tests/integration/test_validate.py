"""Acceptance test of `agririsk validate`: plant every kind of input problem in a sample region.

A clean sample region validates with exit code 0.  Copies of it with planted problems
must have every problem named (file + parcel/farmer/loan/station/item id + what), exit 1
where the region is unusable, and never show a farmer's name, national id or phone.
region.toml problems and a missing loan_amount column make the region unusable before
the rest can be cross-checked, so they get copies of their own; everything else is
planted in one copy that stays usable (warnings only).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import shutil
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.affinity import translate
from shapely.geometry import Polygon

from agririsk.inputs.cli_validate import run

sample = importlib.import_module("agririsk.sample")
make_sample_region = getattr(sample, "make_sample_region", None)
pytestmark = pytest.mark.skipif(make_sample_region is None, reason="agririsk.sample.make_sample_region not ready")

PERSONAL = ("name", "national_id", "phone")


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample") / "region"
    toml = make_sample_region(root, seed=1, n_parcels=40, size=128)
    return Path(toml).parent


@pytest.fixture(scope="module")
def secrets(clean) -> list[str]:
    farmers = pd.read_csv(clean / "farmers.csv", dtype=str)
    values = [v for c in PERSONAL if c in farmers for v in farmers[c].dropna() if len(v) >= 4]
    assert values, "the sample farmers.csv should carry fake personal data"
    return values


def copy(clean: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean, tmp_path / "region"))


def validate(root: Path, capsys, caplog) -> tuple[int, str]:
    """Run the command; return its exit code and everything printed or logged."""
    with caplog.at_level(logging.DEBUG, logger="agririsk"):
        code = run(argparse.Namespace(region=root / "region.toml", workspace=None, quiet=False, verbose=0))
    return code, capsys.readouterr().out + "\n" + caplog.text


def sections(output: str) -> dict[str, list[str]]:
    """The printed report by file: ``{"parcels.gpkg": ["WARNING [parcel_id P1] ...", ...]}``."""
    out: dict[str, list[str]] = defaultdict(list)
    current = None
    for line in output.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
        elif line.startswith("  ") and current:
            out[current].append(line.strip())
    return out


def assert_named(report: dict[str, list[str]], source: str, where: str, *whats: str) -> None:
    lines = report.get(source, [])
    hits = [line for line in lines if (f"[{where}" in line if where else "] " not in line[:40])
            and all(w in line for w in whats)]
    assert hits, f"{source}: no problem naming {where!r} with {whats!r}; got:\n" + "\n".join(lines)


def assert_private(output: str, secrets: list[str]) -> None:
    leaked = [s for s in secrets if s in output]
    assert not leaked, f"personal data in the output: {len(leaked)} value(s)"


def test_validate__clean_sample_region_is_usable(clean, tmp_path, capsys, caplog, secrets):
    code, output = validate(copy(clean, tmp_path), capsys, caplog)
    assert code == 0, output
    assert " 0 errors," in output and "region usable" in output
    assert_private(output, secrets)


def test_validate__unknown_key_in_region_toml(clean, tmp_path, capsys, caplog, secrets):
    root = copy(clean, tmp_path)
    toml = root / "region.toml"
    toml.write_text(toml.read_text().replace("[parcels]", "[parcels]\nlayer = \"fields\""))
    code, output = validate(root, capsys, caplog)
    assert code == 1
    assert_named(sections(output), "region.toml", "", "ERROR", "unknown key parcels.'layer'")
    assert_private(output, secrets)


def test_validate__missing_file_named_by_region_toml(clean, tmp_path, capsys, caplog, secrets):
    root = copy(clean, tmp_path)
    (root / "weather" / "stations.csv").unlink()
    code, output = validate(root, capsys, caplog)
    assert code == 1
    assert_named(sections(output), "region.toml", "", "ERROR", "weather.stations", "does not exist")


def test_validate__farmers_without_loan_amount_is_unusable(clean, tmp_path, capsys, caplog, secrets):
    root = copy(clean, tmp_path)
    farmers = pd.read_csv(root / "farmers.csv", dtype=str)
    farmers.drop(columns="loan_amount").to_csv(root / "farmers.csv", index=False)
    code, output = validate(root, capsys, caplog)
    assert code == 1
    assert_named(sections(output), "farmers.csv", "", "ERROR", "loan_amount missing")
    assert "UNUSABLE" in output
    assert_private(output, secrets)


def test_validate__every_row_problem_is_named(clean, tmp_path, capsys, caplog, secrets):
    root = copy(clean, tmp_path)
    planted = {}

    # imagery: one item loses its red band, another its CRS
    catalog_path = root / "imagery" / "catalog.json"
    catalog = json.loads(catalog_path.read_text())
    items = catalog["features"]
    no_red, no_crs = items[0], items[1]
    no_red["assets"] = {k: a for k, a in no_red["assets"].items() if not _is_red(k, a)}
    for d in [no_crs["properties"], *no_crs["assets"].values()]:
        for key in ("proj:epsg", "proj:code", "proj:wkt2", "proj:projjson"):
            d.pop(key, None)
    catalog_path.write_text(json.dumps(catalog))

    # parcels: a bow-tie, an empty geometry, a duplicate id, a parcel far outside the imagery
    parcels = gpd.read_file(root / "parcels.gpkg")
    ids = parcels["parcel_id"].astype(str).tolist()
    x0, y0, x1, y1 = parcels.geometry.iloc[0].bounds
    parcels.loc[0, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    parcels.loc[1, "geometry"] = Polygon()
    parcels.loc[2, "parcel_id"] = ids[3]
    parcels.loc[4, "geometry"] = translate(parcels.geometry.iloc[4], xoff=30.0)
    parcels.to_file(root / "parcels.gpkg", driver="GPKG")
    planted.update(bow_tie=ids[0], empty=ids[1], duplicate=ids[3], far=ids[4])

    # farmers: a duplicate farmer_id
    farmers = pd.read_csv(root / "farmers.csv", dtype=str)
    farmers = pd.concat([farmers, farmers.iloc[[5]]], ignore_index=True)
    farmers.loc[len(farmers) - 1, "loan_amount"] = "1"
    farmers.to_csv(root / "farmers.csv", index=False)
    duplicate_farmer = farmers.loc[5, "farmer_id"]

    # weather: a 3-day gap, a duplicate row, tmin > tmax, negative rain, all at the first station
    daily = pd.read_csv(root / "weather" / "daily.csv", dtype=str)
    station = daily.loc[0, "station_id"]
    at = daily.index[daily["station_id"] == station]
    gap = daily.loc[at[100:103], "date"].tolist()
    swap_day, wet_day, dup_day = (daily.loc[at[i], "date"] for i in (200, 201, 202))
    daily.loc[at[200], ["tmin_c", "tmax_c"]] = ["25.0", "12.0"]
    daily.loc[at[201], "precip_mm"] = "-2.5"
    daily = pd.concat([daily.drop(index=at[100:103]), daily.loc[[at[202]]]], ignore_index=True)
    daily.to_csv(root / "weather" / "daily.csv", index=False)

    # loans: one of a farmer the bank does not know
    loans = pd.read_csv(root / "loans.csv", dtype=str)
    ghost = loans.iloc[[0]].assign(farmer_id="NOBODY-1", loan_id="LOAN-GHOST")
    pd.concat([loans, ghost], ignore_index=True).to_csv(root / "loans.csv", index=False)

    code, output = validate(root, capsys, caplog)
    report = sections(output)
    assert code == 0, output  # every planted problem skips or repairs one thing; the region stays usable
    assert_named(report, "imagery/catalog.json", no_red["id"], "red")
    assert_named(report, "imagery/catalog.json", no_crs["id"], "no CRS")
    assert_named(report, "parcels.gpkg", f"parcel_id {planted['bow_tie']}", "invalid geometry", "Self-intersection")
    assert_named(report, "parcels.gpkg", f"parcel_id {planted['empty']}", "empty")
    assert_named(report, "parcels.gpkg", f"parcel_id {planted['duplicate']}", "appears 2 times")
    assert_named(report, "parcels.gpkg", f"parcel_id {planted['far']}", "outside every imagery footprint")
    assert_named(report, "farmers.csv", "row", f"farmer_id {duplicate_farmer}", "appears 2 times")
    assert_named(report, "weather/daily.csv", f"station {station}", "gap: 3 missing day(s)", f"{gap[0]}..{gap[-1]}")
    assert_named(report, "weather/daily.csv", f"station {station}", "duplicate date", dup_day)
    assert_named(report, "weather/daily.csv", f"station {station}", "tmin_c greater than tmax_c", swap_day)
    assert_named(report, "weather/daily.csv", f"station {station}", "negative rain", wet_day)
    assert_named(report, "loans.csv", "row", "loan_id LOAN-GHOST", "NOBODY-1 is not in the farmers table")
    assert_private(output, secrets)


def _is_red(key: str, asset: dict) -> bool:
    names = {str(b.get("common_name") or b.get("eo:common_name") or "").lower()
             for b in (asset.get("eo:bands") or []) + (asset.get("bands") or [])}
    return key.lower() in ("red", "b04") or "red" in names or asset.get("eo:common_name") == "red"
