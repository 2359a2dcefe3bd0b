"""`agririsk demo`: the README's first command, end to end on the default sample region."""

from __future__ import annotations

import pandas as pd
import pytest

from agririsk.cli import main


@pytest.mark.slow
def test_demo__scores_every_farmer_and_leaks_no_personal_data(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["-v", "demo", "--out", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "farmers scored" in printed.out and "grade" in printed.out

    farmers = pd.read_csv(out / "region" / "farmers.csv", dtype=str)
    scores = pd.read_csv(out / "scores" / "scores.csv", dtype={"farmer_id": str})
    assert sorted(scores["farmer_id"]) == sorted(farmers["farmer_id"])

    for name in ("risk_map.png", "risk_map.html", "parcels_risk.gpkg", "alerts.csv", "alerts.geojson"):
        assert (out / "maps" / name).stat().st_size > 0, name
    alerts = pd.read_csv(out / "maps" / "alerts.csv")
    assert list(alerts.columns) == [
        "alert_id", "parcel_id", "farmer_id", "kind", "severity", "status", "first_detected", "last_observed", "evidence",
    ]
    assert set(alerts["status"]) <= {"new", "ongoing", "resolved"}

    secrets = [s for col in ("name", "national_id", "phone") for s in farmers[col].dropna()]
    logs = printed.out + printed.err
    assert not [s for s in secrets if s in logs]
    written = [p for p in out.rglob("*") if p.is_file() and p != out / "region" / "farmers.csv"]
    for path in written:
        if path.suffix == ".tif":
            continue  # rasters hold numbers only
        blob = path.read_bytes()
        leaked = [s for s in secrets if s.encode() in blob]
        assert not leaked, f"{path.relative_to(out)} carries personal data"
