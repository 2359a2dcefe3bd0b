"""Pixel classification (land cover, crop type) from multi-band GeoTIFFs and labelled polygons or points.

>>> model, report = train_classifier(["s2_0629.tif", "s2_0724.tif"], "labels.gpkg", "crop")  # doctest: +SKIP
>>> save_classifier(model, "crops.model")                                                   # doctest: +SKIP
>>> predict_map(load_classifier("crops.model"), ["s2_0629.tif", "s2_0724.tif"], "crops.tif")  # doctest: +SKIP

The method, the validation and the limits are in docs/classify.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agririsk.errors import (
    CRSMismatchError,
    InputError,
    MissingColumnError,
    MissingFileError,
    NoDataError,
)
from agririsk.imagery._classify_model import (
    MODEL_FORMAT,
    ClassifierModel,
    load_classifier,
    publish,
    save_classifier,
)
from agririsk.imagery.indices import evi, ndmi, ndvi, ndwi

__all__ = [
    "ClassifierModel",
    "available_indices",
    "band_names_of",
    "format_report",
    "load_classifier",
    "pixel_features",
    "predict_map",
    "save_classifier",
    "train_classifier",
    "write_report",
]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: S2 band codes and other sensors' names of the bands the indices need (lower case)
BAND_ALIASES = {
    "b02": "blue", "b03": "green", "b04": "red", "b08": "nir", "b11": "swir16", "b12": "swir22",
    "nir08": "nir", "swir1": "swir16", "swir2": "swir22",
}
#: index name -> the bands it needs, in the argument order of agririsk.imagery.indices
INDEX_BANDS = {"ndvi": ("red", "nir"), "ndwi": ("green", "nir"), "ndmi": ("nir", "swir16"), "evi": ("blue", "red", "nir")}
_INDEX_FUNCS: dict[str, Callable[..., np.ndarray]] = {"ndvi": ndvi, "ndwi": ndwi, "ndmi": ndmi, "evi": evi}
BLOCK = 512
MAX_CLASSES = 254


# --------------------------------------------------------------------------- features


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return BAND_ALIASES.get(key, key)


def available_indices(band_names: Sequence[str], reflectance: bool) -> list[str]:
    """The indices that ``band_names`` allow: NDVI, NDWI, NDMI, and EVI when values are reflectance.

    EVI's ``+1`` term needs reflectance (0-1); NDVI/NDWI/NDMI are ratios and also work on
    unscaled digital numbers with zero offset.
    """
    have = set(band_names)
    return [
        name for name, need in INDEX_BANDS.items()
        if set(need) <= have and (name != "evi" or reflectance)
    ]


def pixel_features(
    values: np.ndarray, band_names: Sequence[str], indices: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Per-pixel features: every band and index of every date, and temporal statistics.

    Parameters
    ----------
    values : float array (dates, bands, pixels) of reflectance (or scaled values).
    band_names : canonical band names, one per band (``red``, ``nir``, ...).
    indices : names from :data:`INDEX_BANDS` to compute (see :func:`available_indices`).

    Returns
    -------
    X : float32 (pixels, features); NaN where an index is undefined (gradient boosting
        handles missing values).
    names : feature names: ``<band>``/``<index>`` for one date, ``d<k>_<band>`` for date k of
        several, and ``<stat>_<index>`` (mean, std, min, max, range) over the dates; with no
        index, the statistics are of the bands.
    """
    values = np.asarray(values, dtype=np.float32)
    n_dates, n_bands, n = values.shape
    if n_bands != len(band_names):
        raise ValueError(f"{n_bands} bands but {len(band_names)} names")
    pos = {b: i for i, b in enumerate(band_names)}
    cols: list[np.ndarray] = []
    names: list[str] = []
    per_index: dict[str, list[np.ndarray]] = {}
    for t in range(n_dates):
        prefix = f"d{t + 1}_" if n_dates > 1 else ""
        for b, name in enumerate(band_names):
            cols.append(values[t, b])
            names.append(prefix + name)
        for idx in indices:
            v = _INDEX_FUNCS[idx](*(values[t, pos[b]] for b in INDEX_BANDS[idx]))
            cols.append(v)
            names.append(prefix + idx)
            per_index.setdefault(idx, []).append(v)
    if n_dates > 1:
        series = per_index or {b: [values[t, pos[b]] for t in range(n_dates)] for b in band_names}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
            for idx, vs in series.items():
                s = np.stack(vs)
                lo, hi = np.nanmin(s, axis=0), np.nanmax(s, axis=0)
                for stat, v in (("mean", np.nanmean(s, axis=0)), ("std", np.nanstd(s, axis=0)),
                                ("min", lo), ("max", hi), ("range", hi - lo)):
                    cols.append(v)
                    names.append(f"{stat}_{idx}")
    X = np.stack(cols, axis=1).astype(np.float32) if cols else np.empty((n, 0), np.float32)
    return X, names


