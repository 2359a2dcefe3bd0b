"""STAC items to :class:`SceneItem` s: the bands agririsk needs, found and scaled (CONTRACTS §2).

A :class:`SceneItem` is a small, picklable value: it names the item, its date, its CRS and
footprint, and for each canonical band (``blue green red nir swir16`` plus the mask
``scl`` or ``qa_pixel``) an absolute href with the scale and offset that turn digital
numbers into surface reflectance::

    reflectance = DN * scale + offset

>>> items = load_items("imagery/catalog.json", until=datetime(2026, 4, 15))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pystac
import shapely
import shapely.geometry

from agririsk.errors import InputError, MissingFileError
from agririsk.inputs.report import Report

__all__ = ["BandAsset", "SceneItem", "load_items", "SENSOR_DEFAULTS"]

logger = logging.getLogger(__name__)

SENTINEL2 = "sentinel-2"
LANDSAT = "landsat"

#: Asset keys tried, in order, for each canonical band (Earth Search, Planetary Computer,
#: Landsat Collection 2 Level-2). Sentinel-2 ``nir`` is B08 (10 m), tried before ``nir08``
#: (B8A, 20 m on Earth Search; B5 on Landsat).
_KEYS: dict[str, tuple[str, ...]] = {
    "blue": ("blue", "B02"),
    "green": ("green", "B03"),
    "red": ("red", "B04"),
    "nir": ("nir", "B08", "nir08"),
    "swir16": ("swir16", "B11"),
    "scl": ("scl", "SCL"),
    "qa_pixel": ("qa_pixel", "QA_PIXEL"),
}
#: ``eo:common_name`` values accepted for each canonical band when no key matches.
_COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "blue": ("blue",),
    "green": ("green",),
    "red": ("red",),
    "nir": ("nir", "nir08"),
    "swir16": ("swir16",),
}
_MASKS = ("scl", "qa_pixel")

#: Documented DN -> reflectance defaults when an asset carries no ``raster:bands`` scale.
#: Sentinel-2 L2A: processing baseline >= 04.00 adds a BOA offset of -1000 DN (-0.1);
#: Landsat C2 L2 surface reflectance: 0.0000275 * DN - 0.2 (USGS LSDS-1619).
SENSOR_DEFAULTS: dict[str, tuple[float, float]] = {
    "sentinel-2>=04.00": (0.0001, -0.1),
    "sentinel-2": (0.0001, 0.0),
    "landsat": (0.0000275, -0.2),
}


@dataclass(frozen=True)
class BandAsset:
    """One band of one item: where it is and how to make reflectance of it.

    Attributes
    ----------
    href : absolute local path or URL of a (Cloud-Optimized) GeoTIFF.
    scale, offset : ``reflectance = DN * scale + offset`` (1 and 0 for mask bands).
    nodata : DN marking missing pixels, or None.
    """

    href: str
    scale: float
    offset: float
    nodata: float | None


@dataclass(frozen=True)
class SceneItem:
    """One satellite acquisition, reduced to what agririsk reads.

    Attributes
    ----------
    id : STAC item id.
    datetime : acquisition time, tz-aware UTC ``pd.Timestamp``.
    epsg : EPSG code from ``proj:epsg`` / ``proj:code``; None when the item gives the CRS
        another way (``proj:wkt2``), in which case the raster's own CRS is used.
    footprint : item geometry in EPSG:4326, or None.
    assets : canonical band name -> :class:`BandAsset`; keys among
        ``blue green red nir swir16`` and ``scl`` (Sentinel-2) or ``qa_pixel`` (Landsat).
    sensor : ``"sentinel-2"`` or ``"landsat"``.
    cloud_cover : ``eo:cloud_cover`` in percent, or None.
    """

    id: str
    datetime: pd.Timestamp
    epsg: int | None
    footprint: shapely.Geometry | None
    assets: dict[str, BandAsset]
    sensor: str
    cloud_cover: float | None

    @property
    def mask_band(self) -> str:
        """``"scl"`` or ``"qa_pixel"``: the cloud and quality mask of this item."""
        return "qa_pixel" if self.sensor == LANDSAT else "scl"


def load_items(
    catalog: str | os.PathLike[str],
    *,
    collection: str | None = None,
    report: Report | None = None,
    until: dt.datetime | dt.date | None = None,
) -> list[SceneItem]:
    """Read the usable items of a STAC catalog, sorted by acquisition time.

    Parameters
    ----------
    catalog : path to a static STAC ItemCollection, Catalog, Collection or Item JSON file,
        or the URL of such a file, or the URL of a STAC API (needs ``pystac-client``).
    collection : keep only items of this collection (items that name no collection are kept).
    report : where per-item problems go; an item missing ``red``, ``nir`` or its cloud mask,
        or without any CRS, is reported as a warning and skipped.
    until : the as-of rule: items acquired after this instant are not returned. A naive
        datetime is taken as UTC; a plain date means the end of that day (UTC).

    Returns
    -------
    list of :class:`SceneItem`, by ``datetime`` then ``id``.

    Raises
    ------
    MissingFileError
        The catalog file does not exist.
    InputError
        The catalog cannot be read as STAC, or a STAC API is given without ``pystac-client``.

    Notes
    -----
    Relative asset hrefs are resolved against the JSON file that holds the item (for an
    ItemCollection, the collection file itself); absolute paths and URLs pass through.
    Scale and offset come from the asset's ``raster:bands`` (or STAC 1.1 ``bands``) when
    present, else from :data:`SENSOR_DEFAULTS` (Sentinel-2 by ``s2:processing_baseline``).
    """
    report = report if report is not None else Report()
    source = os.fspath(catalog)
    limit = _as_utc_limit(until)
    out: list[SceneItem] = []
    for item, base, coll in _iter_items(source, collection, limit, report):
        if collection is not None and coll is not None and coll != collection:
            continue
        when = _item_time(item)
        if limit is not None and when is not None and when > limit:
            continue  # the as-of rule: not even checked, let alone read
        scene = _to_scene(item, base, source, report)
        if scene is not None:
            out.append(scene)
    out.sort(key=lambda s: (s.datetime, s.id))
    logger.debug("%s: %d usable items", source, len(out))
    return out


# --------------------------------------------------------------------------- reading


def _is_url(href: str) -> bool:
    return urlparse(href).scheme in ("http", "https", "s3", "gs", "az", "abfs")


def _iter_items(
    source: str, collection: str | None, limit: pd.Timestamp | None, report: Report
) -> Iterator[tuple[pystac.Item, str, str | None]]:
    """Yield (item, href of the JSON that holds it, collection id) from any STAC source."""
    if _is_url(source) and not source.lower().endswith(".json"):
        yield from _iter_api(source, collection, limit)
        return
    if source.startswith("file://"):
        source = urlparse(source).path
    if not _is_url(source):
        path = Path(source)
        if not path.is_file():
            raise MissingFileError(
                f"STAC catalog {source} does not exist. "
                "Check [imagery] catalog in region.toml (relative paths are relative to it)."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                f"STAC catalog {source} is not readable JSON ({exc}). "
                "Give a STAC ItemCollection, Catalog or Collection JSON file."
            ) from exc
        source = str(path.resolve())
    else:
        try:
            data = pystac.StacIO.default().read_json(source)
        except Exception as exc:  # network and parse errors of any kind
            raise InputError(f"STAC catalog {source} could not be read ({exc}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"STAC catalog {source} is not a JSON object; expected STAC JSON.")
    kind = data.get("type")
    try:
        if kind == "FeatureCollection":
            for k, feature in enumerate(data.get("features") or []):
                try:  # one malformed item is reported and skipped, not fatal
                    item = pystac.Item.from_dict(feature, preserve_dict=False)
                except (pystac.STACError, KeyError, TypeError, ValueError, AttributeError) as exc:
                    where = feature.get("id", f"feature {k}") if isinstance(feature, dict) else k
                    report.warning(
                        source,
                        where,
                        f"not a valid STAC item ({type(exc).__name__}: {exc})",
                        "Fix or remove this feature of the ItemCollection.",
                    )
                    continue
                yield item, source, item.collection_id
        elif kind == "Feature":
            item = pystac.Item.from_dict(data)
            yield item, source, item.collection_id
        elif kind in ("Catalog", "Collection"):
            root = pystac.read_file(source)
            assert isinstance(root, pystac.Catalog)
            yield from _walk(root, root.id if kind == "Collection" else None)
        else:
            raise InputError(
                f"STAC catalog {source} has type {kind!r}; expected FeatureCollection "
                "(ItemCollection), Catalog, Collection or Feature (Item)."
            )
    except InputError:
        raise
    except (pystac.STACError, KeyError, TypeError, ValueError, OSError) as exc:
        raise InputError(
            f"STAC catalog {source} could not be parsed as STAC ({type(exc).__name__}: {exc}). "
            "Validate it with `stac-validator` or regenerate it."
        ) from exc


def _walk(cat: pystac.Catalog, coll: str | None) -> Iterator[tuple[pystac.Item, str, str | None]]:
    for item in cat.get_items():
        yield item, item.get_self_href() or "", item.collection_id or coll
    for child in cat.get_children():
        yield from _walk(child, child.id if isinstance(child, pystac.Collection) else coll)


def _iter_api(
    url: str, collection: str | None, limit: pd.Timestamp | None
) -> Iterator[tuple[pystac.Item, str, str | None]]:
    if importlib.util.find_spec("pystac_client") is None:
        raise InputError(
            f"{url} looks like a STAC API, which needs the optional package pystac-client. "
            "Install it (`pip install pystac-client`) or point [imagery] catalog at a static "
            "STAC JSON file."
        )
    import pystac_client  # optional dependency, imported only when used

    try:
        client = pystac_client.Client.open(url)
        search = client.search(
            collections=[collection] if collection else None,
            datetime=f"../{limit.isoformat()}" if limit is not None else None,
        )
        for item in search.items():
            yield item, item.get_self_href() or url, item.collection_id
    except Exception as exc:  # the client raises many kinds (APIError, HTTP errors)
        raise InputError(f"STAC API {url} could not be searched ({exc}).") from exc


def _as_utc_limit(until: dt.datetime | dt.date | None) -> pd.Timestamp | None:
    if until is None:
        return None
    if isinstance(until, dt.date) and not isinstance(until, dt.datetime):
        return pd.Timestamp(until, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    ts = pd.Timestamp(until)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# --------------------------------------------------------------------------- one item


def _to_scene(item: pystac.Item, base: str, source: str, report: Report) -> SceneItem | None:
    props = item.properties
    stamp = _item_time(item)
    if stamp is None:
        report.warning(source, item.id, "item has no datetime", "Give each item a datetime.")
        return None

    sensor = _sensor(item)
    epsg, has_crs = _epsg(item)
    if not has_crs:
        report.warning(
            source,
            item.id,
            "item has no CRS (no proj:epsg, proj:code or proj:wkt2)",
            "Add the projection extension fields to the item.",
        )
        return None

    mask_key = "qa_pixel" if sensor == LANDSAT else "scl"
    assets: dict[str, BandAsset] = {}
    for band in ("blue", "green", "red", "nir", "swir16", mask_key):
        found = _find_asset(item, band)
        if found is not None:
            assets[band] = _band_asset(item, found, band, sensor, base)
    missing = [b for b in ("red", "nir", mask_key) if b not in assets]
    if missing:
        report.warning(
            source,
            item.id,
            f"item lacks the {', '.join(missing)} band(s) (sensor {sensor})",
            "Add the asset(s) under an Earth Search / Planetary Computer / Landsat key or "
            "with eo:bands common_name.",
        )
        return None

    footprint = shapely.geometry.shape(item.geometry) if item.geometry else None
    cloud = props.get("eo:cloud_cover")
    return SceneItem(
        id=item.id,
        datetime=stamp,
        epsg=epsg,
        footprint=footprint,
        assets=assets,
        sensor=sensor,
        cloud_cover=float(cloud) if cloud is not None else None,
    )


def _item_time(item: pystac.Item) -> pd.Timestamp | None:
    """Acquisition time in UTC: ``datetime``, else ``start_datetime``."""
    when = item.datetime or item.properties.get("start_datetime")
    if not when:
        return None
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _sensor(item: pystac.Item) -> str:
    props = item.properties
    words = " ".join(
        str(v).lower()
        for v in (props.get("platform"), props.get("constellation"), item.collection_id)
        if v
    )
    if "landsat" in words:
        return LANDSAT
    if "sentinel" in words:
        return SENTINEL2
    keys = set(item.assets)
    return LANDSAT if ("qa_pixel" in keys or "QA_PIXEL" in keys) else SENTINEL2


def _epsg(item: pystac.Item) -> tuple[int | None, bool]:
    """(EPSG code or None, whether any CRS is declared) from the item, then its assets."""
    dicts: Iterable[dict[str, Any]] = [item.properties] + [
        a.extra_fields for a in item.assets.values()
    ]
    has_crs = False
    for d in dicts:
        if d.get("proj:epsg") is not None:
            return int(d["proj:epsg"]), True
        code = d.get("proj:code")
        if isinstance(code, str) and code.upper().startswith("EPSG:"):
            return int(code.split(":", 1)[1]), True
        if code or d.get("proj:wkt2") or d.get("proj:projjson"):
            has_crs = True
    return None, has_crs


def _bands_meta(asset: pystac.Asset) -> list[dict[str, Any]]:
    fields = asset.extra_fields
    bands = fields.get("bands") or fields.get("raster:bands") or fields.get("eo:bands") or []
    return [b for b in bands if isinstance(b, dict)]


def _common_names(asset: pystac.Asset) -> set[str]:
    names = set()
    for key in ("eo:bands", "bands"):
        for b in asset.extra_fields.get(key) or []:
            if isinstance(b, dict):
                name = b.get("common_name") or b.get("eo:common_name")
                if name:
                    names.add(str(name).lower())
    if asset.extra_fields.get("eo:common_name"):
        names.add(str(asset.extra_fields["eo:common_name"]).lower())
    return names


def _is_data(asset: pystac.Asset) -> bool:
    roles = asset.roles or []
    return not roles or "data" in roles


def _find_asset(item: pystac.Item, band: str) -> pystac.Asset | None:
    """The asset of ``band``: by known key first, then by ``eo:bands`` common name."""
    for key in _KEYS[band]:
        if key in item.assets:
            return item.assets[key]
    wanted = _COMMON_NAMES.get(band, ())
    for name in wanted:  # in order of preference, e.g. nir (B08) before nir08 (B8A)
        hits = [a for a in item.assets.values() if _is_data(a) and name in _common_names(a)]
        hits.sort(key=lambda a: "tiff" not in (a.media_type or "tiff"))  # GeoTIFF first
        if hits:
            return hits[0]
    return None


def _band_asset(
    item: pystac.Item, asset: pystac.Asset, band: str, sensor: str, base: str
) -> BandAsset:
    meta = _bands_meta(asset)
    first = meta[0] if meta else {}
    fields = asset.extra_fields
    nodata = first.get("nodata", fields.get("nodata", fields.get("raster:nodata")))
    nodata_f = float(nodata) if isinstance(nodata, int | float) else None
    if band in _MASKS:
        return BandAsset(_resolve(asset.href, base), 1.0, 0.0, nodata_f)
    scale = first.get("scale", first.get("raster:scale", fields.get("raster:scale")))
    offset = first.get("offset", first.get("raster:offset", fields.get("raster:offset")))
    if scale is None and offset is None:
        scale, offset = _default_scale(item, sensor)
    if nodata_f is None:
        nodata_f = 0.0  # both Sentinel-2 L2A and Landsat C2 L2 use DN 0 for fill
    return BandAsset(
        _resolve(asset.href, base),
        float(1.0 if scale is None else scale),
        float(0.0 if offset is None else offset),
        nodata_f,
    )


def _default_scale(item: pystac.Item, sensor: str) -> tuple[float, float]:
    if sensor == LANDSAT:
        return SENSOR_DEFAULTS["landsat"]
    baseline = item.properties.get("s2:processing_baseline")
    if baseline is not None:
        try:
            if float(baseline) >= 4.0:
                return SENSOR_DEFAULTS["sentinel-2>=04.00"]
        except ValueError:
            logger.warning("%s: unparsable s2:processing_baseline %r", item.id, baseline)
    return SENSOR_DEFAULTS["sentinel-2"]


def _resolve(href: str, base: str) -> str:
    """Absolute path or URL of ``href``, relative hrefs taken against the JSON ``base``."""
    if _is_url(href):
        return href
    if href.startswith("file://"):
        return urlparse(href).path
    if os.path.isabs(href):
        return href
    if _is_url(base):
        from urllib.parse import urljoin

        return urljoin(base, href)
    return os.path.normpath(os.path.join(os.path.dirname(base), href))
