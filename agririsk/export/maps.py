"""``risk_map.png``: parcels coloured by their farmer's grade, for a committee on A4 paper."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np

from agririsk.export.tables import atomic_write

__all__ = ["GRADE_COLOURS", "render_risk_png", "to_map_crs"]

#: grade colours, green (A) to red (E); colour-blind-safe diverging ramp (ColorBrewer RdYlGn, 5 classes)
GRADE_COLOURS = {"A": "#1a9641", "B": "#a6d96a", "C": "#ffffbf", "D": "#fdae61", "E": "#d7191c", "": "#bdbdbd"}
GRADE_LABELS = {
    "A": "A  pd < 2 %",
    "B": "B  2–5 %",
    "C": "C  5–10 %",
    "D": "D  10–20 %",
    "E": "E  ≥ 20 %",
    "": "no score (too little evidence)",
}


def to_map_crs(frame: gpd.GeoDataFrame, crs: str | None) -> gpd.GeoDataFrame:
    """``frame`` in ``crs`` when given and projected, else in a local UTM zone if geographic."""
    if crs is not None:
        from pyproj import CRS

        if CRS.from_user_input(crs).is_projected:
            return frame.to_crs(crs)
    return frame.to_crs(frame.estimate_utm_crs()) if frame.crs.is_geographic else frame


def _nice_length(span_m: float) -> float:
    """A round scale-bar length near a fifth of the map width."""
    target = span_m / 5
    base = 10 ** math.floor(math.log10(target))
    return max(m * base for m in (1, 2, 5) if m * base <= target)


def _condition_inset(fig, data: gpd.GeoDataFrame, condition, label: str, xlim, ylim) -> None:
    """The crop-condition raster as a small map in the right column, with its own colour bar."""
    arr, extent = condition
    finite = np.abs(arr[np.isfinite(arr)])
    # symmetric colour limits from the data (98th percentile of |value|, a multiple of 0.05, >= 0.2: sensor noise stays pale)
    lim = max(0.2, math.ceil(float(np.percentile(finite, 98)) / 0.05) * 0.05) if finite.size else 0.5
    cax = fig.add_axes([0.755, 0.13, 0.235, 0.36])
    im = cax.imshow(arr, extent=extent, cmap="BrBG", vmin=-lim, vmax=lim, interpolation="nearest", zorder=1)
    data.boundary.plot(ax=cax, color="#555555", linewidth=0.25, zorder=2)
    cax.set_xlim(xlim)
    cax.set_ylim(ylim)
    cax.set_aspect("equal")
    cax.set_xticks([])
    cax.set_yticks([])
    cax.set_xlabel("")
    cax.set_ylabel("")
    cax.set_facecolor("#e0e0e0")
    cax.set_title(label, fontsize=9, loc="left")
    bar = fig.add_axes([0.755, 0.095, 0.235, 0.012])
    fig.colorbar(im, cax=bar, orientation="horizontal", extend="both")
    bar.tick_params(labelsize=7)
    bar.set_xticks(np.linspace(-lim, lim, 5))
    bar.set_xlabel("NDVI minus the pixel's past-season median\nbrown: behind · green: ahead · grey: no data", fontsize=7)


def render_risk_png(
    parcels: gpd.GeoDataFrame,
    path: Path,
    *,
    title: str,
    subtitle: str = "",
    condition: tuple[np.ndarray, tuple[float, float, float, float]] | None = None,
    condition_label: str = "crop condition",
    crs: str | None = None,
    dpi: int = 150,
) -> Path:
    """Draw parcels coloured by ``grade`` with legend, scale bar, north arrow and title.

    Parameters
    ----------
    parcels : output of :func:`agririsk.export.vector.parcels_with_risk` (``grade``,
        ``open_alerts``); drawn in a projected CRS (a local UTM zone when geographic).
    path : the PNG to write (A4 landscape at ``dpi``).
    title, subtitle : printed at the top (region name, date).
    crs : projected CRS to draw in (the region's working CRS); default a local UTM zone.
    condition : optional raster ``(array, (left, right, bottom, top))`` in the same
        projected CRS, values in [-1, 1] (crop condition; NaN transparent), drawn as an inset
        map beside the grades (under opaque grade fills it could not be seen).
    condition_label : the inset's title (e.g. the acquisition date).
    """
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrow, Patch, Rectangle

    data = to_map_crs(parcels, crs)
    fig = Figure(figsize=(11.69, 8.27), dpi=dpi)  # A4 landscape; no pyplot state touched
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.04, right=0.74, top=0.9, bottom=0.05)
    grades = data["grade"].fillna("").astype(str)
    data.plot(ax=ax, color=[GRADE_COLOURS.get(g, "#bdbdbd") for g in grades], edgecolor="#333333", linewidth=0.4, zorder=2)
    legend: list[Artist] = [Patch(facecolor=GRADE_COLOURS[g], edgecolor="#333333", label=GRADE_LABELS[g])
              for g in ["A", "B", "C", "D", "E", ""] if (grades == g).any() or g != ""]
    if "open_alerts" in data and (data["open_alerts"] > 0).any():
        pts = data[data["open_alerts"] > 0].geometry.representative_point()
        ax.scatter(pts.x, pts.y, marker="^", s=40, c="black", edgecolors="white", linewidths=0.6, zorder=3)
        legend.append(Line2D([], [], marker="^", color="black", linestyle="", markeredgecolor="white",
                                 label=f"open alert ({int((data['open_alerts'] > 0).sum())} fields)"))
    ax.legend(handles=legend, title="farmer's risk grade", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              frameon=False, fontsize=9, title_fontsize=10)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    xmin, ymin, xmax, ymax = data.total_bounds
    pad = 0.03 * max(xmax - xmin, ymax - ymin)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(ymin - pad * 3, ymax + pad)
    # scale bar (bottom left) and north arrow (top left of the map, grid north of the UTM zone)
    length = _nice_length(xmax - xmin)
    x0, y0 = xmin, ymin - pad * 2
    for i in range(2):
        ax.add_patch(Rectangle((x0 + i * length / 2, y0), length / 2, pad * 0.4,
                               facecolor="black" if i == 0 else "white", edgecolor="black", zorder=4))
    unit, value = ("km", length / 1000) if length >= 1000 else ("m", length)
    ax.text(x0, y0 + pad * 0.6, "0", fontsize=8, ha="center")
    ax.text(x0 + length, y0 + pad * 0.6, f"{value:g} {unit}", fontsize=8, ha="center")
    fig.patches.append(FancyArrow(0.95, 0.60, 0, 0.07, width=0.006, head_width=0.018, head_length=0.03,
                                  transform=fig.transFigure, color="black"))
    fig.text(0.95, 0.575, "N", ha="center", va="center", fontsize=12, fontweight="bold")
    if condition is not None:
        _condition_inset(fig, data, condition, condition_label, ax.get_xlim(), ax.get_ylim())
    ax.set_xlabel("")
    ax.set_ylabel("")
    fig.suptitle(title, x=0.04, ha="left", fontsize=15, fontweight="bold")
    if subtitle:
        fig.text(0.04, 0.925, subtitle, fontsize=10, color="#444444")
    fig.text(0.755, 0.012, f"CRS: {data.crs.to_string()}  ·  agririsk", fontsize=7, color="#666666")
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    return Path(path)
