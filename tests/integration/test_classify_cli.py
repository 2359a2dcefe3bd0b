"""``agririsk classify train|predict`` end to end on images stacked from the sample region."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import Point, box

from agririsk.cli import main

BANDS = ["blue", "green", "red", "nir", "swir16"]
#: two clear summer scenes of the 2026 season of the seed-3 sample region
ITEMS = ["S2B_51TYM_20260629_0_L2A", "S2A_51TYM_20260724_0_L2A"]
SCL_MASKED = [0, 1, 3, 8, 9, 10]


def _stack_item(item_dir: Path, out: Path) -> Path:
    """One item's band COGs as a 5-band GeoTIFF with band descriptions and scale/offset (Sentinel-2 PB >= 04.00)."""
    with rasterio.open(item_dir / "blue.tif") as src:
        profile = src.profile
    shape = (profile["height"], profile["width"])
    bands = []
    for b in BANDS:
        with rasterio.open(item_dir / f"{b}.tif") as src:
            bands.append(src.read(1, out_shape=shape))  # swir16 is 20 m: nearest onto 10 m
    with rasterio.open(item_dir / "scl.tif") as src:
        scl = src.read(1, out_shape=shape)
    data = np.stack(bands)
    data[:, np.isin(scl, SCL_MASKED)] = 0
    profile.update(driver="GTiff", count=len(BANDS), nodata=0)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
        for i, b in enumerate(BANDS):
            dst.set_band_description(i + 1, b)
        dst.scales = [1e-4] * len(BANDS)
        dst.offsets = [-0.1] * len(BANDS)
    return out


@pytest.fixture(scope="module")
def labelled(sample_region_pristine, tmp_path_factory):
    """Two stacked dates, and labels in EPSG:4326: parcels as polygons of their true 2026 crop,
    land-cover points for forest, water, built-up and grassland, and one class outside the image."""
    region = sample_region_pristine.parent
    d = tmp_path_factory.mktemp("classify_cli")
    images = [_stack_item(region / "imagery" / item, d / f"{item[10:18]}.tif") for item in ITEMS]
    with rasterio.open(region / "truth" / "landcover.tif") as src:
        lc, T, crs = src.read(1), src.transform, src.crs
        names = {int(k[6:]): v for k, v in src.tags().items() if k.startswith("class_")}
    rows = []
    for p in pd.read_csv(region / "truth" / "parcels.csv").itertuples():
        x0, y0 = T @ (p.col0, p.row1)
        x1, y1 = T @ (p.col1, p.row0)
        rows.append({"crop": p.true_crop_2026, "geometry": box(x0, y0, x1, y1)})
    rng = np.random.default_rng(1)
    for code in (3, 4, 5, 7):
        rr, cc = np.nonzero(lc == code)
        for i in rng.choice(len(rr), min(60, len(rr)), replace=False):
            rows.append({"crop": names[code], "geometry": Point(*(T @ (cc[i] + 0.5, rr[i] + 0.5)))})
    labels = gpd.GeoDataFrame(rows, crs=crs).to_crs(4326)
    away = gpd.GeoDataFrame([{"crop": "wetland", "geometry": box(10.0, 10.0, 10.01, 10.01)}], crs=4326)
    pd.concat([labels, away]).to_file(d / "labels.gpkg")
    return d, images, d / "labels.gpkg"


@pytest.mark.slow
def test_classify_cli__train_then_predict_writes_report_and_maps(labelled, capsys):
    from rio_cogeo.cogeo import cog_validate

    d, images, labels = labelled
    model = d / "crops.model"
    rc = main(["classify", "train", "--image", *map(str, images), "--labels", str(labels), "--label-column", "crop",
               "--out", str(model), "--max-pixels", "2400", "--folds", "3"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "class 'wetland'" in err and "labels.gpkg" in err  # the class outside the image
    assert "overall accuracy" in out and "kappa" in out
    report = json.loads(model.with_suffix(".report.json").read_text())
    assert model.with_suffix(".report.md").read_text().startswith("# Pixel classification")
    v = report["validation"]
    assert report["classes_absent"] == ["wetland"]
    assert v["folds"] == 3 and v["block_pixels"] == 100  # 1 km blocks of 10 m pixels
    # held-out blocks, 9 classes (chance about 0.11); measured 0.56 / 0.49 (docs/classify.md)
    assert v["overall_accuracy"] > 0.4 and v["kappa"] > 0.3
    assert len(v["confusion_matrix"]["counts"]) == len(report["classes"])

    out_map = d / "maps" / "crops.tif"
    rc = main(["classify", "predict", "--model", str(model), "--image", *map(str, images), "--out", str(out_map)])
    assert rc == 0
    legend = pd.read_csv(d / "maps" / "crops_legend.csv")
    assert list(legend.columns) == ["code", "label", "pixels_trained"]
    file_labels = set(gpd.read_file(labels)["crop"])
    assert set(legend["label"]) <= file_labels and "wetland" not in set(legend["label"])
    assert list(legend["label"]) == sorted(legend["label"]) and list(legend["code"]) == list(range(1, len(legend) + 1))
    for f in (out_map, d / "maps" / "crops_probability.tif"):
        assert cog_validate(str(f))[0], f
    with rasterio.open(out_map) as src:
        tags = src.tags()
        cls = src.read(1)
    assert {f"class_{c}": lab for c, lab in zip(legend["code"], legend["label"], strict=True)}.items() <= tags.items()
    with rasterio.open(images[0]) as a, rasterio.open(images[1]) as b:
        nodata = (a.read() == 0).any(axis=0) | (b.read() == 0).any(axis=0)
    assert (cls[nodata] == 0).all() and (cls[~nodata] > 0).all()
    with rasterio.open(d / "maps" / "crops_probability.tif") as src:
        prob = src.read(1)
    assert (prob[nodata] == 255).all() and prob[~nodata].max() <= 100


def test_classify_cli__bad_input_and_usage_exit_codes(labelled, tmp_path, capsys):
    d, images, labels = labelled
    rc = main(["classify", "train", "--image", str(images[0]), "--labels", str(labels), "--label-column", "kind",
               "--out", str(tmp_path / "m.model")])
    assert rc == 1
    assert "no label column 'kind'" in capsys.readouterr().err
    rc = main(["classify", "predict", "--model", str(tmp_path / "none.model"), "--image", str(images[0]),
               "--out", str(tmp_path / "map.tif")])
    assert rc == 1
    with pytest.raises(SystemExit) as exc:
        main(["classify", "train", "--image", str(images[0])])
    assert exc.value.code == 2
