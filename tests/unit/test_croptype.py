"""Crop type: features, the estimator contract, cross-fitting and the declared-vs-observed checks."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError

from agririsk.crop_models.croptype import (
    ROTATION_GROUP,
    CropTypeClassifier,
    canopy_size,
    croptype_features,
    cross_fit_evidence,
    cross_fit_proba,
    greenup_aligned,
    past_season_features,
    rotation_group,
)
from agririsk.crop_models.declared import (
    crop_checks,
    crop_predictions,
    history_explains,
    overstatement,
)
from agririsk.region import Season

SEASON = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))
#: day of green-up after the season start, and peak NDVI, of the two toy crops
CALENDAR = {"early": (30, 0.85), "late": (75, 0.65)}


def toy_series(crops: list[str], *, seed: int = 0) -> pd.DataFrame:
    """A clear view every 5 days of parcels P0.. growing ``crops``: two well-separated calendars."""
    rng = np.random.default_rng(seed)
    days = np.arange(-15, 190, 5)
    rows = []
    for i, crop in enumerate(crops):
        up, peak = CALENDAR[crop]
        up = up + rng.normal(0, 2)
        t = days.astype(float)
        ndvi = 0.15 + (peak - 0.15) / (1 + np.exp(-(t - up) / 5)) * (
            1 - 1 / (1 + np.exp(-(t - up - 70) / 6))
        )
        ndvi = ndvi + rng.normal(0, 0.01, len(t))
        for d, v in zip(days, ndvi, strict=True):
            rows.append(
                {
                    "parcel_id": f"P{i:02d}",
                    "item_id": f"I{d}",
                    "datetime": pd.Timestamp(SEASON.start, tz="UTC") + pd.Timedelta(days=int(d)),
                    "clear_fraction": 1.0,
                    "ndvi_p50": v,
                    "ndvi_mean": v,
                    "green_fraction": float(v >= 0.5),
                }
            )
    return pd.DataFrame(rows)


def toy_parcels(
    crops: list[str], declared: list[str] | None = None, area_ha: float = 1.0
) -> gpd.GeoDataFrame:
    """One 100 m x 100 m square per parcel (EPSG:32651), two parcels per farmer."""
    side = 100.0 * np.sqrt(area_ha)
    geoms = [shapely.box(i * 200.0, 0.0, i * 200.0 + side, side) for i in range(len(crops))]
    return gpd.GeoDataFrame(
        {
            "parcel_id": [f"P{i:02d}" for i in range(len(crops))],
            "farmer_id": [f"F{i // 2:02d}" for i in range(len(crops))],
            "declared_crop": declared if declared is not None else crops,
            "declared_area_ha": area_ha,
        },
        geometry=geoms,
        crs="EPSG:32651",
    )


CROPS = ["early", "late"] * 20


@pytest.fixture(scope="module")
def toy_features() -> pd.DataFrame:
    return croptype_features(toy_series(CROPS), [SEASON]).xs(SEASON.start, level="season_start")


def test_croptype_features__one_row_per_parcel_with_calendar(toy_features: pd.DataFrame) -> None:
    assert len(toy_features) == len(CROPS)
    assert (toy_features["n_clear_views"] > 30).all()
    early = toy_features.loc[[f"P{i:02d}" for i in range(0, 40, 2)], "greenup_day"]
    late = toy_features.loc[[f"P{i:02d}" for i in range(1, 40, 2)], "greenup_day"]
    assert early.max() < late.min()


def test_greenup_aligned__bins_in_days_since_the_own_greenup() -> None:
    """A curve z(t) = t: bin k holds the mean of the days green-up + (-20 + 10 k) ... + 10."""
    z = np.tile(np.arange(260.0), (2, 1))
    clear = np.ones_like(z, dtype=bool)
    out = greenup_aligned(z, clear, [50.3, np.nan])
    assert out.shape == (2, 18)
    # bin k: integer days t with 30.3 + 10 k <= t < 40.3 + 10 k, i.e. 31 ... 40 (+ 10 k)
    np.testing.assert_allclose(out[0], 35.5 + 10 * np.arange(18))
    assert np.isnan(out[1]).all()  # no green-up, no aligned values


def test_greenup_aligned__the_same_curve_sown_later_gives_the_same_bins() -> None:
    """Two parcels of one calendar, 23 days apart: equal aligned bins, unlike the date-aligned ones."""
    t = np.arange(260.0)
    up = np.array([60.0, 83.0])
    z = 0.15 + 0.7 / (1 + np.exp(-(t[None, :] - up[:, None]) / 5.0)) * (
        1 - 1 / (1 + np.exp(-(t[None, :] - up[:, None] - 95.0) / 6.0))
    )
    out = greenup_aligned(z, np.ones_like(z, dtype=bool), up)
    np.testing.assert_allclose(out[0], out[1], atol=1e-12)
    assert np.abs(z[0, 150:170].mean() - z[1, 150:170].mean()) > 0.2


def test_greenup_aligned__nothing_read_inside_a_gap() -> None:
    """Views every 5 days but none on days 101-139: a bin farther than 10 days from a view is NaN."""
    z = np.tile(np.arange(260.0), (1, 1))
    clear = np.zeros_like(z, dtype=bool)
    clear[0, ::5] = True
    clear[0, 101:140] = False  # last view before the gap: day 100, first after: day 140
    out = greenup_aligned(z, clear, [40.0])[0]
    # bins since green-up 40: k covers days 20 + 10 k ... 29 + 10 k
    assert np.isnan(out[10])  # days 120-129: 20 days from either side
    np.testing.assert_allclose(out[9], 110.0)  # days 110-119: only day 110 is within 10 days
    np.testing.assert_allclose(out[11], 134.5)  # days 130-139, all within 10 of day 140
    np.testing.assert_allclose(out[8], 104.5)  # days 100-109, all within 10 of day 100


def test_croptype_features__greenup_aligned_shape_is_the_calendar_not_the_date(
    toy_features: pd.DataFrame,
) -> None:
    """The toy's two crops have one shape 45 days apart: aligned shapes agree, dekads do not."""
    early = toy_features.loc[[f"P{i:02d}" for i in range(0, 40, 2)]]
    late = toy_features.loc[[f"P{i:02d}" for i in range(1, 40, 2)]]
    for k in range(0, 13):  # up to 110 days after the late crop's green-up (views until day 185)
        col = f"ndvi_g{k:02d}_shape"
        assert abs(early[col].mean() - late[col].mean()) < 0.1, col
    assert abs(early["ndvi_d08_shape"].mean() - late["ndvi_d08_shape"].mean()) > 0.5
    assert late["ndvi_g15"].isna().all()  # 130-140 days after day ~75: no view within 10 days


