"""Diagnostic: full-canopy PROSAIL reflectance in the generator's five Sentinel-2 bands.

The sample-region generator renders every crop with one vegetation spectrum
(``agririsk.sample._imagery.VEG``; docs/sample-region.md §6). This script puts that
spectrum next to what the PROSAIL canopy model (PROSPECT-5 leaf + 4SAIL canopy;
Jacquemoud et al. 2009, Remote Sens. Environ. 113:S56) gives for a closed canopy, and
shows how far each leaf or canopy parameter moves the five bands, one at a time, so that
crop-specific spectra can be judged once crop-specific parameter values are sourced:

- a reference canopy at the modes of the generic distributions used for the Sentinel-2
  L2B biophysical processor (Weiss & Baret 2016, S2ToolBox Level 2 products ATBD v1.1):
  N 1.5, Cab 45 ug/cm2, Cm 0.005 g/cm2, relative water content 0.75 (Cw 0.015 cm),
  mean leaf angle 60 deg (ellipsoidal), hot spot 0.2, here LAI 4.5;
- one-at-a-time changes: leaf structure N 1.0-2.5 (compact monocot leaves at the low end,
  dicot leaves higher; Jacquemoud & Baret 1990, Remote Sens. Environ. 34:75), leaf angle
  (de Wit planophile, mean 27 deg, against ellipsoidal 40-70 deg; soybean canopies are
  planophile through most of the season, Blad & Baker 1972, Agron. J. 64:26), Cw, Cm, Cab;
- ``--samples`` Monte Carlo canopies with every parameter uniform over those generic
  ranges (N 1.2-2.2, Cab 20-90, Cm 0.003-0.011, relative water 0.6-0.85, mean leaf
  angle 30-80 deg, LAI 3.5-5.5): 5th/50th/95th percentiles per band, and whether
  ``VEG`` lies inside.

Geometry: sun zenith 30 deg (about 10:45 solar time in July at 46.65 N), nadir view; the
soil under a closed canopy hardly matters (PROSAIL's default soil, dry). Bands are box
averages over the nominal Sentinel-2A centre and width (ESA S2 MSI spectral response
document COPE-GSEG-EOPG-TN-15-0007: B2 492.4/66, B3 559.8/36, B4 664.6/31,
B8 832.8/106, B11 1613.7/91 nm), not the measured response curves.

Needs the ``prosail`` package (PyPI, 2.0.5), which is not a dependency of agririsk:
``pip install prosail`` into a scratch environment, then::

    python benchmarks/canopy_spectra_prosail.py --samples 400 --seed 0

Nothing at run time or in the tests imports this script.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from agririsk.sample._imagery import BAND_KEYS, VEG

S2A_BANDS = ((492.4, 66.0), (559.8, 36.0), (664.6, 31.0), (832.8, 106.0), (1613.7, 91.0))
WL = np.arange(400, 2501)
REFERENCE = {
    "n": 1.5,
    "cab": 45.0,
    "cm": 0.005,
    "water": 0.75,
    "ala": 60.0,
    "planophile": False,
    "hspot": 0.2,
}


def s2_bands(spectrum: np.ndarray) -> np.ndarray:
    """Box average of a 400-2500 nm (1 nm) spectrum over the five Sentinel-2A bands."""
    return np.array([spectrum[np.abs(WL - c) <= w / 2].mean() for c, w in S2A_BANDS])


def canopy(lai: float, **change: float) -> np.ndarray:
    """Five-band reflectance of a PROSAIL canopy: the reference with ``change`` applied.

    Parameters
    ----------
    lai : leaf area index.
    change : any of ``REFERENCE``'s keys; ``water`` is the relative water content
        Cw / (Cw + Cm), ``planophile`` (truthy) selects de Wit's planophile distribution
        instead of the ellipsoidal one of mean angle ``ala``.
    """
    import prosail  # offline diagnostic only

    p = {**REFERENCE, **change}
    cw = p["cm"] * p["water"] / (1.0 - p["water"])
    if p["planophile"]:
        lidf = {"typelidf": 1, "lidfa": 1.0, "lidfb": 0.0}
    else:
        lidf = {"typelidf": 2, "lidfa": p["ala"], "lidfb": 0.0}
    r = prosail.run_prosail(
        n=p["n"],
        cab=p["cab"],
        car=p["cab"] / 4.5,
        cbrown=0.0,
        cw=cw,
        cm=p["cm"],
        lai=lai,
        hspot=p["hspot"],
        tts=30.0,
        tto=0.0,
        psi=0.0,
        prospect_version="5",
        rsoil=1.0,
        psoil=1.0,
        **lidf,
    )
    return s2_bands(np.asarray(r))


def _row(label: str, refl: np.ndarray) -> str:
    ndvi = (refl[3] - refl[2]) / (refl[3] + refl[2])
    cells = " ".join(f"{v:7.3f}" for v in refl)
    return f"{label:<38} {cells}  {ndvi:6.3f}  {refl[3] / refl[4]:5.2f}"


def main(argv: list[str] | None = None) -> None:
    """Print the reference canopy, the one-at-a-time changes and the Monte Carlo range."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lai", type=float, default=4.5, help="LAI of the closed canopy")
    ap.add_argument("--samples", type=int, default=400, help="Monte Carlo canopies")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    print(f"{'canopy':<38} " + " ".join(f"{k:>7}" for k in BAND_KEYS) + "    NDVI  nir/swir")
    print(_row("generator VEG (all crops)", VEG))
    print(_row(f"PROSAIL reference, LAI {args.lai}", canopy(args.lai)))
    changes: list[tuple[str, dict]] = [
        *[(f"N {n}", {"n": n}) for n in (1.0, 1.25, 2.0, 2.5)],
        ("planophile (de Wit)", {"planophile": True}),
        *[(f"mean leaf angle {a:.0f} deg", {"ala": a}) for a in (40.0, 57.0, 70.0)],
        *[(f"relative water {w}", {"water": w}) for w in (0.6, 0.85)],
        *[(f"Cm {cm}", {"cm": cm}) for cm in (0.003, 0.008)],
        *[(f"Cab {cab:.0f}", {"cab": cab}) for cab in (25.0, 65.0)],
    ]
    for label, change in changes:
        print(_row("  " + label, canopy(args.lai, **change)))

    rng = np.random.default_rng(args.seed)
    draw: dict[str, Callable[[], float]] = {
        "n": lambda: rng.uniform(1.2, 2.2),
        "cab": lambda: rng.uniform(20.0, 90.0),
        "cm": lambda: rng.uniform(0.003, 0.011),
        "water": lambda: rng.uniform(0.6, 0.85),
        "ala": lambda: rng.uniform(30.0, 80.0),
    }
    mc = np.array(
        [
            canopy(rng.uniform(3.5, 5.5), **{k: f() for k, f in draw.items()})
            for _ in range(args.samples)
        ]
    )
    lo, mid, hi = np.percentile(mc, [5, 50, 95], axis=0)
    print(f"Monte Carlo, {args.samples} canopies over the generic ranges (per band):")
    for label, q in (("  5th percentile", lo), ("  median", mid), ("  95th percentile", hi)):
        print(f"{label:<38} " + " ".join(f"{v:7.3f}" for v in q))
    ndvi = (mc[:, 3] - mc[:, 2]) / (mc[:, 3] + mc[:, 2])
    ratio = mc[:, 3] / mc[:, 4]
    print("  NDVI 5/50/95 %: " + " ".join(f"{v:.3f}" for v in np.percentile(ndvi, [5, 50, 95])))
    print(
        "  nir/swir 5/50/95 %: " + " ".join(f"{v:.2f}" for v in np.percentile(ratio, [5, 50, 95]))
    )
    inside = (VEG >= lo) & (VEG <= hi)
    print(
        "VEG inside the 5-95 % range: "
        + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in zip(BAND_KEYS, inside, strict=True))
    )


if __name__ == "__main__":
    main()
