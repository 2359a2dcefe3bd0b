"""``risk_map.html``: an interactive map that works offline (no CDN, no network).

The map is one self-contained HTML file: parcels are inline SVG paths in the local UTM
projection, with a few lines of inlined JavaScript for pan and zoom, popups, layer toggles
and a legend. It opens from a USB stick in any browser with no internet.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np

from agririsk.export.maps import GRADE_COLOURS, GRADE_LABELS, to_map_crs
from agririsk.export.tables import atomic_write

__all__ = ["render_risk_html"]

_JS = """
(function(){
const svg=document.getElementById('map'); let vb=svg.viewBox.baseVal;
const pop=document.getElementById('popup');
function pt(e){const r=svg.getBoundingClientRect();return [vb.x+(e.clientX-r.left)/r.width*vb.width, vb.y+(e.clientY-r.top)/r.height*vb.height];}
svg.addEventListener('wheel',e=>{e.preventDefault();const [x,y]=pt(e);const k=e.deltaY<0?0.8:1.25;
 vb.x=x-(x-vb.x)*k; vb.y=y-(y-vb.y)*k; vb.width*=k; vb.height*=k;},{passive:false});
let drag=null; svg.addEventListener('mousedown',e=>{drag=[e.clientX,e.clientY];});
window.addEventListener('mouseup',()=>{drag=null;});
window.addEventListener('mousemove',e=>{if(!drag)return;const r=svg.getBoundingClientRect();
 vb.x-=(e.clientX-drag[0])/r.width*vb.width; vb.y-=(e.clientY-drag[1])/r.height*vb.height; drag=[e.clientX,e.clientY];});
const info=JSON.parse(document.getElementById('parcel-data').textContent);
svg.querySelectorAll('[data-pid]').forEach(p=>p.addEventListener('click',e=>{
 const d=info[p.dataset.pid]; let h='<b>Parcel '+d.parcel_id+'</b><br>Farmer '+d.farmer_id+'<br>Grade <b>'+(d.grade||'–')+'</b>';
 if(d.pd!==null) h+=' · pd '+(100*d.pd).toFixed(1)+' %'; h+='<br>'+d.decision;
 if(d.data_quality!=='ok') h+='<br><i>'+d.data_quality+'</i>';
 d.reasons.forEach(r=>{h+='<br>• '+r;}); if(d.alerts) h+='<br><b>Alerts:</b> '+d.alerts;
 pop.innerHTML=h; pop.style.display='block'; pop.style.left=(e.pageX+12)+'px'; pop.style.top=(e.pageY+12)+'px'; e.stopPropagation();}));
document.body.addEventListener('click',()=>{pop.style.display='none';});
document.querySelectorAll('input[data-layer]').forEach(c=>c.addEventListener('change',()=>{
 document.getElementById(c.dataset.layer).style.display=c.checked?'':'none';}));
})();
"""

_CSS = """
body{font-family:system-ui,Arial,sans-serif;margin:0;display:flex;height:100vh}
#side{width:270px;padding:12px;box-sizing:border-box;overflow:auto;border-right:1px solid #ccc;font-size:13px}
#side h1{font-size:16px;margin:0 0 4px} #side .sub{color:#555;margin-bottom:10px}
.sw{display:inline-block;width:14px;height:14px;border:1px solid #333;vertical-align:middle;margin-right:6px}
#map{flex:1;background:#f4f4f0;cursor:grab}
#map path{stroke:#333;stroke-width:1.5;vector-effect:non-scaling-stroke} #map path:hover{stroke:#000;stroke-width:3}
#popup{position:absolute;display:none;background:#fff;border:1px solid #888;padding:8px;max-width:320px;font-size:12px;box-shadow:2px 2px 6px #0003}
"""


def _path_d(geom, x0: float, y1: float) -> str:
    parts = []
    polys = getattr(geom, "geoms", [geom])
    for poly in polys:
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            pts = " ".join(f"{x - x0:.1f} {y1 - y:.1f}" for x, y in xy[:-1])
            parts.append(f"M{pts}Z")
    return "".join(parts)


def _png_data_uri(arr: np.ndarray, lim: float) -> str:
    from matplotlib import colormaps
    from matplotlib.image import imsave

    rgba = colormaps["BrBG"]((np.clip(np.nan_to_num(arr, nan=0.0), -lim, lim) + lim) / (2 * lim))
    rgba[..., 3] = np.where(np.isfinite(arr), 0.9, 0.0)
    buf = io.BytesIO()
    imsave(buf, rgba, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def render_risk_html(
    parcels: gpd.GeoDataFrame,
    path: Path,
    *,
    title: str,
    subtitle: str = "",
    condition: tuple[np.ndarray, tuple[float, float, float, float]] | None = None,
    crs: str | None = None,
) -> Path:
    """Write the offline interactive map.

    Parameters
    ----------
    parcels : output of :func:`agririsk.export.vector.parcels_with_risk`.
    path : the HTML file to write.
    title, subtitle : shown in the side panel.
    condition : optional crop-condition raster ``(array, (left, right, bottom, top))`` in the
        parcels' projected CRS, drawn as a toggleable layer.
    crs : projected CRS to draw in (the region's working CRS); default a local UTM zone.
    """
    data = to_map_crs(parcels, crs)
    data = data.assign(geometry=data.geometry.simplify(1.0))
    xmin, ymin, xmax, ymax = data.total_bounds
    pad = 0.02 * max(xmax - xmin, ymax - ymin)
    x0, y1 = xmin - pad, ymax + pad
    w, h = xmax - xmin + 2 * pad, ymax - ymin + 2 * pad
    grades = data["grade"].fillna("").astype(str)
    paths, markers, info = [], [], {}
    for (_, row), grade in zip(data.iterrows(), grades, strict=True):
        pid = str(row["parcel_id"])
        paths.append(f'<path data-pid="{html.escape(pid)}" fill="{GRADE_COLOURS.get(grade, "#bdbdbd")}" '
                     f'd="{_path_d(row.geometry, x0, y1)}"/>')
        reasons = [str(row[c]) for c in ("reason_1", "reason_2", "reason_3") if c in row and isinstance(row[c], str) and row[c]]
        pd_val = row.get("pd")
        info[pid] = {
            "parcel_id": pid, "farmer_id": str(row["farmer_id"]), "grade": grade,
            "pd": None if pd_val is None or not np.isfinite(pd_val) else round(float(pd_val), 4),
            "decision": str(row.get("decision", "")), "data_quality": str(row.get("data_quality", "")),
            "reasons": reasons, "alerts": str(row.get("alert_kinds", "")),
        }
        if row.get("open_alerts", 0):
            c = row.geometry.representative_point()
            s = max(w, h) / 120
            cx, cy = c.x - x0, y1 - c.y
            markers.append(f'<path data-pid="{html.escape(pid)}" fill="#000" stroke="#fff" '
                           f'd="M{cx:.1f} {cy - s:.1f}L{cx + s:.1f} {cy + s * 0.7:.1f}L{cx - s:.1f} {cy + s * 0.7:.1f}Z"/>')
    raster = ""
    if condition is not None:
        arr, (left, right, bottom, top) = condition
        finite = np.abs(arr[np.isfinite(arr)])
        lim = max(0.2, float(np.percentile(finite, 98))) if finite.size else 0.5
        raster = (f'<g id="layer-condition"><image href="{_png_data_uri(arr, lim)}" x="{left - x0:.1f}" y="{y1 - top:.1f}" '
                  f'width="{right - left:.1f}" height="{top - bottom:.1f}" preserveAspectRatio="none" '
                  f'style="image-rendering:pixelated"/></g>')
    legend = "".join(f'<div><span class="sw" style="background:{GRADE_COLOURS[g]}"></span>{html.escape(GRADE_LABELS[g])}'
                     f' ({int((grades == g).sum())} fields)</div>' for g in ["A", "B", "C", "D", "E", ""])
    toggles = ['<label><input type="checkbox" data-layer="layer-parcels" checked> parcels by grade</label>']
    if markers:
        toggles.append(f'<label><input type="checkbox" data-layer="layer-alerts" checked> open alerts ({len(markers)})</label>')
    if raster:
        toggles.append('<label><input type="checkbox" data-layer="layer-condition" checked> crop condition raster</label>')
    paths_svg, markers_svg = "".join(paths), "".join(markers)
    parcel_style = ' style="fill-opacity:0.45"' if raster else ""
    info_json = json.dumps(info).replace("</", "<\\/")
    toggles_html = "<br>".join(toggles)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<div id="side"><h1>{html.escape(title)}</h1><div class="sub">{html.escape(subtitle)}</div>
<b>Farmer's risk grade</b>{legend}<br><b>Layers</b><br>{toggles_html}
<p style="color:#555">Click a parcel for its farmer's grade, pd, reasons and alerts. Scroll to zoom, drag to pan.
Scale: the map is {w / 1000:.1f} km wide at full view; north is up (UTM grid north).</p></div>
<svg id="map" viewBox="0 0 {w:.1f} {h:.1f}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">
{raster}<g id="layer-parcels"{parcel_style}>{paths_svg}</g><g id="layer-alerts">{markers_svg}</g></svg>
<div id="popup"></div>
<script type="application/json" id="parcel-data">{info_json}</script>
<script>{_JS}</script></body></html>
"""
    return atomic_write(Path(path), lambda tmp: tmp.write_text(doc, encoding="utf-8"))
