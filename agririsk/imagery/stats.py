"""Per-parcel statistics accumulated block by block: sums and histograms over label ids.

Everything here is pure NumPy on 1-D arrays of pixels and their parcel labels, so that
a block of any size, from any item, can be added to an :class:`Accumulator` and the
result does not depend on how the item was cut into blocks.

For each index (NDVI, EVI, NDMI, NDWI) and parcel, over its ``n`` clear pixels with a
defined index value ``x_i``:

.. math::

    \\bar{x} = \\frac{1}{n}\\sum x_i, \\qquad
    s = \\sqrt{\\frac{1}{n}\\sum x_i^2 - \\bar{x}^2}\\ (\\text{ddof}=0)

and a histogram of :data:`NBINS` bins over ``[-1, 1]`` (values outside go to the edge
bins) from which the 10th, 50th and 90th percentiles are read by linear interpolation of
the cumulative histogram (:func:`hist_quantiles`): exact to one bin width (0.02),
streaming, and memory-flat (``parcels × NBINS`` counters per index).

``green_fraction`` is the share of the clear pixels with NDVI >= :data:`GREEN_NDVI`
(0.5, a bin edge, so it is exact).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from agririsk.imagery.indices import evi, ndmi, ndvi, ndwi

__all__ = [
    "INDICES",
    "INDEX_BANDS",
    "NBINS",
    "GREEN_NDVI",
    "BLUE_HAZE",
    "COLUMNS",
    "Accumulator",
    "CoarseBands",
    "hist_quantiles",
    "merge_same_day",
]

#: The indices reduced per parcel, and the canonical bands each one needs.
INDEX_BANDS: dict[str, tuple[str, ...]] = {
    "ndvi": ("red", "nir"),
    "evi": ("blue", "red", "nir"),
    "ndmi": ("nir", "swir16"),
    "ndwi": ("green", "nir"),
}
INDICES: tuple[str, ...] = tuple(INDEX_BANDS)
_FUNCS: dict[str, Callable[..., npt.NDArray[np.float32]]] = {
    "ndvi": ndvi,
    "evi": evi,
    "ndmi": ndmi,
    "ndwi": ndwi,
}

#: Histogram bins over [LO, HI] per index and parcel (bin width 0.02).
NBINS = 100
LO, HI = -1.0, 1.0
_PER_UNIT = NBINS / (HI - LO)
#: NDVI at or above which a clear pixel counts as green (``green_fraction``).
GREEN_NDVI = 0.5
_GREEN_BIN = int(round((GREEN_NDVI - LO) * _PER_UNIT))
#: Blue reflectance above which a clear pixel is taken as residual cloud / haze.
BLUE_HAZE = 0.2
#: Percentiles reported per index.
QUANTILES = (0.1, 0.5, 0.9)

#: Columns of the per-item table, in order.
COLUMNS = [
    "parcel_id",
    "item_id",
    "datetime",
    "n_pixels",
    "n_clear",
    "clear_fraction",
    "ndvi_mean",
    "ndvi_std",
    "ndvi_mean_lowblue",
    "green_fraction",
] + [
    f"{idx}_{stat}"
    for idx in INDICES
    for stat in (("p10", "p50", "p90") if idx == "ndvi" else ("mean", "std", "p10", "p50", "p90"))
]


def hist_quantiles(
    hist: npt.ArrayLike, qs: tuple[float, ...] = QUANTILES, lo: float = LO, hi: float = HI
) -> npt.NDArray[np.float64]:
    """Quantiles of each row of a histogram, interpolating linearly inside the bin.

    Parameters
    ----------
    hist : (rows, nbins) counts over equal bins spanning ``[lo, hi]``.
    qs : quantiles in [0, 1].
    lo, hi : range of the bins.

    Returns
    -------
    float64 (rows, len(qs)); NaN for rows with no counts.

    Notes
    -----
    With cumulative counts :math:`C_k` and target :math:`t = q n`, the bin ``k`` is the first
    with :math:`C_k \\ge t` and the value is
    :math:`lo + w (k + (t - C_{k-1}) / h_k)`, ``w`` the bin width: values are taken as
    spread uniformly inside their bin, so the error is below one bin width.
    """
    h = np.asarray(hist)
    rows, nb = h.shape
    from agririsk.imagery import _fused

    if _fused.HAVE_NUMBA and h.dtype in (np.int32, np.int64) and rows:
        qarr = np.asarray(qs, dtype=np.float64)
        return _fused.kernels().hist_quantiles(np.ascontiguousarray(h), qarr, float(lo), float(hi))
    width = (hi - lo) / nb
    out = np.full((rows, len(qs)), np.nan)
    cum = np.cumsum(h, axis=1, dtype=np.int64)
    n = cum[:, -1]
    r = np.flatnonzero(n > 0)
    if not r.size:
        return out
    cum, n = cum[r], n[r]
    # Rows made one increasing integer sequence (row j shifted by j * (max n + 1)): one
    # searchsorted finds, for every row and quantile, the first bin whose cumulative count
    # reaches q * n (for integer counts: reaches ceil(q * n)).
    shift = np.arange(len(r), dtype=np.int64)[:, None] * (int(n.max()) + 1)
    cum += shift
    t = np.asarray(qs, dtype=np.float64)[None, :] * n[:, None]  # (rows, q)
    goal = np.maximum(np.ceil(t - 1e-9).astype(np.int64), 1) + shift
    pos = np.searchsorted(cum.ravel(), goal.ravel(), side="left").reshape(t.shape)
    cum -= shift
    k = np.minimum(pos - np.arange(len(r))[:, None] * nb, nb - 1)
    rows_r = np.arange(len(r))[:, None]
    c_k = cum[rows_r, k]
    prev = np.where(k > 0, cum[rows_r, np.maximum(k - 1, 0)], 0)
    hk = c_k - prev
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hk > 0, (t - prev) / hk, 0.0)
    out[r] = lo + width * (k + np.clip(frac, 0.0, 1.0))
    return out


@dataclass(frozen=True)
class CoarseBands:
    """Bands of a block given as a coarser band's own pixels (e.g. 20 m SWIR under 10 m red).

    Driver pixel ``(i, j)`` of the block is element ``(rows[i], cols[j])`` of each such
    band's array (of ``ok``'s too, after its halo is cut off, when ``ok`` is true). See
    :func:`agririsk.imagery._read.read_coarse`.
    """

    bands: frozenset[str]
    ok: bool
    rows: npt.NDArray[np.int32]
    cols: npt.NDArray[np.int32]

    def upsample(self, a: np.ndarray) -> np.ndarray:
        """``a`` on the driver's pixels (nearest neighbour: each pixel repeated)."""
        return a[np.ix_(self.rows, self.cols)]


