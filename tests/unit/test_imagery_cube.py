"""open_cube on the tiny items: lazy, masked, scaled, on the working grid."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from agririsk.errors import InputError
from agririsk.imagery import open_cube
from agririsk.region import Region, Season
from agririsk.testing import ITEMS, make_tiny_stac

pytest.importorskip("dask")


def _region(tmp_path, tiny, crs="EPSG:32651"):
    parcels = tmp_path / "parcels.gpkg"
    tiny.parcels.to_file(parcels)
    import datetime as dt

    return Region(
        path=tmp_path / "region.toml",
        name="tiny",
        crs=crs,
        imagery_catalog=str(tiny.catalog),
        imagery_collection=None,
        parcels_path=parcels,
        farmers_path=tmp_path / "farmers.csv",
        weather_stations=None,
        weather_observations=None,
        weather_grid=None,
        history_path=None,
        season=Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15)),
    )


def test_open_cube__parcel_lazy_masked_and_scaled(tmp_path):
    import dask.array as da

    tiny = make_tiny_stac(tmp_path)
    cube = open_cube(_region(tmp_path, tiny), parcel_id="P1", cloud_buffer_m=0)
    assert isinstance(cube["red"].data, da.Array)  # nothing read yet
    assert cube["red"].dims == ("time", "y", "x")
    assert cube.sizes == {"time": 3, "y": 8, "x": 8}  # 40 m parcel + 2 pixels each side
    assert list(cube["item_id"].values) == list(ITEMS)
    red, nir = cube["red"].values, cube["nir"].values
    p1 = ((nir - red) / (nir + red))[1, 2:6, 2:6]  # P1's 4 x 4 pixels on a clear date
    assert np.isnan(p1).sum() == 1  # red DN 0 (nodata) at P1's pixel (3, 3)
    np.testing.assert_allclose(p1[np.isfinite(p1)], 0.8, atol=1e-5)
    assert np.isnan(red[0, 2:4, 2:4]).all()  # the cloud of T51_20260501 is masked
    assert red[1, 2, 2] == pytest.approx(0.05, abs=1e-6)  # reflectance, not DN
    assert cube["red"].attrs["units"] == "1"
    assert (
        "32651" in cube["spatial_ref"].attrs["crs_wkt"]
        or "UTM zone 51N" in cube["spatial_ref"].attrs["crs_wkt"]
    )


def test_open_cube__bbox_dates_and_other_working_crs(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    b = tiny.parcels.to_crs(4326).total_bounds
    cube = open_cube(
        _region(tmp_path, tiny, crs="EPSG:32652"),
        bbox=tuple(b),
        start="2026-05-05",
        end="2026-05-15",
        bands=("red", "nir", "swir16"),
        resolution=20,
    )
    assert list(cube["item_id"].values) == [ITEMS[1]]
    assert set(cube.data_vars) == {"red", "nir", "swir16"}
    assert cube.attrs["crs"] == "EPSG:32652"
    assert np.isfinite(cube["nir"].values).any()


def test_open_cube__needs_exactly_one_area(tmp_path):
    tiny = make_tiny_stac(tmp_path)
    with pytest.raises(InputError, match="exactly one of bbox"):
        open_cube(_region(tmp_path, tiny))
    with pytest.raises(InputError, match="parcel 'nope' is not in"):
        open_cube(_region(tmp_path, tiny), parcel_id="nope")


def test_open_cube__without_dask_says_how_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dask" else real(name, *a)
    )
    with pytest.raises(InputError, match=r"agririsk\[cube\]"):
        open_cube(tmp_path / "region.toml", parcel_id="P1")
