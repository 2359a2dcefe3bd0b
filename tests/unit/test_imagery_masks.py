"""cloud_mask and dilate: what a buffer grows around, and how far."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from agririsk.imagery import cloud_mask, dilate


def test_cloud_mask__scl_cloud_and_shadow_classes_only():
    scl = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], dtype=np.uint8)
    expected = [False, False, False, True, False, False, False, False, True, True, True, False]
    assert cloud_mask(scl, "scl").tolist() == expected  # no data (0) is masked, not buffered
    assert cloud_mask(scl.astype(np.int16), "scl").tolist() == expected


def test_cloud_mask__qa_pixel_bits_1_to_4_not_fill():
    qa = np.array([21824, 22280, 23888, 1, 1 << 1, 1 << 2, 1 << 5], dtype=np.uint16)
    # clear, real cloud, real shadow, fill only, dilated cloud, cirrus, bit 5 (not masked)
    assert cloud_mask(qa, "qa_pixel").tolist() == [False, True, True, False, True, True, False]


def test_cloud_mask__unknown_band_raises():
    with pytest.raises(ValueError, match="expected 'scl' or 'qa_pixel'"):
        cloud_mask(np.zeros(3), "fmask")


def test_dilate__one_pixel_grows_to_square():
    a = np.zeros((7, 7), bool)
    a[3, 3] = True
    grown = dilate(a, 2)
    assert grown.sum() == 25 and grown[1:6, 1:6].all()
    assert dilate(a, 0).sum() == 1


def test_dilate__edge_pixels_beyond_array_count_as_clear():
    a = np.zeros((4, 4), bool)
    a[0, 0] = True
    assert dilate(a, 1).sum() == 4  # the 3 x 3 square clipped to the array


@given(
    flags=hnp.arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))),
    px=st.integers(0, 3),
)
def test_dilate__same_as_binary_dilation_with_square(flags, px):
    ref = ndimage.binary_dilation(flags, np.ones((3, 3), bool), iterations=px) if px else flags
    np.testing.assert_array_equal(dilate(flags, px), ref)
    assert (dilate(flags, px) >= flags).all()  # a buffer never clears a pixel