_NOT_COARSE = CoarseBands(frozenset(), False, np.zeros(1, np.int32), np.zeros(1, np.int32))


def _nodata_for_kernel(
    arrs: list[np.ndarray], nodata: list[float | None]
) -> npt.NDArray[np.int32] | npt.NDArray[np.float64]:
    """Each band's nodata as the compiled kernel compares it: ``DN != nodata`` is "has data".

    A band without nodata (or not read) gets a value none of its DN equals. With 8- and
    16-bit integer DN and whole nodata values (every Sentinel-2 and Landsat product) the
    values are int32, so the kernel compares integers (and vectorises); otherwise float64,
    NaN standing for "none".
    """
    small = all(a.dtype.kind in "iu" and a.dtype.itemsize <= 2 for a in arrs)
    given = [v for v in nodata if v is not None]
    if small and all(float(v).is_integer() and abs(v) < 1 << 24 for v in given):
        return np.array([1 << 24 if v is None else int(v) for v in nodata], np.int32)
    return np.array([np.nan if v is None else v for v in nodata], np.float64)


class Accumulator:
    """Sums and histograms per parcel label, added to block by block.

    Parameters
    ----------
    n_labels : number of labels including 0 (``len(parcels) + 1``); label 0 collects
        everything that is not a clear pixel of a parcel and is ignored.
    indices : which of :data:`INDICES` to compute (NDVI always is).
    lowblue : whether ``ndvi_mean_lowblue`` can be computed (the item has a blue band).
    """

    def __init__(self, n_labels: int, indices: tuple[str, ...], lowblue: bool) -> None:
        self.indices = tuple(dict.fromkeys(("ndvi", *indices)))
        self.lowblue = lowblue
        # one stacked array per statistic (slot = position in self.indices), seen per index
        k = len(self.indices)
        self._x, self._xx = np.zeros((k, n_labels)), np.zeros((k, n_labels))
        self._hist = np.zeros((k, n_labels, NBINS), np.int32)
        self.x = {name: self._x[s] for s, name in enumerate(self.indices)}
        self.xx = {name: self._xx[s] for s, name in enumerate(self.indices)}
        self.hist = {name: self._hist[s] for s, name in enumerate(self.indices)}
        self.n_lb = np.zeros(n_labels)
        self.x_lb = np.zeros(n_labels)
        self.n_data = 0  # labelled pixels with data in every band read (not nodata)

    def add(
        self,
        refl: dict[str, npt.NDArray[np.float32]],
        ok: npt.NDArray[np.bool_],
        local: npt.NDArray[np.integer],
        labels: npt.NDArray[np.intp],
    ) -> None:
        """Add one block.

        Parameters
        ----------
        refl : canonical band -> 1-D float32 reflectance of the block's pixels.
        ok : 1-D bool, the pixel is clear (mask, buffer and nodata considered).
        local : 1-D integer (ideally intp) local label of each pixel, in ``0 .. len(labels) - 1``.
        labels : global label of each local label (``labels[0] == 0``, unique).
        """
        n_loc = len(labels)
        local = local.astype(np.intp, copy=False)  # bincount casts anything else, slowly
        for name in self.indices:
            vz = _FUNCS[name](*(refl[b] for b in INDEX_BANDS[name]))
            good = ok & (vz == vz)  # NaN (undefined index) is not good
            np.copyto(vz, np.float32(0), where=~good)
            lab = local * good
            b = ((vz - np.float32(LO)) * np.float32(_PER_UNIT)).astype(np.intp)
            np.clip(b, 0, NBINS - 1, out=b)
            b += lab * NBINS
            self.hist[name][labels] += np.bincount(b, minlength=n_loc * NBINS).reshape(n_loc, NBINS)
            v64 = vz.astype(np.float64)  # float32 weights would be cast inside, 10x slower
            self.x[name][labels] += np.bincount(lab, weights=v64, minlength=n_loc)
            self.xx[name][labels] += np.bincount(lab, weights=v64 * v64, minlength=n_loc)
            if name == "ndvi" and self.lowblue:
                lab_lb = lab * (refl["blue"] <= np.float32(BLUE_HAZE))
                self.n_lb[labels] += np.bincount(lab_lb, minlength=n_loc)
                self.x_lb[labels] += np.bincount(lab_lb, weights=v64, minlength=n_loc)

    def add_dn(
        self,
        dn: dict[str, npt.NDArray[np.generic]],
        bands: dict[str, tuple[float | None, float, float]],
        ok: npt.NDArray[np.bool_],
        halo: int,
        pix: npt.NDArray[np.int32] | None,
        local: npt.NDArray[np.integer],
        labels: npt.NDArray[np.intp],
        coarse: CoarseBands | None = None,
    ) -> int:
        """Add one block of raw digital numbers: nodata test, scaling, indices and sums.

        Uses the compiled kernel of :mod:`agririsk.imagery._fused` when numba is installed
        (``agririsk[fast]``), else NumPy (:meth:`add`); both give the same numbers.

        Parameters
        ----------
        dn : canonical band -> 2-D DN of the block (the driver's window), every band read
            but the mask.
        bands : canonical band -> ``(nodata or None, scale, offset)``; reflectance is
            ``DN * scale + offset`` (float32).
        ok : 2-D bool clear mask (mask band and cloud buffer) of the block grown by ``halo``
            pixels on every side.
        halo : width of the margin of ``ok``, in ``ok``'s own pixels.
        pix : flat indices of the block's pixels to evaluate, None for all of them.
        local, labels : as in :meth:`add`, one local label per evaluated pixel.
        coarse : the bands of ``dn`` (and ``ok`` when ``coarse.ok``) given as a coarser
            band's own pixels (:class:`CoarseBands`), not on the driver's pixels; None: all
            are on the driver's pixels.

        Returns
        -------
        The number of evaluated pixels with data (not nodata) in every band.
        """
        from agririsk.imagery import _fused

        if _fused.HAVE_NUMBA:
            return self._add_dn_compiled(_fused, dn, bands, ok, halo, pix, local, labels, coarse)
        if coarse is not None:  # nearest-neighbour upsampling onto the driver's pixels
            dn = {b: coarse.upsample(a) if b in coarse.bands else a for b, a in dn.items()}
            if coarse.ok:
                ok, halo = coarse.upsample(ok[halo:-halo, halo:-halo] if halo else ok), 0
        flat_ok = (ok[halo:-halo, halo:-halo] if halo else ok).ravel()
        flat = {b: a.ravel() for b, a in dn.items()}
        if pix is not None:
            flat_ok = flat_ok[pix]
            flat = {b: a[pix] for b, a in flat.items()}
        has_data = np.ones(len(flat_ok), dtype=bool)
        for b, (nodata, _, _) in bands.items():
            if nodata is not None:
                has_data &= flat[b] != nodata
        flat_ok &= has_data
        refl = {
            b: flat[b].astype(np.float32) * np.float32(scale) + np.float32(offset)
            for b, (_, scale, offset) in bands.items()
        }
        self.add(refl, flat_ok, local, labels)
        return int(np.count_nonzero(has_data))

    def _add_dn_compiled(self, _fused, dn, bands, ok, halo, pix, local, labels, coarse) -> int:  # type: ignore[no-untyped-def]
        red = dn["red"].ravel()
        arrs = [dn[b].ravel() if b in dn else red for b in _fused.BANDS]
        if coarse is None:
            coarse = _NOT_COARSE
        w = dn["red"].shape[1]
        # a band not read: the red band again, with no nodata of its own
        meta = [bands[b] if b in dn else (None, 1.0, 0.0) for b in _fused.BANDS]
        slots = np.array(
            [self.indices.index(i) if i in self.indices else -1 for i in INDICES], np.int64
        )
        return int(
            _fused.kernels().accumulate(
                *arrs,
                _nodata_for_kernel(arrs, [m[0] for m in meta]),
                np.array([m[1] for m in meta], np.float32),
                np.array([m[2] for m in meta], np.float32),
                (ok[halo:-halo, halo:-halo] if halo else ok).ravel(),
                pix if pix is not None else np.zeros(0, np.int32),
                pix is None,
                np.array([b in coarse.bands for b in _fused.BANDS]),
                coarse.ok,
                w,
                coarse.rows,
                coarse.cols,
                int(coarse.cols[-1]) + 1,
                local,
                labels,
                slots,
                self.lowblue,
                self._x,
                self._xx,
                self._hist,
                self.n_lb,
                self.x_lb,
            )
        )

    def n_clear(self) -> npt.NDArray[np.int64]:
        """Clear pixels with a defined NDVI, per label."""
        return self.hist["ndvi"].sum(axis=1)

    def columns(self, lab: npt.NDArray[np.intp]) -> dict[str, npt.NDArray[np.float64]]:
        """The statistic columns of :data:`COLUMNS` for labels ``lab``."""
        return self.table(lab)[1]

    def table(
        self, lab: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]]:
        """Clear pixels with a defined NDVI (:meth:`n_clear`) and :meth:`columns` of ``lab``."""
        from agririsk.imagery import _fused

        lab = np.asarray(lab, dtype=np.intp)
        if _fused.HAVE_NUMBA and len(lab):  # one pass over the rows, no copies
            qs = np.asarray(QUANTILES, dtype=np.float64)
            counts, quants, green = _fused.kernels().hist_rows(
                self._hist, lab, qs, float(LO), float(HI), _GREEN_BIN
            )
        else:
            hs = [self._hist[s][lab] for s in range(len(self.indices))]
            counts = np.array([h.sum(axis=1, dtype=np.int64) for h in hs])
            quants = np.array([hist_quantiles(h) for h in hs])
            green = hs[0][:, _GREEN_BIN:].sum(axis=1)
        out: dict[str, npt.NDArray[np.float64]] = {}
        nan = np.full(len(lab), np.nan)
        for name in INDICES:
            if name not in self.indices:
                for stat in ("mean", "std", "p10", "p50", "p90"):
                    out[f"{name}_{stat}"] = nan
                continue
            s = self.indices.index(name)
            n = counts[s].astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = self.x[name][lab] / n
                var = np.maximum(self.xx[name][lab] / n - mean * mean, 0.0)
                if name == "ndvi":
                    out["green_fraction"] = green / n
                    out["ndvi_mean_lowblue"] = (
                        self.x_lb[lab] / self.n_lb[lab] if self.lowblue else nan
                    )
            out[f"{name}_mean"], out[f"{name}_std"] = mean, np.sqrt(var)
            q = quants[s]
            out[f"{name}_p10"], out[f"{name}_p50"], out[f"{name}_p90"] = q[:, 0], q[:, 1], q[:, 2]
        return counts[0], out


