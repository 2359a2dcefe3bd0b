"""``agririsk classify train|predict``: pixel classification for maps (wired into :mod:`agririsk.cli`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from agririsk._cliargs import positive_int

__all__ = ["add_parser", "run_predict", "run_train"]

logger = logging.getLogger(__name__)


def _band_list(text: str) -> list[str]:
    names = [b.strip() for b in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: give band names separated by commas, e.g. blue,green,red,nir")
    return names


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
    return value


def _folds(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: a cross-validation needs at least 2 folds")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``classify`` command (with ``train`` and ``predict``) to ``subparsers``."""
    p = subparsers.add_parser(
        "classify",
        help="land-cover / crop-type maps from images and labelled polygons or points",
        description="Pixel classification for maps: 'train' fits a classifier on labelled polygons or "
        "points and validates it by spatial blocks; 'predict' writes a class map, a probability map "
        "and a legend. See docs/classify.md.",
    )
    sub = p.add_subparsers(dest="classify_command", metavar="STEP", required=True)
    t = sub.add_parser(
        "train",
        help="fit a pixel classifier and write it with its validation report",
        description="Reads the labelled pixels (polygons: pixel centres inside; points: the pixel they "
        "fall in) from every image, computes features (bands, NDVI/NDWI/NDMI/EVI where the bands allow, "
        "temporal statistics over several images), validates by spatially blocked cross-validation "
        "(overall accuracy, kappa, per-class F1, confusion matrix) and fits the model on all pixels. "
        "Writes MODEL (a zip of a skops model and its metadata) and MODEL.report.md / .report.json.",
    )
    t.add_argument("--image", type=Path, nargs="+", required=True, metavar="PATH",
                   help="one multi-band GeoTIFF per date; the first defines the grid, others are reprojected onto it")
    t.add_argument("--labels", type=Path, required=True, metavar="VECTOR",
                   help="polygons or points (GeoPackage, GeoParquet, GeoJSON, Shapefile), any CRS")
    t.add_argument("--label-column", required=True, metavar="COL", help="the column holding the class (text or integer)")
    t.add_argument("--out", type=Path, required=True, metavar="MODEL", help="where to write the model (e.g. crops.model)")
    t.add_argument("--bands", type=_band_list, metavar="NAMES",
                   help="band names in band order (e.g. blue,green,red,nir,swir16) when the files have no band descriptions")
    t.add_argument("--block-size-m", type=_positive_float, default=1000.0, metavar="M",
                   help="side of the spatial cross-validation blocks in metres (default 1000)")
    t.add_argument("--folds", type=_folds, default=5, metavar="N", help="cross-validation folds (default 5)")
    t.add_argument("--max-pixels", type=positive_int, default=20_000, metavar="N",
                   help="labelled pixels used at most, split evenly over the classes (default 20000)")
    t.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    t.add_argument("--threads", type=positive_int, default=1, metavar="N", help="CPU threads for the model (default 1)")
    t.set_defaults(func=run_train)
    q = sub.add_parser(
        "predict",
        help="write a class map, a probability map and a legend with a trained classifier",
        description="Applies MODEL to the images block by block and writes MAP.tif (uint8 class codes, 0 = "
        "nodata, tags class_<code>=<label>), MAP_probability.tif (percent probability of the predicted "
        "class, 255 = nodata), both Cloud-Optimized GeoTIFFs, and MAP_legend.csv (code,label,pixels_trained).",
    )
    q.add_argument("--model", type=Path, required=True, metavar="MODEL", help="a model written by 'agririsk classify train'")
    q.add_argument("--image", type=Path, nargs="+", required=True, metavar="PATH",
                   help="as many images as in training, same bands, same date order")
    q.add_argument("--out", type=Path, required=True, metavar="MAP.tif", help="the class map to write")
    q.add_argument("--bands", type=_band_list, metavar="NAMES", help="band names in band order, as for train")
    q.add_argument("--threads", type=positive_int, default=1, metavar="N", help="CPU threads for the model (default 1)")
    q.set_defaults(func=run_predict)
    return p


def _progress(args: argparse.Namespace, label: str):  # noqa: ANN202
    from agririsk._progress import Progress

    return Progress(label, enabled=not getattr(args, "quiet", False))


def run_train(args: argparse.Namespace) -> int:
    """Run ``classify train``: print the validation report, write model and report; 0 when done."""
    from agririsk.imagery.classify import (
        format_report,
        save_classifier,
        train_classifier,
        write_report,
    )

    model, report = train_classifier(
        args.image, args.labels, args.label_column, bands=args.bands, block_size_m=args.block_size_m,
        folds=args.folds, max_pixels=args.max_pixels, seed=args.seed, threads=args.threads,
        progress=_progress(args, "classify train"),
    )
    save_classifier(model, args.out)
    md, js = write_report(report, args.out)
    print(format_report(report))
    print(f"wrote {args.out}, {md} and {js}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Run ``classify predict``: write the class map, probability map and legend; 0 when done."""
    from agririsk.imagery.classify import load_classifier, predict_map

    model = load_classifier(args.model)
    paths = predict_map(model, args.image, args.out, bands=args.bands, threads=args.threads,
                        progress=_progress(args, "classify predict"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
