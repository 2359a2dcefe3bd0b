"""numba kernel of the imagery detectors: which parcels have a condition (optional, ``agririsk[fast]``).

Imported only from :func:`agririsk.monitoring.detectors.detect_imagery` when numba is
installed. :func:`flag_parcels` repeats the decisions of
:func:`agririsk.monitoring.detectors._parcel_conditions` without building any evidence:
a parcel is flagged exactly when that function returns a condition, so the (slow,
readable) Python function only runs on the flagged parcels, a few per cent of a region.
``tests/unit/test_monitoring_detectors.py`` checks both agree on every parcel.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

SOIL = 0.15


@numba.njit(cache=True, nogil=True)
def _parcel_flag(  # type: ignore[no-untyped-def]
    day,
    nd,
    ndwi,
    ref,
    ref_ndwi,
    comparable,
    f,
    flowering,
    late,
    as_of,
    collapse_f,
    recovered_f,
    peer_senescence,
    stubble_ndvi,
    shallow_wait,
    abrupt_gap,
) -> bool:
    n = len(day)
    # green-up lead (days ahead of the peers), as detectors._green_up_lead
    m = 0
    top = -np.inf
    for k in range(n):
        if ref[k] >= 0.25 and ref[k] <= 0.70 and day[k] <= flowering + 10:
            m += 1
            if ref[k] > top:
                top = ref[k]
    lead = 0
    if m > 0:
        slope = (top - SOIL + 0.2) / 28.0
        x = np.empty(m)
        q = 0
        for k in range(n):
            if ref[k] >= 0.25 and ref[k] <= 0.70 and day[k] <= flowering + 10:
                x[q] = (nd[k] - ref[k]) / slope
                q += 1
        med = min(max(np.median(x), -15.0), 15.0)
        lead = int(np.rint(med))
    late = late - lead
    valid = np.empty(n, np.bool_)
    for k in range(n):
        valid[k] = comparable[k] and day[k] < late
    # no emergence
    ndmax = -np.inf
    for k in range(n):
        if nd[k] > ndmax:
            ndmax = nd[k]
    first_pg = -1
    for k in range(n):
        if comparable[k] and ref[k] >= 0.55:
            if first_pg < 0:
                first_pg = k
            if (day[k] - day[first_pg] >= 10 or day[k] >= flowering + 10) and ndmax < 0.30:
                return True
    # canopy collapse
    seen = False
    kp = -1  # the previous comparable view
    amp_max = 0.0
    i = -1
    for k in range(n):
        amp = ref[k] - SOIL
        if valid[k] and amp > amp_max:
            amp_max = amp
        plateau = amp >= peer_senescence * amp_max
        prev_green = seen
        if valid[k]:
            fk = f[k]
            abrupt = (
                kp >= 0
                and f[kp] - fk >= 0.35
                and day[k] - day[kp] <= abrupt_gap
                and nd[kp] - nd[k] >= 0.35 * amp
            )
            band = fk >= 0.5 and fk < collapse_f and abrupt and plateau and day[k] >= flowering
            if prev_green and ((fk < 0.5 and (fk < 0.3 or abrupt)) or band):
                i = k
                break
        green = nd[k] >= 0.45 or (valid[k] and f[k] >= 0.6)
        seen = seen or green
        if valid[k]:
            kp = k
    if i >= 0:
        d = day[i]
        water = (ndwi[i] - ref_ndwi[i] > 0.15) and ndwi[i] > -0.15
        regrew = False
        first = True
        for k in range(i, n):
            if valid[k]:
                if not first and f[k] >= 0.6:
                    regrew = True
                first = False
        low = False
        for k in range(n):
            if day[k] >= d and day[k] <= d + 30 and nd[k] <= stubble_ndvi:
                low = True
        stubble = low and not regrew
        if water or stubble or f[i] < 0.3:
            pass
        elif not (day[n - 1] > d or as_of > d + shallow_wait):
            return False  # a shallow drop waits for the next clear view
        if stubble and not water:
            return True  # early harvest stays open
        # recovery judged on the latest comparable view while the peers are at their plateau
        j = i
        amp_max = 0.0
        for k in range(n):
            amp = ref[k] - SOIL
            if valid[k] and amp > amp_max:
                amp_max = amp
            if k >= i and valid[k] and amp >= peer_senescence * amp_max:
                j = k
        return f[j] < recovered_f
    # vegetation decline: the last two comparable views from flowering - 10 d
    last, second = -1, -1
    for k in range(n):
        if valid[k] and day[k] >= flowering:
            second = last
            last = k
    if second < 0 or not (f[last] < 0.65 and f[second] < 0.65):
        return False
    for k in range(last + 1):  # seen green up to the last view
        if nd[k] >= 0.45 or (valid[k] and f[k] >= 0.6):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def flag_parcels(  # type: ignore[no-untyped-def]
    day,
    nd,
    ndwi,
    ref,
    ref_ndwi,
    comparable,
    f,
    starts,
    ends,
    flowering,
    late,
    judge,
    as_of,
    collapse_f,
    recovered_f,
    peer_senescence,
    stubble_ndvi,
    shallow_wait,
    abrupt_gap,
) -> Any:
    """One flag per parcel segment ``starts[s]:ends[s]`` of the sorted observation arrays.

    ``day`` and the dates are integer days; ``judge[s]`` False skips the segment. Heavy
    rain is not an input: it only names a flood, it never decides whether a condition exists.
    """
    out = np.zeros(len(starts), np.bool_)
    for s in range(len(starts)):
        if not judge[s]:
            continue
        a, b = starts[s], ends[s]
        out[s] = _parcel_flag(
            day[a:b],
            nd[a:b],
            ndwi[a:b],
            ref[a:b],
            ref_ndwi[a:b],
            comparable[a:b],
            f[a:b],
            flowering[s],
            late[s],
            as_of,
            collapse_f,
            recovered_f,
            peer_senescence,
            stubble_ndvi,
            shallow_wait,
            abrupt_gap,
        )
    return out
