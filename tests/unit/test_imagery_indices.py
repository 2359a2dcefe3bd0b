"""Masks and spectral indices: pure functions checked on hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agririsk.imagery import evi, ndmi, ndvi, ndwi, qa_pixel_clear, scl_clear
from agririsk.imagery.masks import clear_mask


def test_scl_clear__contract_classes_masked():
    scl = np.arange(12, dtype=np.uint8)
    expected = [False, False, True, False, True, True, True, True, False, False, False, True]
    assert scl_clear(scl).tolist() == expected
    assert scl_clear(scl.astype(np.int32)).tolist() == expected


def test_qa_pixel_clear__landsat_bits():
    qa = np.array([21824, 22280, 23888, 1, 2, 4, 64, 0b100000], dtype=np.uint16)
    # clear land, cloud (bit 3), shadow (bit 4), fill (0), dilated (1), cirrus (2), clear bit 6, snow bit 5
    assert qa_pixel_clear(qa).tolist() == [True, False, False, False, False, False, True, True]


def test_clear_mask__unknown_band_raises():
    with pytest.raises(ValueError, match="unknown mask band"):
        clear_mask(np.zeros(2), "fmask")


def test_ndvi__hand_values():
    red = np.array([0.05, 0.10, 0.30, 0.0, 0.0, -0.01, np.nan])
    nir = np.array([0.45, 0.30, 0.10, 0.2, 0.0, 0.30, 0.3])
    out = ndvi(red, nir)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:4], [0.8, 0.5, -0.5, 1.0], rtol=1e-6)
    assert np.isnan(out[4:]).all()  # zero denominator, negative reflectance, NaN input


def test_evi__hand_value():
    # 2.5 * (0.45 - 0.05) / (0.45 + 6 * 0.05 - 7.5 * 0.05 + 1) = 1.0 / 1.375
    np.testing.assert_allclose(evi([0.05], [0.05], [0.45]), [1.0 / 1.375], rtol=1e-6)


def test_ndmi_ndwi__hand_values():
    np.testing.assert_allclose(ndmi([0.4], [0.2]), [1 / 3], rtol=1e-6)
    np.testing.assert_allclose(ndwi([0.1], [0.3]), [-0.5], rtol=1e-6)


reflectance = hnp.arrays(np.float32, 16, elements=st.floats(-0.25, 1.5, width=32))


@given(reflectance, reflectance)
def test_ndvi__in_unit_interval_or_nan(red, nir):
    out = ndvi(red, nir)
    ok = ~np.isnan(out)
    assert ((out[ok] >= -1) & (out[ok] <= 1)).all()


@given(hnp.arrays(np.uint8, 32, elements=st.integers(0, 11)), hnp.arrays(np.bool_, 32))
def test_scl_clear__more_clouds_never_add_clear_pixels(scl, extra_cloud):
    cloudier = np.where(extra_cloud, np.uint8(9), scl)
    assert scl_clear(cloudier).sum() <= scl_clear(scl).sum()
    assert not (scl_clear(cloudier) & ~scl_clear(scl)).any()


def test_scl_clear__uint8_fast_path_matches_class_set():
    every = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(scl_clear(every), scl_clear(every.astype(np.int16)))
