"""Factory helpers for tiny, hand-checkable fixtures shared by the test suites.

:func:`make_tiny_stac` writes a few 8 × 8 pixel Sentinel-2-like (or Landsat-like) items
as COGs plus a STAC ItemCollection or Catalog, over the parcels of
:func:`make_tiny_parcels`. Every number is chosen so that expected results can be
worked out by hand; the layout on the main 10 m grid (EPSG:32651, rows from the top)::

    rows 0-3, cols 0-3   P1   red 0.05 nir 0.45          NDVI  0.8   (16 px)
    rows 0-3, cols 4-7   P2   red 0.10 nir 0.30          NDVI  0.5   (16 px)
    rows 4-5, cols 0-3   P3   red 0.10 nir 0.30          NDVI  0.5   (P3: 16 px,
    rows 6-7, cols 0-3   P3   red 0.30 nir 0.10          NDVI -0.5    mean 0, std 0.5)
    pixel (6, 6)         P4   red 0.10 nir 0.40          NDVI  0.6   (P4 is a 3 m square
                              owning no pixel centre: read at the pixel under it)
    elsewhere            background red 0.10 nir 0.10    NDVI  0
    P5 lies 2 km away, outside every item.

Items (``ITEMS``), each with a 20 m SCL (one SCL pixel = 2 × 2 pixels of 10 m):

- ``T51_20260501``: SCL 9 (cloud) on P1 rows 0-1 cols 0-1 and SCL 3 (shadow) on P2
  rows 2-3 cols 6-7; those 8 pixels are painted as bright cloud (red 0.4, nir 0.45).
  P1 12 clear, mean 0.8; P2 12 clear, mean 0.5; P3 16 clear, mean 0, std 0.5; P4 0.6.
- ``T51_20260511``: no cloud; red DN 0 (nodata) at pixel (3, 3) -> P1 15 clear; haze at
  pixel (0, 4): blue 0.25, red 0.2, nir 0.3 (NDVI 0.2) not flagged by SCL -> P2 mean
  (15 * 0.5 + 0.2) / 16 = 0.48125, ``ndvi_mean_lowblue`` 0.5.
- ``T51_20260521``: SCL 8 and 10 over P1 rows 0-1 (8 px), SCL 9 over all of P3:
  P1 8 clear, mean 0.8; P3 0 clear (mean NaN).
- ``T52_20260516`` (``other_grid=True``): EPSG:32652 at 20 m (SCL at 40 m), no cloud,
  every parcel painted uniformly: P1 0.8, P2 0.5, P3 0.5, P4 0.6.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import rasterio.shutil  # noqa: F401  (agririsk.export.cog uses rasterio.shutil without importing it)
import shapely
from affine import Affine
from pyproj import Transformer

from agririsk.export.cog import write_cog

__all__ = [
    "ITEMS",
    "EQUIVALENCE_ITEMS",
    "make_equivalence_stac",
    "expected_table",
    "TinyStac",
    "make_tiny_parcels",
    "make_tiny_stac",
    "reflectance_to_dn",
]

Flavour = Literal["earth-search", "planetary-computer", "landsat", "common-name"]

#: Upper-left corner of the main grid (EPSG:32651, metres): near 126° E, 46.6° N.
X0, Y0 = 728_000.0, 5_165_000.0
EPSG_MAIN, EPSG_OTHER = 32651, 32652
ITEMS = ("T51_20260501", "T51_20260511", "T51_20260521")
OTHER_ITEM = "T52_20260516"

BACKGROUND = {"blue": 0.05, "green": 0.08, "red": 0.10, "nir": 0.10, "swir16": 0.20}
CLOUD = {"blue": 0.35, "green": 0.38, "red": 0.40, "nir": 0.45, "swir16": 0.30}
PARCEL_RED_NIR = {"P1": (0.05, 0.45), "P2": (0.10, 0.30), "P3": (0.10, 0.30), "P4": (0.10, 0.40)}

_LANDSAT_CLEAR, _LANDSAT_CLOUD, _LANDSAT_SHADOW = 21824, 22280, 23888  # real QA_PIXEL values
_KEYS: dict[str, dict[str, str]] = {
    "earth-search": {b: b for b in ("blue", "green", "red", "nir", "swir16", "scl")},
    "planetary-computer": {
        "blue": "B02",
        "green": "B03",
        "red": "B04",
        "nir": "B08",
        "swir16": "B11",
        "scl": "SCL",
    },
    "landsat": {
        "blue": "blue",
        "green": "green",
        "red": "red",
        "nir": "nir08",
        "swir16": "swir16",
        "scl": "qa_pixel",
    },
    "common-name": {
        "blue": "b2",
        "green": "b3",
        "red": "b4",
        "nir": "b8",
        "swir16": "b11",
        "scl": "scl",
    },
}


@dataclass(frozen=True)
class TinyStac:
    """What :func:`make_tiny_stac` wrote: the catalog file, the parcels and the item ids."""

    catalog: Path
    parcels: gpd.GeoDataFrame
    item_ids: list[str]

    def asset(self, item_id: str, band: str) -> Path:
        """Path of the COG of canonical ``band`` (``scl`` for the mask) of ``item_id``."""
        return self.catalog.parent / item_id / f"{band}.tif"


def from_origin(west: float, north: float, xres: float, yres: float) -> Affine:
    """North-up transform of a grid whose upper-left corner is (west, north)."""
    return Affine(xres, 0.0, west, 0.0, -yres, north)


def make_tiny_parcels(crs: int | str = 4326) -> gpd.GeoDataFrame:
    """P1-P5 (see the module notes) with ``farmer_id`` and ``declared_crop``, in ``crs``."""
    geoms = [
        shapely.box(X0, Y0 - 40, X0 + 40, Y0),
        shapely.box(X0 + 40, Y0 - 40, X0 + 80, Y0),
        shapely.box(X0, Y0 - 80, X0 + 40, Y0 - 40),
        shapely.box(X0 + 61, Y0 - 69, X0 + 64, Y0 - 66),
        shapely.box(X0 + 2000, Y0 - 40, X0 + 2040, Y0),
    ]
    gdf = gpd.GeoDataFrame(
        {
            "parcel_id": ["P1", "P2", "P3", "P4", "P5"],
            "farmer_id": ["F1", "F1", "F2", "F3", "F3"],
            "declared_crop": ["maize", "soybean", "maize", "other", "rice"],
        },
        geometry=geoms,
        crs=EPSG_MAIN,
    )
    return gdf.to_crs(crs)


def reflectance_to_dn(refl: np.ndarray | float, flavour: Flavour = "earth-search") -> np.ndarray:
    """uint16 DN whose ``DN * scale + offset`` is ``refl`` (S2: 1e-4, -0.1; Landsat: 2.75e-5, -0.2)."""
    refl = np.asarray(refl, dtype=np.float64)
    if flavour == "landsat":
        return np.round((refl + 0.2) / 0.0000275).astype(np.uint16)
    return np.round(refl * 10_000 + 1_000).astype(np.uint16)


def _main_scene(item_id: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Reflectances (8 × 8) and 20 m SCL (4 × 4) of one main-grid item."""
    bands = {b: np.full((8, 8), v) for b, v in BACKGROUND.items()}
    for pid, rows, cols in (
        ("P1", slice(0, 4), slice(0, 4)),
        ("P2", slice(0, 4), slice(4, 8)),
        ("P3", slice(4, 6), slice(0, 4)),
    ):
        bands["red"][rows, cols], bands["nir"][rows, cols] = PARCEL_RED_NIR[pid]
    bands["red"][6:8, 0:4], bands["nir"][6:8, 0:4] = 0.30, 0.10
    bands["red"][6, 6], bands["nir"][6, 6] = PARCEL_RED_NIR["P4"]
    scl = np.full((4, 4), 4, dtype=np.uint8)  # 4 = vegetation
    if item_id == ITEMS[0]:
        scl[0, 0], scl[1, 3] = 9, 3
    elif item_id == ITEMS[1]:
        bands["blue"][0, 4], bands["red"][0, 4], bands["nir"][0, 4] = 0.25, 0.2, 0.3
    elif item_id == ITEMS[2]:
        scl[0, 0], scl[0, 1] = 8, 10
        scl[2:4, 0:2] = 9
    cloudy = np.kron(np.isin(scl, [3, 8, 9, 10]), np.ones((2, 2), dtype=bool))
    for b, v in CLOUD.items():
        bands[b][cloudy] = v
    return bands, scl