def merge_same_day(series: pd.DataFrame) -> pd.DataFrame:
    """One row per parcel and UTC day: same-day rows of adjacent tiles combined.

    :func:`~agririsk.imagery.series.parcel_series` keeps one row per parcel *and item*. A
    parcel that spans two tiles (or sits in their overlap) acquired on the same pass has
    two rows that day; this helper merges them.

    Parameters
    ----------
    series : the parcel × item table (:data:`COLUMNS`).

    Returns
    -------
    DataFrame with the same columns; ``item_id`` joins the merged ids with ``+``,
    ``datetime`` is the earliest, ``n_pixels`` and ``n_clear`` are summed,
    ``clear_fraction = sum(n_clear) / sum(n_pixels)``; every mean, percentile and
    ``green_fraction`` is the average of the rows weighted by ``n_clear``; standard
    deviations are pooled (within- plus between-row variance).

    Notes
    -----
    Percentiles of a union are not weighted percentiles of its parts: the weighted
    average is an approximation, exact when the parts share a distribution. Pixels in
    the overlap of two tiles count twice, which weights them double but biases nothing.
    """
    if series.empty:
        return series.copy()
    df = series.copy()
    df["_day"] = df["datetime"].dt.floor("D")
    key = ["parcel_id", "_day"]
    dup = df.duplicated(key, keep=False)
    if not dup.any():
        return series.copy()
    single, multi = df[~dup], df[dup].copy()
    w = multi["n_clear"].astype(np.float64)
    value_cols = [c for c in COLUMNS[6:] if c in multi.columns and not c.endswith("_std")]
    for c in value_cols:
        multi[f"_w_{c}"] = multi[c].fillna(0) * w
        multi[f"_n_{c}"] = w.where(multi[c].notna(), 0.0)
    stds = [c for c in multi.columns if c.endswith("_std") and c in COLUMNS]
    for c in stds:
        m = c[: -len("_std")] + "_mean"
        ok = multi[c].notna() & multi[m].notna()
        multi[f"_w_{c}"] = ((multi[c] ** 2 + multi[m] ** 2) * w).where(ok, 0.0)
        multi[f"_n_{c}"] = w.where(ok, 0.0)
    g = multi.groupby(key, sort=False)
    agg = g.agg(
        item_id=("item_id", lambda s: "+".join(sorted(s))),
        datetime=("datetime", "min"),
        n_pixels=("n_pixels", "sum"),
        n_clear=("n_clear", "sum"),
    )
    sums = g[[c for c in multi.columns if c.startswith(("_w_", "_n_"))]].sum()
    agg["clear_fraction"] = agg["n_clear"] / agg["n_pixels"]
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in value_cols:
            agg[c] = sums[f"_w_{c}"] / sums[f"_n_{c}"].where(sums[f"_n_{c}"] > 0)
        for c in stds:
            m = c[: -len("_std")] + "_mean"
            second = sums[f"_w_{c}"] / sums[f"_n_{c}"].where(sums[f"_n_{c}"] > 0)
            agg[c] = np.sqrt(np.maximum(second - agg[m] ** 2, 0.0))
    merged = agg.reset_index()
    out = pd.concat([single.drop(columns="_day"), merged.drop(columns="_day")[series.columns]])
    out = out.sort_values(["parcel_id", "datetime", "item_id"], kind="stable")
    return out.reset_index(drop=True)[list(series.columns)]
