"""Shared fixtures: one small sample region per test session (generated, never downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_region_pristine(tmp_path_factory) -> Path:
    """A small sample region, made once; copy it before changing anything (see ``sample_region``)."""
    from agririsk.sample import make_sample_region

    out = tmp_path_factory.mktemp("sample") / "region"
    return make_sample_region(out, seed=3, n_parcels=80, size=256)


@pytest.fixture
def sample_region(sample_region_pristine, tmp_path) -> Path:
    """A private copy of the small sample region; returns its region.toml."""
    dst = tmp_path / "region"
    shutil.copytree(sample_region_pristine.parent, dst, ignore=shutil.ignore_patterns(".agririsk"))
    return dst / sample_region_pristine.name
