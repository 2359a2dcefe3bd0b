"""Scene rendering of the synthetic sample region: DN encoding, mixtures, clouds, SCL."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agririsk.sample import _imagery as im


@given(st.floats(min_value=-0.09, max_value=1.5))
def test_reflectance_to_dn__round_trip_within_half_a_count(rho):
    dn = im.reflectance_to_dn(np.array([rho]))
    assert dn.dtype == np.uint16
    assert dn[0] > 0  # 0 is reserved for nodata
    assert abs(im.dn_to_reflectance(dn)[0] - rho) <= 0.00005 + 1e-12


def test_reflectance_to_dn__baseline_04_offset():
    # reflectance 0 -> DN 1000 (offset -0.1, scale 0.0001)
    assert im.reflectance_to_dn(np.array([0.0]))[0] == 1000
    assert np.isnan(im.dn_to_reflectance(np.array([0], dtype=np.uint16))[0])


@given(st.floats(min_value=0.2, max_value=0.85))
def test_vegetation_fraction__mixture_reproduces_target_ndvi(ndvi):
    f = im.vegetation_fraction(np.array([ndvi]), im.VEG[None], im.SOIL[None])[0]
    mix = f * im.VEG + (1 - f) * im.SOIL
    assert (mix[3] - mix[2]) / (mix[3] + mix[2]) == pytest.approx(ndvi, abs=1e-9)


def test_vegetation_fraction__clipped_to_unit_interval():
    f = im.vegetation_fraction(np.array([-0.5, 0.99]), im.VEG[None], im.SOIL[None])
    assert f[0] == 0.0 and f[1] == 1.0


@pytest.mark.parametrize("cover", [0.0, 0.1, 0.4, 0.8, 1.0])
def test_cloud_layer__cloud_fraction_matches_cover(cover):
    rng = np.random.default_rng(1)
    cl = im.cloud_layer(rng, (256, 256), cover, (-20.0, -12.0))
    frac = float((cl.alpha > 0).mean())
    assert 0.0 <= cl.alpha.min() and cl.alpha.max() <= 1.0
    assert frac == pytest.approx(cover, abs=0.06)


def test_cloud_layer__shadow_is_displaced_cloud():
    rng = np.random.default_rng(2)
    cl = im.cloud_layer(rng, (256, 256), 0.2, (-30.0, -16.0))
    assert cl.shadow.max() > 0.5
    # the shadow field is the cloud field moved 30 rows up and 16 columns left
    moved = np.roll(np.roll(cl.alpha, -30, axis=0), -16, axis=1)
    inner = (slice(40, -40), slice(40, -40))
    assert np.corrcoef(moved[inner].ravel(), cl.shadow[inner].ravel())[0, 1] > 0.8


def test_draw_cloud_cover__bounded_with_clear_and_overcast_scenes():
    rng = np.random.default_rng(0)
    covers = np.array([im.draw_cloud_cover(rng, 0.0) for _ in range(500)])
    assert covers.min() >= 0 and covers.max() <= 1
    assert (covers < 0.05).mean() > 0.3
    assert (covers > 0.9).mean() > 0.05
    wet = np.array([im.draw_cloud_cover(rng, 10.0) for _ in range(500)])
    assert wet.mean() > covers.mean()


def test_scl_from_scene__classes_and_missed_thin_edges():
    rng = np.random.default_rng(3)
    cl = im.cloud_layer(rng, (200, 200), 0.3, (-10.0, -6.0))
    ndvi = np.full((200, 200), 0.7, dtype=np.float32)
    ndvi[:, :20] = 0.1
    nir = np.full((200, 200), 0.4, dtype=np.float32)
    green = np.full((200, 200), 0.07, dtype=np.float32)
    nir[:10, :10], green[:10, :10], ndvi[:10, :10] = 0.02, 0.06, -0.3
    scl, stats = im.scl_from_scene(ndvi, nir, green, cl)
    assert set(np.unique(scl)) <= {3, 4, 5, 6, 8, 9, 10}
    assert {4, 8, 9} <= set(np.unique(scl))
    assert 0 < stats["missed_of_bad"] < 0.1


def test_nodata_wedge__is_a_corner_triangle():
    for seed in range(200):
        w = im.nodata_wedge(np.random.default_rng(seed), (100, 100))
        if w is not None:
            mask, tri = w
            assert 0 < mask.mean() < 0.1
            assert mask[0, 0] or mask[0, -1] or mask[-1, 0] or mask[-1, -1]
            return
    pytest.fail("no wedge in 200 draws")
