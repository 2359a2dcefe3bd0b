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
def _bin(v: Any, top: Any) -> Any:  # == stats: ((v - LO) * PER).astype(intp), clipped
    # clipped before the conversion, in float32 (the same bin for every value, NaN aside):
    # a float min/max vectorises, and a huge EVI cannot overflow the integer
    return np.int32(min(max((v - LO) * PER, ZERO), top))


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _upsample(coarse, at, cols, out):  # type: ignore[no-untyped-def]
    """One row of a coarse band on the driver's columns: ``out[c] = coarse[at + cols[c]]``."""
    for c in range(out.shape[0]):
        out[c] = coarse[at + np.int64(cols[c])]


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _add(sums, at, hist, cell, x):  # type: ignore[no-untyped-def]
    """A defined index value into its parcel's sum (``at``), sum of squares and histogram."""
    x64 = np.float64(x)
    sums[at] += x64
    sums[at + 1] += x64 * x64
    hist[cell] += 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def accumulate(  # type: ignore[no-untyped-def]
    # 1-D DN of the block's pixels; a band not read is passed as the red band again
    blue,
    green,
    red,
    nir,
    swir,
    # per band (blue, green, red, nir, swir16): nodata (a value no DN of the band equals
    # when it has none or is not read: see stats), scale, offset
    nodata,
    scale,
    offset,
    # 1-D bool clear mask of the block's pixels (mask band and cloud buffer)
    ok,
    # int32 flat indices of the pixels to evaluate, in row order but for extra points at
    # the end (ignored when dense: all of them)
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
    """Add a block to the accumulators; returns its evaluated pixels with data in every band.

    The block is taken a row (of the window) at a time, in two loops:

    1. straight-line code per pixel, which the compiler turns into SIMD: the nodata and
       clear tests, reflectance, the four indices (NaN where a pixel does not count) and
       their histogram bins, into row buffers. Coarse bands are upsampled into a row buffer
       once per coarse row; in sparse windows the row's span between its first and last
       evaluated pixel is computed, with local label 0 between parcels.
    2. per pixel with a defined index: the sums and the histogram count, in pixel order.
    Float sums go to block-local arrays first and are added afterwards, in the order of
    the NumPy path (same bits); integer counts go straight to the global histograms.
    """
    n_loc = labels.shape[0]
    n_slots = gx.shape[0]
    nbins = ghist.shape[2]
    hist = ghist.reshape(-1)  # slot s, label g, bin b at (s * n_labels + g) * nbins + b
    s_ndvi, s_evi, s_ndmi, s_ndwi = slots[NDVI], slots[EVI], slots[NDMI], slots[NDWI]
    do_e, do_m, do_w = s_evi >= 0, s_ndmi >= 0, s_ndwi >= 0
    # block-local sums: for local label j, at j * stride + 2 * slot the sum and + 1 the sum
    # of squares; low-blue count and sum after the slots (one cache line per parcel)
    stride = 2 * n_slots + 2
    sums = np.zeros(n_loc * stride)
    o_v, o_e, o_m, o_w = 2 * s_ndvi, 2 * max(s_evi, 0), 2 * max(s_ndmi, 0), 2 * max(s_ndwi, 0)
    o_lb = 2 * n_slots
    size = ghist.shape[1] * nbins
    h_v, h_e = s_ndvi * size, max(s_evi, 0) * size
    h_m, h_w = max(s_ndmi, 0) * size, max(s_ndwi, 0) * size
    h_of = np.empty(n_loc, np.int64)  # histogram row of each local label
    for j in range(n_loc):
        h_of[j] = labels[j] * nbins
    # Parameters as scalars: the compiler cannot keep array loads across the stores below.
    nd_b, nd_g, nd_r, nd_n, nd_s = nodata[0], nodata[1], nodata[2], nodata[3], nodata[4]
    sc_b, sc_g, sc_r, sc_n, sc_s = scale[0], scale[1], scale[2], scale[3], scale[4]
    of_b, of_g, of_r, of_n, of_s = offset[0], offset[1], offset[2], offset[3], offset[4]
    c_b, c_g, c_n, c_s = coarse[0], coarse[1], coarse[3], coarse[4]
    any_coarse = c_b or c_g or c_n or c_s or ok_coarse
    w = np.int64(width)
    wc = np.int64(wc)
    n = local.shape[0]
    up_b = np.empty(w if c_b else 0, blue.dtype)
    up_g = np.empty(w if c_g else 0, green.dtype)
    up_n = np.empty(w if c_n else 0, nir.dtype)
    up_s = np.empty(w if c_s else 0, swir.dtype)
    up_ok = np.empty(w if ok_coarse else 0, ok.dtype)
    span = np.zeros(0 if dense else w, local.dtype)
    f_v, f_e, f_m, f_w = np.empty(w, f32), np.empty(w, f32), np.empty(w, f32), np.empty(w, f32)
    i32 = np.int32
    b_v, b_e, b_m, b_w = np.empty(w, i32), np.empty(w, i32), np.empty(w, i32), np.empty(w, i32)
    low = np.empty(w, np.bool_)
    nan = f32(np.nan)
    top = f32(nbins - 1)
    upsampled = np.int64(-1)  # the coarse row in the up_* buffers
    n_data = 0
    k0 = np.int64(0)
    while k0 < n:
        if dense:  # a whole row
            r = k0 // w
            row_start = k0
            c_lo, c_hi = np.int64(0), w
            loc = local[k0 : k0 + w]
            k1 = k0 + w
        else:  # the next pixels of one row, increasing (the extra points at the end are not)
            p = np.int64(pix[k0])
            r = p // w
            row_start = r * w
            c_lo = p - row_start
            k1 = k0
            prev = np.int64(-1)
            while k1 < n:
                p = np.int64(pix[k1])
                if p <= prev or p >= row_start + w:
                    break
                span[p - row_start] = local[k1]
                prev = p
                k1 += 1
            c_hi = prev - row_start + 1
            loc = span[c_lo:c_hi]
        if any_coarse and np.int64(rows[r]) != upsampled:
            upsampled = np.int64(rows[r])
            at = upsampled * wc
            if c_b:
                _upsample(blue, at, cols, up_b)
            if c_g:
                _upsample(green, at, cols, up_g)
            if c_n:
                _upsample(nir, at, cols, up_n)
            if c_s:
                _upsample(swir, at, cols, up_s)
            if ok_coarse:
                _upsample(ok, at, cols, up_ok)
        a0, a1 = row_start + c_lo, row_start + c_hi
        R = red[a0:a1]
        B = up_b[c_lo:c_hi] if c_b else blue[a0:a1]
        G = up_g[c_lo:c_hi] if c_g else green[a0:a1]
        N = up_n[c_lo:c_hi] if c_n else nir[a0:a1]
        S = up_s[c_lo:c_hi] if c_s else swir[a0:a1]
        OK = up_ok[c_lo:c_hi] if ok_coarse else ok[a0:a1]
        m = c_hi - c_lo
        with_data = 0
        for i in range(m):  # 1. vectorised
            has = (B[i] != nd_b) & (G[i] != nd_g) & (R[i] != nd_r) & (N[i] != nd_n) & (S[i] != nd_s)
            parcel = loc[i] != 0
            with_data += has & (dense | parcel)
            use = has & OK[i] & parcel
            rr = f32(R[i]) * sc_r + of_r
            nn = f32(N[i]) * sc_n + of_n
            bb = f32(B[i]) * sc_b + of_b
            ss = f32(S[i]) * sc_s + of_s
            gg = f32(G[i]) * sc_g + of_g
            den = nn + rr  # == indices.normalized_difference, NaN when undefined
            x = (nn - rr) / den
            f_v[i] = x if use & (nn >= ZERO) & (rr >= ZERO) & (den > ZERO) & (x == x) else nan
            b_v[i] = _bin(x, top)
            low[i] = bb <= HAZE
            den = nn + SIX * rr - SEVEN5 * bb + ONE  # == indices.evi
            x = TWO5 * (nn - rr) / den
            f_e[i] = (
                x
                if use & (bb >= ZERO) & (rr >= ZERO) & (nn >= ZERO) & (den > ZERO) & (x == x)
                else nan
            )
            b_e[i] = _bin(x, top)
            den = nn + ss
            x = (nn - ss) / den
            f_m[i] = x if use & (nn >= ZERO) & (ss >= ZERO) & (den > ZERO) & (x == x) else nan
            b_m[i] = _bin(x, top)
            den = gg + nn
            x = (gg - nn) / den
            f_w[i] = x if use & (gg >= ZERO) & (nn >= ZERO) & (den > ZERO) & (x == x) else nan
            b_w[i] = _bin(x, top)
        n_data += with_data
        for i in range(m):  # 2. scattered, in pixel order
            j = np.int64(loc[i])
            if j == 0:
                continue
            at = j * stride
            h = h_of[j]
            x = f_v[i]
            if x == x:
                _add(sums, at + o_v, hist, h_v + h + b_v[i], x)
                if lowblue and low[i]:
                    sums[at + o_lb] += 1.0
                    sums[at + o_lb + 1] += np.float64(x)
            if do_e and f_e[i] == f_e[i]:
                _add(sums, at + o_e, hist, h_e + h + b_e[i], f_e[i])
            if do_m and f_m[i] == f_m[i]:
                _add(sums, at + o_m, hist, h_m + h + b_m[i], f_m[i])
            if do_w and f_w[i] == f_w[i]:
                _add(sums, at + o_w, hist, h_w + h + b_w[i], f_w[i])
        if not dense:
            span[c_lo:c_hi] = 0
        k0 = k1
    for j in range(1, n_loc):  # == x[labels] += np.bincount(...) of the NumPy path
        g = labels[j]
        at = j * stride
        for s in range(n_slots):
            gx[s, g] += sums[at + 2 * s]
            gxx[s, g] += sums[at + 2 * s + 1]
        gn_lb[g] += sums[at + o_lb]
        gx_lb[g] += sums[at + o_lb + 1]
    return n_data


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _row_quantiles(row, cum, qs, lo, width, out):  # type: ignore[no-untyped-def]
    """Quantiles of one histogram row into ``out`` (left NaN when empty); returns its count."""
    nb = row.shape[0]
    c = 0
    for b in range(nb):
        c += row[b]
        cum[b] = c
    n = cum[nb - 1]
    if n <= 0:
        return n
    for j in range(qs.shape[0]):
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
        out[j] = lo + width * (k + min(max(frac, 0.0), 1.0))
    return n


@numba.njit(cache=True, nogil=True, error_model="numpy")
def hist_quantiles(h, qs, lo, hi):  # type: ignore[no-untyped-def]
    """Same arithmetic as :func:`agririsk.imagery.stats.hist_quantiles`, row by row."""
    rows, nb = h.shape
    out = np.full((rows, qs.shape[0]), np.nan)
    cum = np.empty(nb, np.int64)
    for i in range(rows):
        _row_quantiles(h[i], cum, qs, lo, (hi - lo) / nb, out[i])
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def hist_rows(hist, lab, qs, lo, hi, green_bin):  # type: ignore[no-untyped-def]
    """Counts, quantiles and (slot 0) counts from ``green_bin`` up of rows ``lab`` of each slot.

    ``hist`` is (slot, label, bin); the same numbers as taking ``hist[s][lab]`` and
    summing it, :func:`hist_quantiles` and summing its bins from ``green_bin``, without
    the copies.
    """
    k, _, nb = hist.shape
    m = lab.shape[0]
    n = np.zeros((k, m), np.int64)
    q = np.full((k, m, qs.shape[0]), np.nan)
    green = np.zeros(m, np.int64)
    cum = np.empty(nb, np.int64)
    for s in range(k):
        for i in range(m):
            row = hist[s, lab[i]]
            n[s, i] = _row_quantiles(row, cum, qs, lo, (hi - lo) / nb, q[s, i])
            if s == 0:
                g = 0
                for b in range(green_bin, nb):
                    g += row[b]
                green[i] = g
    return n, q, green
