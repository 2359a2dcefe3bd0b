"""Crop identification against the sample region's truth (issue 4's checks).

Trained from the declarations only (cross-fitted by farmer); the truth files are read
only to grade. Region: the default 512 px / 250 parcels (seed 0), because smaller ones
plant too few mismatches (~5 % of parcels) to measure precision and recall.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agririsk.crop_models.croptype import MIN_CLEAR_VIEWS
from agririsk.crop_models.declared import crop_checks, crop_predictions
from agririsk.imagery import parcel_series
from agririsk.pipeline import load_inputs
from agririsk.region import Region
from agririsk.sample import make_sample_region

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("croptype") / "region"
    make_sample_region(out, seed=0, n_parcels=250, size=512)
    region = Region.from_toml(out / "region.toml")
    as_of = region.season.end
    inputs = load_inputs(region, until=as_of)
    series = parcel_series(inputs.items, inputs.parcels, out / ".ws")
    seasons = [region.season.shifted_years(-k) for k in (3, 2, 1, 0)]
    table, farms = crop_checks(series, inputs.parcels, seasons, as_of=as_of)
    truth = Path(out) / "truth"
    return {
        "table": table,
        "farms": farms,
        "as_of": pd.DataFrame({"as_of": [as_of]}),
        "parcels": pd.read_csv(truth / "parcels.csv").set_index("parcel_id"),
        "farmers": pd.read_csv(truth / "farmers.csv").set_index("farmer_id"),
    }


def _current(checked: dict[str, pd.DataFrame]) -> pd.DataFrame:
    t = checked["table"]
    truth = checked["parcels"][["true_crop_2026", "crop_mismatch"]].rename(
        columns={"crop_mismatch": "crop_mismatch_true"}
    )
    return t[t["current"]].set_index("parcel_id").join(truth)


def test_crop_type__accuracy_at_least_93_percent_from_declarations(
    checked: dict[str, pd.DataFrame],
) -> None:
    cur = _current(checked)
    seen = cur[cur["n_clear_views"] >= MIN_CLEAR_VIEWS]
    assert len(seen) >= 0.9 * len(cur)
    accuracy = (seen["predicted_crop"] == seen["true_crop_2026"]).mean()
    assert accuracy >= 0.93, f"accuracy {accuracy:.3f}"


def test_crop_mismatch__precision_and_recall_at_least_0_8(checked: dict[str, pd.DataFrame]) -> None:
    cur = _current(checked)
    flagged = cur["crop_mismatch"].fillna(False).astype(bool)
    planted = cur["crop_mismatch_true"].eq(1)
    tp = int((flagged & planted).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / int(planted.sum())
    assert precision >= 0.8 and recall >= 0.8, f"precision {precision:.2f} recall {recall:.2f}"


def test_area_overstatement__catches_over_declarers_with_few_false_flags(
    checked: dict[str, pd.DataFrame],
) -> None:
    farms = checked["farms"].join(checked["farmers"]["over_declared"])
    flag = farms["area_flag"].fillna(False).astype(bool)
    over = farms["over_declared"].eq(1)
    caught = (flag & over).sum() / over.sum()
    false_flags = (flag & ~over).sum() / (~over).sum()
    assert caught >= 0.9, f"caught {caught:.2f}"
    assert false_flags <= 0.05, f"false flags {false_flags:.3f}"


def test_crop_predictions__feed_the_monitoring_hook(checked: dict[str, pd.DataFrame]) -> None:
    from agririsk.monitoring.detectors import crop_mismatch_conditions

    as_of = checked["as_of"]["as_of"].iloc[0]
    preds = crop_predictions(checked["table"], date=as_of)
    declared = checked["parcels"]["declared_crop"]
    conditions = crop_mismatch_conditions(preds, declared, as_of)
    flagged = set(
        checked["table"].loc[
            checked["table"]["crop_mismatch"].fillna(False).astype(bool), "parcel_id"
        ]
    )
    assert {c.parcel_id for c in conditions} == flagged
