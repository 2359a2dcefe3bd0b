"""numba kernel of the imagery detectors: each parcel's decision (optional, ``agririsk[fast]``).

Imported only from :func:`agririsk.monitoring.detectors.detect_imagery_obs` when numba is
installed. :func:`decide_parcels` repeats, view by view, the decisions of
:func:`agririsk.monitoring.detectors._parcel_conditions`: which condition a parcel has
(if any), on which view it started, on which view its severity is judged, and whether
open water, a storm and stubble name it. Python then builds the evidence of the parcels
that have a condition only (:func:`agririsk.monitoring.detectors._imagery_condition`,
the same function the Python detector ends with), a few per cent of a region; a collapse
after a storm or a settled one (``NAMED``) is named hail or flood there too, from its
trajectory (:func:`agririsk.monitoring.detectors._collapse_kind`, shared by both paths).
A rule changed in ``_parcel_conditions`` must be changed here as well:
``tests/unit/test_monitoring_detectors.py`` (400 random fields; each hand-made case, storms
included, through both paths) and
``tests/integration/test_monitor.py`` (a season against the Python detector) check that
both paths give the same conditions, evidence included.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

#: the kinds :func:`decide_parcels` returns, by code (0: no condition); ``NAMED``: a collapse
#: that :func:`agririsk.monitoring.detectors._collapse_kind` names (hail or flood) from the
#: field's trajectory, or holds
KINDS = ("", "no_emergence", "flood", "early_harvest", "crop_failure", "vegetation_decline")
NAMED = len(KINDS)
_NO_EMERGENCE, _FLOOD, _EARLY_HARVEST, _DECLINE = 1, 2, 3, 5
#: ``np.datetime64("1900-01-01", "D")`` as an integer day: the "previous view" of the first
_DAY_1900 = -25567

#: slots of the ``fp`` (floats) and ``ip`` (integer days) parameter arrays
(
    F_SOIL,
    F_COLLAPSE,
    F_RECOVERED,
    F_SENESCENCE,
    F_STUBBLE,
    F_EMERGED,
    F_LEVEL,
    F_REGROWTH,
    F_DRYING,
    F_FLOOD_CEILING,
    F_BAND_REGROWTH,
    F_HAIL_RATE,
    F_NOISE,
) = range(13)
I_SHALLOW_WAIT, I_ABRUPT_GAP, I_GAP_MAX, I_FLOOD_WATER = range(4)
N_FP, N_IP = 13, 4


@numba.njit(cache=True, nogil=True)
def _decide(  # type: ignore[no-untyped-def]
    day,
    nd,
    ndwi,
    ref,
    ref_ndwi,
    comparable,
    f,
    rain,
    flowering,
    late,
    as_of,
    fp,
    ip,
    valid,
    wet,
):
    """(kind code, onset view, judged view, open water, storm, stubble, settled, r0) of a parcel.

    Fills ``valid`` (comparable before the parcel's ripening) and ``wet`` (open water above
    the peers'), per view: what :func:`~agririsk.monitoring.detectors._collapse_kind` reads.
    """
    soil, collapse_f, recovered_f = fp[F_SOIL], fp[F_COLLAPSE], fp[F_RECOVERED]
    senescence, stubble_ndvi, emerged_ndvi = fp[F_SENESCENCE], fp[F_STUBBLE], fp[F_EMERGED]
    level_f, regrowth_amp, drying = fp[F_LEVEL], fp[F_REGROWTH], fp[F_DRYING]
    flood_ceiling = fp[F_FLOOD_CEILING]
    band_regrowth, hail_rate, noise = fp[F_BAND_REGROWTH], fp[F_HAIL_RATE], fp[F_NOISE]
    wait, abrupt_gap = ip[I_SHALLOW_WAIT], ip[I_ABRUPT_GAP]
    gap_max, flood_water = ip[I_GAP_MAX], ip[I_FLOOD_WATER]
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
        slope = (top - soil + 0.2) / 28.0
        x = np.empty(m)
        q = 0
        for k in range(n):
            if ref[k] >= 0.25 and ref[k] <= 0.70 and day[k] <= flowering + 10:
                x[q] = (nd[k] - ref[k]) / slope
                q += 1
        lead = int(np.rint(min(max(np.median(x), -15.0), 15.0)))
    late = late - lead
    green = np.empty(n, np.bool_)
    dry = np.empty(n, np.bool_)
    for k in range(n):
        valid[k] = comparable[k] and day[k] < late
        green[k] = nd[k] >= 0.45 or (valid[k] and f[k] >= 0.6)
        wet[k] = ndwi[k] - ref_ndwi[k] > 0.15 and ndwi[k] > -0.15
        dry[k] = not np.isnan(ndwi[k]) and not np.isnan(ref_ndwi[k]) and not wet[k]
    # storms since the previous clear view, unless a view within flood_water after is dry
    stormed = np.zeros(n, np.bool_)
    for r_at in range(len(rain)):
        r = rain[r_at]
        if r_at > 0 and rain[r_at - 1] == r:
            continue  # rain is sorted: each day once
        dried = False
        for k in range(n):
            if dry[k] and day[k] > r and day[k] <= r + flood_water:
                dried = True
                break
        if not dried:
            for k in range(n):
                prev = day[k - 1] if k > 0 else _DAY_1900
                if prev < r and day[k] >= r:
                    stormed[k] = True
    # drowned, and flooded young (detectors._flooded_young)
    drowned = np.empty(n, np.bool_)
    young = np.zeros(n, np.bool_)
    for k in range(n):
        prev_nd = nd[k - 1] if k > 0 else np.inf
        drowned[k] = (
            valid[k]
            and wet[k]
            and stormed[k]
            and ref[k] >= 0.55
            and f[k] < 0.3
            and nd[k] <= prev_nd + 0.05
        )
    for k in range(n):
        if wet[k] and stormed[k] and not (valid[k] and ref[k] >= 0.55):
            for j in range(k + 1, n):
                if valid[j] and ref[j] >= 0.55:
                    if day[j] - day[k] <= gap_max and f[j] < 0.5:
                        young[j] = True
                    break
    for k in range(n):
        drowned[k] = drowned[k] or young[k]
    # no emergence
    ndmax = np.nan
    for k in range(n):
        if not np.isnan(nd[k]) and (np.isnan(ndmax) or nd[k] > ndmax):
            ndmax = nd[k]
    first_pg = -1
    i_ne = -1
    for k in range(n):
        if comparable[k] and ref[k] >= 0.55:
            if first_pg < 0:
                first_pg = k
            if day[k] - day[first_pg] >= 10 or day[k] >= flowering + 10:
                i_ne = k
                break
    if i_ne >= 0 and ndmax < emerged_ndvi:
        before = False
        for k in range(i_ne + 1):
            before = before or drowned[k]
        if not before:
            return _NO_EMERGENCE, i_ne, i_ne, False, False, False, False, np.nan
    # canopy collapse
    prev_green = np.empty(n, np.bool_)
    plateau = np.empty(n, np.bool_)
    seen_late = np.empty(n, np.bool_)
    collapse = np.empty(n, np.bool_)
    grown = False
    emerged = False
    emerged_at = np.empty(n, np.bool_)
    amp_max = 0.0
    kp = -1  # the previous valid view
    kc = -1  # the previous comparable view
    level_prev = False  # the previous clear view: level with the peers, or on track
    for k in range(n):
        prev_green[k] = grown
        on_track = (
            ref[k] >= 0.25
            and ref[k] <= 0.70
            and day[k] <= flowering + 10
            and nd[k] >= emerged_ndvi
            and nd[k] - soil >= 0.6 * (ref[k] - soil)
        )
        grown = grown or green[k] or on_track
        amp = ref[k] - soil
        if valid[k] and amp > amp_max:
            amp_max = amp
        plateau[k] = amp >= senescence * amp_max
        emerged = emerged or nd[k] >= emerged_ndvi
        emerged_at[k] = emerged
        fk = f[k]
        has_prev = kp >= 0
        f_prev = f[kp] if has_prev else np.nan
        gap = day[k] - day[kp] if has_prev else 0
        own_fall = nd[kp] - nd[k] if has_prev else 0.0
        abrupt = f_prev - fk >= 0.35 and has_prev and gap <= abrupt_gap and own_fall >= 0.35 * amp
        band = fk >= 0.5 and fk < collapse_f and abrupt and plateau[k] and day[k] >= flowering
        stunted = emerged and ((day[k] >= flowering + 20 and plateau[k]) or nd[k] <= stubble_ndvi)
        seen_late[k] = (
            has_prev
            and gap > abrupt_gap
            and gap <= gap_max
            and f_prev >= level_f
            and fk < 0.5
            and own_fall >= 0.35 * amp
            and plateau[k]
        ) or (
            # seen late after a storm, below a flood's ceiling (detectors._parcel_conditions)
            k > 0
            and level_prev
            and day[k] - day[k - 1] > abrupt_gap
            and day[k] - day[k - 1] <= gap_max
            and stormed[k]
            and valid[k]
            and plateau[k]
            and day[k] >= flowering + 10
            and fk < flood_ceiling
        )
        level_prev = (valid[k] and fk >= level_f) or on_track
        ripe_flood = (
            comparable[k]
            and day[k] >= late
            and wet[k]
            and fk < 0.3
            and kc >= 0
            and f[kc] >= 0.6
            and day[k] - day[max(kc, 0)] <= abrupt_gap
            and nd[max(kc, 0)] - nd[k] >= 0.35 * amp
        )
        collapse[k] = (
            (
                valid[k]
                and (
                    (
                        prev_green[k]
                        and ((fk < 0.5 and (fk < 0.3 or abrupt or seen_late[k])) or band)
                    )
                    or (fk < 0.3 and stunted)
                )
            )
            or ripe_flood
            or drowned[k]
        )
        if valid[k]:
            kp = k
        if comparable[k]:
            kc = k
    # regrowing: the next valid view at the peers' plateau regrows by regrowth_amp; below
    # 60 % of the peers (from flowering, the field emerged): their share rises by
    # band_regrowth, no faster than hail regrows (detectors._parcel_conditions)
    kn = -1
    for k in range(n - 1, -1, -1):
        amp = ref[k] - soil
        if valid[k] and plateau[k] and kn >= 0 and day[kn] - day[k] <= abrupt_gap:
            rise = f[kn] - f[k]
            if (prev_green[k] and f[k] < 0.5 and nd[kn] - nd[k] >= regrowth_amp * amp) or (
                day[k] >= flowering
                and emerged_at[k]
                and f[k] < collapse_f
                and rise >= band_regrowth
                and rise <= hail_rate * (day[kn] - day[k]) + noise
                and nd[kn] - nd[k] >= noise * amp
            ):
                collapse[k] = True
        if valid[k] and plateau[k]:
            kn = k
    i = -1
    for k in range(n):
        if collapse[k]:
            i = k
            break
    if i >= 0:
        d = day[i]
        water = wet[i]
        rained = stormed[i]
        regrew = False
        first = True
        j = i
        for k in range(i, n):
            if valid[k]:
                if not first and f[k] >= 0.6:
                    regrew = True
                first = False
                if plateau[k]:
                    j = k
        low = False
        for k in range(n):
            if (
                day[k] >= d
                and day[k] <= d + 30
                and (day[k] < late or plateau[k])
                and nd[k] <= stubble_ndvi
            ):
                low = True
        # or stubble reached by a dry-down falling on every clear view since the collapse
        for k in range(i + 1, n):
            if day[k] <= d:
                continue
            if day[k] > d + gap_max or not nd[k] <= nd[k - 1] - drying:
                break
            if comparable[k] and nd[k] <= stubble_ndvi:
                low = True
                break
        stubble = low and not regrew
        any_later = False
        settled = False
        for k in range(n):
            if day[k] > d:
                any_later = True
                if nd[k] > nd[k - 1] - drying or day[k] > d + wait:
                    settled = True
        confirmed = any_later or as_of > d + wait
        if not any_later and as_of > d + wait:
            settled = True
        if water or young[i]:
            kind = _FLOOD
        elif stubble:
            kind = _EARLY_HARVEST
        elif (
            rained
            and ((f[i] < 0.3 and (prev_green[i] or confirmed)) or (seen_late[i] and confirmed))
        ) or settled:
            kind = NAMED
        else:
            return 0, -1, -1, False, False, False, False, np.nan
        if kind != _EARLY_HARVEST and not f[j] < recovered_f:
            return 0, -1, -1, False, False, False, False, np.nan
        r0 = np.nan  # the canopy share on the previous valid view
        for k in range(i):
            if valid[k]:
                r0 = f[k]
        return kind, i, j, water, rained, stubble, settled, r0
    # vegetation decline: the last two valid views from flowering - 10 d, seen green before
    last, second = -1, -1
    for k in range(n):
        if valid[k] and day[k] >= flowering:
            second = last
            last = k
    if second >= 0 and f[last] < 0.65 and f[second] < 0.65:
        for k in range(last + 1):
            if green[k]:
                return _DECLINE, second, last, False, False, False, False, np.nan
    return 0, -1, -1, False, False, False, False, np.nan


@numba.njit(cache=True, nogil=True)
def decide_parcels(  # type: ignore[no-untyped-def]
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
    rain,
    rain_starts,
    rain_ends,
    as_of,
    fp,
    ip,
) -> Any:
    """The decision of every parcel segment ``starts[s]:ends[s]`` of the sorted observations.

    ``day``, ``rain`` and the dates are integer days; ``rain[rain_starts[s]:rain_ends[s]]``
    the segment's storm days, sorted; ``judge[s]`` False skips the segment; ``fp`` and
    ``ip`` the detector's thresholds (slots ``F_*`` and ``I_*``).

    Returns
    -------
    (kind code per segment: an index of :data:`KINDS` or :data:`NAMED`, 0 none; the onset
    and the judged view, positions within the segment; open water, storm and stubble at
    the onset; settled (the canopy stopped falling) and the canopy share on the valid view
    before the onset, for ``NAMED``; per row: valid and open water).
    """
    ns = len(starts)
    kind = np.zeros(ns, np.int8)
    onset = np.full(ns, -1, np.int64)
    judged = np.full(ns, -1, np.int64)
    water = np.zeros(ns, np.bool_)
    rained = np.zeros(ns, np.bool_)
    stubble = np.zeros(ns, np.bool_)
    settled = np.zeros(ns, np.bool_)
    r0 = np.full(ns, np.nan)
    valid = np.zeros(len(day), np.bool_)
    wet = np.zeros(len(day), np.bool_)
    for s in range(ns):
        if not judge[s]:
            continue
        a, b = starts[s], ends[s]
        (
            kind[s],
            onset[s],
            judged[s],
            water[s],
            rained[s],
            stubble[s],
            settled[s],
            r0[s],
        ) = _decide(
            day[a:b],
            nd[a:b],
            ndwi[a:b],
            ref[a:b],
            ref_ndwi[a:b],
            comparable[a:b],
            f[a:b],
            rain[rain_starts[s] : rain_ends[s]],
            flowering[s],
            late[s],
            as_of,
            fp,
            ip,
            valid[a:b],
            wet[a:b],
        )
    return kind, onset, judged, water, rained, stubble, settled, r0, valid, wet
