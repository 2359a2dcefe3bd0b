"""``agririsk sample-region``: write a synthetic region (wired into :mod:`agririsk.cli`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from agririsk._cliargs import positive_int

logger = logging.getLogger(__name__)

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``sample-region`` command to ``subparsers`` and return its parser."""
    p = subparsers.add_parser(
        "sample-region",
        help="write a synthetic sample region (imagery, parcels, farmers, weather, loans)",
        description=(
            "Write a synthetic region around Suihua, Heilongjiang, in exactly the formats of "
            "CONTRACTS.md: region.toml, a STAC catalog of Sentinel-2 L2A-like COGs, parcels, "
            "farmers, station weather and loan history, plus truth/ for tests and benchmarks."
        ),
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory to write")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    p.add_argument(
        "--parcels",
        type=positive_int,
        default=250,
        metavar="N",
        help="number of parcels (default: 250)",
    )
    p.add_argument(
        "--size",
        type=_size,
        default=512,
        metavar="PIXELS",
        help="pixels per side of the 10 m grid, even, >= 64 (default: 512 = 5.12 km)",
    )
    p.set_defaults(func=run)
    return p


def _size(text: str) -> int:
    value = int(text)
    if value < 64 or value % 2:
        raise argparse.ArgumentTypeError(f"must be an even number >= 64, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run ``sample-region``; returns the exit code (0). Errors propagate as AgririskError."""
    from agririsk.sample import make_sample_region  # heavy imports only when run

    def progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            logger.info("imagery: %d/%d items written", done, total)

    path = make_sample_region(
        args.out, seed=args.seed, n_parcels=args.parcels, size=args.size, progress=progress
    )
    logger.info("Region written: %s", path)
    return 0