# --------------------------------------------------------------------------- images


def band_names_of(path: str | Path, bands: Sequence[str] | None = None) -> list[str]:
    """Canonical band names of a GeoTIFF: ``bands`` if given, else its band descriptions.

    Raises :class:`~agririsk.errors.InputError` when neither names every band.
    """
    import rasterio

    with rasterio.open(path) as ds:
        return _names(Path(path), ds.descriptions, bands)


def _names(path: Path, descriptions: Sequence[str | None], bands: Sequence[str] | None) -> list[str]:
    n = len(descriptions)
    if bands:
        if len(bands) != n:
            raise InputError(
                f"{path}: the image has {n} bands but --bands names {len(bands)} ({', '.join(bands)}); "
                "give one name per band, in band order."
            )
        names = [_canonical(b) for b in bands]
    elif all(descriptions):
        names = [_canonical(str(d)) for d in descriptions]
    else:
        raise InputError(
            f"{path}: band {descriptions.index(None) + 1 if None in descriptions else '?'} has no "
            "description, so its name is unknown; give the names of all bands with --bands "
            "(e.g. --bands blue,green,red,nir,swir16) or write band descriptions into the file."
        )
    dup = sorted({b for b in names if names.count(b) > 1})
    if dup:
        raise InputError(f"{path}: band name(s) {', '.join(dup)} appear more than once; band names must be unique.")
    return names


@dataclass
class _Grid:
    crs: Any
    transform: Any
    width: int
    height: int


