"""A synthetic sample region (Suihua, Heilongjiang) in exactly the formats of CONTRACTS.md.

>>> from agririsk.sample import make_sample_region      # doctest: +SKIP
>>> region_toml = make_sample_region("sample", seed=0)  # doctest: +SKIP
"""

from agririsk.sample._region import make_sample_region

__all__ = ["make_sample_region"]
