"""Optional compiled kernels for the hot path: one pass over a block's pixels (numba).

Private to :mod:`agririsk.imagery.stats`; the kernels are in :mod:`agririsk.imagery._numba`,
which imports numba and is imported only from here. The NumPy path of
:meth:`~agririsk.imagery.stats.Accumulator.add_dn` makes some 25 array passes and a dozen
``np.bincount`` calls per block for four indices; this kernel does, per pixel, the nodata
test, the clear test (the buffered cloud mask is computed before, in NumPy), scale and
offset, the four indices and the per-parcel count, sum, sum of squares, histogram and
low-blue sums, row by row: a straight-line loop the compiler vectorises (indices and
bins), then one that scatters them per parcel. It accumulates per block into local
arrays, in pixel order,
and adds them to the global ones afterwards, exactly as the ``np.bincount`` path does, so
both give the same bits (tested in ``tests/unit/test_imagery_fused.py``).

numba is an optional dependency (``pip install agririsk[fast]``): it is detected with
:func:`importlib.util.find_spec` (importing this module does not import it) and is
imported on the first block; the kernels are compiled once per machine and cached on disk
(``cache=True``), so a new process only loads them.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

__all__ = ["HAVE_NUMBA", "kernels"]

#: numba is installed. Set to False (e.g. in tests) to force the NumPy path.
HAVE_NUMBA: bool = importlib.util.find_spec("numba") is not None

# Band slots of the kernel's arguments, and index slots of its accumulators.
BANDS = ("blue", "green", "red", "nir", "swir16")
NDVI, EVI, NDMI, NDWI = range(4)


def kernels() -> ModuleType:
    """The compiled kernels (:mod:`agririsk.imagery._numba`), imported on first use."""
    from agririsk.imagery import _numba

    return _numba
