"""A synthetic sample region (Suihua, Heilongjiang) in exactly the formats of CONTRACTS.md.

>>> from agririsk.sample import make_sample_region      # doctest: +SKIP
>>> region_toml = make_sample_region("sample", seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agririsk.sample._region import make_sample_region  # noqa: F401

__all__ = ["make_sample_region"]


def __getattr__(name: str) -> Any:
    # imported on first use: ``agririsk --help`` builds the sample-region parser from
    # :mod:`agririsk.sample.cli` without loading the generator (scipy.stats, ~0.8 s)
    if name == "make_sample_region":
        from agririsk.sample._region import make_sample_region

        return make_sample_region
    raise AttributeError(f"module 'agririsk.sample' has no attribute {name!r}")
