"""The sample landscape: road grid, blocks, river, forest, villages and cropland fields.

Everything is laid out on the 10 m imagery grid (pixel rows and columns); fields are
axis-aligned rectangles of pixels, parcels their slightly inset, slightly irregular
vector outlines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from agririsk.sample._fields import smooth_field

logger = logging.getLogger(__name__)

PIXEL_M = 10.0

# Land-cover classes of truth/landcover.tif (0 = no class).
CROPLAND_PARCEL = 1
CROPLAND_OTHER = 2
FOREST = 3
WATER = 4
BUILT_UP = 5
ROAD = 6
GRASSLAND = 7
LANDCOVER_NAMES = {
    CROPLAND_PARCEL: "cropland_parcel",
    CROPLAND_OTHER: "cropland_other",
    FOREST: "forest",
    WATER: "water",
    BUILT_UP: "built_up",
    ROAD: "road",
    GRASSLAND: "grassland",
}
# Non-field "units" follow the fields in the unit raster, in this order.
SPECIAL_UNITS = (FOREST, WATER, BUILT_UP, ROAD, GRASSLAND)


@dataclass
class Landscape:
    """The static layout of the sample region.

    Attributes
    ----------
    landcover : uint8 (rows, cols) class raster (see ``LANDCOVER_NAMES``).
    unit : int32 (rows, cols); field index for field pixels, ``n_fields + k`` for the
        k-th entry of ``SPECIAL_UNITS``.
    fields : one row per field: ``r0, r1, c0, c1`` (pixel rectangle, end exclusive),
        ``block``, ``dist_water_m``, ``soil_quality``, ``taw_mm``, ``is_parcel``.
    texture : float32 (rows, cols) smooth within-field canopy texture (mean 0, sd ~1).
    albedo : float32 (rows, cols) static multiplicative brightness texture (~1).
    """

    landcover: np.ndarray
    unit: np.ndarray
    fields: pd.DataFrame
    texture: np.ndarray
    albedo: np.ndarray

    @property
    def n_fields(self) -> int:
        return len(self.fields)


def _cuts(rng: np.random.Generator, length: int, lo: int, hi: int) -> list[int]:
    """Road positions along one axis: a random start, then spacings in [lo, hi] px."""
    pos = [int(rng.integers(lo // 3, lo))]
    while pos[-1] < length:
        pos.append(pos[-1] + int(rng.integers(lo, hi + 1)))
    return [p for p in pos if p < length]


def _split(rng: np.random.Generator, lo: int, hi: int, n: int, min_px: int) -> list[int]:
    """Split [lo, hi) into ``n`` parts of jittered width (each >= ``min_px``); edges."""
    n = max(1, min(n, (hi - lo) // min_px))
    w = rng.uniform(0.6, 1.4, n)
    edges = lo + np.round(np.cumsum(np.r_[0.0, w]) / w.sum() * (hi - lo)).astype(int)
    return list(edges)


def _subdivide(
    rng: np.random.Generator,
    blocks: list[tuple[int, int, int, int, str]],
    target_px: float,
    near_water: np.ndarray,
) -> list[tuple[int, int, int, int, int]]:
    """Cut cropland blocks into strip fields of about ``target_px`` pixels each."""
    fields: list[tuple[int, int, int, int, int]] = []
    for k, (r0, r1, c0, c1, kind) in enumerate(blocks):
        if kind != "crop":
            continue
        h, w = r1 - r0, c1 - c0
        n_target = max(1, int(round(h * w / target_px)))
        along_rows = h >= w  # strips run along the longer side
        length = h if along_rows else w
        n_seg = 1 if length < 60 or n_target < 4 else int(rng.choice([1, 2], p=[0.6, 0.4]))
        seg_edges = _split(rng, r0 if along_rows else c0, r1 if along_rows else c1, n_seg, 10)
        per_seg = max(1, int(round(n_target / (len(seg_edges) - 1))))
        for s0, s1 in zip(seg_edges[:-1], seg_edges[1:], strict=False):
            lo, hi = (c0, c1) if along_rows else (r0, r1)
            strip_edges = _split(rng, lo, hi, per_seg, 3)
            for t0, t1 in zip(strip_edges[:-1], strip_edges[1:], strict=False):
                fr0, fr1, fc0, fc1 = (s0, s1, t0, t1) if along_rows else (t0, t1, s0, s1)
                wet = near_water[fr0:fr1, fc0:fc1]
                if not wet.any():
                    if (fr1 - fr0) * (fc1 - fc0) >= 40:
                        fields.append((fr0, fr1, fc0, fc1, k))
                    continue
                # a strip crossed by water becomes the dry pieces on either side of it
                dry = ~wet.any(axis=1 if along_rows else 0)
                edges = np.flatnonzero(np.diff(np.r_[0, dry.astype(np.int8), 0]))
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    pr = (
                        (fr0 + a, fr0 + b, fc0, fc1) if along_rows else (fr0, fr1, fc0 + a, fc0 + b)
                    )
                    if b - a >= 5 and (pr[1] - pr[0]) * (pr[3] - pr[2]) >= 40:
                        fields.append((*pr, k))
    return fields


def build_landscape(rng: np.random.Generator, size: int, n_parcels: int) -> Landscape:
    """Lay out roads, river, blocks and fields on a ``size`` x ``size`` 10 m grid.

    Parameters
    ----------
    rng : random generator (consumed).
    size : pixels per side.
    n_parcels : number of fields to be registered as parcels; about 15 % more fields
        are laid out, the extra ones being cropland the bank does not finance.

    Returns
    -------
    Landscape
    """
    shape = (size, size)
    lc = np.zeros(shape, dtype=np.uint8)

    # Blocks between roads: ~0.7-1.2 km in NE China's reclaimed plains.
    spacing = (70, 120) if size >= 256 else (40, 70)
    rows_cut = _cuts(rng, size, *spacing)
    cols_cut = _cuts(rng, size, *spacing)
    row_w = {r: int(rng.choice([1, 2], p=[0.7, 0.3])) for r in rows_cut}
    col_w = {c: int(rng.choice([1, 2], p=[0.7, 0.3])) for c in cols_cut}
    r_edges = [0, *rows_cut, size]
    c_edges = [0, *cols_cut, size]

    # River: a sinuous band crossing the region, plus a few ponds.
    water = np.zeros(shape, dtype=bool)
    if size >= 192:
        cols = np.arange(size)
        wobble = smooth_field(rng, (1, size + 64), size / 6)[0, 32 : 32 + size]
        y0 = rng.uniform(0.25, 0.75) * size
        slope = rng.uniform(-0.3, 0.3)
        centre = y0 + slope * (cols - size / 2) + wobble * size * 0.06
        half = rng.uniform(1.5, 3.5)
        rr = np.arange(size)[:, None]
        water |= np.abs(rr - centre[None, :]) <= half
    n_ponds = int(rng.poisson(max(size / 512, 0.5)))
    yy, xx = np.ogrid[:size, :size]
    for _ in range(n_ponds):
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(4, 12, 2)
        water |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0

    # Block types.
    blocks = []
    for bi in range(len(r_edges) - 1):
        for bj in range(len(c_edges) - 1):
            r0 = r_edges[bi] + (row_w.get(r_edges[bi], 0) if bi > 0 else 0)
            r1 = r_edges[bi + 1]
            c0 = c_edges[bj] + (col_w.get(c_edges[bj], 0) if bj > 0 else 0)
            c1 = c_edges[bj + 1]
            if r1 - r0 < 4 or c1 - c0 < 4:
                continue
            kind = str(rng.choice(["crop", "forest", "village"], p=[0.86, 0.09, 0.05]))
            if kind == "village" and min(r1 - r0, c1 - c0) < 30:
                kind = "crop"  # a village needs room
            blocks.append((r0, r1, c0, c1, kind))
    if blocks and not any(b[4] == "crop" for b in blocks):
        blocks[0] = (*blocks[0][:4], "crop")
    if len(blocks) >= 8 and not any(b[4] == "village" for b in blocks):
        short = np.array([min(b[1] - b[0], b[3] - b[2]) for b in blocks])
        k = int(rng.choice(np.flatnonzero(short >= np.median(short))))
        blocks[k] = (*blocks[k][:4], "village")

    # Cropland area available, to size the fields.
    near_water = ndimage.binary_dilation(water, iterations=2) if water.any() else water
    crop_px = sum((b[1] - b[0]) * (b[3] - b[2]) for b in blocks if b[4] == "crop")
    target_px = max(crop_px / max(n_parcels * 1.15, 1), 40.0)

    for r0, r1, c0, c1, kind in blocks:
        if kind == "forest":
            lc[r0:r1, c0:c1] = FOREST
        elif kind == "village":
            lc[r0:r1, c0:c1] = GRASSLAND
            vr = rng.uniform(0.5, 0.9)
            h, w = r1 - r0, c1 - c0
            vr0, vc0 = r0 + int(h * (1 - vr) / 2), c0 + int(w * (1 - vr) / 2)
            lc[vr0 : vr0 + int(h * vr), vc0 : vc0 + int(w * vr)] = BUILT_UP
        else:
            lc[r0:r1, c0:c1] = GRASSLAND  # margins not covered by any field
    sub_seed = int(rng.integers(2**31))
    for attempt in range(8):
        fields = _subdivide(
            np.random.default_rng([sub_seed, attempt]), blocks, target_px, near_water
        )
        if len(fields) >= n_parcels * 1.05 or target_px <= 40:
            break
        target_px = max(target_px * len(fields) / (n_parcels * 1.12), 40.0)

    # Roads on top of blocks, water on top of everything but bridges (roads).
    for r in rows_cut:
        lc[r : r + row_w[r], :] = ROAD
    for c in cols_cut:
        lc[:, c : c + col_w[c]] = ROAD
    road = lc == ROAD
    lc[water & ~road] = WATER

    fdf = pd.DataFrame(fields, columns=["r0", "r1", "c0", "c1", "block"])
    n_fields = len(fdf)
    unit = np.full(shape, -1, dtype=np.int32)
    for i, (r0, r1, c0, c1) in enumerate(fdf[["r0", "r1", "c0", "c1"]].to_numpy()):
        unit[r0:r1, c0:c1] = i
    for k, cls in enumerate(SPECIAL_UNITS):
        unit[(unit < 0) & (lc == cls)] = n_fields + k
    unit[unit < 0] = n_fields + SPECIAL_UNITS.index(GRASSLAND)

    # Which fields are parcels: whole blocks in random order, so a farmer's parcels
    # (consecutive fields of one block) are usually adjacent.
    order = rng.permutation(fdf["block"].unique()) if n_fields else np.array([], dtype=int)
    rank = {b: i for i, b in enumerate(order)}
    fdf["block_rank"] = fdf["block"].map(rank)
    fdf = fdf.sort_values(["block_rank", "r0", "c0"], kind="stable")
    is_parcel = np.zeros(n_fields, dtype=bool)
    is_parcel[: min(n_parcels, n_fields)] = True
    fdf["is_parcel"] = is_parcel
    fdf = fdf.sort_index()
    if n_fields < n_parcels:
        logger.warning(
            "Only %d fields fit on a %d px grid; writing %d parcels instead of %d.",
            n_fields,
            size,
            n_fields,
            n_parcels,
        )
    lc[(unit < n_fields) & (unit >= 0)] = CROPLAND_OTHER
    parcel_px = np.zeros(shape, dtype=bool)
    for r0, r1, c0, c1 in fdf.loc[fdf["is_parcel"], ["r0", "r1", "c0", "c1"]].to_numpy():
        parcel_px[r0:r1, c0:c1] = True
    lc[parcel_px] = CROPLAND_PARCEL

    # Soil: quality (yield potential) and water holding capacity, smooth in space.
    soil = smooth_field(rng, shape, max(size / 8, 16), octaves=2)
    whc = 0.6 * soil + 0.8 * smooth_field(rng, shape, max(size / 10, 16))
    whc /= float(whc.std()) or 1.0
    cr = ((fdf["r0"] + fdf["r1"]) // 2).to_numpy()
    cc = ((fdf["c0"] + fdf["c1"]) // 2).to_numpy()
    fdf["soil_quality"] = np.round(soil[cr, cc].astype(float), 3)
    # Mollisols of the Songnen plain: ~180 mm plant-available water in the root zone.
    fdf["taw_mm"] = np.round(np.clip(180.0 + 35.0 * whc[cr, cc], 90.0, 280.0), 1)
    if water.any():
        dist = ndimage.distance_transform_edt(~water) * PIXEL_M
        fdf["dist_water_m"] = np.round(dist[cr, cc], 1)
    else:
        fdf["dist_water_m"] = np.inf

    # Textures: within-field canopy variation (smooth) and static albedo.
    texture = (0.8 * smooth_field(rng, shape, 6.0) + 0.6 * soil).astype(np.float32)
    albedo = 1.0 + 0.03 * smooth_field(rng, shape, 3.0)
    built = lc == BUILT_UP
    albedo[built] += 0.25 * rng.standard_normal(int(built.sum())).astype(np.float32)
    np.clip(albedo, 0.5, 1.8, out=albedo)
    return Landscape(
        landcover=lc, unit=unit, fields=fdf.reset_index(drop=True), texture=texture, albedo=albedo
    )


def parcel_rectangles(
    rng: np.random.Generator, fields: pd.DataFrame, inset_px: float = 0.4, jitter_px: float = 0.2
) -> np.ndarray:
    """Corner coordinates (pixel col, row) of each field's parcel outline.

    The field rectangle is inset by ``inset_px`` (balks and road verges) and each corner
    jittered by up to ``jitter_px``, giving slightly irregular quadrilaterals.

    Returns
    -------
    float array (n, 4, 2) of (col, row) corners, clockwise from top-left.
    """
    r0 = fields["r0"].to_numpy(float) + inset_px
    r1 = fields["r1"].to_numpy(float) - inset_px
    c0 = fields["c0"].to_numpy(float) + inset_px
    c1 = fields["c1"].to_numpy(float) - inset_px
    corners = np.stack(
        [
            np.stack([c0, r0], -1),
            np.stack([c1, r0], -1),
            np.stack([c1, r1], -1),
            np.stack([c0, r1], -1),
        ],
        axis=1,
    )
    corners += rng.uniform(-jitter_px, jitter_px, corners.shape)
    return corners
