"""risk_map.tif on the sample region: a valid COG of crop condition, inside parcels only."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.features

from agririsk.errors import NoDataError
from agririsk.export.raster import (
    DESCRIPTION,
    UNITS,
    condition_raster,
    downsample,
    write_condition_cog,
)
from agririsk.region import Region

MID_SEASON = dt.date(2026, 7, 20)


@pytest.fixture(scope="module")
def cog(sample_region_pristine, tmp_path_factory):
    region = Region.from_toml(sample_region_pristine)
    condition = condition_raster(region, MID_SEASON)
    path = write_condition_cog(condition, tmp_path_factory.mktemp("raster") / "risk_map.tif")
    return region, condition, path


def test_write_condition_cog__passes_rio_cogeo_validation(cog):
    from rio_cogeo.cogeo import cog_validate

    _, _, path = cog
    valid, errors, warnings = cog_validate(str(path))
    assert valid, errors
    assert not errors


def test_write_condition_cog__float32_nodata_description_units_overviews(cog):
    _, _, path = cog
    with rasterio.open(path) as src:
        assert src.count == 1 and src.dtypes[0] == "float32"
        assert src.nodata is not None and np.isnan(src.nodata)
        assert src.descriptions[0] == DESCRIPTION
        assert src.units[0] == UNITS
        assert src.overviews(1)
        assert src.crs.to_epsg() == 32651  # the region's working CRS
        assert src.tags()["date"] <= str(MID_SEASON)
        assert src.tags()["baseline_years"] == "2023,2024,2025"


def test_condition_raster__values_in_range_inside_parcels_nodata_outside(cog):
    region, _, path = cog
    parcels = gpd.read_file(region.parcels_path).to_crs(32651)
    with rasterio.open(path) as src:
        values = src.read(1)
        inside = rasterio.features.rasterize(
            [(g, 1) for g in parcels.geometry],
            out_shape=values.shape,
            transform=src.transform,
            fill=0,
        ).astype(bool)
    assert np.isnan(values[~inside]).all()
    finite = values[inside & np.isfinite(values)]
    # the latest clear date is mostly clear over the parcels
    assert finite.size > 0.5 * inside.sum()
    assert finite.min() >= -1 and finite.max() <= 1


def test_condition_raster__date_is_the_latest_clear_acquisition_not_after_as_of(cog):
    _, condition, _ = cog
    day = dt.date.fromisoformat(condition.attrs["date"])
    assert day <= MID_SEASON
    assert (MID_SEASON - day).days < 30
    assert condition.attrs["baseline_items"] > 0


def test_condition_raster__no_item_before_as_of_is_a_clear_error(sample_region_pristine):
    region = Region.from_toml(sample_region_pristine)
    with pytest.raises(NoDataError, match="no imagery item at or before"):
        condition_raster(region, dt.date(2000, 1, 1))


def test_downsample__keeps_extent_and_caps_size(cog):
    _, condition, _ = cog
    arr, (left, right, bottom, top) = downsample(condition, max_pixels=100)
    assert max(arr.shape) <= 100
    full, (l0, r0, b0, t0) = downsample(condition)
    assert full.shape == condition.shape
    assert (left, top) == (l0, t0) and right >= r0 and bottom <= b0
