"""The file of a pixel classifier: a zip of a skops estimator and its metadata, loaded without running code.

Private to :mod:`agririsk.imagery.classify`, which re-exports :class:`ClassifierModel`,
:func:`save_classifier` and :func:`load_classifier`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agririsk.errors import InputError, MissingFileError

__all__ = ["MODEL_FORMAT", "TRUSTED_TYPES", "ClassifierModel", "load_classifier", "publish", "save_classifier"]

#: the container format written by :func:`save_classifier`
MODEL_FORMAT = "agririsk-classifier/1"
#: the only types skops may rebuild beyond its own safe defaults; tree node arrays are then
#: bounds-checked by :func:`_check_tree` before the model is used (see docs/classify.md)
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]

@dataclass
class ClassifierModel:
    """A fitted pixel classifier and what it needs to be applied again.

    Attributes
    ----------
    estimator : the fitted scikit-learn ``HistGradientBoostingClassifier`` (classes = codes).
    meta : band names, number of images, indices, features, label column, ``classes``
        (list of ``{"code", "label", "pixels_trained"}``), the training images' CRS and grid.
    """

    estimator: Any
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def codes(self) -> list[int]:
        """Class codes 1..K, in the order of the estimator's probability columns."""
        return [int(c["code"]) for c in self.meta["classes"]]

def _digest(model_bytes: bytes, meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "sha256"}
    h = hashlib.sha256(model_bytes)
    h.update(json.dumps(body, sort_keys=True, default=str).encode())
    return h.hexdigest()


def save_classifier(model: ClassifierModel, path: str | Path) -> Path:
    """Write ``model`` as a zip of ``model.skops`` (skops format, no pickle) and ``meta.json``.

    ``meta.json`` carries a sha256 of both; the write is atomic.
    """
    import skops.io as sio

    path = Path(path)
    blob = sio.dumps(model.estimator)
    meta = {**model.meta, "sha256": _digest(blob, model.meta)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("meta.json", json.dumps(meta, indent=1, default=str))
            z.writestr("model.skops", blob)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_classifier(path: str | Path) -> ClassifierModel:
    """Read a model written by :func:`save_classifier`, without running code from the file.

    The estimator is rebuilt by skops from an explicit list of trusted types
    (:data:`TRUSTED_TYPES`), its tree node arrays are bounds-checked, and the sha256 of
    model and metadata must match.

    Raises
    ------
    InputError : not such a model, altered since it was written, or holding untrusted types.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: model file not found; write one with 'agririsk classify train'.")
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("meta.json"))
            blob = z.read("model.skops")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a model of 'agririsk classify train' ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise InputError(f"{path}: not a model of 'agririsk classify train' (format {meta.get('format') if isinstance(meta, dict) else None!r}, expected {MODEL_FORMAT}).")
    if meta.get("sha256") != _digest(blob, meta):
        raise InputError(f"{path}: the model or its metadata changed since it was written (sha256 mismatch); "
                         "it is refused. Train the model again.")
    try:
        est = sio.load(io.BytesIO(blob), trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:
        raise InputError(f"{path}: the model holds types agririsk does not load ({str(exc).splitlines()[0]}).") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file
        raise InputError(f"{path}: the model cannot be read ({type(exc).__name__}: {exc}).") from None
    model = ClassifierModel(est, meta)
    _check_model(path, model)
    return model


def _check_model(path: Path, model: ClassifierModel) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    est, meta = model.estimator, model.meta
    if not isinstance(est, HistGradientBoostingClassifier):
        raise InputError(f"{path}: the model is a {type(est).__name__}, not a HistGradientBoostingClassifier.")
    n_feat = len(meta.get("features", []))
    if getattr(est, "n_features_in_", None) != n_feat or list(est.classes_) != model.codes:
        raise InputError(f"{path}: the estimator does not match its metadata (features or classes); train again.")
    for trees in getattr(est, "_predictors", []):
        for tree in trees:
            _check_tree(path, tree.nodes, n_feat)


def _check_tree(path: Path, nodes: np.ndarray, n_features: int) -> None:
    """Refuse node arrays that would make scikit-learn read out of bounds or loop."""
    n = len(nodes)
    inner = nodes["is_leaf"] == 0
    i = np.flatnonzero(inner)
    ok = (
        n > 0
        and np.all(nodes["left"][inner] > i) and np.all(nodes["right"][inner] > i)
        and np.all(nodes["left"][inner] < n) and np.all(nodes["right"][inner] < n)
        and np.all((nodes["feature_idx"][inner] >= 0) & (nodes["feature_idx"][inner] < n_features))
        and not np.any(nodes["is_categorical"][inner])
    )
    if not ok:
        raise InputError(f"{path}: the model's trees are malformed (node indices out of range); it is refused.")


def publish(tmp: str, path: Path) -> None:
    """Rename ``tmp`` onto ``path`` with the permissions of a normally created file (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
