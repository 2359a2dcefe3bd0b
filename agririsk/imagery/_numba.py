"""numba kernels of the hot path; imported only through :func:`agririsk.imagery._fused.kernels`.

Module-level functions, so that ``cache=True`` keeps the machine code on disk (next to
this file, else in numba's user cache) and a new process loads it instead of compiling.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from agririsk.imagery._fused import EVI, NDMI, NDVI, NDWI

f32 = np.float32
ZERO, ONE, LO, PER = f32(0.0), f32(1.0), f32(-1.0), f32(50.0)  # bins: (v - LO) * PER
SIX, SEVEN5, TWO5, HAZE = f32(6.0), f32(7.5), f32(2.5), f32(0.2)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _nd(a: Any, b: Any) -> Any:  # == indices.normalized_difference, NaN when undefined
    den = a + b
    if a >= ZERO and b >= ZERO and den > ZERO:
        return (a - b) / den
    return f32(np.nan)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _bin(v: Any, nbins: int) -> int:  # == stats: ((v - LO) * PER).astype(intp), clipped
    b = int((v - LO) * PER)
    return 0 if b < 0 else (nbins - 1 if b > nbins - 1 else b)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def accumulate(  # type: ignore[no-untyped-def]
    # 1-D DN of the block's pixels; a band not read is passed as the red band again
    blue,
    green,
    red,
    nir,
    swir,
    # per band (blue, green, red, nir, swir16): read? has a nodata? nodata, scale, offset
    read,
    has_nodata,
    nodata,
    scale,
    offset,
    # 1-D bool clear mask of the block's pixels (mask band and cloud buffer)
    ok,
    # int32 flat indices of the pixels to evaluate (ignored when dense: all of them)
    pix,
    dense,
    # a coarse band (and ok when ok_coarse) holds the band's own pixels, (Hc, Wc) flattened:
    # driver pixel (r, c) of the window (width pixels wide) is its element rows[r] * wc + cols[c]
    coarse,
    ok_coarse,
    width,
    rows,
    cols,
    wc,
    # local label of each evaluated pixel; global label of each local label
    local,
    labels,
    # accumulator slot of ndvi, evi, ndmi, ndwi (-1: not computed); low-blue sums wanted?
    slots,
    lowblue,
    # global accumulators: sums and sums of squares (slot, label), histograms (slot,
    # label, bin), low-blue count and sum (label)
    gx,
    gxx,
    ghist,
    gn_lb,
    gx_lb,
):
    n_loc = labels.shape[0]
    n_slots = gx.shape[0]
    nbins = ghist.shape[2]
    lx = np.zeros((n_slots, n_loc))
    lxx = np.zeros((n_slots, n_loc))
    ln_lb = np.zeros(n_loc)
    lx_lb = np.zeros(n_loc)
    s_ndvi, s_evi, s_ndmi, s_ndwi = slots[NDVI], slots[EVI], slots[NDMI], slots[NDWI]
    # Parameters as scalars: the compiler cannot keep array loads across the stores below.
    # A band without nodata, or not read, gets NaN, which no DN equals (a band not read is
    # the red band again, so that indexing it stays in bounds).
    nd_b = nodata[0] if read[0] and has_nodata[0] else np.nan
    nd_g = nodata[1] if read[1] and has_nodata[1] else np.nan
    nd_r = nodata[2] if has_nodata[2] else np.nan
    nd_n = nodata[3] if has_nodata[3] else np.nan
    nd_s = nodata[4] if read[4] and has_nodata[4] else np.nan
    sc_b, sc_g, sc_r, sc_n, sc_s = scale[0], scale[1], scale[2], scale[3], scale[4]
    of_b, of_g, of_r, of_n, of_s = offset[0], offset[1], offset[2], offset[3], offset[4]
    # One row of the accumulators per index (slot 0 stands in for an index not computed).
    # Float sums go to block-local arrays first and are added afterwards, in the order of
    # the NumPy path (same bits); integer counts go straight to the global histograms.
    x_v, xx_v, h_v = lx[s_ndvi], lxx[s_ndvi], ghist[s_ndvi]
    x_e, xx_e, h_e = lx[max(s_evi, 0)], lxx[max(s_evi, 0)], ghist[max(s_evi, 0)]
    x_m, xx_m, h_m = lx[max(s_ndmi, 0)], lxx[max(s_ndmi, 0)], ghist[max(s_ndmi, 0)]
    x_w, xx_w, h_w = lx[max(s_ndwi, 0)], lxx[max(s_ndwi, 0)], ghist[max(s_ndwi, 0)]
    c_b, c_g, c_n, c_s = coarse[0], coarse[1], coarse[3], coarse[4]
    any_coarse = c_b or c_g or c_n or c_s or ok_coarse
    w = np.int64(width)
    wc = np.int64(wc)
    row_start, row_end, r = np.int64(0), np.int64(0), np.int64(0)
    n = local.shape[0]
    n_data = 0
    for k in range(n):
        p = np.int64(k) if dense else np.int64(pix[k])
        q = p
        if any_coarse:
            if p < row_start or p >= row_end:  # once per row: pixels come in row order
                r = p // w
                row_start = r * w
                row_end = row_start + w
            q = np.int64(rows[r]) * wc + np.int64(cols[p - row_start])
        pb = q if c_b else p
        pg = q if c_g else p
        pn = q if c_n else p
        ps = q if c_s else p
        nodata_px = (
            (blue[pb] == nd_b)
            | (green[pg] == nd_g)
            | (red[p] == nd_r)
            | (nir[pn] == nd_n)
            | (swir[ps] == nd_s)
        )
        if nodata_px:
            continue
        n_data += 1
        j = local[k]
        if j == 0:
            continue  # not a parcel pixel (dense windows): nothing to accumulate
        if not ok[q if ok_coarse else p]:
            continue
        g = labels[j]
        rr = f32(red[p]) * sc_r + of_r
        nn = f32(nir[pn]) * sc_n + of_n
        v = _nd(nn, rr)
        if v == v:
            v64 = np.float64(v)
            x_v[j] += v64
            xx_v[j] += v64 * v64
            h_v[g, _bin(v, nbins)] += 1
            if lowblue:
                bb = f32(blue[pb]) * sc_b + of_b
                if bb <= HAZE:
                    ln_lb[j] += 1.0
                    lx_lb[j] += v64
        if s_evi >= 0:
            bb = f32(blue[pb]) * sc_b + of_b
            den = nn + SIX * rr - SEVEN5 * bb + ONE
            if bb >= ZERO and rr >= ZERO and nn >= ZERO and den > ZERO:
                e = TWO5 * (nn - rr) / den
                if e == e:
                    e64 = np.float64(e)
                    x_e[j] += e64
                    xx_e[j] += e64 * e64
                    h_e[g, _bin(e, nbins)] += 1
        if s_ndmi >= 0:
            ss = f32(swir[ps]) * sc_s + of_s
            m = _nd(nn, ss)
            if m == m:
                m64 = np.float64(m)
                x_m[j] += m64
                xx_m[j] += m64 * m64
                h_m[g, _bin(m, nbins)] += 1
        if s_ndwi >= 0:
            gg = f32(green[pg]) * sc_g + of_g
            wi = _nd(gg, nn)
            if wi == wi:
                w64 = np.float64(wi)
                x_w[j] += w64
                xx_w[j] += w64 * w64
                h_w[g, _bin(wi, nbins)] += 1
    for j in range(1, n_loc):  # == x[labels] += np.bincount(...) of the NumPy path
        g = labels[j]
        for s in range(n_slots):
            gx[s, g] += lx[s, j]
            gxx[s, g] += lxx[s, j]
        gn_lb[g] += ln_lb[j]
        gx_lb[g] += lx_lb[j]
    return n_data


@numba.njit(cache=True, nogil=True, error_model="numpy")
def hist_quantiles(h, qs, lo, hi):  # type: ignore[no-untyped-def]
    """Same arithmetic as :func:`agririsk.imagery.stats.hist_quantiles`, row by row."""
    rows, nb = h.shape
    width = (hi - lo) / nb
    nq = qs.shape[0]
    out = np.full((rows, nq), np.nan)
    cum = np.empty(nb, np.int64)
    for i in range(rows):
        c = 0
        for b in range(nb):
            c += h[i, b]
            cum[b] = c
        n = cum[nb - 1]
        if n <= 0:
            continue
        for j in range(nq):
            t = qs[j] * n
            goal = max(np.int64(math.ceil(t - 1e-9)), 1)
            k = 0
            while k < nb and cum[k] < goal:
                k += 1
            if k > nb - 1:
                k = nb - 1
            prev = cum[k - 1] if k > 0 else 0
            hk = cum[k] - prev
            frac = (t - prev) / hk if hk > 0 else 0.0
            out[i, j] = lo + width * (k + min(max(frac, 0.0), 1.0))
    return out
