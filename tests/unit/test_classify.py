"""Pixel classification: features, images in other CRSs, labels, nodata, model files (small synthetic rasters)."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Point, box

from agririsk.errors import InputError, MissingColumnError, NoDataError
from agririsk.imagery.classify import (
    available_indices,
    band_names_of,
    load_classifier,
    pixel_features,
    predict_map,
    save_classifier,
    train_classifier,
)

CRS = "EPSG:32651"
ORIGIN = (800_000.0, 5_170_000.0)
SIZE = 64  # pixels of 10 m
BANDS = ["blue", "green", "red", "nir"]
#: reflectance of the two classes: a crop (left half) and open water (right half)
CROP = [0.04, 0.08, 0.05, 0.40]
WATER = [0.06, 0.09, 0.05, 0.02]


def _write_image(path: Path, *, nodata_box: tuple[int, int, int, int] | None = None, descriptions=BANDS,
                 crs: str = CRS, seed: int = 0, dtype: str = "uint16") -> Path:
    """A 64 x 64 image: crop on columns < 32, water on the rest, reflectance x 10000 (scale 1e-4)."""
    rng = np.random.default_rng(seed)
    refl = np.empty((len(BANDS), SIZE, SIZE), np.float64)
    for b in range(len(BANDS)):
        refl[b, :, :32] = CROP[b]
        refl[b, :, 32:] = WATER[b]
    refl += rng.normal(0, 0.01, refl.shape)
    data = np.clip(np.rint(refl * 10_000), 1, None).astype(dtype)
    if nodata_box:
        r0, r1, c0, c1 = nodata_box
        data[:, r0:r1, c0:c1] = 0
    transform = Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=len(BANDS), dtype=dtype,
                       crs=CRS, transform=transform, nodata=0) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
        dst.scales = [1e-4] * len(BANDS)
    if crs != CRS:  # the same image warped into another CRS
        from rasterio.warp import calculate_default_transform, reproject

        with rasterio.open(path) as src:
            t, w, h = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
            arr = np.zeros((src.count, h, w), data.dtype)
            for b in range(src.count):
                reproject(data[b], arr[b], src_transform=src.transform, src_crs=src.crs, dst_transform=t,
                          dst_crs=crs, src_nodata=0, dst_nodata=0)
        with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=len(BANDS), dtype=dtype,
                           crs=crs, transform=t, nodata=0) as dst:
            dst.write(arr)
            for i, d in enumerate(descriptions or []):
                dst.set_band_description(i + 1, d)
            dst.scales = [1e-4] * len(BANDS)
    return path


def _cell(row: int, col: int, n: int = 3):
    """A square polygon of n x n pixels with its top-left pixel at (row, col)."""
    x0, y1 = ORIGIN[0] + col * 10, ORIGIN[1] - row * 10
    return box(x0, y1 - n * 10, x0 + n * 10, y1)


def _labels(path: Path, *, extra: list[dict] | None = None, column: str = "landcover", crs: int = 4326) -> Path:
    """Polygons of both classes on a 4 x 4 block grid, written in ``crs`` (EPSG:4326 by default)."""
    rows = []
    for r in range(2, SIZE - 4, 8):
        for c in range(2, SIZE - 4, 8):
            rows.append({column: "crop" if c < 30 else "water", "geometry": _cell(r, c)})
    rows.append({column: "crop", "geometry": Point(ORIGIN[0] + 105, ORIGIN[1] - 305)})  # a point label
    rows += extra or []
    gpd.GeoDataFrame(rows, crs=CRS).to_crs(crs).to_file(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One image, labels in EPSG:4326 with a class outside the image: trained once for the module."""
    d = tmp_path_factory.mktemp("classify")
    img = _write_image(d / "img.tif", nodata_box=(0, 8, 0, 8))
    far = {"landcover": "wetland", "geometry": box(ORIGIN[0] + 5000, ORIGIN[1], ORIGIN[0] + 5100, ORIGIN[1] + 100)}
    labels = _labels(d / "labels.gpkg", extra=[far])
    model, report = train_classifier([img], labels, "landcover", block_size_m=160, folds=3, max_pixels=2000)
    return d, img, labels, model, report


