"""Layout of the synthetic sample region: fields, parcels, farmers."""

from __future__ import annotations

import numpy as np
import pytest

from agririsk.sample import _finance, _landscape
from agririsk.sample._fields import smooth_field


@pytest.fixture(scope="module")
def landscape():
    return _landscape.build_landscape(np.random.default_rng(0), 512, 250)


def test_build_landscape__exactly_n_parcels_of_smallholder_size(landscape):
    f = landscape.fields
    assert f["is_parcel"].sum() == 250
    area_ha = (f["r1"] - f["r0"]) * (f["c1"] - f["c0"]) / 100.0
    assert area_ha.min() >= 0.4
    assert 0.8 <= (area_ha.between(1, 15)).mean()


def test_build_landscape__fields_do_not_overlap_and_match_unit_raster(landscape):
    f = landscape.fields
    counts = np.bincount(landscape.unit.ravel(), minlength=len(f) + 5)[: len(f)]
    area_px = ((f["r1"] - f["r0"]) * (f["c1"] - f["c0"])).to_numpy()
    assert np.array_equal(counts, area_px)


def test_build_landscape__every_landcover_class_present(landscape):
    classes = set(np.unique(landscape.landcover))
    assert {
        _landscape.CROPLAND_PARCEL,
        _landscape.FOREST,
        _landscape.WATER,
        _landscape.ROAD,
    } <= classes
    assert 0 not in classes


def test_group_farmers__one_to_five_consecutive_parcels():
    pf = _finance.group_farmers(np.random.default_rng(0), 1000)
    sizes = np.bincount(pf)
    assert sizes.min() >= 1 and sizes.max() <= 5
    assert np.all(np.diff(pf) >= 0)
    assert 2.0 < 1000 / len(sizes) < 3.0


def test_smooth_field__standardised_and_spatially_correlated():
    f = smooth_field(np.random.default_rng(0), (256, 256), 16.0)
    assert f.mean() == pytest.approx(0, abs=1e-5) and f.std() == pytest.approx(1, abs=1e-5)
    lag1 = np.corrcoef(f[:, :-1].ravel(), f[:, 1:].ravel())[0, 1]
    assert lag1 > 0.9