class _ImageStack:
    """Several dates' images read together on the first image's grid, window by window."""

    def __init__(self, paths: Sequence[str | Path], bands: Sequence[str] | None, order: Sequence[str] | None):
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        if not paths:
            raise InputError("no image given; name one or more GeoTIFFs with --image.")
        self._stack = contextlib.ExitStack()
        self.paths = [Path(p) for p in paths]
        self.readers: list[Any] = []
        self.indexes: list[list[int]] = []
        self.scales: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []
        self.reflectance = True
        try:
            for k, path in enumerate(self.paths):
                if not path.exists():
                    raise MissingFileError(f"{path}: image not found.")
                try:
                    ds = self._stack.enter_context(rasterio.open(path))
                except rasterio.errors.RasterioIOError as exc:
                    raise InputError(f"{path}: not a readable raster ({exc}); give a GeoTIFF.") from None
                if ds.crs is None:
                    raise CRSMismatchError(f"{path}: the image has no CRS; write one into the file (e.g. gdal_edit.py -a_srs EPSG:32651).")
                names = _names(path, ds.descriptions, bands)
                if k == 0:
                    self.band_names = list(order) if order is not None else names
                    self.grid = _Grid(ds.crs, ds.transform, ds.width, ds.height)
                missing = [b for b in self.band_names if b not in names]
                extra = [b for b in names if b not in self.band_names]
                if missing or (order is None and extra):
                    what = "the model was trained on" if order is not None else f"the first image {self.paths[0]} has"
                    raise InputError(
                        f"{path}: bands {', '.join(names)} do not match: {what} bands "
                        f"{', '.join(self.band_names)}"
                        + (f" (missing here: {', '.join(missing)})" if missing else "")
                        + ". Every image must carry the same bands (names from the band descriptions or --bands)."
                    )
                idx = [names.index(b) + 1 for b in self.band_names]
                self.indexes.append(idx)
                self.scales.append(np.array([ds.scales[i - 1] for i in idx], np.float32)[:, None, None])
                self.offsets.append(np.array([ds.offsets[i - 1] for i in idx], np.float32)[:, None, None])
                scaled = any(ds.scales[i - 1] != 1 for i in idx)
                floats = all(np.dtype(ds.dtypes[i - 1]).kind == "f" for i in idx)
                self.reflectance &= scaled or floats
                g = self.grid
                if ds.crs == g.crs and ds.transform == g.transform and (ds.width, ds.height) == (g.width, g.height):
                    self.readers.append(ds)
                else:
                    logger.info("%s: reprojected onto the grid of %s", path, self.paths[0])
                    vrt_opts: dict[str, Any] = dict(crs=g.crs, transform=g.transform, width=g.width,
                                                   height=g.height, resampling=Resampling.nearest)
                    if ds.nodata is not None:
                        vrt_opts["nodata"] = ds.nodata
                    else:
                        vrt_opts["add_alpha"] = True
                    self.readers.append(self._stack.enter_context(WarpedVRT(ds, **vrt_opts)))
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self) -> _ImageStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def windows(self) -> list[Any]:
        from rasterio.windows import Window

        g = self.grid
        return [
            Window(c, r, min(BLOCK, g.width - c), min(BLOCK, g.height - r))
            for r in range(0, g.height, BLOCK) for c in range(0, g.width, BLOCK)
        ]

    def read(self, window: Any) -> tuple[np.ndarray, np.ndarray]:
        """(dates, bands, h, w) float32 scaled values and the (h, w) mask of pixels valid everywhere."""
        out = np.empty((len(self.readers), len(self.band_names), int(window.height), int(window.width)), np.float32)
        valid = np.ones(out.shape[2:], bool)
        for t, src in enumerate(self.readers):
            idx = self.indexes[t]
            arr = src.read(indexes=idx, window=window, out_dtype="float32")
            masks = src.read_masks(indexes=idx, window=window)
            valid &= (masks > 0).all(axis=0) & np.isfinite(arr).all(axis=0)
            out[t] = arr * self.scales[t] + self.offsets[t]
        out[:, :, ~valid] = np.nan
        return out, valid


# --------------------------------------------------------------------------- labels


