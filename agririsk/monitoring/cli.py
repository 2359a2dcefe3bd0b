"""``agririsk monitor``: one monitoring run (wired into :mod:`agririsk.cli` by ``add_parser``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from agririsk._cliargs import add_parallel_options, add_region_options, date_arg, parallel_from_args

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_LOCKED = 1


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``monitor`` command to ``subparsers`` and return its parser."""
    p = subparsers.add_parser(
        "monitor",
        help="one monitoring run: new imagery and weather since the last run, alerts opened, updated or resolved",
        description=(
            "Reads the imagery and weather newer than the last successful run (up to --as-of), extends "
            "the parcel series, runs the detectors and opens, updates or resolves alerts in the SQLite "
            "store --db, in one transaction. Safe to run from cron: a second run while one is going "
            "exits with a message; a killed run leaves the store as it was. Exit 0 whatever it found."
        ),
        epilog="cron, every 3 days at 06:00:  0 6 */3 * *  agririsk -q monitor /data/region.toml --db /data/monitor.sqlite",
    )
    add_region_options(p)
    p.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="the alert store (default: WORKSPACE/monitor.sqlite)",
    )
    p.add_argument(
        "--as-of",
        type=date_arg,
        metavar="DATE",
        help="run date YYYY-MM-DD (default: today); nothing after it is read",
    )
    add_parallel_options(p, workers_help="processes reducing new imagery items on this machine")
    p.add_argument(
        "--no-crop-check",
        action="store_true",
        help="do not classify the season's crops against the declarations (no crop_mismatch "
        "alerts); by default a run classifies from 30 days after the latest declared crop's "
        "calendar peak, at most every 30 days",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``monitor``: prints the run summary; 0 when the run worked, 1 when the store is locked.

    Other :class:`~agririsk.errors.AgririskError` propagate (the main CLI exits 1).
    """
    from agririsk._progress import Progress
    from agririsk.monitoring.run import monitor_region
    from agririsk.monitoring.store import MonitorLockedError
    from agririsk.region import Region

    region = Region.from_toml(args.region)
    quiet = bool(getattr(args, "quiet", False))
    try:
        summary = monitor_region(
            region,
            db=args.db,
            as_of=args.as_of,
            workspace=args.workspace,
            workers=parallel_from_args(args),
            progress=Progress("imagery items", enabled=not quiet),
            crop_check=not getattr(args, "no_crop_check", False),
        )
    except MonitorLockedError as exc:
        print(f"agririsk monitor: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    print(summary.format())
    return EXIT_OK
