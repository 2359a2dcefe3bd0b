"""Window plans kept beside the label rasters: read back by a new process, same tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agririsk.imagery.zonal import LabelCache, ParcelSet, zonal_item
from agririsk.pipeline import load_inputs
from agririsk.region import Region


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a.dtype == b.dtype and np.array_equal(a, b)


def test_label_cache__kept_window_plans_are_read_back_and_give_the_same_table(
    sample_region_pristine, tmp_path
):
    region = Region.from_toml(sample_region_pristine)
    inputs = load_inputs(region, until=region.season.end)
    item = next(it for it in inputs.items if it.datetime.month == 7)
    parcels = ParcelSet.from_frame(inputs.parcels)
    first = LabelCache(parcels, tmp_path)
    ref = zonal_item(item, first)
    first.keep_plans()
    (built,) = first._memory.values()
    assert built.plans and any(p is not None for p in built.plans.values())
    (folder,) = (tmp_path / "labels").glob("*.plans-*")

    second = LabelCache(parcels, tmp_path)  # a new process: plans read, not rebuilt
    read = second.get(built.grid)
    assert set(read.plans) == set(built.plans)
    for key, plan in built.plans.items():
        got = read.plans[key]
        assert (plan is None) == (got is None), key
        if plan is not None:
            assert all(_same(a, b) for a, b in zip(plan, got, strict=True)), key
    pd.testing.assert_frame_equal(zonal_item(item, second), ref)

    # a damaged folder is ignored (the plans are rebuilt), never fatal
    (folder / "labels.npy").write_bytes(b"not an array")
    third = LabelCache(parcels, tmp_path)
    assert third.get(built.grid).plans == {}
    pd.testing.assert_frame_equal(zonal_item(item, third), ref)