def _read_labels(path: str | Path, label_column: str, crs: Any) -> tuple[Any, list[Any]]:
    """Labels reprojected to ``crs``: a GeoDataFrame (label, geometry, fid) and the sorted classes."""
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: labels file not found.")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputError(
            f"{path}: cannot read the labels ({type(exc).__name__}: {exc}); give a GeoPackage, "
            "GeoParquet, GeoJSON or Shapefile of polygons or points."
        ) from None
    if label_column not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        raise MissingColumnError(
            f"{path}: no label column {label_column!r}; the columns present are {', '.join(cols) or '(none)'}. "
            "Name the column that holds the class with --label-column."
        )
    if gdf.crs is None:
        raise CRSMismatchError(f"{path}: the labels have no CRS; save them with one (e.g. EPSG:4326).")
    gdf = gdf[[label_column, gdf.geometry.name]].rename(columns={label_column: "label"})
    gdf = gdf.set_geometry(gdf.geometry.name)
    bad = gdf["label"].isna() | gdf.geometry.isna() | gdf.geometry.is_empty
    if bad.any():
        logger.warning("%s: %d feature(s) without a label or geometry are skipped", path, int(bad.sum()))
        gdf = gdf[~bad]
    kinds = gdf.geometry.geom_type
    lines = ~kinds.isin(["Point", "MultiPoint", "Polygon", "MultiPolygon"])
    if lines.any():
        logger.warning("%s: %d feature(s) that are neither points nor polygons (%s) are skipped",
                       path, int(lines.sum()), ", ".join(sorted(set(kinds[lines]))))
        gdf = gdf[~lines]
    labels = gdf["label"]
    if labels.dtype.kind == "f" and np.all(np.mod(labels.to_numpy(), 1) == 0):
        labels = labels.astype("int64")  # an integer column that had missing values
    if labels.dtype.kind not in "iu":
        labels = labels.astype(str)
    gdf = gdf.assign(label=labels.to_numpy()).to_crs(crs)
    gdf["fid"] = np.arange(1, len(gdf) + 1, dtype=np.int32)
    classes = sorted({v.item() if hasattr(v, "item") else v for v in gdf["label"]})
    return gdf.reset_index(drop=True), classes


def _rasterize(gdf: Any, window: Any, transform: Any) -> np.ndarray:
    """Feature ids (1..n, 0 = none) of the pixels whose centre a polygon covers or a point falls in."""
    from rasterio.features import rasterize
    from rasterio.windows import bounds as window_bounds
    from rasterio.windows import transform as window_transform

    shape = (int(window.height), int(window.width))
    hits = gdf.sindex.query(_box(window_bounds(window, transform)))
    if len(hits) == 0:
        return np.zeros(shape, np.int32)
    sub = gdf.iloc[np.sort(hits)]
    return rasterize(zip(sub.geometry, sub["fid"].tolist(), strict=True), out_shape=shape,
                     transform=window_transform(window, transform), fill=0, dtype="int32")


def _box(bounds: tuple[float, float, float, float]) -> Any:
    from shapely.geometry import box

    return box(*bounds)


# --------------------------------------------------------------------------- training


def _estimator(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=50, learning_rate=0.15, max_leaf_nodes=15, l2_regularization=1.0,
        class_weight="balanced", early_stopping=False, random_state=seed,
    )


def _pixel_size_m(grid: _Grid) -> float:
    res = abs(grid.transform.a)
    if grid.crs.is_geographic:
        lat = grid.transform.f + grid.transform.e * grid.height / 2
        return res * 111_320.0 * math.cos(math.radians(lat))
    return res * float(grid.crs.linear_units_factor[1])


