"""The ``agririsk`` command line. The only place that configures logging and exit codes.

Exit codes: 0 success; 1 bad input (the message says what and where); 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from agririsk._cliargs import (
    add_parallel_options,
    add_region_options,
    date_arg,
    parallel_from_args,
    positive_int,
)

logger = logging.getLogger("agririsk")

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2
#: the demo's monitoring runs step through the season this many days apart (a cron every two weeks)
MONITOR_DEMO_DAYS = 15


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="pre-loan scores for every farmer of a region",
        description="Pre-loan scores for every farmer: pd, score, grade, decision, reasons and "
        "data_quality, from what was known on the as-of date (no imagery after it is read). "
        "Writes scores.parquet (GeoParquet) and scores.csv to --out. With an as-of date inside the "
        "season (a mid-season re-score), the season's fields are also classified by crop type from "
        "its images so far and compared with the declared crops: the scores carry "
        "crop_mismatch_share and parcel_crops.csv lists every field's predicted crop.",
    )
    add_region_options(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--as-of", type=date_arg, metavar="DATE", help="decision date YYYY-MM-DD (default: season.start)")
    p.add_argument("--model", type=Path, metavar="FILE", help="a model written by 'agririsk train' (default: the expert scorecard)")
    add_parallel_options(p)
    p.add_argument("--include-personal-data", action="store_true", help="add name, national_id and phone to the outputs")
    p.set_defaults(func=run_score)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fit the PD model on the region's loan history and write it with its validation report",
        description="Rebuilds, for every past loan, the features a pre-loan score would have seen at its "
        "season's start; fits the scorecard weights on the outcomes; validates out of time (earlier "
        "seasons vs the latest); writes MODEL_FILE (JSON, hashed) and MODEL_FILE's .report.md / .report.json.",
    )
    add_region_options(p)
    p.add_argument("--out", type=Path, required=True, metavar="MODEL_FILE", help="where to write the model (e.g. model.json)")
    add_parallel_options(p)
    p.set_defaults(func=run_train)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="make the bundled sample region and run validate, score, monitor and export on it",
        description="Makes the sample region (agririsk sample-region) in OUT/region, validates it, "
        "scores it into OUT/scores, monitors the season (OUT/monitor.sqlite) and exports the maps "
        "into OUT/maps, then prints a summary.",
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR", help="output folder (default: demo-output)")
    p.add_argument("--seed", type=int, default=0, help="sample region seed (default 0)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N", help="processes for the imagery reduction")
    p.set_defaults(func=run_demo)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="risk maps and files for people and GIS",
        description="Writes scores.csv/.parquet, parcels_risk.gpkg/.parquet, risk_map.png (A4) and "
        "risk_map.html (interactive, works offline) to --out. Scores come from --scores (the output "
        "of 'agririsk score') or are computed with the expert scorecard.",
    )
    add_region_options(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--scores", type=Path, metavar="FILE", help="scores.parquet or scores.csv from 'agririsk score'")
    p.add_argument("--db", type=Path, metavar="FILE", help="the monitoring store of 'agririsk monitor': adds alerts.csv, alerts.geojson and open alerts on the maps")
    p.add_argument("--as-of", type=date_arg, metavar="DATE", help="date of the scores (default: season.start)")
    p.add_argument("--condition-date", type=date_arg, metavar="DATE",
                   help="crop condition (risk_map.tif, the maps' background) from the latest clear image up to "
                   "this date (default: the last monitoring run of --db, else --as-of)")
    p.add_argument("--include-personal-data", action="store_true", help="add name, national_id and phone to the score files")
    p.set_defaults(func=run_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agririsk",
        description="Farm credit risk from satellite imagery, weather and farmer records. "
        "Formats: CONTRACTS.md; each command has --help.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress")
    parser.add_argument("--debug", action="store_true", help="show the traceback of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    from agririsk.sample.cli import add_parser as add_sample

    add_sample(sub)
    from agririsk.inputs.cli_validate import add_parser as add_validate

    add_validate(sub)
    _add_score(sub)
    _add_train(sub)
    from agririsk.monitoring.cli import add_parser as add_monitor

    add_monitor(sub)
    _add_export(sub)
    from agririsk.imagery.classify_cli import add_parser as add_classify

    add_classify(sub)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if verbose == 0 else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("agririsk")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # per-row input problems are printed by the commands in one grouped report
    logging.getLogger("agririsk.inputs.report").setLevel(logging.ERROR if verbose == 0 else level)


def _progress(args: argparse.Namespace, label: str):  # noqa: ANN202
    from agririsk._progress import Progress

    return Progress(label, enabled=not args.quiet)


def run_score(args: argparse.Namespace) -> int:
    from agririsk.export.tables import write_json, write_manifest, write_scores
    from agririsk.pipeline import score_region
    from agririsk.region import Region

    region = Region.from_toml(args.region)
    model = None
    if getattr(args, "model", None):
        from agririsk.scoring.trained import load_model

        model, meta = load_model(args.model)
        logger.info("model %s: trained on seasons %s", args.model, meta.get("training_seasons"))
    t0 = time.monotonic()
    run = score_region(
        region, as_of=args.as_of, workspace=args.workspace, workers=parallel_from_args(args),
        progress=_progress(args, "imagery items"), model=model,
    )
    personal = None
    if args.include_personal_data:
        from agririsk.inputs import read_farmers

        personal = read_farmers(region.farmers_path, run.report, include_personal=True)
        personal = personal[[c for c in ("farmer_id", "name", "national_id", "phone") if c in personal]]
    paths = write_scores(run.scores, args.out, personal=personal)
    crops = run.parcel_crops
    if crops is not None and crops["predicted_crop"].notna().any():
        from agririsk.export.tables import write_parcel_crops

        paths["parcel_crops.csv"] = write_parcel_crops(crops, args.out)
    write_json(
        Path(args.out) / "score_report.json",
        {
            "region": region.name, "as_of": run.as_of, "model": str(args.model) if getattr(args, "model", None) else "expert scorecard", "past_seasons": [s.start.year for s in run.seasons],
            "items_used": run.items_used, "farmers": len(run.scores),
            "fields_crop_checked": 0 if crops is None else int(crops["predicted_crop"].notna().sum()),
            "fields_crop_mismatch": 0 if crops is None else int(crops["crop_mismatch"].fillna(False).astype(bool).sum()),
            "seconds": round(time.monotonic() - t0, 1),
            "problems": run.report.to_records(), "counters": dict(run.report.counters),
        },
    )
    write_manifest(args.out, {**paths, "score_report.json": Path(args.out) / "score_report.json"},
                   personal_data=personal is not None, region=region.name, as_of=run.as_of)
    _print_score_summary(run.scores, run.report)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return EXIT_OK


def _print_score_summary(scores, report) -> None:  # noqa: ANN001
    n = len(scores)
    print(f"\n{n} farmers scored")
    grades = scores["grade"].replace("", "-").value_counts().sort_index()
    print("  grade     " + "  ".join(f"{g}:{c}" for g, c in grades.items()))
    decisions = scores["decision"].value_counts()
    print("  decision  " + "  ".join(f"{d}:{c}" for d, c in decisions.items()))
    ok = (scores["data_quality"] == "ok").sum()
    print(f"  data ok   {ok} of {n}" + ("" if ok == n else f" ({n - ok} with limited evidence: see data_quality)"))
    if scores["pd"].notna().any():
        print(f"  mean pd   {scores['pd'].mean():.3f}   median score {scores['score'].median():.0f}")
    if report.problems:
        print(f"  input problems: {len(report.errors)} errors, {len(report.warnings)} warnings "
              "(agririsk validate lists them)")


def run_train(args: argparse.Namespace) -> int:
    from agririsk.region import Region
    from agririsk.training import train_region

    region = Region.from_toml(args.region)
    result = train_region(region, args.out, workspace=args.workspace, workers=parallel_from_args(args),
                          progress=_progress(args, "imagery items"))
    doc = result.report
    no_imagery = sum(s["loans"] for s in doc.get("seasons_without_imagery", []))
    print(f"trained on {doc['loans_used']} loans of seasons {', '.join(map(str, doc['seasons']))} "
          f"({doc['defaults']} defaults; {doc['loans_left_out']} left out for too little imagery"
          + (f", {no_imagery} of seasons with no imagery before them" if no_imagery else "") + ")")
    oot = doc["out_of_time"]
    if "trained" in oot:
        t, e = oot["trained"], oot["expert"]
        print(f"out of time ({oot['test_season']}): AUC {t['auc']:.3f} trained vs {e['auc']:.3f} expert; "
              f"KS {t['ks']:.3f}; Brier {t['brier']:.4f}")
    else:
        print(oot["note"])
    print(f"wrote {args.out} and {Path(args.out).with_suffix('.report.md')}")
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from agririsk.export.run import export_region, read_scores
    from agririsk.region import Region

    region = Region.from_toml(args.region)
    scores = read_scores(args.scores) if args.scores else None
    personal = None
    if args.include_personal_data:
        from agririsk.inputs import Report, read_farmers

        personal = read_farmers(region.farmers_path, Report(), include_personal=True)
        personal = personal[[c for c in ("farmer_id", "name", "national_id", "phone") if c in personal]]
    written = export_region(region, args.out, scores=scores, as_of=args.as_of, workspace=args.workspace,
                            personal=personal, db=args.db, condition_date=args.condition_date)
    print("wrote " + ", ".join(str(p) for p in written.values()))
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from agririsk.inputs.cli_validate import run as run_validate
    from agririsk.sample import make_sample_region

    out = Path(args.out)
    t0 = time.monotonic()
    print(f"1/5 making the sample region in {out / 'region'} (seed {args.seed})")
    region_toml = make_sample_region(out / "region", seed=args.seed, progress=_progress(args, "sample items"))
    print(f"    done in {time.monotonic() - t0:.0f}s\n2/5 validating {region_toml}")
    vargs = argparse.Namespace(region=region_toml, workspace=None, quiet=args.quiet, verbose=args.verbose)
    rc = run_validate(vargs)
    if rc != EXIT_OK:
        return rc
    print(f"3/5 scoring into {out / 'scores'}")
    sargs = argparse.Namespace(
        region=region_toml, workspace=None, out=out / "scores", as_of=None, workers=args.workers,
        include_personal_data=False, quiet=args.quiet, verbose=args.verbose,
    )
    rc = run_score(sargs)
    if rc != EXIT_OK:
        return rc
    from agririsk.region import Region

    region = Region.from_toml(region_toml)
    print(f"4/5 monitoring the season {region.season.start} .. {region.season.end} every {MONITOR_DEMO_DAYS} days")
    from agririsk.monitoring import monitor_region

    db = out / "monitor.sqlite"
    day = region.season.start
    while day <= region.season.end + dt.timedelta(days=MONITOR_DEMO_DAYS):
        summary = monitor_region(region, db=db, as_of=day, workers=args.workers)
        day += dt.timedelta(days=MONITOR_DEMO_DAYS)
    print(summary.format())
    print(f"5/5 exporting maps into {out / 'maps'}")
    from agririsk.export.run import export_region, grain_fill_date, read_scores

    fill = grain_fill_date(region)
    print(f"    crop condition from the latest clear image up to mid grain-fill of the declared crops ({fill}); "
          "after the harvest every field would be bare")
    export_region(region, out / "maps", scores=read_scores(out / "scores" / "scores.parquet"), db=db,
                  condition_date=fill)
    print(f"\ndemo finished in {time.monotonic() - t0:.0f}s")
    print(f"  scores   {out / 'scores' / 'scores.csv'}")
    print(f"  alerts   {out / 'maps' / 'alerts.csv'} (store: {db})")
    print(f"  map      {out / 'maps' / 'risk_map.png'}  (A4) and {out / 'maps' / 'risk_map.html'} (open in a browser, works offline)")
    print(f"  GIS      {out / 'maps' / 'parcels_risk.gpkg'} and {out / 'maps' / 'risk_map.tif'} (crop condition, COG)")
    return rc


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    from agririsk.errors import AgririskError

    try:
        return int(args.func(args) or 0)
    except AgririskError as exc:
        print(f"agririsk: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("agririsk: interrupted; finished work is kept in the workspace, run again to resume.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns crashes into one paragraph
        if args.debug:
            raise
        print(
            f"agririsk: internal error: {type(exc).__name__}: {exc}. This is a bug in agririsk, not in "
            "your files; run again with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
