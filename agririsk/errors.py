"""One exception tree for agririsk.

Every error says what is wrong, where (file, row, parcel, item) and what to do.
Only :mod:`agririsk.cli` turns them into exit codes.
"""

from __future__ import annotations

__all__ = [
    "AgririskError",
    "InputError",
    "RegionConfigError",
    "MissingFileError",
    "MissingColumnError",
    "MissingBandError",
    "CRSMismatchError",
    "NoDataError",
]


class AgririskError(Exception):
    """Root of every error agririsk raises on purpose."""


class InputError(AgririskError):
    """An input file is missing, unreadable or does not fit CONTRACTS.md (exit code 1)."""


class RegionConfigError(InputError):
    """region.toml is malformed: unknown key, wrong type, missing section."""


class MissingFileError(InputError):
    """A file named by region.toml (or a STAC asset) does not exist."""


class MissingColumnError(InputError):
    """A table lacks a required column."""


class MissingBandError(InputError):
    """A STAC item has no asset for a band agririsk needs."""


class CRSMismatchError(InputError):
    """A coordinate reference system is missing or cannot be reconciled."""


class NoDataError(AgririskError):
    """There is nothing to compute from (no items before the as-of date, no parcels left)."""