def test_croptype_features__no_declared_crop_in_the_features() -> None:
    """Adding the crops (declared or true) to the series does not change one feature."""
    series = toy_series(CROPS[:6])
    plain = croptype_features(series, [SEASON])
    labelled = series.assign(
        declared_crop=np.where(np.arange(len(series)) % 2 == 0, "maize", "soybean")
    )
    labelled["crop"] = labelled["declared_crop"]
    pd.testing.assert_frame_equal(croptype_features(labelled, [SEASON]), plain)
    assert not [c for c in plain.columns if "crop" in c]


def test_croptype_features__truncated_season_has_no_aligned_bins_after_the_cut() -> None:
    X = croptype_features(toy_series(CROPS[:4]), [SEASON], truncate_days=100)
    early = X.xs(SEASON.start, level="season_start").loc[["P00", "P02"]]
    # green-up ~30: days since green-up beyond 100 - 30 + 10 are after the cut
    assert early[[f"ndvi_g{k:02d}" for k in range(10, 18)]].isna().all().all()
    assert early[[f"ndvi_g{k:02d}" for k in range(0, 8)]].notna().all().all()


def test_croptype_features__as_of_hides_later_views() -> None:
    as_of = SEASON.start + dt.timedelta(days=40)
    X = croptype_features(toy_series(CROPS[:4]), [SEASON], as_of=as_of)
    assert (X["n_clear_views"] <= (40 + 15) // 5 + 1).all()
    assert X["ndvi_d15"].isna().all()  # dekad 15 = days 130-139 of the widened window


def test_classifier__contract(toy_features: pd.DataFrame) -> None:
    X = toy_features.drop(columns="n_clear_views")
    clf = CropTypeClassifier(n_estimators=50)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert clf.fit(X, CROPS) is clf
    assert list(clf.classes_) == ["early", "late"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all() and (proba <= 1).all()
    assert (clf.predict(X) == np.array(CROPS)).all()
    assert "n_estimators" in clf.get_params()


@pytest.mark.parametrize("n_splits", [None, 5])
def test_classifier__cleaning_drops_the_wrong_labels(
    toy_features: pd.DataFrame, n_splits: int | None
) -> None:
    """Out-of-bag votes (default) and K-fold cross-fitting both find two flipped labels."""
    X = toy_features.drop(columns="n_clear_views")
    y = list(CROPS)
    y[0], y[3] = "late", "early"  # P00 grows the early crop, P03 the late one
    clf = CropTypeClassifier(n_estimators=60, n_splits=n_splits).fit(X, y)
    assert clf.dropped_[[0, 3]].all()
    assert clf.n_dropped_ == int(clf.dropped_.sum()) <= 4
    assert list(clf.predict(X.iloc[[0, 3]])) == ["early", "late"]
    kept = CropTypeClassifier(n_estimators=60, clean=False).fit(X, y)
    assert kept.n_dropped_ == 0


def test_classifier__needs_two_crops(toy_features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="at least two crops"):
        CropTypeClassifier().fit(toy_features, ["early"] * len(toy_features))


class _Recorder(ClassifierMixin, BaseEstimator):
    """Predicts uniformly; records the rows each clone was trained on and asked about."""

    log: list[tuple[set[str], set[str]]] = []

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _Recorder:
        self.classes_ = np.unique(y)
        self.seen_ = set(X.index)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        _Recorder.log.append((self.seen_, set(X.index)))
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_cross_fit_proba__never_trains_on_the_graded_row_nor_its_group(
    toy_features: pd.DataFrame,
) -> None:
    _Recorder.log = []
    groups = [f"F{i // 2}" for i in range(len(CROPS))]
    cross_fit_proba(_Recorder(), toy_features, CROPS, groups=groups, n_splits=5)
    assert len(_Recorder.log) == 5
    graded = set()
    for seen, asked in _Recorder.log:
        assert not seen & asked
        farmers_seen = {int(p[1:]) // 2 for p in seen}
        assert not farmers_seen & {int(p[1:]) // 2 for p in asked}
        graded |= asked
    assert graded == set(toy_features.index)


def test_cross_fit_proba__a_wrong_label_does_not_grade_itself(toy_features: pd.DataFrame) -> None:
    y = list(CROPS)
    y[0] = "late"  # P00 grows the early crop
    proba = cross_fit_proba(CropTypeClassifier(n_estimators=50, clean=False), toy_features, y)
    assert proba.loc["P00", "early"] > 0.9


def test_crop_checks__flags_the_contradicted_declaration_only() -> None:
    declared = list(CROPS)
    declared[4] = "late"
    parcels = toy_parcels(CROPS, declared)
    series = toy_series(CROPS)
    table, farms = crop_checks(
        series, parcels, [SEASON], as_of=SEASON.end, estimator=CropTypeClassifier(n_estimators=50)
    )
    cur = table.set_index("parcel_id")
    assert cur.loc["P04", "predicted_crop"] == "early"
    assert bool(cur.loc["P04", "crop_mismatch"])
    assert int(cur["crop_mismatch"].sum()) == 1
    assert farms.loc["F02", "crop_mismatch_share"] == pytest.approx(0.5)  # 1 of 2 fields
    assert farms.loc["F02", ["fields_crop_checked", "fields_crop_mismatch"]].tolist() == [2, 1]
    assert farms.loc["F00", "crop_mismatch_share"] == 0.0
    preds = crop_predictions(table, date=SEASON.end)
    assert list(preds.columns) == ["parcel_id", "crop", "probability", "date"]
    assert len(preds) == len(CROPS)


def test_crop_checks__no_imagery_gives_no_prediction() -> None:
    parcels = toy_parcels(CROPS[:4])
    empty = toy_series(CROPS[:4]).iloc[:0]
    table, farms = crop_checks(empty, parcels, [SEASON], as_of=SEASON.start)
    assert table["predicted_crop"].isna().all()
    assert table["crop_mismatch"].isna().all()
    assert farms["crop_mismatch_share"].isna().all()


def test_overstatement__ratio_and_flag_by_hand() -> None:
    idx = pd.Index(["a", "b", "c", "d"])
    declared = pd.Series([2.0, 1.0, 3.0, 1.0], index=idx)
    measured = pd.Series([1.0, 1.0, 3.0, np.nan], index=idx)
    farmer = pd.Series(["F1", "F1", "F2", "F3"], index=idx)
    out = overstatement(declared, measured, farmer)
    assert out.loc["F1", "overstatement_ratio"] == pytest.approx(1.5)  # 3 / 2
    assert bool(out.loc["F1", "area_flag"])
    assert out.loc["F2", "overstatement_ratio"] == pytest.approx(1.0)
    assert not bool(out.loc["F2", "area_flag"])
    assert pd.isna(out.loc["F3", "overstatement_ratio"]) and pd.isna(out.loc["F3", "area_flag"])


def test_crop_checks__past_seasons_only_are_not_compared_with_the_declaration() -> None:
    last_year = SEASON.shifted_years(-1)
    series = toy_series(CROPS)
    series["datetime"] = series["datetime"] - pd.DateOffset(years=1)
    table, farms = crop_checks(
        series,
        toy_parcels(CROPS),
        [last_year],
        as_of=SEASON.start,
        estimator=CropTypeClassifier(n_estimators=50),
    )
    assert table["crop_mismatch"].isna().all()
    assert table["predicted_crop"].isna().all()  # no labels for last year
    assert farms["crop_mismatch_share"].isna().all()
    explicit, _ = crop_checks(
        series,
        toy_parcels(CROPS),
        [last_year],
        as_of=SEASON.start,
        current=last_year,
        estimator=CropTypeClassifier(n_estimators=50),
    )
    assert explicit["crop_mismatch"].notna().all()


class _Counter(ClassifierMixin, BaseEstimator):
    """A nearest-centroid stand-in that counts its fits."""

    fits = 0

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _Counter:
        _Counter.fits += 1
        self.classes_ = np.unique(y)
        Xf = pd.DataFrame(X).fillna(0.0)
        self.centroids_ = np.stack(
            [Xf[np.asarray(y) == c].mean().to_numpy() for c in self.classes_]
        )
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        d = ((pd.DataFrame(X).fillna(0.0).to_numpy()[:, None, :] - self.centroids_) ** 2).sum(
            axis=2
        )
        w = np.exp(-(d - d.min(axis=1, keepdims=True)))
        return w / w.sum(axis=1, keepdims=True)


def test_crop_checks__declarations_only_fit_the_cross_fitting_folds() -> None:
    """Every classified parcel is graded out of fold: no extra model of all declarations."""
    _Counter.fits = 0
    table, _ = crop_checks(
        toy_series(CROPS), toy_parcels(CROPS), [SEASON], as_of=SEASON.end, estimator=_Counter()
    )
    assert _Counter.fits == 5
    assert table["predicted_crop"].notna().all()


def test_crop_checks__labels_of_past_seasons_and_an_equal_current_season() -> None:
    """A ``current`` equal to (not the same object as) a season of ``seasons`` is one season."""
    last_year = SEASON.shifted_years(-1)
    now = toy_series(CROPS)
    before = now.assign(datetime=now["datetime"] - pd.DateOffset(years=1))
    series = pd.concat([before, now], ignore_index=True)
    labels = pd.DataFrame(
        {
            "parcel_id": [f"P{i:02d}" for i in range(len(CROPS))] * 2,
            "season_start": [last_year.start] * len(CROPS) + [SEASON.start] * len(CROPS),
            "crop": CROPS * 2,
        }
    )
    table, _ = crop_checks(
        series,
        toy_parcels(CROPS),
        [last_year, SEASON],
        as_of=SEASON.end,
        current=Season(SEASON.start, SEASON.end),
        labels=labels,
        estimator=CropTypeClassifier(n_estimators=50),
    )
    assert len(table) == 2 * len(CROPS)
    # rows sorted by parcel, then season: both seasons of every parcel classified right
    assert (table["predicted_crop"].to_numpy() == np.repeat(CROPS, 2)).all()
    assert table.loc[table["current"], "crop_mismatch"].notna().all()
    assert table.loc[~table["current"], "crop_mismatch"].isna().all()


def test_past_season_features__only_seasons_ended_before_as_of() -> None:
    """The latest ended season is ``_past1``; a season not over by ``as_of`` is left out."""
    now = toy_series(CROPS[:4])
    seasons = [SEASON.shifted_years(-2), SEASON.shifted_years(-1), SEASON]
    series = pd.concat(
        [now.assign(datetime=now["datetime"] - pd.DateOffset(years=k)) for k in (2, 1, 0)],
        ignore_index=True,
    )
    past = past_season_features(series, seasons, as_of=SEASON.end)
    assert list(past.index) == ["P00", "P01", "P02", "P03"]
    assert {c.rsplit("_", 1)[1] for c in past.columns} == {"past1", "past2"}
    assert past["greenup_day_past1"].notna().all()
    # P01 (late crop) greens up later than P00 in both past seasons
    assert (
        past.loc["P01", ["greenup_day_past1", "greenup_day_past2"]]
        > past.loc["P00", ["greenup_day_past1", "greenup_day_past2"]]
    ).all()
    mid = past_season_features(series, seasons, as_of=SEASON.shifted_years(-1).end)
    assert {c.rsplit("_", 1)[1] for c in mid.columns} == {"past1"}  # last year ends on as_of
    few = past_season_features(series, seasons, as_of=SEASON.end, min_clear_views=1000)
    assert few.isna().all().all()
    assert past_season_features(now, [SEASON], as_of=SEASON.end).shape[1] == 0


def test_rotation_group__maize_and_soybean_together() -> None:
    groups = rotation_group(["maize", "soybean", "rice", "other"])
    assert list(groups) == [ROTATION_GROUP, ROTATION_GROUP, "rice", "other"]


def test_classifier__past_seasons_give_the_rotation_group() -> None:
    """Crops alike this season: the past season tells "other" from maize and soybean only."""
    rng = np.random.default_rng(0)
    crops = np.array(["maize", "soybean", "other"] * 30)
    X = pd.DataFrame({"peak_day": rng.normal(90, 5, len(crops))})
    X["peak_day_past1"] = np.where(crops == "other", 60.0, 90.0) + rng.normal(0, 2, len(crops))
    # past_below > 1: the past seasons weigh in on every row
    clf = CropTypeClassifier(n_estimators=40, clean=False, past_below=1.01).fit(X, crops)
    assert list(clf.current_features_) == ["peak_day"]
    assert list(clf.group_models_) == [1]
    proba = pd.DataFrame(clf.predict_proba(X), columns=clf.classes_)
    assert (proba.loc[crops == "other", "other"] > 0.9).all()
    assert (proba.loc[crops != "other", "other"] < 0.1).all()
    # maize and soybean rotate: the past season does not choose between them
    current = pd.DataFrame(clf.model_.predict_proba(X[["peak_day"]]), columns=clf.classes_)
    share = proba["maize"] / (proba["maize"] + proba["soybean"])
    assert np.allclose(share, current["maize"] / (current["maize"] + current["soybean"]))
    # no past season seen: the current season's probabilities, unchanged
    unseen = X.assign(peak_day_past1=np.nan)
    assert np.allclose(clf.predict_proba(unseen), clf.model_.predict_proba(X[["peak_day"]]))
    # by default a confident reading of the current season is kept as it is
    default = CropTypeClassifier(n_estimators=40, clean=False).fit(X, crops)
    now = default.model_.predict_proba(X[["peak_day"]])
    sure = now.max(axis=1) >= 0.8
    assert sure.any() and (~sure).any()
    both = default.predict_proba(X)
    assert np.allclose(both[sure], now[sure]) and not np.allclose(both[~sure], now[~sure])
    off = CropTypeClassifier(n_estimators=40, clean=False, past_trees=0).fit(X, crops)
    assert off.group_models_ == {}
    assert np.allclose(off.predict_proba(X), off.model_.predict_proba(X[["peak_day"]]))


def test_crop_checks__reads_the_past_seasons_for_the_rotation_group() -> None:
    """This season every field looks alike; last year the "other" fields were late."""
    crops = ["maize", "soybean", "other"] * 14
    now = toy_series(["early"] * len(crops), seed=1)
    before = toy_series(["late" if c == "other" else "early" for c in crops], seed=2)
    before["datetime"] = before["datetime"] - pd.DateOffset(years=1)
    series = pd.concat([before, now], ignore_index=True)
    seasons = [SEASON.shifted_years(-1), SEASON]
    parcels = toy_parcels(crops)
    est = CropTypeClassifier(n_estimators=40, past_below=1.01)  # history weighs on every row
    table, _ = crop_checks(series, parcels, seasons, as_of=SEASON.end, estimator=est)
    cur = table[table["current"]].set_index("parcel_id")
    other = cur["declared_crop"].eq("other")
    assert (cur.loc[other, "predicted_crop"] == "other").all()
    assert (cur.loc[~other, "predicted_crop"] != "other").all()
    # as of last season's end it is not a past season yet: nothing tells "other" apart
    alone, _ = crop_checks(now, parcels, seasons, as_of=SEASON.end, estimator=est)
    cur_alone = alone[alone["current"]].set_index("parcel_id")
    assert (cur_alone.loc[other, "predicted_crop"] == "other").mean() < 0.8


def test_crop_checks__history_alone_never_makes_a_mismatch() -> None:
    """A field whose past seasons say "other", declared maize, that looks like every other
    field this season: the past seasons settle the predicted crop ("other", probable), but
    this season's images alone do not contradict the declaration, so no flag and no alert."""
    from agririsk.monitoring.detectors import crop_mismatch_conditions

    crops = ["maize", "soybean", "other"] * 14
    now = toy_series(["early"] * len(crops), seed=1)
    before = toy_series(["late" if c == "other" else "early" for c in crops], seed=2)
    before["datetime"] = before["datetime"] - pd.DateOffset(years=1)
    series = pd.concat([before, now], ignore_index=True)
    declared = list(crops)
    declared[2] = "maize"  # P02: "other" by its history, declared maize
    parcels = toy_parcels(crops, declared)
    est = CropTypeClassifier(n_estimators=40, past_below=1.01)  # history weighs on every row
    table, farms = crop_checks(
        series, parcels, [SEASON.shifted_years(-1), SEASON], as_of=SEASON.end, estimator=est
    )
    cur = table[table["current"]].set_index("parcel_id")
    assert cur.loc["P02", "predicted_crop"] == "other"
    assert cur.loc["P02", "probability"] >= 0.8
    assert cur.loc["P02", "season_probability"] < 0.8  # 2026 alone does not say "other"
    assert not bool(cur.loc["P02", "crop_mismatch"])
    assert int(cur["crop_mismatch"].sum()) == 0
    assert farms.loc["F01", "fields_crop_mismatch"] == 0
    preds = crop_predictions(table, date=SEASON.end)
    # the monitoring hook's probability: the flag's evidence where the crops differ
    differs = cur["predicted_crop"].ne(cur["declared_crop"])
    expected = cur["season_probability"].where(differs, cur["probability"])
    assert np.allclose(preds.set_index("parcel_id")["probability"], expected)
    assert (
        crop_mismatch_conditions(preds, parcels.set_index("parcel_id")["declared_crop"], SEASON.end)
        == []
    )


def test_classifier__the_flags_forest_is_the_one_without_the_aligned_composites(
    toy_features: pd.DataFrame,
) -> None:
    """Forest B (season_proba) is the forest of the features without ``ndvi_g<k>``, cleaned
    and fitted as a classifier that never saw them; forest A (predict_proba) reads them."""
    X = toy_features.drop(columns="n_clear_views")
    aligned = [c for c in X.columns if c.startswith("ndvi_g")]
    assert len(aligned) == 36
    y = list(CROPS)
    y[0] = "late"  # one wrong label for the cleaning round
    clf = CropTypeClassifier(n_estimators=40).fit(X, y)
    assert clf.evidence_model_ is not clf.model_
    assert set(aligned) <= set(clf.current_features_)
    assert not set(aligned) & set(clf.evidence_features_)
    alone = CropTypeClassifier(n_estimators=40).fit(X.drop(columns=aligned), y)
    assert np.array_equal(clf.dropped_, alone.dropped_)
    assert np.allclose(clf.season_proba(X), alone.season_proba(X.drop(columns=aligned)))
    assert np.allclose(clf.season_proba(X), alone.predict_proba(X.drop(columns=aligned)))
    assert clf.model_.n_features_in_ == len(clf.current_features_)
    one = CropTypeClassifier(n_estimators=40, two_forests=False).fit(X, y)
    assert one.evidence_model_ is one.model_
    assert np.allclose(one.season_proba(X), one.predict_proba(X))


class _Scripted(ClassifierMixin, BaseEstimator):
    """Forest A (``predict_proba``) and forest B (``season_proba``) with set probabilities per parcel."""

    def __init__(
        self,
        a: dict[str, dict[str, float]] | None = None,
        b: dict[str, dict[str, float]] | None = None,
        declared: dict[str, str] | None = None,
    ) -> None:
        self.a = a
        self.b = b
        self.declared = declared

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _Scripted:
        self.classes_ = np.unique(y)
        return self

    def _table(self, X: pd.DataFrame, by: dict[str, dict[str, float]] | None) -> np.ndarray:
        out = []
        for pid in X.index.get_level_values("parcel_id"):
            row = (by or {}).get(pid)
            if row is None:  # any other parcel: its declaration, confidently
                row = {(self.declared or {})[pid]: 1.0}
            out.append([row.get(c, 0.0) for c in self.classes_])
        return np.asarray(out, dtype=float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._table(X, self.a)

    def season_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._table(X, self.b)


def test_crop_checks__a_flag_needs_both_forests() -> None:
    """Flag = forest B gives a crop other than the declared one >= 0.8 AND forest A's
    predicted crop is not the declared one; the monitoring alerts are the same flags."""
    from agririsk.monitoring.detectors import crop_mismatch_conditions

    crops = ["maize", "soybean", "other"] * 12
    parcels = toy_parcels(crops)
    # P00, P03, P06, P09 are declared maize
    a = {
        "P00": {"soybean": 0.9, "maize": 0.1},  # both forests: soybean -> flag
        "P03": {"maize": 0.6, "soybean": 0.4},  # A keeps the declaration -> no flag
        "P06": {"soybean": 0.7, "maize": 0.3},  # B not sure enough -> no flag
        "P09": {"soybean": 0.55, "other": 0.45},  # B: "other" at 0.85 -> flag
    }
    b = {
        "P00": {"soybean": 0.9, "maize": 0.1},
        "P03": {"soybean": 0.85, "maize": 0.15},
        "P06": {"soybean": 0.6, "maize": 0.4},
        "P09": {"other": 0.85, "maize": 0.15},
    }
    table, _ = crop_checks(
        toy_series(["early"] * len(crops)),
        parcels,
        [SEASON],
        as_of=SEASON.end,
        estimator=_Scripted(a, b, dict(zip(parcels["parcel_id"], crops, strict=True))),
    )
    cur = table.set_index("parcel_id")
    assert set(cur.index[cur["crop_mismatch"].astype(bool)]) == {"P00", "P09"}
    assert cur.loc["P03", "predicted_crop"] == "maize"
    assert cur.loc["P03", "season_probability"] == pytest.approx(0.85)
    assert cur.loc["P09", "predicted_crop"] == "soybean"
    assert cur.loc["P09", "season_probability"] == pytest.approx(0.85)
    # never "mismatch" next to a predicted crop equal to the declaration
    flagged = cur[cur["crop_mismatch"].astype(bool)]
    assert (flagged["predicted_crop"] != flagged["declared_crop"]).all()
    preds = crop_predictions(table, date=SEASON.end)
    alerts = crop_mismatch_conditions(
        preds, parcels.set_index("parcel_id")["declared_crop"], SEASON.end
    )
    assert {c.parcel_id for c in alerts} == {"P00", "P09"}


def test_cross_fit_evidence__same_folds_with_and_without_history(
    toy_features: pd.DataFrame,
) -> None:
    """The first table is cross_fit_proba's; the second the same fold models' season_proba
    (forest B: no history, no aligned composites); an estimator without season_proba gives
    its predict_proba twice."""
    X = toy_features.drop(columns="n_clear_views")
    X = X.assign(peak_day_past1=np.where(np.array(CROPS) == "early", 10.0, 50.0))
    est = CropTypeClassifier(n_estimators=20, clean=False, past_below=1.01)
    groups = np.repeat(np.arange(20), 2)
    proba, season, *_ = cross_fit_evidence(est, X, CROPS, groups=groups, n_splits=4)
    assert np.allclose(proba, cross_fit_proba(est, X, CROPS, groups=groups, n_splits=4))
    # season_proba: forest B, the current season's features without the aligned composites
    aligned = [c for c in X.columns if c.startswith("ndvi_g")]
    evidence = X.drop(columns=["peak_day_past1", *aligned])
    alone = cross_fit_proba(est, evidence, CROPS, groups=groups, n_splits=4)
    assert np.allclose(season, alone)
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    plain, same, *_ = cross_fit_evidence(forest, X, CROPS, groups=groups, n_splits=4)
    assert np.allclose(plain, cross_fit_proba(forest, X, CROPS, groups=groups, n_splits=4))
    assert np.allclose(plain, same)


def test_classifier__self_confidence_is_the_mean_out_of_bag_vote_for_the_own_label(
    toy_features: pd.DataFrame,
) -> None:
    """Per class, the cleaning round's out-of-bag probability of the row's own label, averaged
    over the training rows with that label (before any is dropped); NaN without cleaning."""
    X = toy_features.drop(columns="n_clear_views")
    y = np.array(CROPS, dtype=object)
    y[0] = "late"  # one wrong label: it lowers the late crop's mean
    clf = CropTypeClassifier(n_estimators=40).fit(X, y)
    forest = RandomForestClassifier(
        n_estimators=40,
        min_samples_leaf=2,
        max_features=0.3,
        class_weight="balanced",
        oob_score=True,
        random_state=0,
    ).fit(X[list(clf.evidence_features_)], y.astype(str))
    own = forest.oob_decision_function_[np.arange(len(y)), np.searchsorted(forest.classes_, y)]
    expected = [np.nanmean(own[y == c]) for c in clf.classes_]
    assert np.allclose(clf.self_confidence_, expected)
    assert clf.self_confidence_[list(clf.classes_).index("early")] > 0.8
    assert np.allclose(clf.class_confidence(X.iloc[:3]), np.tile(expected, (3, 1)))
    assert np.isnan(
        CropTypeClassifier(n_estimators=20, clean=False).fit(X, y).self_confidence_
    ).all()


def test_cross_fit_evidence__a_row_never_grades_itself(toy_features: pd.DataFrame) -> None:
    """Changing one parcel's declaration changes none of its own five out-of-fold rows
    (probability, season probability, self-confidence and canopy tables of the fold model):
    the fold model that grades it, and the cleaning round inside it, never saw that
    declaration."""
    X = toy_features.drop(columns="n_clear_views")
    rng = np.random.default_rng(3)
    X = X.assign(  # one past season, so that the canopy tables have values
        peak_ndvi_past1=X["peak_ndvi"] * rng.uniform(0.9, 1.1, len(X)),
        season_integral_past1=X["season_integral"] * rng.uniform(0.9, 1.1, len(X)),
    )
    groups = np.repeat(np.arange(20), 2)
    est = CropTypeClassifier(n_estimators=30)
    y = list(CROPS)
    flipped = list(CROPS)
    flipped[0] = "late"  # P00 grows the early crop
    one = cross_fit_evidence(est, X, y, groups=groups, n_splits=4)
    two = cross_fit_evidence(est, X, flipped, groups=groups, n_splits=4)
    assert len(one) == 5 and np.isfinite(one[3].to_numpy()).all()
    for a, b in zip(one, two, strict=True):
        assert np.allclose(a.loc["P00"], b.loc["P00"])
    assert not np.allclose(one[2].to_numpy(), two[2].to_numpy())  # other folds saw it
    assert not np.allclose(one[4].to_numpy(), two[4].to_numpy())
    assert np.allclose(one[0], cross_fit_proba(est, X, y, groups=groups, n_splits=4))
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    *_, none = cross_fit_evidence(forest, X, y, groups=groups, n_splits=4)
    assert none.isna().all().all()


class _ScriptedConfident(_Scripted):
    """:class:`_Scripted` with a set self-confidence (``class_confidence``) and canopy size
    (``class_canopy``) per crop and canopy change per parcel (``canopy_shift``; 0 if unset,
    all NaN without ``levels``)."""

    def __init__(
        self,
        a: dict[str, dict[str, float]] | None = None,
        b: dict[str, dict[str, float]] | None = None,
        declared: dict[str, str] | None = None,
        confidence: dict[str, float] | None = None,
        levels: dict[str, float] | None = None,
        shifts: dict[str, float] | None = None,
    ) -> None:
        super().__init__(a, b, declared)
        self.confidence = confidence
        self.levels = levels
        self.shifts = shifts

    def _per_class(self, values: dict[str, float] | None, n: int) -> np.ndarray:
        row = [(values or {}).get(c, np.nan) for c in self.classes_]
        return np.tile(np.asarray(row, dtype=float), (n, 1))

    def class_confidence(self, X: pd.DataFrame) -> np.ndarray:
        return self._per_class(self.confidence, len(X))

    def class_canopy(self, X: pd.DataFrame) -> np.ndarray:
        return self._per_class(self.levels, len(X))

    def canopy_shift(self, X: pd.DataFrame) -> np.ndarray:
        pids = X.index.get_level_values("parcel_id")
        change = np.array([(self.shifts or {}).get(p, 0.0) for p in pids], dtype=float)
        if self.levels is None:
            change[:] = np.nan
        return np.tile(change[:, None], (1, len(self.classes_)))


def test_crop_checks__a_recognised_declared_crop_read_as_any_other_is_flagged() -> None:
    """A declared crop the images recognise (self-confidence >= 0.8): the evidence is the
    probability of any other crop. Wheat declared, B at maize 0.5 / soybean 0.45: flagged at
    0.95; soybean declared (self-confidence 0.7), B at maize 0.5 / other 0.45: not flagged;
    NaN self-confidence keeps the single-crop rule; the alerts are the same flags."""
    from agririsk.monitoring.detectors import crop_mismatch_conditions

    crops = ["wheat", "soybean", "maize", "other"] * 9
    parcels = toy_parcels(crops)
    a = {
        "P00": {"maize": 0.6, "soybean": 0.4},  # declared wheat
        "P01": {"maize": 0.6, "other": 0.4},  # declared soybean
        "P04": {"wheat": 0.7, "maize": 0.3},  # declared wheat: A keeps it -> no flag
        "P08": {"soybean": 0.6, "maize": 0.4},  # declared wheat, B: wheat 0.25 -> no flag
    }
    b = {
        "P00": {"maize": 0.5, "soybean": 0.45, "wheat": 0.05},
        "P01": {"maize": 0.5, "other": 0.45, "soybean": 0.05},
        "P04": {"maize": 0.5, "soybean": 0.45, "wheat": 0.05},
        "P08": {"maize": 0.4, "soybean": 0.35, "wheat": 0.25},
    }
    declared = dict(zip(parcels["parcel_id"], crops, strict=True))
    confidence = {"wheat": 0.9, "soybean": 0.7, "maize": 0.75, "other": 0.6}

    def run(conf: dict[str, float] | None) -> pd.DataFrame:
        table, _ = crop_checks(
            toy_series(["early"] * len(crops)),
            parcels,
            [SEASON],
            as_of=SEASON.end,
            estimator=_ScriptedConfident(a, b, declared, conf),
        )
        return table

    table = run(confidence)
    cur = table.set_index("parcel_id")
    assert set(cur.index[cur["crop_mismatch"].astype(bool)]) == {"P00"}
    assert cur.loc["P00", "season_probability"] == pytest.approx(0.95)
    assert cur.loc["P00", "predicted_crop"] == "maize"
    assert cur.loc["P01", "season_probability"] == pytest.approx(0.5)
    assert cur.loc["P08", "season_probability"] == pytest.approx(0.75)
    preds = crop_predictions(table, date=SEASON.end)
    alerts = crop_mismatch_conditions(
        preds, parcels.set_index("parcel_id")["declared_crop"], SEASON.end
    )
    assert {c.parcel_id for c in alerts} == {"P00"}
    plain = run(None).set_index("parcel_id")
    assert not plain["crop_mismatch"].astype(bool).any()
    assert plain.loc["P00", "season_probability"] == pytest.approx(0.5)


def _croptype_bench():  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "croptype_vs_truth.py"
    spec = importlib.util.spec_from_file_location("croptype_vs_truth", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_coverage_rules__from_the_crop_calendar_and_clear_views_only() -> None:
    """``--ceiling``'s abstention rules read the crop table (harvest = sowing_doy +
    season_days) and the parcels' clear views, never the truth: rule B spans the harvests
    of the declared crops that lie within 30 days of another (other 250, soybean 261,
    maize 271; wheat 205 is alone); rule A is ±15 days around the declared crop's."""
    bench = _croptype_bench()
    windows = bench.harvest_windows(
        pd.Series(["maize", "soybean", "other", "wheat", "maize"]), 2026
    )
    assert windows["b"] == (pd.Timestamp("2026-09-07"), pd.Timestamp("2026-09-28"))  # DOY 250, 271
    lo, hi = windows["a"]["maize"]
    assert (lo, hi) == (pd.Timestamp("2026-09-13"), pd.Timestamp("2026-10-13"))
    assert bench.harvest_windows(pd.Series(["maize", "wheat"]), 2026)["b"] is None  # 66 days apart
    series = pd.DataFrame(
        {
            "parcel_id": ["P1", "P1", "P1", "P2"],
            "datetime": pd.to_datetime(
                ["2026-03-20", "2026-09-10", "2026-09-20", "2026-09-12"], utc=True
            ),
            "clear_fraction": [1.0, 1.0, 1.0, 0.3],
        }
    )
    views = bench.clear_view_days(series, SEASON, dt.date(2026, 9, 15))
    # before the widened window (start - 20 d), after as_of, and the cloudy view are left out
    assert list(views.index) == ["P1"]
    assert views["P1"] == [pd.Timestamp("2026-09-10")]


def test_canopy_size__the_season_and_its_change_from_the_past_seasons() -> None:
    """level = log(peak NDVI x season integral); change = level minus the mean over the past
    seasons with values of the same quantity; NaN without a past season or a value."""
    X = pd.DataFrame(
        {
            "peak_ndvi": [0.8, 0.7, 0.6, np.nan],
            "season_integral": [50.0, 40.0, 30.0, 40.0],
            "peak_ndvi_past1": [0.8, 0.5, np.nan, 0.7],
            "season_integral_past1": [50.0, 30.0, np.nan, 40.0],
            "peak_ndvi_past2": [0.4, np.nan, np.nan, 0.7],
            "season_integral_past2": [25.0, np.nan, np.nan, 40.0],
        }
    )
    level, change = canopy_size(X)
    assert np.allclose(level[:3], np.log([40.0, 28.0, 18.0]))
    assert np.isnan(level[3])
    assert change[0] == pytest.approx(np.log(40.0) - (np.log(40.0) + np.log(10.0)) / 2)
    assert change[1] == pytest.approx(np.log(28.0 / 15.0))
    assert np.isnan(change[2]) and np.isnan(change[3])
    assert np.isnan(canopy_size(X[["peak_ndvi", "season_integral"]])[1]).all()


def test_classifier__canopy_medians_per_declared_class_and_the_shift(
    toy_features: pd.DataFrame,
) -> None:
    """canopy_level_ / canopy_change_ are the medians over the training rows of each label
    (before cleaning); canopy_shift is the row's change minus each class's median change and
    class_canopy repeats the levels, one column per class."""
    X = toy_features.drop(columns="n_clear_views")
    rng = np.random.default_rng(5)
    X = X.assign(
        peak_ndvi_past1=X["peak_ndvi"] * rng.uniform(0.8, 1.2, len(X)),
        season_integral_past1=X["season_integral"] * rng.uniform(0.8, 1.2, len(X)),
    )
    y = np.array(CROPS, dtype=object)
    y[0] = "late"  # a wrong label counts: the medians are of the declarations
    clf = CropTypeClassifier(n_estimators=20).fit(X, y)
    level, change = canopy_size(X)
    for i, c in enumerate(clf.classes_):
        assert clf.canopy_level_[i] == pytest.approx(np.median(level[y == c]))
        assert clf.canopy_change_[i] == pytest.approx(np.median(change[y == c]))
    assert np.allclose(clf.canopy_shift(X), change[:, None] - clf.canopy_change_[None, :])
    assert np.allclose(clf.class_canopy(X.iloc[:2]), np.tile(clf.canopy_level_, (2, 1)))
    plain = CropTypeClassifier(n_estimators=20).fit(toy_features.drop(columns="n_clear_views"), y)
    assert np.isnan(plain.canopy_change_).all()
    assert np.isnan(plain.canopy_shift(X)).all()


def test_history_explains__a_small_canopy_on_a_field_that_was_always_small() -> None:
    """Declared soybean (usual canopy 3.8), "other" 3.4: a field whose canopy moved from its
    past as the soybean fields' did (shift 0.02) explains a reading of "other"; one that
    shrank by 0.38 does not. Never for a crop of the same rotation group (maize), a
    recognised crop (wheat, or a recognised declared crop), nor without past seasons."""
    classes = np.array(["maize", "other", "soybean", "wheat"])
    canopy = np.tile([3.9, 3.4, 3.8, 3.6], (5, 1))
    shift = np.array(
        [
            [0.0, 0.0, 0.02, 0.0],
            [0.0, 0.0, -0.38, 0.0],
            [0.0, 0.0, np.nan, 0.0],
            [0.0, 0.0, 0.02, 0.0],
            [0.0, 0.02, 0.0, 0.0],
        ]
    )
    conf = np.tile([0.7, 0.6, 0.7, 0.9], (5, 1))
    conf[3, 2] = 0.85  # soybean recognised in this row's fold
    declared = np.array([2, 2, 2, 2, 1])  # soybean x4, other
    out = history_explains(declared, conf, shift, canopy, classes)
    assert out.tolist()[0] == [False, True, False, False]
    assert not out[1].any() and not out[2].any() and not out[3].any()
    assert out.tolist()[4] == [True, False, True, False]  # an "other" field read as maize/soybean
    assert history_explains(np.array([-1]), conf[:1], shift[:1], canopy[:1], classes).sum() == 0


def test_crop_checks__a_reading_the_fields_past_canopy_explains_is_not_a_mismatch() -> None:
    """Declared soybean, both forests read "other" at 0.9: on a field whose canopy kept its
    size from its past seasons (shift 0) the reading is explained and not flagged (the
    evidence is the next crop, maize 0.06); on one whose canopy shrank as a switch to
    "other" would (-0.4) it is flagged. Maize read for soybean is never explained. The
    monitoring alerts are the same flags."""
    from agririsk.monitoring.detectors import crop_mismatch_conditions

    crops = ["soybean", "maize", "other"] * 12
    parcels = toy_parcels(crops)
    a = {
        "P00": {"other": 0.9, "soybean": 0.1},
        "P03": {"other": 0.9, "soybean": 0.1},
        "P06": {"maize": 0.9, "soybean": 0.1},
    }
    b = {
        "P00": {"other": 0.9, "maize": 0.06, "soybean": 0.04},
        "P03": {"other": 0.9, "maize": 0.06, "soybean": 0.04},
        "P06": {"maize": 0.9, "soybean": 0.1},
    }
    declared = dict(zip(parcels["parcel_id"], crops, strict=True))
    estimator = _ScriptedConfident(
        a,
        b,
        declared,
        {"soybean": 0.7, "maize": 0.75, "other": 0.6},
        {"soybean": 3.8, "maize": 3.9, "other": 3.4},
        {"P00": 0.0, "P03": -0.4, "P06": 0.0},
    )
    table, _ = crop_checks(
        toy_series(["early"] * len(crops)), parcels, [SEASON], as_of=SEASON.end, estimator=estimator
    )
    cur = table.set_index("parcel_id")
    assert set(cur.index[cur["crop_mismatch"].astype(bool)]) == {"P03", "P06"}
    assert cur.loc["P00", "predicted_crop"] == "other"  # the predicted crop is unchanged
    assert cur.loc["P00", "season_probability"] == pytest.approx(0.06)
    assert cur.loc["P03", "season_probability"] == pytest.approx(0.9)
    preds = crop_predictions(table, date=SEASON.end)
    alerts = crop_mismatch_conditions(
        preds, parcels.set_index("parcel_id")["declared_crop"], SEASON.end
    )
    assert {c.parcel_id for c in alerts} == {"P03", "P06"}
