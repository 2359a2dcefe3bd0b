"""Argument types and options shared by every ``agririsk`` command (argparse, no heavy imports)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

WORKSPACE_HELP = (
    "cached per-item results, fitted models and run records (default: .agririsk/ beside region.toml); "
    "deleting it loses nothing but time"
)


def date_arg(text: str) -> dt.date:
    """An ISO date (``YYYY-MM-DD``) for argparse."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1 for argparse."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number of at least 1")
    return value


def add_region_options(parser: argparse.ArgumentParser, *, workspace_help: str = WORKSPACE_HELP) -> None:
    """``REGION.toml`` and ``--workspace``, which every command reading a region takes (CONTRACTS.md §8)."""
    parser.add_argument("region", type=Path, metavar="REGION.toml", help="the region file (CONTRACTS.md §1)")
    parser.add_argument("--workspace", type=Path, metavar="DIR", help=workspace_help)
