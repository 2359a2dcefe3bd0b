"""Crop identification against the sample region's truth (issue 4's checks), through the score.

The region is scored at the end of its season (``score_region(as_of=season.end)``, a late
mid-season re-score): the season's fields are classified from the declarations only
(cross-fitted by farmer) and the result feeds the scorecard. The truth files are read only
to grade. Region: the default 512 px / 250 parcels (seed 0), because smaller ones plant too
few mismatches (~5 % of parcels) to measure precision and recall.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agririsk.crop_models.croptype import MIN_CLEAR_VIEWS
from agririsk.crop_models.declared import OVERSTATEMENT_FLAG, crop_predictions, overstatement
from agririsk.pipeline import score_region
from agririsk.region import Region
from agririsk.sample import make_sample_region

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("croptype") / "region"
    make_sample_region(out, seed=0, n_parcels=250, size=512)
    region = Region.from_toml(out / "region.toml")
    as_of = region.season.end
    run = score_region(region, as_of=as_of, workspace=out / ".ws")
    assert run.parcel_crops is not None
    truth = Path(out) / "truth"
    return {
        "table": run.parcel_crops,
        "scores": pd.DataFrame(run.scores.drop(columns="geometry")).set_index("farmer_id"),
        "parcel_seasons": run.parcel_seasons,
        "as_of": pd.DataFrame({"as_of": [as_of]}),
        "parcels": pd.read_csv(truth / "parcels.csv").set_index("parcel_id"),
        "farmers": pd.read_csv(truth / "farmers.csv", dtype={"farmer_id": str}).set_index("farmer_id"),
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


def test_crop_mismatch__precision_and_recall(checked: dict[str, pd.DataFrame]) -> None:
    """Issue 4 asks precision and recall >= 0.8. A flag rests on this season's images
    alone (the past seasons may settle the predicted crop, never make a flag): measured
    on this region (seed 0) with the forest seeds 0 / 1 / 2 (benchmark, 26 November),
    9 of 10 / 9 of 11 / 9 of 11 flags true, 9 of 10 planted found; through the score,
    9 of 10 and 9 of 10 (docs/crop-identification.md §4, §7, §8.12: the goal is not met
    pooled over seeds 36-45, 0.78 / 0.68)."""
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
    """Both the crop checks' ratio (parcels measured in past seasons) and the score's
    ``area_ratio`` (unmeasured parcels at their outline's area) flag at 1.3."""
    truth = checked["parcels"]
    ps = checked["parcel_seasons"]
    ok = ps[ps["data_quality"].eq("ok")]
    measured = ok.groupby("parcel_id")["measured_area_ha"].max().reindex(truth.index)
    farms = overstatement(truth["declared_area_ha"], measured, truth["farmer_id"].astype(str))
    scores = checked["scores"]
    over = checked["farmers"]["over_declared"].eq(1)
    for flag in (
        farms["area_flag"].fillna(False).astype(bool),
        scores["area_ratio"].ge(OVERSTATEMENT_FLAG),
    ):
        flag = flag.reindex(over.index, fill_value=False)
        caught = (flag & over).sum() / over.sum()
        false_flags = (flag & ~over).sum() / (~over).sum()
        assert caught >= 0.9, f"caught {caught:.2f}"
        assert false_flags <= 0.05, f"false flags {false_flags:.3f}"
    reasons = scores.loc[scores["area_ratio"].ge(OVERSTATEMENT_FLAG), ["reason_1", "reason_2", "reason_3"]]
    assert reasons.apply(lambda r: r.str.contains("times the area seen cropped on satellite images").any(), axis=1).all()


def test_score__planted_mismatch_farmers_carry_a_mismatch_share(checked: dict[str, pd.DataFrame]) -> None:
    """Seed 0 plants 10 mismatched fields on 10 farms; measured 8 of those farms with a
    share > 0, and 1 of the 93 other farms (2 when the past seasons could make a flag)."""
    scores = checked["scores"]
    truth = checked["parcels"]
    planted = set(truth.loc[truth["crop_mismatch"].eq(1), "farmer_id"].astype(str))
    share = scores["crop_mismatch_share"]
    assert share.notna().all()  # every farm has a field with enough clear views
    hit = (share.loc[sorted(planted)] > 0).mean()
    false_hits = (share.drop(index=sorted(planted)) > 0).mean()
    assert hit >= 0.7, f"{hit:.2f} of the planted mismatch farms flagged"
    assert false_hits <= 0.05, f"{false_hits:.3f} of the other farms flagged"


def test_score__mismatch_reason_in_plain_words(checked: dict[str, pd.DataFrame]) -> None:
    """Every farm with a mismatch names it among its reasons, with the crops seen and
    declared; the reason matches the per-parcel table."""
    scores = checked["scores"]
    table = checked["table"]
    flagged = scores[scores["crop_mismatch_share"] > 0]
    assert len(flagged) >= 5
    for farmer, row in flagged.iterrows():
        reasons = [r for r in row[["reason_1", "reason_2", "reason_3"]] if isinstance(r, str)]
        said = [r for r in reasons if r.startswith("Satellite images show ")]
        assert said, f"{farmer}: {reasons}"
        fields = table[table["farmer_id"].eq(farmer)]
        bad = fields[fields["crop_mismatch"].fillna(False).astype(bool)].iloc[0]
        assert f"{bad['predicted_crop']}, not the declared {bad['declared_crop']}" in said[0].replace(
            "another crop", "other"
        )
        assert said[0].endswith(f"of {int(fields['predicted_crop'].notna().sum())} fields") or said[0].endswith(
            "of 1 field"
        )


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