def train_classifier(
    images: Sequence[str | Path],
    labels: str | Path,
    label_column: str,
    *,
    bands: Sequence[str] | None = None,
    block_size_m: float = 1000.0,
    folds: int = 5,
    max_pixels: int = 20_000,
    seed: int = 0,
    threads: int = 1,
    progress: Progress | None = None,
) -> tuple[ClassifierModel, dict[str, Any]]:
    """Fit a pixel classifier on labelled polygons or points and validate it by spatial blocks.

    Parameters
    ----------
    images : one GeoTIFF per date, all with the same bands; the first defines the grid, the
        others are reprojected onto it (nearest neighbour).
    labels : polygons or points (GeoPackage, GeoParquet, GeoJSON, Shapefile), any CRS.
    label_column : the column holding the class (string or integer), kept exactly as written.
    bands : band names in band order when the files carry no band descriptions.
    block_size_m : side of the square spatial blocks of the cross-validation, metres.
    folds : number of cross-validation folds (fewer when there are fewer blocks).
    max_pixels : at most this many labelled pixels are used, at most ``max_pixels / K`` per class.
    seed : random seed of the subsample, the folds and the model.
    threads : OpenMP threads for scikit-learn.
    progress : called as ``progress(done, total)`` over the windows read and the fits.

    Returns
    -------
    (model, report): the model fitted on all sampled pixels and the validation report (a
    JSON-able dict; :func:`format_report` renders it).

    Raises
    ------
    MissingColumnError : the label column is not in the labels file.
    NoDataError : no labelled pixel with data in every image, or fewer than two classes.
    """
    import sklearn.ensemble  # noqa: F401 - load its OpenMP runtime before threadpool_limits, or the limit misses it
    from threadpoolctl import threadpool_limits

    labels = Path(labels)
    with _ImageStack(images, bands, None) as stack:
        gdf, classes = _read_labels(labels, label_column, stack.grid.crs)
        indices = available_indices(stack.band_names, stack.reflectance)
        wins = [w for w in stack.windows() if len(gdf.sindex.query(_box(_win_bounds(w, stack.grid.transform))))]
        total = len(wins) + max(folds, 1) + 1
        feats, fids, rows, cols = [], [], [], []
        names: list[str] = []
        for k, win in enumerate(wins):
            ids = _rasterize(gdf, win, stack.grid.transform)
            if ids.any():
                values, valid = stack.read(win)
                take = (ids > 0) & valid
                if take.any():
                    X, names = pixel_features(values[:, :, take], stack.band_names, indices)
                    r, c = np.nonzero(take)
                    feats.append(X)
                    fids.append(ids[take])
                    rows.append(r + int(win.row_off))
                    cols.append(c + int(win.col_off))
            if progress:
                progress(k + 1, total)
        grid, band_names, reflectance = stack.grid, stack.band_names, stack.reflectance
    if not feats:
        raise NoDataError(
            f"{labels}: no labelled pixel has data in every image: the labels lie outside the images "
            f"({', '.join(str(p) for p in images)}) or only on nodata. Check that both cover the same area."
        )
    X = np.concatenate(feats)
    fid = np.concatenate(fids)
    row, col = np.concatenate(rows), np.concatenate(cols)
    label_of = gdf["label"].to_numpy()[fid - 1]
    counts = pd.Series(label_of).value_counts()
    feats_per_class = gdf.loc[gdf["fid"].isin(np.unique(fid)), "label"].value_counts()
    absent = [c for c in classes if counts.get(c, 0) == 0]
    warn: list[str] = []
    for c in absent:
        n_feat = int((gdf["label"] == c).sum())
        msg = (f"{labels}: class {c!r} ({label_column}) has no labelled pixel with data inside the images "
               f"({n_feat} feature(s), all outside the image area or on nodata); it is left out of the model.")
        logger.warning(msg)
        warn.append(msg)
    present = [c for c in classes if c not in absent]
    if len(present) < 2:
        raise NoDataError(
            f"{labels}: only {len(present)} class ({', '.join(map(repr, present))}) has labelled pixels "
            "inside the images; a classifier needs at least two."
        )
    if len(present) > MAX_CLASSES:
        raise InputError(f"{labels}: {len(present)} classes; the class map holds at most {MAX_CLASSES}.")
    code_of = {c: i + 1 for i, c in enumerate(present)}
    y = np.array([code_of[v] for v in label_of], np.int64)

    rng = np.random.default_rng(seed)
    per_class = max(1, max_pixels // len(present))
    keep = np.concatenate([
        rng.choice(np.flatnonzero(y == k), min(per_class, int((y == k).sum())), replace=False)
        for k in code_of.values()
    ])
    keep.sort()
    X, y, fid, row, col = X[keep], y[keep], fid[keep], row[keep], col[keep]

    pix_m = _pixel_size_m(grid)
    block_px = max(1, round(block_size_m / pix_m))
    # each feature (polygon or point) goes whole into the block of its mean pixel
    f_row = pd.Series(row).groupby(fid).transform("mean").to_numpy()
    f_col = pd.Series(col).groupby(fid).transform("mean").to_numpy()
    n_bcols = math.ceil(grid.width / block_px)
    groups = (f_row // block_px).astype(np.int64) * n_bcols + (f_col // block_px).astype(np.int64)
    with threadpool_limits(threads):
        validation = _cross_validate(X, y, groups, folds, seed, present, code_of,
                                     progress=(lambda d, _t: progress(len(wins) + d, total)) if progress else None)
        estimator = _estimator(seed).fit(X, y)
    if progress:
        progress(total, total)
    validation.update(block_size_m=block_size_m, block_pixels=block_px)
    blocks_of = pd.Series(groups).groupby(y).nunique()
    lone = [c for c in present if blocks_of.get(code_of[c], 0) < 2]
    if "overall_accuracy" in validation and lone:
        validation["note"] = (
            f"class(es) {', '.join(map(repr, lone))} lie in a single {block_size_m:g} m block: in the "
            "cross-validation they are predicted by models that never saw them, so their recall is 0 by "
            "construction. Label them in more places, or give a smaller --block-size-m."
        )
    if "note" in validation:
        logger.warning(validation["note"])
        warn.append(validation["note"])
    trained = pd.Series(y).value_counts()
    class_rows = [
        {"code": code_of[c], "label": c, "pixels": int(counts[c]), "features": int(feats_per_class.get(c, 0)),
         "blocks": int(blocks_of.get(code_of[c], 0)),
         "pixels_trained": int(trained.get(code_of[c], 0))}
        for c in present
    ]
    meta = {
        "format": MODEL_FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "bands": band_names, "n_images": len(images), "indices": indices, "reflectance": reflectance,
        "features": names, "label_column": label_column, "labels_file": labels.name,
        "classes": [{k: r[k] for k in ("code", "label", "pixels_trained")} for r in class_rows],
        "training_images": [Path(p).name for p in images],
        "crs": grid.crs.to_string(), "resolution": [abs(grid.transform.a), abs(grid.transform.e)],
        "estimator": type(estimator).__name__, "params": {k: v for k, v in estimator.get_params().items() if v is None or isinstance(v, (int, float, str, bool))},
    }
    report = {
        "images": [str(p) for p in images], "labels": str(labels), "label_column": label_column,
        "crs": meta["crs"], "grid": {"width": grid.width, "height": grid.height, "pixel_size_m": round(pix_m, 3)},
        "bands": band_names, "indices": indices, "n_features": len(names),
        "classes": class_rows, "classes_absent": absent, "warnings": warn,
        "pixels_labelled": int(len(label_of)), "pixels_used": int(len(y)),
        "validation": validation, "model": {"estimator": meta["estimator"], "params": meta["params"]},
    }
    return ClassifierModel(estimator, meta), report


def _win_bounds(window: Any, transform: Any) -> tuple[float, float, float, float]:
    from rasterio.windows import bounds

    return bounds(window, transform)


def _cross_validate(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int,
    present: list[Any], code_of: dict[Any, int], progress: Progress | None,
) -> dict[str, Any]:
    """Out-of-fold predictions with whole spatial blocks held out; pooled metrics."""
    from sklearn.metrics import (
        accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    k = min(folds, n_groups)
    out: dict[str, Any] = {"method": "spatially blocked cross-validation (StratifiedGroupKFold over square blocks; "
                           "each polygon or point wholly in one fold)", "blocks": int(n_groups), "folds": int(k)}
    if k < 2:
        out["note"] = (f"the labelled pixels lie in {n_groups} spatial block(s): too few for a blocked "
                       "cross-validation, so the model is not validated; spread the labels wider or give a smaller --block-size-m.")
        return out
    pred = np.zeros_like(y)
    fold_acc = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
        splits = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y, groups))
    for i, (tr, te) in enumerate(splits):
        if len(np.unique(y[tr])) < 2:
            pred[te] = y[tr][0]
        else:
            pred[te] = _estimator(seed).fit(X[tr], y[tr]).predict(X[te])
        fold_acc.append(float(accuracy_score(y[te], pred[te])))
        if progress:
            progress(i + 1, k)
    codes = [code_of[c] for c in present]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=codes, zero_division=0)
    out.update(
        pixels=int(len(y)),
        overall_accuracy=float(accuracy_score(y, pred)),
        kappa=float(cohen_kappa_score(y, pred, labels=codes)),
        fold_accuracy=fold_acc,
        per_class=[{"label": c, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                   for i, c in enumerate(present)],
        confusion_matrix={"labels": present, "rows": "true class", "columns": "predicted class",
                          "counts": confusion_matrix(y, pred, labels=codes).tolist()},
    )
    return out


def format_report(report: dict[str, Any]) -> str:
    """The validation report as Markdown (readable as plain text)."""
    v = report["validation"]
    lines = [
        "# Pixel classification: validation report", "",
        f"- images: {', '.join(report['images'])}",
        f"- labels: {report['labels']} (column `{report['label_column']}`), CRS of the grid {report['crs']}",
        f"- features: {report['n_features']} from bands {', '.join(report['bands'])}"
        + (f" and indices {', '.join(report['indices'])}" if report["indices"] else ""),
        f"- labelled pixels with data: {report['pixels_labelled']}; used: {report['pixels_used']} "
        f"(class weights balanced)",
        f"- validation: {v['method']}; blocks of {v['block_size_m']:g} m ({v['block_pixels']} pixels), "
        f"{v['blocks']} blocks, {v['folds']} folds", "",
        "| code | class | features | blocks | pixels | pixels trained |", "|---:|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {c['code']} | {c['label']} | {c['features']} | {c['blocks']} | {c['pixels']} | {c['pixels_trained']} |"
              for c in report["classes"]]
    for w in report["warnings"]:
        lines += ["", f"**warning**: {w}"]
    if "overall_accuracy" not in v:
        return "\n".join(lines) + "\n"
    accs = np.array(v["fold_accuracy"])
    lines += [
        "", f"**overall accuracy {v['overall_accuracy']:.3f}**, **kappa {v['kappa']:.3f}** on {v['pixels']} held-out "
        f"pixels (fold accuracies {accs.min():.3f}-{accs.max():.3f})", "",
        "| class | precision | recall | F1 | pixels |", "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {c['label']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |" for c in v["per_class"]]
    cm = v["confusion_matrix"]
    lab = [str(x) for x in cm["labels"]]
    lines += ["", "Confusion matrix (rows: true class, columns: predicted class)", "",
              "| true \\ predicted | " + " | ".join(lab) + " |", "|---|" + "---:|" * len(lab)]
    lines += [f"| {lab[i]} | " + " | ".join(str(x) for x in row) + " |" for i, row in enumerate(cm["counts"])]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- prediction


def predict_map(
    model: ClassifierModel,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    bands: Sequence[str] | None = None,
    threads: int = 1,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Classify every pixel, window by window, into a class map, a probability map and a legend.

    Parameters
    ----------
    model : from :func:`train_classifier` or :func:`load_classifier`.
    images : as many GeoTIFFs as the model was trained on, in the same date order, with the
        same bands (by name); the first defines the output grid.
    out : the class map ``MAP.tif``; ``MAP_probability.tif`` and ``MAP_legend.csv`` go beside it.
    bands, threads, progress : as in :func:`train_classifier`.

    Returns
    -------
    ``{"classes": MAP.tif, "probability": MAP_probability.tif, "legend": MAP_legend.csv}``.
    The class map is uint8 codes (0 = nodata) with tags ``class_<code>=<label>``; the
    probability map is the predicted class's probability in percent (uint8, 255 = nodata).
    Both are Cloud-Optimized GeoTIFFs.
    """
    import rasterio
    import sklearn.ensemble  # noqa: F401 - load its OpenMP runtime before threadpool_limits, or the limit misses it
    from threadpoolctl import threadpool_limits

    meta = model.meta
    if len(images) != meta["n_images"]:
        raise InputError(
            f"the model was trained on {meta['n_images']} image(s) ({', '.join(meta['training_images'])}) but "
            f"{len(images)} are given; give one image per training date, in the same order."
        )
    out = Path(out)
    paths = {"classes": out, "probability": out.with_name(out.stem + "_probability.tif"),
             "legend": out.with_name(out.stem + "_legend.csv")}
    codes = np.array(model.codes, np.uint8)
    tags = {f"class_{c['code']}": str(c["label"]) for c in meta["classes"]}
    with _ImageStack(images, bands, meta["bands"]) as stack:
        if stack.grid.crs.to_string() != meta["crs"]:
            logger.info("images in %s, the model was trained on %s; the classifier is per pixel, so it is applied as is",
                        stack.grid.crs.to_string(), meta["crs"])
        g = stack.grid
        wins = stack.windows()
        profile = dict(driver="GTiff", width=g.width, height=g.height, count=1, crs=g.crs, transform=g.transform,
                       tiled=True, blockxsize=256, blockysize=256, compress="deflate")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".classify-") as tmpdir:
            tmp_c, tmp_p = Path(tmpdir) / "classes.tif", Path(tmpdir) / "probability.tif"
            with rasterio.open(tmp_c, "w", dtype="uint8", nodata=0, **profile) as dc, \
                    rasterio.open(tmp_p, "w", dtype="uint8", nodata=255, **profile) as dp, \
                    threadpool_limits(threads):
                dc.update_tags(**tags, label_column=meta["label_column"])
                dc.set_band_description(1, "class code")
                dp.set_band_description(1, "probability of the predicted class")
                dp.update_tags(1, units="percent")
                dp.update_tags(**tags)
                for k, win in enumerate(wins):
                    values, valid = stack.read(win)
                    cls = np.zeros(valid.shape, np.uint8)
                    prob = np.full(valid.shape, 255, np.uint8)
                    if valid.any():
                        X, names = pixel_features(values[:, :, valid], meta["bands"], meta["indices"])
                        if names != meta["features"]:
                            raise InputError("the images give features that differ from the model's; train again on these bands.")
                        p = model.estimator.predict_proba(X)
                        best = p.argmax(axis=1)
                        cls[valid] = codes[best]
                        prob[valid] = np.rint(100 * p[np.arange(len(best)), best]).astype(np.uint8)
                    dc.write(cls, 1, window=win)
                    dp.write(prob, 1, window=win)
                    if progress:
                        progress(k + 1, len(wins))
            _to_cog(tmp_c, paths["classes"], "NEAREST")
            _to_cog(tmp_p, paths["probability"], "NEAREST")
    legend = pd.DataFrame([{k: c[k] for k in ("code", "label", "pixels_trained")} for c in meta["classes"]])
    _atomic_csv(legend, paths["legend"])
    return paths


def _to_cog(src: Path, dst: Path, resampling: str) -> None:
    import rasterio.shutil

    fd, tmp = tempfile.mkstemp(suffix=".tif.part", dir=dst.parent)
    os.close(fd)
    try:
        rasterio.shutil.copy(src, tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256,
                             OVERVIEWS="AUTO", OVERVIEW_RESAMPLING=resampling, BIGTIFF="IF_SAFER")
        publish(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_report(report: dict[str, Any], model_path: str | Path) -> tuple[Path, Path]:
    """Write MODEL.report.md and MODEL.report.json beside the model; returns both paths."""
    model_path = Path(model_path)
    md, js = model_path.with_suffix(".report.md"), model_path.with_suffix(".report.json")
    for p, text in ((md, format_report(report)), (js, json.dumps(report, indent=1, default=str))):
        tmp = p.with_name(p.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    return md, js