def test_pixel_features__one_date_bands_and_indices():
    values = np.array([[[0.05], [0.05], [0.45]]], np.float32)  # (dates, bands, pixels): blue, red, nir
    X, names = pixel_features(values, ["blue", "red", "nir"], ["ndvi", "evi"])
    assert names == ["blue", "red", "nir", "ndvi", "evi"]
    assert X[0, 3] == pytest.approx(0.8)  # 0.40 / 0.50
    assert X[0, 4] == pytest.approx(2.5 * 0.4 / 1.375)  # Huete et al. (2002) with the MODIS coefficients


def test_pixel_features__several_dates_add_temporal_statistics():
    values = np.array([[[0.1], [0.3]], [[0.1], [0.5]]], np.float32)  # ndvi 0.5 then 2/3
    X, names = pixel_features(values, ["red", "nir"], ["ndvi"])
    assert names[:3] == ["d1_red", "d1_nir", "d1_ndvi"]
    stats = dict(zip(names, X[0], strict=True))
    assert stats["mean_ndvi"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert stats["range_ndvi"] == pytest.approx(2 / 3 - 0.5)


def test_available_indices__evi_only_on_reflectance():
    assert available_indices(["blue", "green", "red", "nir", "swir16"], True) == ["ndvi", "ndwi", "ndmi", "evi"]
    assert available_indices(["blue", "red", "nir"], False) == ["ndvi"]
    assert available_indices(["a", "b"], True) == []


def test_band_names_of__sentinel2_codes_become_common_names(tmp_path):
    img = _write_image(tmp_path / "img.tif", descriptions=["B02", "B03", "B04", "B08"])
    assert band_names_of(img) == BANDS
    assert band_names_of(img, ["x1", "x2", "x3", "x4"]) == ["x1", "x2", "x3", "x4"]


def test_train_classifier__labels_in_another_crs_are_reprojected(trained):
    _, _, _, model, report = trained
    assert report["crs"] == CRS
    assert [(c["code"], c["label"]) for c in report["classes"]] == [(1, "crop"), (2, "water")]
    assert report["indices"] == ["ndvi", "ndwi", "evi"]  # scale 1e-4 makes the values reflectance
    v = report["validation"]
    assert v["folds"] == 3 and v["blocks"] > 3
    assert v["overall_accuracy"] > 0.95 and v["kappa"] > 0.9  # two well separated classes
    assert np.array(v["confusion_matrix"]["counts"]).sum() == report["pixels_used"]


def test_train_classifier__absent_class_warns_with_class_and_file(tmp_path, caplog):
    img = _write_image(tmp_path / "img.tif")
    far = {"landcover": "wetland", "geometry": box(ORIGIN[0] + 5000, ORIGIN[1], ORIGIN[0] + 5100, ORIGIN[1] + 100)}
    labels = _labels(tmp_path / "labels.gpkg", extra=[far])
    with caplog.at_level(logging.WARNING, logger="agririsk"):
        model, report = train_classifier([img], labels, "landcover", block_size_m=160, folds=2, max_pixels=300)
    assert report["classes_absent"] == ["wetland"]
    assert any("'wetland'" in r.getMessage() and "labels.gpkg" in r.getMessage() for r in caplog.records)
    assert "wetland" not in [c["label"] for c in model.meta["classes"]]


def test_train_classifier__missing_label_column_names_file_and_columns(tmp_path):
    img = _write_image(tmp_path / "img.tif")
    labels = _labels(tmp_path / "labels.gpkg", column="klass")
    with pytest.raises(MissingColumnError, match=r"labels\.gpkg.*'landcover'.*present are klass"):
        train_classifier([img], labels, "landcover")


def test_train_classifier__no_labelled_pixel_is_an_error(tmp_path):
    img = _write_image(tmp_path / "img.tif")
    far = [{"landcover": "crop", "geometry": box(0, 0, 10, 10)}]
    gpd.GeoDataFrame(far, crs=CRS).to_file(tmp_path / "far.gpkg")
    with pytest.raises(NoDataError, match="no labelled pixel"):
        train_classifier([img], tmp_path / "far.gpkg", "landcover")


def test_train_classifier__unnamed_bands_need_bands_option(tmp_path):
    img = _write_image(tmp_path / "img.tif", descriptions=None)
    labels = _labels(tmp_path / "labels.gpkg")
    with pytest.raises(InputError, match="--bands"):
        train_classifier([img], labels, "landcover")


def test_train_classifier__integer_labels_kept_as_integers(tmp_path):
    img = _write_image(tmp_path / "img.tif")
    labels = _labels(tmp_path / "labels.gpkg")
    g = gpd.read_file(labels)
    g["code"] = np.where(g["landcover"] == "crop", 20, 7)
    g.to_file(tmp_path / "int.gpkg")
    model, _ = train_classifier([img], tmp_path / "int.gpkg", "code", block_size_m=160, folds=2, max_pixels=300)
    assert [(c["code"], c["label"]) for c in model.meta["classes"]] == [(1, 7), (2, 20)]


def test_train_classifier__nodata_pixels_are_not_sampled(trained):
    d, img, labels, _, report = trained
    # the labelled square at (2, 2) lies in the 8 x 8 nodata corner
    nodata_free = _write_image(d / "full.tif")
    _, full = train_classifier([nodata_free], labels, "landcover", block_size_m=160, folds=2, max_pixels=2000)
    assert full["pixels_labelled"] - report["pixels_labelled"] == 9


def test_predict_map__maps_legend_tags_and_nodata(trained):
    d, img, _, model, _ = trained
    paths = predict_map(model, [img], d / "map.tif")
    with rasterio.open(paths["classes"]) as src:
        cls = src.read(1)
        assert src.tags()["class_1"] == "crop" and src.tags()["class_2"] == "water"
        assert src.nodata == 0 and src.crs.to_string() == CRS
    with rasterio.open(paths["probability"]) as src:
        prob = src.read(1)
    assert (cls[:8, :8] == 0).all() and (prob[:8, :8] == 255).all()
    assert (cls[8:, :30] == 1).mean() > 0.95 and (cls[8:, 34:] == 2).mean() > 0.95
    valid = cls > 0
    assert prob[valid].min() >= 50 and prob[valid].max() <= 100  # two classes: the winner has >= 50 %
    assert paths["legend"].read_text().splitlines()[:2] == ["code,label,pixels_trained", "1,crop,"
                                                             + str(model.meta["classes"][0]["pixels_trained"])]


def test_predict_map__second_image_in_another_crs_is_reprojected(tmp_path, trained):
    d, img, labels, _, _ = trained
    other = _write_image(tmp_path / "other.tif", crs="EPSG:3857", seed=1)
    model, report = train_classifier([img, other], labels, "landcover", block_size_m=160, folds=2, max_pixels=600)
    assert "mean_ndvi" in model.meta["features"] and report["n_features"] == len(model.meta["features"])
    paths = predict_map(model, [img, other], tmp_path / "map.tif")
    with rasterio.open(paths["classes"]) as src:
        assert (src.width, src.height, src.crs.to_string()) == (SIZE, SIZE, CRS)
        cls = src.read(1)
    assert (cls[8:-2, 2:30] == 1).mean() > 0.9 and (cls[8:-2, 34:-2] == 2).mean() > 0.9


def test_load_classifier__roundtrip_gives_same_predictions(trained):
    d, img, _, model, _ = trained
    path = save_classifier(model, d / "m.model")
    again = load_classifier(path)
    X = np.random.default_rng(0).random((50, len(model.meta["features"]))).astype(np.float32)
    np.testing.assert_array_equal(again.estimator.predict_proba(X), model.estimator.predict_proba(X))
    assert again.meta["bands"] == BANDS and again.meta["label_column"] == "landcover"


def test_load_classifier__tampered_metadata_is_refused(trained, tmp_path):
    _, _, _, model, _ = trained
    path = save_classifier(model, tmp_path / "m.model")
    with zipfile.ZipFile(path) as z:
        meta, blob = json.loads(z.read("meta.json")), z.read("model.skops")
    meta["classes"][0]["label"] = "forest"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.json", json.dumps(meta))
        z.writestr("model.skops", blob)
    with pytest.raises(InputError, match="sha256"):
        load_classifier(path)


def test_load_classifier__not_a_model_is_refused(tmp_path):
    (tmp_path / "x.model").write_bytes(b"\x80\x04not a zip")
    with pytest.raises(InputError, match="not a model"):
        load_classifier(tmp_path / "x.model")


def test_predict_map__refuses_images_with_other_bands(trained, tmp_path):
    _, _, _, model, _ = trained
    img = _write_image(tmp_path / "img.tif", descriptions=["blue", "green", "red", "swir16"])
    with pytest.raises(InputError, match=r"missing here: nir"):
        predict_map(model, [img], tmp_path / "map.tif")
    with pytest.raises(InputError, match="trained on 1 image"):
        predict_map(model, [img, img], tmp_path / "map.tif")
