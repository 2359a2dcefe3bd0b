"""``agririsk validate REGION.toml``: check every input, print what is wrong where (CONTRACTS.md §8)."""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from agririsk._cliargs import add_region_options
from agririsk.errors import InputError
from agririsk.inputs.report import Problem, Report

__all__ = ["add_parser", "run", "format_report"]

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_UNUSABLE = 0, 1
_COUNTED = {"parcels": "parcels", "farmers": "farmers", "loans": "past loans", "stations": "weather stations",
            "weather_days": "station-days", "weather_grid_days": "grid days", "imagery_items": "imagery items"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``validate`` command to the ``agririsk`` sub-command parsers."""
    parser = subparsers.add_parser(
        "validate",
        help="check every input of a region; exit 1 when it is unusable",
        description="Reads region.toml and every file it names, checks them against CONTRACTS.md and "
        "against each other, and prints every problem grouped by file. Exit code 0: usable "
        "(warnings name what is repaired or skipped); 1: unusable (errors say what to fix).",
    )
    add_region_options(
        parser, workspace_help="the region workspace (default: .agririsk/ beside region.toml); validate writes nothing to it"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate the region named by ``args.region``; print the report; return the exit code."""
    from agririsk.inputs.validate import validate_region
    from agririsk.region import Region

    report = Report()
    region_path = Path(args.region)
    root = region_path.expanduser().resolve().parent
    try:
        region = Region.from_toml(region_path)
    except InputError as exc:
        message = str(exc)
        for prefix in (f"{region_path.expanduser().resolve()}: ", f"{region_path}: "):
            if message.startswith(prefix):
                message = message[len(prefix):]
                break
        report.error(str(region_path), "", message)
    else:
        validate_region(region, report=report)
        root = region.root
    quiet = bool(getattr(args, "quiet", False))
    print(format_report(report, root=root, show_info=not quiet))
    return EXIT_OK if report.usable else EXIT_UNUSABLE


def format_report(report: Report, *, root: Path | None = None, show_info: bool = True) -> str:
    """The problems grouped by file (paths relative to ``root``), then a summary line."""
    groups: dict[str, list[Problem]] = defaultdict(list)
    for problem in report.problems:
        if problem.severity == "info" and not show_info:
            continue
        groups[_relative(problem.source, root)].append(problem)
    lines: list[str] = []
    order = {"error": 0, "warning": 1, "info": 2}
    for source, problems in groups.items():
        lines.append(f"{source}:")
        for p in sorted(problems, key=lambda p: order[p.severity]):
            where = f"[{p.where}] " if p.where else ""
            text = f"  {p.severity.upper():7s} {where}{p.what}"
            if p.fix:
                text += f" -> {p.fix}"
            lines.append(text)
    counted = ", ".join(f"{report.counters[key]} {label}" for key, label in _COUNTED.items()
                        if key in report.counters)
    if counted:
        lines.append(f"read: {counted}")
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "usable" if report.usable else "UNUSABLE: fix the errors above"
    lines.append(f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}: region {verdict}")
    return "\n".join(lines)


def _relative(source: str, root: Path | None) -> str:
    if root is None:
        return source
    try:
        return str(Path(source).resolve().relative_to(root))
    except (ValueError, OSError):
        return source
