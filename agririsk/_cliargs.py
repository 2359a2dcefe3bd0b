"""Argument types and options shared by every ``agririsk`` command (argparse, no heavy imports)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agririsk.parallel import Parallel

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


def add_parallel_options(
    parser: argparse.ArgumentParser,
    *,
    workers_help: str = "processes for the imagery reduction on this machine (default 1)",
) -> None:
    """``--workers N | --scheduler ADDRESS`` (CONTRACTS.md §8), mutually exclusive."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=positive_int, default=1, metavar="N", help=workers_help)
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the imagery reduction on a running Dask cluster, e.g. tcp://10.0.0.5:8786; its "
        "workers must see the region's files and the workspace at the same paths "
        "(docs/scaling.md; needs pip install 'agririsk[cluster]')",
    )


def parallel_from_args(args: argparse.Namespace) -> int | Parallel:
    """Where the item tasks run, from ``--workers`` / ``--scheduler``.

    A scheduler is contacted once here, so that a wrong address fails in seconds, before
    any work, with :class:`agririsk.parallel.SchedulerError` (exit code 1).
    """
    scheduler = getattr(args, "scheduler", None)
    if not scheduler:
        return int(getattr(args, "workers", 1) or 1)
    from agririsk.parallel import Parallel

    where = Parallel.cluster(scheduler)
    where.check()
    return where