def _other_scene(parcels: gpd.GeoDataFrame) -> tuple[dict[str, np.ndarray], Affine, np.ndarray]:
    """Reflectances of the EPSG:32652 20 m item, painted from the parcels."""
    utm = parcels.to_crs(EPSG_OTHER)
    main = utm.iloc[:4]
    west, south, east, north = main.total_bounds
    transform = from_origin(np.floor(west / 20) * 20 - 40, np.ceil(north / 20) * 20 + 40, 20, 20)
    height = int(np.ceil((transform.f - south) / 20)) + 2
    width = int(np.ceil((east - transform.c) / 20)) + 2
    height += height % 2  # even, so that the 40 m SCL grid covers it exactly
    width += width % 2
    ndvi_of = {"P1": 0.8, "P2": 0.5, "P3": 0.5}
    ids = np.zeros((height, width), dtype=np.int32)
    shapes = [(g, i + 1) for i, g in enumerate(main.geometry.iloc[:3])]
    rasterio.features.rasterize(shapes, out=ids, transform=transform)
    bands = {b: np.full((height, width), v) for b, v in BACKGROUND.items()}
    for i, pid in enumerate(("P1", "P2", "P3")):
        red = 0.1
        bands["red"][ids == i + 1] = red
        bands["nir"][ids == i + 1] = red * (1 + ndvi_of[pid]) / (1 - ndvi_of[pid])
    pt = shapely.point_on_surface(main.geometry.iloc[3])
    col, row = ~transform @ (pt.x, pt.y)
    bands["red"][int(row), int(col)], bands["nir"][int(row), int(col)] = PARCEL_RED_NIR["P4"]
    scl = np.full((height // 2, width // 2), 4, dtype=np.uint8)
    return bands, transform, scl


def _footprint(transform: Affine, shape: tuple[int, int], epsg: int) -> dict:
    h, w = shape
    box = shapely.box(
        transform.c, transform.f + h * transform.e, transform.c + w * transform.a, transform.f
    )
    to_wgs = Transformer.from_crs(epsg, 4326, always_xy=True)
    poly = shapely.transform(
        box.segmentize(10.0), lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
    )
    return shapely.geometry.mapping(poly)


def _item_json(
    item_id: str,
    when: str,
    epsg: int,
    transform: Affine,
    shape: tuple[int, int],
    hrefs: dict[str, str],
    flavour: Flavour,
) -> dict:
    keys = _KEYS[flavour]
    props: dict = {"datetime": when, "eo:cloud_cover": 10.0}
    if flavour == "planetary-computer":
        props.update(
            {
                "proj:code": f"EPSG:{epsg}",
                "s2:processing_baseline": "05.00",
                "platform": "Sentinel-2A",
            }
        )
    else:
        props["proj:epsg"] = epsg
        props["platform"] = "landsat-9" if flavour == "landsat" else "sentinel-2a"
    assets = {}
    for band, href in hrefs.items():
        asset: dict = {
            "href": href,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
        }
        if band != "scl":
            if flavour in ("planetary-computer", "common-name"):
                asset["eo:bands"] = [{"name": keys[band], "common_name": band}]
            if flavour in ("earth-search", "common-name"):
                asset["raster:bands"] = [
                    {"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}
                ]
        assets[keys[band]] = asset
    bbox = shapely.geometry.shape(_footprint(transform, shape, epsg)).bounds
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "stac_extensions": [],
        "collection": "sentinel-2-l2a" if flavour != "landsat" else "landsat-c2-l2",
        "geometry": _footprint(transform, shape, epsg),
        "bbox": list(bbox),
        "properties": props,
        "links": [],
        "assets": assets,
    }


def make_tiny_stac(
    root: Path,
    *,
    flavour: Flavour = "earth-search",
    other_grid: bool = False,
    relative: bool = True,
    layout: Literal["item-collection", "catalog"] = "item-collection",
) -> TinyStac:
    """Write the tiny items of the module notes under ``root/imagery`` and their catalog.

    Parameters
    ----------
    root : directory to write into (e.g. pytest's ``tmp_path``).
    flavour : asset keys and metadata: ``earth-search`` (keys blue…scl, raster:bands scale),
        ``planetary-computer`` (B02…SCL, no raster:bands, ``s2:processing_baseline`` 05.00),
        ``landsat`` (nir08, qa_pixel, Landsat C2 L2 DN without raster:bands) or
        ``common-name`` (keys b2…b11 found only through ``eo:bands`` common names).
    other_grid : add item ``T52_20260516`` in EPSG:32652 at 20 m.
    relative : asset hrefs relative to the JSON file holding the item, else absolute.
    layout : one ItemCollection ``imagery/catalog.json``, or a Catalog with one JSON per item.

    Returns
    -------
    :class:`TinyStac`; its ``parcels`` are in EPSG:4326.
    """
    root = Path(root)
    img = root / "imagery"
    parcels = make_tiny_parcels()
    scenes = []
    for item_id, day in zip(ITEMS, ("01", "11", "21"), strict=True):
        bands, scl = _main_scene(item_id)
        scenes.append(
            (
                item_id,
                f"2026-05-{day}T02:30:00Z",
                EPSG_MAIN,
                from_origin(X0, Y0, 10, 10),
                bands,
                scl,
            )
        )
    if other_grid:
        bands, transform, scl = _other_scene(parcels)
        scenes.append((OTHER_ITEM, "2026-05-16T02:40:00Z", EPSG_OTHER, transform, bands, scl))

    features = []
    for item_id, when, epsg, transform, bands, scl in scenes:
        folder = img / item_id
        hrefs = {}
        for band, refl in bands.items():
            dn = reflectance_to_dn(refl, flavour)
            if item_id == ITEMS[1] and band == "red":
                dn[3, 3] = 0  # nodata
            write_cog(
                folder / f"{band}.tif", dn, transform=transform, crs=epsg, nodata=0, overviews=False
            )
            hrefs[band] = folder / f"{band}.tif"
        scl_transform = transform @ Affine.scale(2)
        if flavour == "landsat":  # QA_PIXEL at the band resolution
            qa = np.where(np.kron(scl == 4, np.ones((2, 2), bool)), _LANDSAT_CLEAR, _LANDSAT_CLOUD)
            qa[np.kron(scl == 3, np.ones((2, 2), bool))] = _LANDSAT_SHADOW
            write_cog(
                folder / "scl.tif",
                qa.astype(np.uint16),
                transform=transform,
                crs=epsg,
                overviews=False,
            )
        else:
            write_cog(
                folder / "scl.tif",
                scl,
                transform=scl_transform,
                crs=epsg,
                nodata=0,
                overviews=False,
            )
        hrefs["scl"] = folder / "scl.tif"
        shape = next(iter(bands.values())).shape
        holder = img / "catalog.json" if layout == "item-collection" else folder / f"{item_id}.json"
        rel = {
            b: (str(Path(p).relative_to(holder.parent)) if relative else str(Path(p).resolve()))
            for b, p in hrefs.items()
        }
        rel = {b: ("./" + h if relative else h) for b, h in rel.items()}
        features.append(_item_json(item_id, when, epsg, transform, shape, rel, flavour))

    img.mkdir(parents=True, exist_ok=True)
    catalog = img / "catalog.json"
    if layout == "item-collection":
        catalog.write_text(
            json.dumps({"type": "FeatureCollection", "features": features}, indent=1)
        )
    else:
        links = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
        for f in features:
            f["links"] = [
                {"rel": "root", "href": "../catalog.json"},
                {"rel": "parent", "href": "../catalog.json"},
            ]
            (img / f["id"] / f"{f['id']}.json").write_text(json.dumps(f, indent=1))
            links.append(
                {
                    "rel": "item",
                    "href": f"./{f['id']}/{f['id']}.json",
                    "type": "application/geo+json",
                }
            )
        catalog.write_text(
            json.dumps(
                {
                    "type": "Catalog",
                    "stac_version": "1.0.0",
                    "id": "tiny",
                    "description": "tiny test catalog",
                    "links": links,
                },
                indent=1,
            )
        )
    return TinyStac(catalog, parcels, [s[0] for s in scenes])


def expected_table() -> pd.DataFrame:
    """The hand-worked per-parcel results of the three main-grid items (see module notes)."""
    nan = float("nan")
    rows = [
        (ITEMS[0], "P1", 16, 12, 0.8, 0.0),
        (ITEMS[0], "P2", 16, 12, 0.5, 0.0),
        (ITEMS[0], "P3", 16, 16, 0.0, 0.5),
        (ITEMS[0], "P4", 1, 1, 0.6, 0.0),
        (ITEMS[1], "P1", 16, 15, 0.8, 0.0),
        (ITEMS[1], "P2", 16, 16, 0.48125, 0.3 * 15**0.5 / 16),
        (ITEMS[1], "P3", 16, 16, 0.0, 0.5),
        (ITEMS[1], "P4", 1, 1, 0.6, 0.0),
        (ITEMS[2], "P1", 16, 8, 0.8, 0.0),
        (ITEMS[2], "P2", 16, 16, 0.5, 0.0),
        (ITEMS[2], "P3", 16, 0, nan, nan),
        (ITEMS[2], "P4", 1, 1, 0.6, 0.0),
    ]
    return pd.DataFrame(
        rows, columns=["item_id", "parcel_id", "n_pixels", "n_clear", "ndvi_mean", "ndvi_std"]
    )


# --------------------------------------------------------------------------- one scene, 3 ways

#: The same scene as Sentinel-2 10 m (EPSG:32651), Landsat 30 m (EPSG:32651, QA_PIXEL,
#: Landsat scale/offset) and Sentinel-2 20 m in the next UTM zone (EPSG:32652).
EQUIVALENCE_ITEMS = ("S2_10m_32651", "LC09_30m_32651", "S2_20m_32652")
_EQ_FIELDS = {  # west, north offsets from (X0, Y0), width, height (m), NDVI level
    "A": (0, 0, 300, 240, 0.75),
    "B": (360, 0, 240, 300, 0.55),
    "C": (0, -330, 420, 210, 0.35),
    "D": (600, -420, 120, 120, 0.6),  # under a cloud in every item
}
_EQ_CLOUD = (X0 + 660, Y0 - 480, 90.0)  # centre x, y (EPSG:32651) and radius, m


def equivalence_parcels() -> gpd.GeoDataFrame:
    """Fields A-D of :func:`make_equivalence_stac`, in EPSG:32651."""
    geoms = [
        shapely.box(X0 + dx, Y0 + dy - h, X0 + dx + w, Y0 + dy)
        for dx, dy, w, h, _ in _EQ_FIELDS.values()
    ]
    return gpd.GeoDataFrame({"parcel_id": list(_EQ_FIELDS)}, geometry=geoms, crs=EPSG_MAIN)


def _eq_scene(epsg: int, res: float) -> tuple[dict[str, np.ndarray], Affine, np.ndarray]:
    """Reflectances and cloud flags of the scene sampled at the pixel centres of a grid."""
    parcels = equivalence_parcels()
    west, south, east, north = parcels.to_crs(epsg).total_bounds
    west, north = np.floor(west / res) * res - 4 * res, np.ceil(north / res) * res + 4 * res
    width = int(np.ceil((east - west) / res)) + 4
    height = int(np.ceil((north - south) / res)) + 4
    width += width % 2
    height += height % 2
    transform = from_origin(west, north, res, res)
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    x, y = transform @ (cols, rows)
    if epsg != EPSG_MAIN:  # where each pixel centre is in the scene's own CRS
        x, y = Transformer.from_crs(epsg, EPSG_MAIN, always_xy=True).transform(x, y)
    bands = {b: np.full((height, width), v) for b, v in BACKGROUND.items()}
    bands["nir"] = np.full((height, width), 0.15)
    for pid, geom in zip(parcels["parcel_id"], parcels.geometry, strict=True):
        inside = shapely.contains_xy(geom, x, y)
        level = _EQ_FIELDS[pid][4]
        # NDVI varies smoothly across the field (+-0.1), so resolution matters a little
        wave = 0.1 * np.sin((x - X0) / 90.0) * np.cos((y - Y0) / 70.0)
        v = level + wave
        red = 0.06
        bands["red"][inside] = red
        bands["nir"][inside] = (red * (1 + v) / (1 - v))[inside]
    cx, cy, r = _EQ_CLOUD
    cloud = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    for b, val in CLOUD.items():
        bands[b][cloud] = val
    return bands, transform, np.asarray(cloud, dtype=bool)


def make_equivalence_stac(root: Path) -> TinyStac:
    """Write one synthetic scene as three items: Sentinel-2, Landsat and another UTM zone.

    The scene is defined on the ground (EPSG:32651 metres): four fields A-D whose NDVI
    varies smoothly around 0.75, 0.55, 0.35 and 0.6, and a round cloud over all of D.
    Each item samples it at its own pixel centres; ``T``-style asset layouts as in
    :func:`make_tiny_stac` (``earth-search`` keys for Sentinel-2, ``landsat`` keys,
    QA_PIXEL and DN scaling without ``raster:bands`` for Landsat). Parcel statistics must
    agree across the three items within the sampling error of the coarser grids.

    Returns
    -------
    :class:`TinyStac` with the fields in EPSG:4326 and :data:`EQUIVALENCE_ITEMS`.
    """
    img = Path(root) / "imagery"
    features = []
    specs = (
        (EQUIVALENCE_ITEMS[0], EPSG_MAIN, 10.0, "earth-search"),
        (EQUIVALENCE_ITEMS[1], EPSG_MAIN, 30.0, "landsat"),
        (EQUIVALENCE_ITEMS[2], EPSG_OTHER, 20.0, "earth-search"),
    )
    for k, (item_id, epsg, res, flavour) in enumerate(specs):
        bands, transform, cloud = _eq_scene(epsg, res)
        folder = img / item_id
        hrefs = {}
        for band, refl in bands.items():
            path = folder / f"{band}.tif"
            dn = reflectance_to_dn(refl, flavour)  # type: ignore[arg-type]
            write_cog(path, dn, transform=transform, crs=epsg, nodata=0, overviews=False)
            hrefs[band] = f"./{item_id}/{band}.tif"
        if flavour == "landsat":
            qa = np.where(cloud, _LANDSAT_CLOUD, _LANDSAT_CLEAR).astype(np.uint16)
            write_cog(folder / "scl.tif", qa, transform=transform, crs=epsg, overviews=False)
        else:  # SCL at twice the pixel size, cloudy where any of its 2 x 2 pixels is
            h, w = cloud.shape
            coarse = cloud.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
            scl = np.where(coarse, 9, 4).astype(np.uint8)
            write_cog(
                folder / "scl.tif",
                scl,
                transform=transform @ Affine.scale(2),
                crs=epsg,
                nodata=0,
                overviews=False,
            )
        hrefs["scl"] = f"./{item_id}/scl.tif"
        shape = bands["red"].shape
        when = f"2026-06-0{k + 1}T02:30:00Z"
        features.append(_item_json(item_id, when, epsg, transform, shape, hrefs, flavour))  # type: ignore[arg-type]
    img.mkdir(parents=True, exist_ok=True)
    catalog = img / "catalog.json"
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
    return TinyStac(catalog, equivalence_parcels().to_crs(4326), list(EQUIVALENCE_ITEMS))


def clear_dates(region, until, *, year: int, min_clear: float):  # noqa: ANN001, ANN201
    """Dates on which each parcel was seen clearly in ``year``, from the workspace cache.

    What the monitoring detectors saw: rows of the parcel series up to ``until`` with
    ``clear_fraction >= min_clear``, as ``parcel_id``, ``date`` (naive, day precision).
    """
    from agririsk.imagery import parcel_series
    from agririsk.pipeline import load_inputs

    inputs = load_inputs(region, until=until)
    items = [it for it in inputs.items if it.datetime.year == year]
    s = parcel_series(items, inputs.parcels, region.default_workspace())
    s["date"] = pd.to_datetime(s["datetime"]).dt.tz_convert(None).dt.normalize()
    return s.loc[s["clear_fraction"] >= min_clear, ["parcel_id", "date"]]
