"""Window plans of a label raster kept on disk, so that a new process need not rebuild them.

A plan (:func:`agririsk.imagery.zonal._plan`) says which pixels of a read window belong to
which parcel. Building the plans of every window of a 4096² grid takes ~0.14 s, paid
again by every process that reduces an item (a monitoring run reduces one). They depend
only on the label raster (its grid and parcel set) and the window, so they are written
once beside the label raster and memory-mapped back: ``<grid key>-<parcel key>.plans-
<version>/`` holding ``index.npy`` and four flat arrays. ``version`` hashes the code of
the plan function and its density threshold, so a change to either writes new files
instead of reading wrong ones. A cache: deleting it costs time only.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plans_version", "save_plans", "load_plans"]

logger = logging.getLogger(__name__)

#: the flat arrays of a plan folder: pixel indices, local labels (two widths), global labels
_ARRAYS = {"pix": np.int32, "local16": np.uint16, "local32": np.int32, "labels": np.int64}


def plans_version(plan: Callable[..., Any], dense: float) -> str:
    """A key of the plan function's code (bytecode, constants, names) and threshold."""
    code = plan.__code__
    consts = tuple(c for c in code.co_consts if not isinstance(c, types.CodeType))
    text = repr((code.co_code, consts, code.co_names, dense))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def save_plans(plans: dict[tuple[int, int, int, int], Any], folder: Path) -> None:
    """Write ``plans`` (window → None or ``(pix | None, local, labels)``) as ``folder``.

    Written beside, then renamed into place; a folder another process wrote first is kept.
    """
    if folder.exists() or not plans:
        return
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
    size = dict.fromkeys(_ARRAYS, 0)
    rows = []

    def put(name: str, a: np.ndarray) -> tuple[int, int]:
        at = size[name]
        parts[name].append(np.asarray(a, dtype=_ARRAYS[name]))
        size[name] += len(a)
        return at, len(a)

    for key in sorted(plans):
        plan = plans[key]
        if plan is None:
            rows.append([*key, 0, 0, 0, 0, 0, 0, 0])
            continue
        pix, local, labels = plan
        width = 1 if local.dtype == np.uint16 else 2
        p0, pn = (0, -1) if pix is None else put("pix", pix)
        l0, ln = put("local16" if width == 1 else "local32", local)
        b0, bn = put("labels", labels)
        rows.append([*key, width, p0, pn, l0, ln, b0, bn])
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(suffix=".part", dir=folder.parent))
    try:
        np.save(tmp / "index.npy", np.asarray(rows, dtype=np.int64))
        for name, dtype in _ARRAYS.items():
            # one padding element: an empty array cannot be memory-mapped
            flat = np.concatenate([*parts[name], np.zeros(1, dtype)])
            np.save(tmp / f"{name}.npy", flat)
        tmp.rename(folder)
    except OSError as exc:  # written meanwhile by another process, or no room: not kept
        logger.debug("window plans not kept in %s (%s)", folder, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_plans(folder: Path) -> dict[tuple[int, int, int, int], Any]:
    """The plans :func:`save_plans` wrote (memory-mapped, copy-on-write), or {} when absent
    or unreadable."""
    if not folder.is_dir():
        return {}
    try:
        index = np.load(folder / "index.npy")
        flat = {name: np.load(folder / f"{name}.npy", mmap_mode="c") for name in _ARRAYS}
    except (OSError, ValueError) as exc:
        logger.warning("window plans %s unreadable (%s); rebuilding them", folder, exc)
        return {}
    out: dict[tuple[int, int, int, int], Any] = {}
    for r0, c0, h, w, width, p0, pn, l0, ln, b0, bn in index.tolist():
        key = (r0, c0, h, w)
        if width == 0:
            out[key] = None
            continue
        local = flat["local16" if width == 1 else "local32"]
        out[key] = (
            None if pn < 0 else np.asarray(flat["pix"][p0 : p0 + pn]),
            np.asarray(local[l0 : l0 + ln]),
            np.asarray(flat["labels"][b0 : b0 + bn]),
        )
    return out
