"""Imagery detectors: each parcel's clear observations against same-crop peers on the same dates.

Pure functions over the tidy parcel series of :func:`agririsk.imagery.parcel_series`.

Notes
-----
For every clear observation (``clear_fraction >= MIN_CLEAR``) of parcel *i* on date *t*,
the expected NDVI ``ref(t)`` is the 75th percentile of the parcels declaring the same crop
that are clear on *t* (at least ``MIN_PEERS`` of them; otherwise the crop calendar curve
of :func:`calendar_ndvi`). The canopy is compared as a fraction of the expected green
amplitude above bare soil,

    f = (ndvi - SOIL_NDVI) / (ref - SOIL_NDVI),

only while ``ref - SOIL_NDVI >= MIN_AMPLITUDE`` (peers are green). Before green-up and
after the peers' harvest there is nothing to compare with, so a normal harvest after
maturity never alerts; a parcel without a clear view is never an anomaly.

- ``no_emergence``: peers green (``ref >= 0.55``) on two clear views at least 10 days
  apart (or on one view 10 days after the calendar flowering) while the parcel's season maximum stays below ``0.30`` (a field sown a little
  late, or another crop than declared, greens up in between);
- canopy collapse: a parcel seen green (``ndvi >= 0.45`` or ``f >= 0.6``, or growing with
  its peers during their green-up, :func:`_on_track`) falls below
  ``f < 0.5``, abruptly (``f`` down by at least 0.35 since the previous comparable view,
  that view at most ``ABRUPT_MAX_GAP_DAYS`` (20) before, and the field's own NDVI down by
  at least 0.35 of the green amplitude: not a jump of the peers' reference) or
  deeply (``f < 0.3``); from the calendar flowering on, while the peers are at their
  plateau, an abrupt fall to ``f < COLLAPSE_F`` (0.6) counts too (hail regrows to ~50 %
  within two weeks); a gradual slide (drought, early senescence) is not a collapse. A
  parcel that emerged (``ndvi >= EMERGED_NDVI`` once) but was never seen green collapses
  when ``f < 0.3`` with the peers at their plateau from 10 days after the calendar
  flowering, or when it reaches stubble (clouds from green-up to the event). The
  kind is ``flood`` when open water shows at the collapse (NDWI above its peers' by 0.15
  and above -0.15); ``early_harvest`` when the field reaches stubble
  (``ndvi <= STUBBLE_NDVI``) within 30 days and does not regrow; a deep drop
  (``f < 0.3``) on a field seen green, or one seen late, after a storm (``>=
  HEAVY_RAIN_MM`` in a day at the parcel's station or one within ``RAIN_RADIUS_KM``,
  since the previous clear view) is ``flood`` or ``crop_failure`` by which signature its
  trajectory fits (:func:`_collapse_kind`, :mod:`agririsk.monitoring.signatures`: named
  on the drop view when the likelihood ratio is at least ``DECISIVE_RATIO``, else on the
  next clear view); any other drop (the dry-down before a green harvest looks the same
  as hail) waits for the next clear view (at most 30 days) and is then
  ``early_harvest``, or named as above (``crop_failure`` without a storm). *Seen
  late*: a field level with its
  peers (``f >= LEVEL_F``) below half of them at their plateau on the next comparable
  view 20-``GAP_MAX_DAYS`` (60) days later, its own NDVI down by 0.35 of the amplitude, is
  a collapse (hail has regrown above 60 % by then, a flood stays below ~45 %); so is a
  field last seen level with its peers or on track at green-up, below
  ``FLOOD_CEILING_F`` (45 %) of them at their plateau 20-60 days later after a storm,
  whatever its own NDVI did (a flood at green-up cuts a canopy that would have grown). Two
  floods need no green view in the same way: open water above the peers' on a green
  field (``f >= 0.6`` on the previous comparable view) below 30 % of its ripening peers
  after the start of ripening; and *drowned*: open water above the peers', below 30 %
  of them while they are green (``ref >= 0.55``), not growing since the previous view,
  after a storm (a young paddy; such a field is not ``no_emergence``). Early harvest
  needs stubble while the peers are green (before the start of ripening or at their
  plateau): stubble once they ripen is the damaged field's normal harvest; or stubble
  within ``GAP_MAX_DAYS`` with the peers' canopy comparable (also once they ripen), the
  field's NDVI down by ``DRYING_NDVI`` on every clear view since the collapse (a dry-down
  runs on to the cut; hail and flood canopies stop falling and regrow). *Flooded
  young*: open water above the peers' after a storm while they are not yet green, then
  below half of them on their first green view at most ``GAP_MAX_DAYS`` later.
  *Regrowing*: a field seen green below half of its peers at their plateau from
  flowering on whose own NDVI rises by ``REGROWTH_AMP`` of their amplitude by the next
  view within 20 days (hail regrows; drought does not); or a field that emerged, seen
  green or not, below 60 % of them from the calendar flowering - 10 d on, whose share of
  them rises by ``BAND_REGROWTH_F`` to ``HAIL_REGROWTH_RATE`` a day (+
  ``REGROWTH_NOISE_F``) by that view (faster is a late sowing catching up). A drop named
  ``crop_failure`` waits for a view where the canopy stopped falling (``DRYING_NDVI``):
  a dry-down goes on to a harvest. Flood and
  crop failure stay open until the canopy recovers to
  ``f >= RECOVERED_F`` (0.85) on a view where the peers are still at their plateau
  (green amplitude >= ``PEER_SENESCENCE`` = 85 % of its season maximum: against
  ripening peers a damaged canopy looks recovered); an early harvest stays open for the season. From 30 days before the
  calendar maturity (``sowing_doy + season_days``; never before flowering + 40 d: the end
  of the early-harvest window, 25 d after flowering, plus the spread of sowing dates) on, drops are normal ripening and harvest and are not
  compared;
- ``vegetation_decline``: two consecutive comparable observations from 10 days before the
  calendar flowering on with ``f < 0.65`` without a collapse (before flowering, sowing
  dates a week apart look like a decline).

Paddy rice is flooded at transplanting: open water alone never raises an alert; it only
names the cause of a canopy collapse (a drowned field needs the storm as well).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agririsk.crop_models.crops import crop_params
from agririsk.imagery._fused import HAVE_NUMBA
from agririsk.monitoring.lifecycle import Condition
from agririsk.monitoring.signatures import flood_log_ratio, water_state
from agririsk.region import Season

__all__ = [
    "IMAGERY_KINDS",
    "DataGap",
    "changed_parcels",
    "changed_parcels_obs",
    "data_gaps_obs",
    "clear_observations",
    "window_start",
    "peer_reference",
    "peer_table",
    "peer_groups",
    "calendar_ndvi",
    "detect_imagery",
    "detect_imagery_obs",
    "data_gaps",
    "crop_mismatch_conditions",
    "area_heavy_rain",
    "station_heavy_rain",
]

logger = logging.getLogger(__name__)

IMAGERY_KINDS = ("vegetation_decline", "crop_failure", "no_emergence", "flood", "early_harvest")

MIN_CLEAR = 0.6
MIN_PEERS = 4
SOIL_NDVI = 0.15
MIN_AMPLITUDE = 0.25
HEAVY_RAIN_MM = 40.0
#: NDVI (robust median) of a harvested field: stubble over soil
STUBBLE_NDVI = 0.23
#: a drop later than the calendar maturity minus this many days is a normal harvest
LATE_MARGIN_DAYS = 30
#: a canopy below this share of the peers' green amplitude, reached abruptly, is a collapse:
#: hail leaves ~30 % and regrows ~1.6 points a day, so a view 2 weeks later still shows < 60 %
COLLAPSE_F = 0.6
#: an abrupt fall is judged against a previous comparable view at most this many days
#: before: hail regrows ~1.6 points of the green amplitude a day (30 % -> 62 % in 20 days,
#: above COLLAPSE_F), while over a longer gap the normal spread of sowing dates and of
#: senescence (drought ripens a field early) alone moves a field 0.35 from its peers
ABRUPT_MAX_GAP_DAYS = 20
#: a failed or flooded canopy is recovered at this share of the peers' green amplitude
#: (hail regrows to ~70 %: a field below 85 % of its peers still carries the loss)
RECOVERED_F = 0.85
#: peers whose green amplitude fell below this share of its season maximum are senescing:
#: an open crop failure or flood is no longer judged recovered against them
PEER_SENESCENCE = 0.85
#: a shallow drop without a later clear view is named after this many days
SHALLOW_WAIT_DAYS = 30
#: a parcel without a clear view for longer than this during the season is a data gap
DATA_GAP_DAYS = 30
#: NDVI a field never sown stays below (bare soil 0.15, weeds ~0.23): the no_emergence
#: threshold, and the least a field must show to count as growing during green-up
EMERGED_NDVI = 0.30
#: a fall over a longer gap than ABRUPT_MAX_GAP_DAYS (at most this many days) is still a
#: collapse when a field level with its peers (``f >= LEVEL_F``) is then below half of them,
#: the peers at their plateau: hail has regrown above 60 % after 20 days, a flood stays
#: below ~45 % for the season (docs/monitoring.md, "Collapses seen late"); drops after the
#: start of ripening are not compared, so the gap only needs a bound within the season
GAP_MAX_DAYS = 60
#: a field at this share of its peers' green amplitude grows with them (the 75th percentile)
LEVEL_F = 0.85
#: heavy rain at any station within this distance of the parcel's own station names a flood
#: (a gauge network ~25 km apart; the parcel's gauge misses part of a regional storm)
RAIN_RADIUS_KM = 30.0
#: flood water stays on a field for days: a clear view this soon after a storm that shows
#: no open water says the storm did not flood the field
FLOOD_WATER_DAYS = 7
#: a field below half of its peers at their plateau that then regrows its own NDVI by this
#: share of their green amplitude within ABRUPT_MAX_GAP_DAYS was damaged, not under-grown:
#: hail regrows 1.6 points of the field's own green amplitude a day (0.16 in 10 days);
#: drought, a poor stand or senescence do not gain on peers at their plateau
REGROWTH_AMP = 0.1
#: hail seen 12-20 days on, clouds before (docs/monitoring.md, "Hail seen 12-20 days on"):
#: a field below 60 % of its peers at their plateau (from the calendar flowering - 10 d;
#: emerged, EMERGED_NDVI, seen green or not: "Hail below half of its peers, regrowing at
#: hail's rate") that gains at least this share of them by the next view at their plateau
#: (at most ABRUPT_MAX_GAP_DAYS later) is regrowing: hail's canopy regrows 1.6 points of the field's
#: own green amplitude a day up to 25 days on; a poor stand or drought does not gain on its
#: peers at their plateau
BAND_REGROWTH_F = 0.08
#: ... but by at most this share a day (hail's 0.016 times the field's share before, up to
#: 1.2) plus REGROWTH_NOISE_F: a field gaining faster is a late sowing catching up
HAIL_REGROWTH_RATE = 0.02
#: the robust sd of an event-free field's share of its peers from one plateau view to the
#: next; the field's own NDVI must also rise by this share of the peers' amplitude
REGROWTH_NOISE_F = 0.05
#: a collapse after a storm is named on the view that shows it when the likelihood of its
#: trajectory under one signature (hail, flood) is at least this many times the other's;
#: otherwise on the next clear view (:func:`_collapse_kind`)
DECISIVE_RATIO = 20.0
#: a canopy lower by more than this NDVI than on the previous clear view is still falling:
#: the dry-down before a harvest, not hail or a flood, whose canopies stop and regrow
DRYING_NDVI = 0.05
#: a flood leaves at most 45 % of the field's own green amplitude for the season (15 %,
#: regrowing to 45 % 40 days on; docs/sample-region.md §3), hail regrows above 62 % 20
#: days on: a field last seen level with its peers (or growing with them at green-up)
#: that is below this share of them at their plateau more than ABRUPT_MAX_GAP_DAYS later,
#: after a storm, has collapsed (docs/monitoring.md, "Floods seen only weeks later")
FLOOD_CEILING_F = 0.45
#: the season's views and storms are taken from this many days before its start (a field
#: sown early, a storm just before the first view); an earlier storm is another season's
WINDOW_LEAD_DAYS = 15


def window_start(season: Season) -> pd.Timestamp:
    """First day of the season's monitoring window: its views and its storms start here."""
    return pd.Timestamp(season.start) - pd.Timedelta(days=WINDOW_LEAD_DAYS)


def clear_observations(
    series: pd.DataFrame,
    season: Season,
    as_of: dt.date,
    *,
    min_clear: float = MIN_CLEAR,
    categorical: bool = False,
) -> pd.DataFrame:
    """Clear per-parcel observations of the season up to ``as_of``, one per parcel and day.

    ``categorical``: ``parcel_id`` as a :class:`pandas.Categorical` (categories sorted),
    same values: a run factorizes the parcel ids of its ~180,000 views in several steps,
    which then take the codes instead of hashing the strings each time.

    Returns
    -------
    DataFrame ``parcel_id, date, ndvi, ndwi, clear_fraction`` (``ndvi``: robust median
    ``ndvi_p50`` when present, else ``ndvi_mean``; ``ndwi`` NaN when not reduced), sorted
    by parcel and date.
    """
    cols = ["parcel_id", "date", "ndvi", "ndwi", "clear_fraction"]
    if series.empty:
        return pd.DataFrame(columns=cols)
    s = series
    t = pd.to_datetime(s["datetime"])
    if t.dt.tz is not None:
        t = t.dt.tz_convert(None)
    day = t.dt.normalize()
    start = window_start(season)
    keep = (day >= start) & (day <= pd.Timestamp(as_of)) & (s["clear_fraction"] >= min_clear)
    ndvi_col = (
        "ndvi_p50" if "ndvi_p50" in s.columns and s["ndvi_p50"].notna().any() else "ndvi_mean"
    )
    ndwi_col = (
        "ndwi_p50"
        if "ndwi_p50" in s.columns
        else ("ndwi_mean" if "ndwi_mean" in s.columns else None)
    )
    out = pd.DataFrame(
        {
            "parcel_id": s.loc[keep, "parcel_id"].astype(str),
            "date": day[keep],
            "ndvi": s.loc[keep, ndvi_col].astype(float),
            "ndwi": s.loc[keep, ndwi_col].astype(float) if ndwi_col else np.nan,
            "clear_fraction": s.loc[keep, "clear_fraction"].astype(float),
            "t": t[keep],
        }
    )
    if "item_id" in s.columns:
        out["item"] = s.loc[keep, "item_id"].astype(str)
    out = out.dropna(subset=["ndvi"])
    # of a parcel's views on one day the clearest, then the latest acquisition, then the
    # last item id: the same whatever order the rows come in
    # (a stable sort on integer codes, ranked as the strings are: sort_values and
    # drop_duplicates hashed the ~180,000 parcel ids of a season twice, 33 -> 12 ms)
    pcodes, puniques = pd.factorize(out["parcel_id"], sort=True)
    keys = [
        np.where(pcodes < 0, len(puniques), pcodes),
        out["date"].to_numpy("datetime64[ns]").view(np.int64),
        out["clear_fraction"].to_numpy(float),
        out["t"].to_numpy("datetime64[ns]").view(np.int64),
    ]

    def same_day(order: np.ndarray) -> np.ndarray:
        pid, day = keys[0][order], keys[1][order]
        return (pid[1:] == pid[:-1]) & (day[1:] == day[:-1])

    # by parcel and day first (one integer key, a stable sort: 1 ms where the lexsort of
    # four keys took 7 ms at 180,000 views); only when a parcel has several views on one
    # day does their order (the clearest, the latest, the last item) need the other keys
    day_no = keys[1] // 86_400_000_000_000  # ``date`` is normalized: one number a day
    span = int(day_no.max() - day_no.min()) + 1 if len(day_no) else 1
    by_day = keys[0].astype(np.int64) * span + (day_no - (day_no.min() if len(day_no) else 0))
    order = np.argsort(by_day, kind="stable")
    same = same_day(order)
    if same.any():
        order = np.lexsort(keys[::-1])
        same = same_day(order)
        if "item" in out:
            # the item id only breaks ties of the other keys (rare: ranking the ~180,000
            # item ids took ~8 ms); without a tie the order is the same with or without it
            a, b = order[:-1][same], order[1:][same]
            if ((keys[2][a] == keys[2][b]) & (keys[3][a] == keys[3][b])).any():
                keys.append(_sort_codes(out["item"]))
                order = np.lexsort(keys[::-1])
                same = same_day(order)
    kept = order[np.r_[~same, True]]
    if not categorical:
        return out.iloc[kept].reset_index(drop=True)[cols]
    # the parcel ids from their codes (taking the ~180,000 strings took ~2.5 ms)
    result = out[cols[1:]].iloc[kept].reset_index(drop=True)
    result.insert(0, "parcel_id", pd.Categorical.from_codes(pcodes[kept], categories=puniques))
    return result


def _sort_codes(values: pd.Series) -> np.ndarray:
    """Integer codes of ``values`` in their sort order (missing values last, as equals)."""
    codes, uniques = pd.factorize(values, sort=True)
    return np.where(codes < 0, len(uniques), codes)


def calendar_ndvi(crop: str, day: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Expected NDVI from the crop calendar: a double logistic between sowing and harvest.

    Green-up centred half-way between emergence and peak, senescence centred 15 days
    before the calendar harvest (``sowing_doy + season_days``), both with a 7-day scale
    (Beck et al. 2006 shape).
    """
    p = crop_params(crop)
    doy = pd.DatetimeIndex(day).day_of_year.to_numpy(float)
    up = p.sowing_doy + (p.emergence_days + p.days_to_peak) / 2
    down = p.sowing_doy + p.season_days - 15
    shape = 1 / (1 + np.exp(-(doy - up) / 7)) - 1 / (1 + np.exp(-(doy - down) / 7))
    return SOIL_NDVI + (p.ndvi_peak - SOIL_NDVI) * np.clip(shape, 0, 1)


#: the sums that identify a (crop, date) group's clear views in a kept peer table
#: (:func:`peer_table`): unchanged sums, unchanged views
PEER_FINGERPRINT = ["n_peers", "n_ndwi", "s_ndvi", "s2_ndvi", "s_ndwi"]
#: the columns of :func:`peer_table`
PEER_COLUMNS = ["crop", "date", "n_peers", "ref", "ref_ndwi", *PEER_FINGERPRINT[1:]]


#: :func:`peer_groups`: (crop code per row, group per row, the groups)
PeerGroups = tuple[np.ndarray, np.ndarray, pd.DataFrame]


def peer_groups(obs: pd.DataFrame, crops: pd.Series) -> PeerGroups:
    """(crop code per row, group per row, the groups: ``crop, date`` and the fingerprint sums).

    A group is a declared crop (``other`` when undeclared) and a date; groups are sorted by
    crop, then date; crop codes index the sorted crop names (``groups.attrs['crops']``).
    Computed once per run and handed to :func:`peer_table` and :func:`peer_reference`
    (``groups=``), which compute it otherwise.
    """
    codes, pids = pd.factorize(obs["parcel_id"], sort=False)
    if isinstance(pids, pd.Categorical):  # clear_observations(categorical=True)
        pids = np.asarray(pids, dtype=object)
    crop_code, crop_names = pd.factorize(
        pd.Series(pids).map(crops).fillna("other").astype(str), sort=True
    )
    names = np.asarray(crop_names, dtype=object)
    row_crop = crop_code[codes].astype(np.int64)
    day = obs["date"].to_numpy("datetime64[D]").astype(np.int64)
    d0 = int(day.min()) if len(day) else 0
    span = int(day.max()) - d0 + 1 if len(day) else 1
    key = row_crop * span + (day - d0)
    n = np.bincount(key, minlength=len(names) * span)
    present = np.flatnonzero(n)
    index = np.full(len(n), -1, np.int64)
    index[present] = np.arange(len(present))
    group = index[key]
    ndvi = obs["ndvi"].to_numpy(float)
    ndwi = obs["ndwi"].to_numpy(float)
    has_ndwi = ~np.isnan(ndwi)
    m = len(present)
    groups = pd.DataFrame(
        {
            "crop": names[present // span].astype(str) if m else np.zeros(0, str),
            "date": pd.to_datetime((present % span + d0).astype("datetime64[D]")).as_unit("ns"),
            "n_peers": n[present].astype(np.int64),
            "n_ndwi": np.bincount(group, weights=has_ndwi, minlength=m).astype(np.int64),
            "s_ndvi": np.bincount(group, weights=ndvi, minlength=m),
            "s2_ndvi": np.bincount(group, weights=ndvi * ndvi, minlength=m),
            "s_ndwi": np.bincount(group, weights=np.where(has_ndwi, ndwi, 0.0), minlength=m),
        }
    )
    groups.attrs["crops"] = [str(c) for c in names]
    return row_crop, group, groups


def peer_table(
    obs: pd.DataFrame,
    crops: pd.Series,
    *,
    known: pd.DataFrame | None = None,
    groups: PeerGroups | None = None,
) -> pd.DataFrame:
    """The peers' reference per crop and date: what :func:`peer_reference` gives each row.

    Parameters
    ----------
    obs : :func:`clear_observations` of the season.
    crops : declared crop by ``parcel_id`` (undeclared: ``other``).
    known : an earlier table (from an earlier run's ``obs``): a group (crop, date) whose
        clear views have the same fingerprint (:data:`PEER_FINGERPRINT`: their number,
        the number with NDWI, the sums of NDVI, NDVI² and NDWI) takes its reference from
        it; the others are computed. A run adding one item recomputes the groups of that
        item's date only.
    groups : :func:`peer_groups` of ``obs`` and ``crops`` (default computed here).

    Returns
    -------
    DataFrame :data:`PEER_COLUMNS`, one row per crop and date with a clear view, sorted
    by crop and date: ``n_peers`` clear views, ``ref`` their 75th percentile NDVI (linear
    interpolation) or, with fewer than ``MIN_PEERS``, the crop calendar's
    (:func:`calendar_ndvi`), ``ref_ndwi`` their median NDWI (NaN with fewer than
    ``MIN_PEERS``).
    """
    _, group, table = groups if groups is not None else peer_groups(obs, crops)
    return _reference_of_groups(obs, group, table, known)


def _reference_of_groups(
    obs: pd.DataFrame, group: np.ndarray, groups: pd.DataFrame, known: pd.DataFrame | None
) -> pd.DataFrame:
    """:func:`peer_table` from the groups of :func:`peer_groups`."""
    ref = np.full(len(groups), np.nan)
    ref_ndwi = np.full(len(groups), np.nan)
    todo = np.ones(len(groups), bool)
    if known is not None and len(known) and len(groups):
        cols = ["crop", "date", *PEER_FINGERPRINT]
        kept = {
            tuple(k): (r, w)
            for *k, r, w in zip(
                *(known[c].tolist() for c in cols),
                known["ref"].tolist(),
                known["ref_ndwi"].tolist(),
                strict=True,
            )
        }
        for i, k in enumerate(zip(*(groups[c].tolist() for c in cols), strict=True)):
            hit = kept.get(k)
            if hit is not None and not np.isnan(hit[0]):
                ref[i], ref_ndwi[i] = hit
                todo[i] = False
    if todo.any():
        rows = todo[group]
        sub = pd.DataFrame(
            {
                "g": group[rows],
                "ndvi": obs["ndvi"].to_numpy(float)[rows],
                "ndwi": obs["ndwi"].to_numpy(float)[rows],
            }
        ).groupby("g")
        idx = np.flatnonzero(todo)
        ref[idx] = sub["ndvi"].quantile(0.75).reindex(idx).to_numpy()  # linear
        ref_ndwi[idx] = sub["ndwi"].median().reindex(idx).to_numpy()
        few = todo & (groups["n_peers"].to_numpy() < MIN_PEERS)
        crop = groups["crop"].to_numpy(object)
        for c in np.unique(crop[few]):
            at = np.flatnonzero(few & (crop == c))
            ref[at] = calendar_ndvi(str(c), pd.DatetimeIndex(groups["date"].iloc[at]))
        ref_ndwi[few] = np.nan
    out = groups.assign(ref=ref, ref_ndwi=ref_ndwi)[PEER_COLUMNS]
    out.attrs.clear()
    return out


def peer_reference(
    obs: pd.DataFrame,
    crops: pd.Series,
    *,
    table: pd.DataFrame | None = None,
    groups: PeerGroups | None = None,
) -> pd.DataFrame:
    """``obs`` with ``crop``, ``ref`` (expected NDVI), ``ref_ndwi`` and ``n_peers`` per row.

    ``table``: :func:`peer_table` of these ``obs`` and ``crops`` (e.g. kept from earlier
    runs, :func:`agririsk.monitoring.cache.peer_table`); default computed here.
    ``groups``: :func:`peer_groups` of these ``obs`` and ``crops``; default computed here.
    """
    row_crop, group, by_group = groups if groups is not None else peer_groups(obs, crops)
    if table is None:
        table = _reference_of_groups(obs, group, by_group, None)
    if (
        len(table) == len(by_group)
        and table["crop"].tolist() == by_group["crop"].tolist()
        and (
            table["date"].to_numpy("datetime64[D]") == by_group["date"].to_numpy("datetime64[D]")
        ).all()
    ):
        pos = group  # the table of these observations: the same groups in the same order
    else:
        at = dict(
            zip(
                zip(table["crop"].tolist(), table["date"].tolist(), strict=True),
                range(len(table)),
                strict=True,
            )
        )
        keys = zip(by_group["crop"].tolist(), by_group["date"].tolist(), strict=True)
        found = [at.get(k) for k in keys]
        if any(i is None for i in found):
            raise ValueError(
                "peer_reference: the peer table has no row for some crop and date of the "
                "observations; pass the peer_table of these observations and crops"
            )
        pos = np.asarray(found, np.int64)[group]
    o = obs.copy()
    o["crop"] = pd.Categorical.from_codes(row_crop, by_group.attrs["crops"])
    o["n_peers"] = table["n_peers"].to_numpy(np.int64)[pos]
    o["ref"] = table["ref"].to_numpy(float)[pos]
    o["ref_ndwi"] = table["ref_ndwi"].to_numpy(float)[pos]
    return o


def _cond(
    pid: str, kind: str, sev: str, onset: pd.Timestamp, last: pd.Timestamp, **ev: object
) -> Condition:
    return Condition(
        pid, kind, sev, last.date(), onset.date(), {k: _jsonable(v) for k, v in ev.items()}
    )


def _jsonable(v: object) -> object:
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    if isinstance(v, float | np.floating):
        return round(float(v), 3)
    return v


def detect_imagery(
    series: pd.DataFrame,
    crops: pd.Series,
    season: Season,
    as_of: dt.date,
    *,
    heavy_rain: pd.DataFrame | None = None,
    parcels: Collection[str] | None = None,
) -> list[Condition]:
    """Imagery conditions of every parcel (or of ``parcels``) at ``as_of``.

    Parameters
    ----------
    series : the tidy parcel series (``parcel_id, datetime, clear_fraction, ndvi_p50`` or
        ``ndvi_mean``, optional ``ndwi_p50``).
    crops : declared crop by ``parcel_id``.
    season : the monitored season.
    as_of : nothing after this date is looked at.
    heavy_rain : ``parcel_id, date, precip_mm`` of days with ``>= HEAVY_RAIN_MM`` at the
        parcel's station or one within ``RAIN_RADIUS_KM`` (:func:`area_heavy_rain`;
        optional: without it only open water names a flood, and no field is drowned).
    parcels : judge only these parcels (an incremental run: the others' conditions are
        known not to have changed, see :func:`changed_parcels`); the peers' reference still
        comes from every parcel. None: all.

    Returns
    -------
    list of :class:`~agririsk.monitoring.lifecycle.Condition` active at ``as_of``.
    """
    return detect_imagery_obs(
        clear_observations(series, season, as_of),
        crops,
        season,
        as_of,
        heavy_rain=heavy_rain,
        parcels=parcels,
    )


def detect_imagery_obs(
    obs: pd.DataFrame,
    crops: pd.Series,
    season: Season,
    as_of: dt.date,
    *,
    heavy_rain: pd.DataFrame | None = None,
    parcels: Collection[str] | None = None,
    use_kernel: bool | None = None,
    peers: pd.DataFrame | None = None,
    parcel_station: pd.Series | None = None,
    groups: PeerGroups | None = None,
) -> list[Condition]:
    """:func:`detect_imagery` on the output of :func:`clear_observations` (computed once per run).

    ``use_kernel``: find the parcels with a condition with the numba kernel of
    :mod:`agririsk.monitoring._kernel` (default: when numba is installed), then build
    their conditions in Python; False runs the Python function on every parcel. Both give
    the same conditions. ``peers``: the :func:`peer_table` of ``obs`` and ``crops`` (kept
    between runs by :func:`agririsk.monitoring.cache.peer_table`); default computed here.
    ``parcel_station``: each parcel's nearest station; when given, ``heavy_rain`` is per
    station (:func:`station_heavy_rain`) and a parcel's storms are its station's (the
    same days as its rows of :func:`area_heavy_rain`). ``groups``: :func:`peer_groups` of
    ``obs`` and ``crops`` (default computed here).
    """
    if obs.empty:
        return []
    obs = peer_reference(obs, crops, table=peers, groups=groups)
    amp = obs["ref"] - SOIL_NDVI
    obs["valid"] = amp >= MIN_AMPLITUDE
    obs["f"] = np.where(
        obs["valid"], (obs["ndvi"] - SOIL_NDVI) / amp.where(amp > 0, np.nan), np.nan
    )
    out: list[Condition] = []
    cols = {
        "day": obs["date"].to_numpy("datetime64[D]"),
        "ndvi": obs["ndvi"].to_numpy(float),
        "ndwi": obs["ndwi"].to_numpy(float),
        "ref": obs["ref"].to_numpy(float),
        "ref_ndwi": obs["ref_ndwi"].to_numpy(float),
        "valid": obs["valid"].to_numpy(bool),
        "f": obs["f"].to_numpy(float),
    }
    # obs is sorted by parcel, date: a parcel's rows are one block (codes, not Arrow strings)
    codes, uniques = pd.factorize(obs["parcel_id"], sort=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    # each segment's crop (the categorical's codes: its 180,000 strings took 8 ms)
    crop_code = obs["crop"].cat.codes.to_numpy()[starts]
    seg_crop = np.asarray(obs["crop"].cat.categories, dtype=object)[crop_code]
    calendar = {c: _calendar_dates(str(c), season) for c in pd.unique(seg_crop)}
    as_of64 = np.datetime64(as_of, "D")
    seg_pid = np.asarray(uniques, dtype=object)[codes[starts]].astype(str)
    if parcels is None:
        judge = np.ones(len(starts), bool)
    else:  # set lookups: np.isin on 20,000 strings took ~14 ms
        wanted = set(map(str, parcels))
        judge = np.fromiter((p in wanted for p in seg_pid.tolist()), bool, len(seg_pid))
    if use_kernel is None:
        use_kernel = HAVE_NUMBA
    # each judged segment's storm days, sorted: rain_day[rain_lo[s]:rain_hi[s]] (heavy_rain
    # has ~200,000 rows: parcel codes, no isin or groupby over their strings)
    rain_day = np.zeros(0, np.int64)
    rain_lo = rain_hi = np.zeros(len(starts), np.int64)
    if heavy_rain is not None and not heavy_rain.empty:
        # a storm before the window is another season's: it would otherwise count for the
        # first view of the season, which has no clear view before it (_storm_before)
        heavy_rain = heavy_rain[pd.to_datetime(heavy_rain["date"]) >= window_start(season)]
    if heavy_rain is not None and not heavy_rain.empty and parcel_station is not None:
        rain_day, rain_lo, rain_hi = _station_storms(heavy_rain, parcel_station, seg_pid, judge)
    elif heavy_rain is not None and not heavy_rain.empty:
        code, names = pd.factorize(heavy_rain["parcel_id"].astype(str), sort=False)
        at = pd.Index(names).get_indexer(seg_pid)  # the segment's parcel among them, or -1
        at[~judge] = -1
        storm_of = np.zeros(len(names) + 1, bool)  # the last slot: code -1 (no parcel id)
        storm_of[at[at >= 0]] = True
        rows = np.flatnonzero(storm_of[code])
        days = pd.to_datetime(heavy_rain["date"]).to_numpy("datetime64[D]").astype(np.int64)
        rows = rows[np.lexsort((days[rows], code[rows]))]
        rain_day, by_parcel = days[rows], code[rows]
        rain_lo = np.where(at >= 0, np.searchsorted(by_parcel, at, "left"), 0)
        rain_hi = np.where(at >= 0, np.searchsorted(by_parcel, at, "right"), 0)
    if use_kernel:
        from agririsk.monitoring._kernel import KINDS, NAMED

        kind, onset, latest, water, rained, stubble, settled, r0, valid, wet = _kernel_decisions(
            cols, starts, ends, seg_crop, calendar, as_of64, judge, rain_day, rain_lo, rain_hi
        )
        # Python builds the evidence of the parcels with a condition only
        for s in np.flatnonzero(kind).tolist():
            a, b, i = starts[s], ends[s], int(onset[s])
            view = {k: v[a:b] for k, v in cols.items()}
            name: str | None = KINDS[kind[s]] if kind[s] != NAMED else None
            if name is None:  # hail or flood, told from the trajectory (or not yet)
                r = rain_day[rain_lo[s] : rain_hi[s]].astype("datetime64[D]")
                rain_s = r if len(r) else None
                name = _collapse_kind(
                    view, i, rain_s, valid[a:b], wet[a:b], r0[s], as_of64, settled[s]
                )
                if name is None:
                    continue
            found = (int(latest[s]), bool(water[s]), bool(rained[s]), bool(stubble[s]))
            out.append(_imagery_condition(str(seg_pid[s]), view, name, i, *found))
        return out
    for s in np.flatnonzero(judge).tolist():
        a, b = starts[s], ends[s]
        view = {k: v[a:b] for k, v in cols.items()}
        flowering, late = calendar[seg_crop[s]]
        r = rain_day[rain_lo[s] : rain_hi[s]].astype("datetime64[D]")
        pid = str(seg_pid[s])
        out.extend(_parcel_conditions(pid, view, r if len(r) else None, flowering, late, as_of64))
    return out


def _station_storms(
    heavy_rain: pd.DataFrame, parcel_station: pd.Series, seg_pid: np.ndarray, judge: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(storm days sorted by station, then day; each segment's slice start; its end).

    ``heavy_rain``: :func:`station_heavy_rain`; a judged segment's slice is its parcel's
    station's days, an unjudged one's or one without a station is empty.
    """
    code, names = pd.factorize(heavy_rain["station_id"].astype(str), sort=False)
    days = pd.to_datetime(heavy_rain["date"]).to_numpy("datetime64[D]").astype(np.int64)
    order = np.lexsort((days, code))
    rain_day, by_station = days[order], code[order]
    lo = np.searchsorted(by_station, np.arange(len(names)), "left")
    hi = np.searchsorted(by_station, np.arange(len(names)), "right")
    # each parcel's station among ``names`` (by the parcels' station codes: a lookup of
    # 20,000 station ids took 2 ms), then each segment's parcel
    st_code, st_names = pd.factorize(parcel_station.astype(str))
    station_at = np.r_[pd.Index(names).get_indexer(st_names), -1]  # code -1: no station
    row = pd.Index(parcel_station.index.astype(str)).get_indexer(seg_pid)
    at = np.where(row >= 0, station_at[st_code[row]], -1)
    at[~judge] = -1
    rain_lo = np.where(at >= 0, lo[at], 0)
    rain_hi = np.where(at >= 0, hi[at], 0)
    return rain_day, rain_lo, rain_hi


def _kernel_decisions(
    cols: dict[str, np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    seg_crop: np.ndarray,
    calendar: dict,
    as_of: np.datetime64,
    judge: np.ndarray,
    rain_day: np.ndarray,
    rain_lo: np.ndarray,
    rain_hi: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Each judged segment's decision by the numba kernel: :func:`_parcel_conditions`'s.

    ``rain_day[rain_lo[s]:rain_hi[s]]``: segment ``s``'s storm days (integer days,
    sorted). Returns the arrays of :func:`agririsk.monitoring._kernel.decide_parcels`.
    """
    from agririsk.monitoring import _kernel as K

    # per crop, then by crop code (a list over 20,000 datetime64 scalars took 18 ms)
    code, names = pd.factorize(seg_crop)
    dates = np.array([calendar[c] for c in names], "datetime64[D]").astype(np.int64)
    flowering, late = dates[code, 0], dates[code, 1]
    fp = np.zeros(K.N_FP)
    for slot, value in (
        (K.F_SOIL, SOIL_NDVI),
        (K.F_COLLAPSE, COLLAPSE_F),
        (K.F_RECOVERED, RECOVERED_F),
        (K.F_SENESCENCE, PEER_SENESCENCE),
        (K.F_STUBBLE, STUBBLE_NDVI),
        (K.F_EMERGED, EMERGED_NDVI),
        (K.F_LEVEL, LEVEL_F),
        (K.F_REGROWTH, REGROWTH_AMP),
        (K.F_DRYING, DRYING_NDVI),
        (K.F_FLOOD_CEILING, FLOOD_CEILING_F),
        (K.F_BAND_REGROWTH, BAND_REGROWTH_F),
        (K.F_HAIL_RATE, HAIL_REGROWTH_RATE),
        (K.F_NOISE, REGROWTH_NOISE_F),
    ):
        fp[slot] = value
    ip = np.zeros(K.N_IP, np.int64)
    for slot, days in (
        (K.I_SHALLOW_WAIT, SHALLOW_WAIT_DAYS),
        (K.I_ABRUPT_GAP, ABRUPT_MAX_GAP_DAYS),
        (K.I_GAP_MAX, GAP_MAX_DAYS),
        (K.I_FLOOD_WATER, FLOOD_WATER_DAYS),
    ):
        ip[slot] = _days(days).astype(np.int64)
    return tuple(
        K.decide_parcels(
            cols["day"].astype(np.int64),
            cols["ndvi"],
            cols["ndwi"],
            cols["ref"],
            cols["ref_ndwi"],
            cols["valid"],
            cols["f"],
            starts.astype(np.int64),
            ends.astype(np.int64),
            flowering,
            late,
            judge,
            rain_day,
            rain_lo,
            rain_hi,
            int(as_of.astype(np.int64)),
            fp,
            ip,
        )
    )


def area_heavy_rain(
    weather: pd.DataFrame,
    stations: pd.DataFrame,
    parcel_station: pd.Series,
    threshold_mm: float = HEAVY_RAIN_MM,
    *,
    radius_km: float = RAIN_RADIUS_KM,
) -> pd.DataFrame:
    """Days of heavy rain around each parcel: the ``heavy_rain`` input of :func:`detect_imagery`.

    Parameters
    ----------
    weather : station daily weather ``station_id, date, precip_mm``.
    stations : ``station_id, lat, lon`` (degrees).
    parcel_station : the parcel's nearest station by ``parcel_id``.
    threshold_mm : a day with at least this much rain is heavy.
    radius_km : stations within this distance of the parcel's own station count too
        (equirectangular distance; the parcel's station stands for the parcel).

    Returns
    -------
    DataFrame ``parcel_id, date, precip_mm``, one row per parcel, day and station with
    ``precip_mm >= threshold_mm``.
    """
    cols = ["parcel_id", "date", "precip_mm"]
    near = station_heavy_rain(weather, stations, threshold_mm, radius_km=radius_km)
    if near.empty or parcel_station.empty:
        return pd.DataFrame(columns=cols)
    ps = pd.DataFrame(
        {
            "parcel_id": parcel_station.index.astype(str),
            "own": parcel_station.astype(str).to_numpy(),
        }
    )
    out = ps.merge(near.rename(columns={"station_id": "own"}), on="own")
    return out[cols].reset_index(drop=True)


def station_heavy_rain(
    weather: pd.DataFrame,
    stations: pd.DataFrame,
    threshold_mm: float = HEAVY_RAIN_MM,
    *,
    radius_km: float = RAIN_RADIUS_KM,
) -> pd.DataFrame:
    """Days of heavy rain around each station: :func:`area_heavy_rain` before the parcels.

    A parcel's rows in :func:`area_heavy_rain` are those of its nearest station here, so
    :func:`detect_imagery_obs` takes these (with ``parcel_station``) instead of one row per
    parcel and storm (~200,000 at 20,000 parcels for ~30 at a few stations).

    Returns
    -------
    DataFrame ``station_id, date, precip_mm``, one row per station, day and station within
    ``radius_km`` of it (itself included) with ``precip_mm >= threshold_mm``.
    """
    cols = ["station_id", "date", "precip_mm"]
    heavy = weather.loc[weather["precip_mm"] >= threshold_mm, ["station_id", "date", "precip_mm"]]
    if heavy.empty:
        return pd.DataFrame(columns=cols)
    st = stations.drop_duplicates("station_id").set_index("station_id")
    lat, lon = st["lat"].to_numpy(float), st["lon"].to_numpy(float)
    dy = (lat[:, None] - lat[None, :]) * 111.2
    dx = (
        (lon[:, None] - lon[None, :])
        * 111.2
        * np.cos(np.radians((lat[:, None] + lat[None, :]) / 2))
    )
    a, b = np.nonzero(np.hypot(dx, dy) <= radius_km)
    ids = st.index.astype(str).to_numpy()
    pairs = pd.DataFrame({"own": ids[a], "station_id": ids[b]})
    heavy = heavy.assign(station_id=heavy["station_id"].astype(str))
    out = pairs.merge(heavy, on="station_id").drop(columns="station_id")
    return out.rename(columns={"own": "station_id"})[cols].reset_index(drop=True)


def changed_parcels(
    series: pd.DataFrame,
    new_item_ids: Collection[str],
    season: Season,
    as_of: dt.date,
    last_as_of: dt.date,
) -> set[str]:
    """Parcels whose imagery conditions can differ from the run at ``last_as_of``.

    A parcel's conditions depend on its own clear views, on its peers' reference on the
    dates of those views, on the rain before each view and, for a shallow drop without a
    later view, on ``as_of`` (named ``SHALLOW_WAIT_DAYS`` after the view). So only these
    can change between runs:

    - parcels with a clear view on a date the new items touch (their own series changed,
      or their peers' reference on that date did);
    - parcels whose latest clear view ``d`` crossed the wait since the last run:
      ``last_as_of - wait <= d < as_of - wait``.

    Parcels with open alerts must be judged as well (the caller adds them): an open alert
    is updated every run.
    """
    if series.empty:
        return set()
    new = series["item_id"].astype(str).isin(set(map(str, new_item_ids)))
    t = pd.to_datetime(series.loc[new, "datetime"])
    if t.dt.tz is not None:
        t = t.dt.tz_convert(None)
    return changed_parcels_obs(
        clear_observations(series, season, as_of), set(t.dt.normalize()), as_of, last_as_of
    )


def changed_parcels_obs(
    obs: pd.DataFrame, new_days: Collection[pd.Timestamp], as_of: dt.date, last_as_of: dt.date
) -> set[str]:
    """:func:`changed_parcels` from the clear observations and the days of the new items."""
    if obs.empty:
        return set()
    # parcel codes, not groupby and set() over ~180,000 Arrow strings (19 -> 9 ms)
    codes, uniques = pd.factorize(obs["parcel_id"], sort=False)
    t = obs["date"].to_numpy("datetime64[ns]")
    new = np.array([pd.Timestamp(d).to_datetime64() for d in new_days], "datetime64[ns]")
    changed = np.zeros(len(uniques), bool)
    changed[codes[np.isin(t, new)]] = True
    last = np.full(len(uniques), np.iinfo(np.int64).min)
    np.maximum.at(last, codes, t.astype(np.int64))
    wait = pd.Timedelta(days=SHALLOW_WAIT_DAYS)
    low, high = (pd.Timestamp(d) - wait for d in (last_as_of, as_of))
    changed |= (last >= low.as_unit("ns").value) & (last < high.as_unit("ns").value)
    return set(pd.Index(uniques)[changed].astype(str).tolist())


def _calendar_dates(crop: str, season: Season) -> tuple[np.datetime64, np.datetime64]:
    """(flowering - 10 d, start of normal ripening) of ``crop`` in the season's year.

    Ripening starts ``LATE_MARGIN_DAYS`` before the calendar maturity, but never before
    the end of the early-harvest window (flowering + 25 d) plus 15 d of sowing-date spread.
    """
    p = crop_params(crop)
    sow = np.datetime64(f"{season.start.year}-01-01") + np.timedelta64(p.sowing_doy - 1, "D")
    late = max(p.days_to_peak + 40, p.season_days - LATE_MARGIN_DAYS)
    return sow + np.timedelta64(p.days_to_peak - 10, "D"), sow + np.timedelta64(late, "D")


def _days(n: float) -> np.timedelta64:
    return np.timedelta64(int(round(n)), "D")


def _green_up_lead(v: dict[str, np.ndarray], flowering: np.datetime64) -> float:
    """Days the parcel is ahead of its peers during green-up (negative: behind), within +-15.

    ``(ndvi - ref) / slope`` on views where the peers are half-way green (ref 0.25-0.70,
    before flowering + 10 d); slope = (green amplitude + 0.2) / 28 d, about the steepest
    slope of the calendar's logistic (scale 7 d). Every such view counts, also those where
    the peers' green amplitude is still below ``MIN_AMPLITUDE`` (no canopy fraction is
    taken here): with a 5-day revisit and clouds the peers' rise from 0.25 to 0.70 is
    often seen once or twice only, and most often while still below 0.40.
    """
    ref = v["ref"]
    up = (ref >= 0.25) & (ref <= 0.70) & (v["day"] <= flowering + _days(10))
    if not up.any():
        return 0.0
    slope = (ref[up].max() - SOIL_NDVI + 0.2) / 28.0
    return float(np.clip(np.median((v["ndvi"][up] - ref[up]) / slope), -15, 15))


def _on_track(v: dict[str, np.ndarray], flowering: np.datetime64 | np.ndarray) -> np.ndarray:
    """Views where the parcel grows with its peers during their green-up.

    The peers are half-way green (``ref`` 0.25-0.70, the views of :func:`_green_up_lead`)
    and the parcel has emerged (``ndvi >= EMERGED_NDVI``) with at least 60 % of their
    green amplitude (the share that makes a field "seen green" later in the season).
    """
    ref, nd = v["ref"], v["ndvi"]
    return (
        (ref >= 0.25)
        & (ref <= 0.70)
        & (v["day"] <= flowering + _days(10))
        & (nd >= EMERGED_NDVI)
        & (nd - SOIL_NDVI >= 0.6 * (ref - SOIL_NDVI))
    )


def _previous_index(ok: np.ndarray) -> np.ndarray:
    """For each position, the index of the latest True strictly before it (-1 if none)."""
    last = np.maximum.accumulate(np.where(ok, np.arange(len(ok)), -1))
    return np.r_[-1, last[:-1]]


def _next_index(ok: np.ndarray) -> np.ndarray:
    """For each position, the index of the earliest True strictly after it (-1 if none)."""
    n = len(ok)
    nxt = np.minimum.accumulate(np.where(ok, np.arange(n), n)[::-1])[::-1]
    out = np.r_[nxt[1:], n]
    return np.where(out < n, out, -1)


def _storm_before(day: np.ndarray, rain_days: np.ndarray | None, dry: np.ndarray) -> np.ndarray:
    """Views with a storm since the previous clear view (any in the window before the first).

    A storm is a day in ``rain_days`` (>= ``HEAVY_RAIN_MM`` at the parcel's station or one
    within ``RAIN_RADIUS_KM``); it does not count when a clear view within
    ``FLOOD_WATER_DAYS`` after it is ``dry`` (shows no open water: flood water stays days).
    """
    out = np.zeros(len(day), bool)
    if rain_days is None or not len(rain_days) or not len(day):
        return out
    prev = np.r_[np.datetime64("1900-01-01"), day[:-1]]
    for r in np.unique(rain_days):
        if not (dry & (day > r) & (day <= r + _days(FLOOD_WATER_DAYS))).any():
            out |= (prev < r) & (day >= r)
    return out


def _collapse_kind(
    v: dict[str, np.ndarray],
    i: int,
    rain_days: np.ndarray | None,
    comparable: np.ndarray,
    wet: np.ndarray,
    r0: float,
    as_of: np.datetime64,
    settled: bool,
) -> str | None:
    """``flood``, ``crop_failure`` or None (not yet a condition) for a collapse on view ``i``.

    Without a storm between the previous clear view and view ``i`` it is hail's
    (``crop_failure``). With one, the likelihood ratio of the two signatures
    (:func:`agririsk.monitoring.signatures.flood_log_ratio`, the canopy shares on the
    ``comparable`` views and the open water seen from view ``i`` on) names it on view
    ``i`` when it is at least ``DECISIVE_RATIO`` either way; otherwise on the next clear
    view, by which signature the two views fit better (the issue's delay: the first clear
    view after the event plus one), or, without one, ``SHALLOW_WAIT_DAYS`` after view
    ``i``. The name uses no view after the one it is given on, so later runs give the same.
    A collapse named ``crop_failure`` waits until ``settled`` (the canopy stopped falling).
    ``comparable`` (valid), ``wet``, ``r0`` (``f`` on the previous comparable view) and
    ``settled`` as in :func:`_parcel_conditions`; the kernel
    (:func:`agririsk.monitoring._kernel.decide_parcels`) calls this for its ``NAMED``
    collapses.
    """
    day = v["day"]
    after = day[i - 1] if i > 0 else day[i] - _days(GAP_MAX_DAYS)
    storms = np.zeros(0, "datetime64[D]") if rain_days is None else rain_days
    f = np.where(comparable, v["f"], np.nan)
    water = water_state(v["ndwi"], v["ref_ndwi"], wet)

    def ratio(n: int) -> float:
        return flood_log_ratio(
            day[i : n + 1], f[i : n + 1], water[i : n + 1], after, day[i], storms, r0
        )

    named: str | None = None
    if not ((storms > after) & (storms <= day[i])).any():
        named = "crop_failure"
    elif abs(first := ratio(i)) >= np.log(DECISIVE_RATIO):
        named = "flood" if first > 0 else "crop_failure"
    elif i + 1 < len(day):
        named = "flood" if ratio(i + 1) > 0 else "crop_failure"
    elif as_of > day[i] + _days(SHALLOW_WAIT_DAYS):
        named = "flood" if first > 0 else "crop_failure"
    if named == "crop_failure" and not settled:
        return None
    return named


def _flooded_young(
    day: np.ndarray, f: np.ndarray, ref: np.ndarray, valid: np.ndarray, flooded: np.ndarray
) -> np.ndarray:
    """Views that show a flood seen while the peers were not yet green.

    ``flooded``: views under open water above the peers' after a storm. A flood on a young
    field (or a paddy at transplanting) shows water while the peers' canopy is not yet
    comparable (green amplitude < ``MIN_AMPLITUDE`` or ``ref < 0.55``), and leaves the
    field at 15 % of its own canopy, regrowing to 45 % over the next 40 days
    (docs/sample-region.md §3): on the first comparable view where the peers are green
    (``ref >= 0.55``), at most ``GAP_MAX_DAYS`` after the water, it is below half of them
    (``f < 0.5``). That first green view is flagged; a field sown late has no water, and
    one that caught up with its peers is not below half of them.
    """
    out = np.zeros(len(day), bool)
    green_peers = valid & (ref >= 0.55)
    for k in np.flatnonzero(flooded & ~green_peers):
        later = np.flatnonzero(green_peers[k + 1 :]) + k + 1
        if len(later):
            j = int(later[0])
            out[j] |= bool(day[j] - day[k] <= _days(GAP_MAX_DAYS)) and bool(f[j] < 0.5)
    return out


def _ts(day: np.datetime64) -> pd.Timestamp:
    return pd.Timestamp(day)


def _parcel_conditions(
    pid: str,
    v: dict[str, np.ndarray],
    rain_days: np.ndarray | None,
    flowering: np.datetime64,
    late: np.datetime64,
    as_of: np.datetime64,
) -> list[Condition]:
    day, nd, f, ref = v["day"], v["ndvi"], v["f"], v["ref"]
    comparable = v["valid"]
    # after the calendar's ripening starts a drop is a normal harvest: not comparable. A
    # field sown earlier than its peers ripens earlier: shift by its green-up lead.
    late = late - _days(_green_up_lead(v, flowering))
    valid = comparable & (day < late)
    green = (nd >= 0.45) | (valid & (f >= 0.6))
    # open water where the peers have none (a paddy's water is its peers' too)
    ndwi, ref_ndwi = v["ndwi"], v["ref_ndwi"]
    wet = (ndwi - ref_ndwi > 0.15) & (ndwi > -0.15)
    stormed = _storm_before(day, rain_days, ~np.isnan(ndwi) & ~np.isnan(ref_ndwi) & ~wet)
    # drowned: under open water after a storm while the peers green up (ref >= 0.55), below
    # 30 % of them and not growing since the previous clear view (a field sown or
    # transplanted late grows): young paddies and fields flooded before they were green
    prev_nd = np.r_[np.inf, nd[:-1]]
    drowned = valid & wet & stormed & (ref >= 0.55) & (f < 0.3) & (nd <= prev_nd + 0.05)
    # flooded young: under open water after a storm before the peers are green, below half
    # of them on the first view where they are (docs/monitoring.md, "Floods before green-up")
    young = _flooded_young(day, f, ref, valid, wet & stormed)
    drowned |= young
    # no emergence: peers clearly green (on two views >= 10 days apart, or once 10 days
    # after the calendar flowering), the parcel never was (nor was it drowned before)
    peers_green = comparable & (ref >= 0.55)
    pg_days = day[peers_green]
    confirm = (
        ((pg_days - pg_days[0]) >= _days(10)) | (pg_days >= flowering + _days(10))
        if len(pg_days)
        else pg_days.astype(bool)
    )
    i_ne = int(np.flatnonzero(peers_green)[np.argmax(confirm)]) if confirm.any() else -1
    if i_ne >= 0 and np.nanmax(nd) < EMERGED_NDVI and not drowned[: i_ne + 1].any():
        return [_imagery_condition(pid, v, "no_emergence", i_ne, i_ne)]
    # canopy collapse after the field was seen green: abrupt (f falls by >= 0.35 since the
    # previous comparable view) or deep (f < 0.3); a gradual slide is vegetation_decline
    seen_green = np.maximum.accumulate(green)
    # a collapse needs a field seen green before, or seen growing with its peers during
    # green-up: clouds from green-up to the event must not hide a flood or an early harvest
    grown = np.maximum.accumulate(green | _on_track(v, flowering))
    prev_green = np.r_[False, grown[:-1]]
    k_prev = _previous_index(valid)
    has_prev = k_prev >= 0
    f_prev = np.where(has_prev, f[np.maximum(k_prev, 0)], np.nan)
    # peers at their plateau: green amplitude within PEER_SENESCENCE of its season maximum
    amp = ref - SOIL_NDVI
    plateau = amp >= PEER_SENESCENCE * np.maximum.accumulate(np.where(valid, amp, 0.0))
    # abrupt: f down by >= 0.35 since the previous comparable view, that view at most
    # ABRUPT_MAX_GAP_DAYS before, and the field's own NDVI down by as much (a fall of the
    # field, not a rise of its peers' reference, whose clear subset changes with clouds)
    prev_day = np.where(has_prev, day[np.maximum(k_prev, 0)], day)
    own_fall = np.where(has_prev, nd[np.maximum(k_prev, 0)] - nd, 0.0)
    abrupt = (
        (f_prev - f >= 0.35)
        & has_prev
        & (day - prev_day <= _days(ABRUPT_MAX_GAP_DAYS))
        & (own_fall >= 0.35 * amp)
    )
    # 50-60 % (hail two weeks on) only counts from flowering, while the peers are at their
    # plateau: during green-up a later sowing lags, during ripening an earlier one leads
    band = (f >= 0.5) & (f < COLLAPSE_F) & abrupt & plateau & (day >= flowering)
    # a field that emerged but was never seen green: deep below its peers at their plateau
    # from 10 days after the calendar flowering (``flowering`` here is 10 days before it;
    # a field sown 10 days late is at its own flowering then), or down to stubble
    emerged = np.maximum.accumulate(nd >= EMERGED_NDVI)
    stunted = emerged & (((day >= flowering + _days(20)) & plateau) | (nd <= STUBBLE_NDVI))
    # seen late (clouds for weeks): a field level with its peers is then below half of them
    # at their plateau, its own NDVI down as much; hail has regrown above 60 % 20 days on,
    # a flood stays below ~45 % (docs/monitoring.md, "Collapses seen late")
    gap = day - prev_day
    seen_late = (
        has_prev
        & (gap > _days(ABRUPT_MAX_GAP_DAYS))
        & (gap <= _days(GAP_MAX_DAYS))
        & (f_prev >= LEVEL_F)
        & (f < 0.5)
        & (own_fall >= 0.35 * amp)
        & plateau
    )
    # seen late after a storm: the previous clear view showed the field level with its peers
    # (valid, f >= LEVEL_F) or growing with them at green-up, and it is now below a flood's
    # ceiling at their plateau from the calendar flowering on: its own NDVI need not fall
    # (a flood at green-up cuts a canopy that would have doubled), the storm and the depth
    # say it (docs/monitoring.md, "Floods seen only weeks later")
    j_prev = np.arange(len(day)) - 1
    level_before = np.r_[False, (valid & (f >= LEVEL_F)) | _on_track(v, flowering)][:-1]
    clear_gap = day - day[np.maximum(j_prev, 0)]
    seen_late |= (
        (j_prev >= 0)
        & level_before
        & (clear_gap > _days(ABRUPT_MAX_GAP_DAYS))
        & (clear_gap <= _days(GAP_MAX_DAYS))
        & stormed
        & valid
        & plateau
        & (day >= flowering + _days(10))
        & (f < FLOOD_CEILING_F)
    )
    # from the start of ripening a drop is a harvest, unless the field is under water: a
    # green field (f >= 0.6 on the previous comparable view, at most ABRUPT_MAX_GAP_DAYS
    # before) below 30 % of its ripening peers with open water is flooded
    kc = _previous_index(comparable)
    kc0 = np.maximum(kc, 0)
    ripe_flood = (
        comparable
        & (day >= late)
        & wet
        & (f < 0.3)
        & (kc >= 0)
        & (f[kc0] >= 0.6)
        & (day - day[kc0] <= _days(ABRUPT_MAX_GAP_DAYS))
        & (nd[kc0] - nd >= 0.35 * amp)
    )
    # regrowing after a fall (hail seen only after it, clouds before): a field seen green or
    # growing with its peers is below half of them at their plateau, and its own NDVI rises
    # by REGROWTH_AMP of their amplitude by the next view at their plateau (at most
    # ABRUPT_MAX_GAP_DAYS later): hail regrows from 30 % to 70 % over 25 days; drought, a
    # poor stand or early senescence do not regrow. Also before the calendar flowering
    # (docs/monitoring.md, "Regrowing before flowering"): a field sown late is not on track
    # at green-up, and one on track only gains on its peers while they green up
    kn = _next_index(valid & plateau)
    kn0 = np.maximum(kn, 0)
    regrowing = (
        valid
        & plateau
        & prev_green
        & (f < 0.5)
        & (kn >= 0)
        & (day[kn0] - day <= _days(ABRUPT_MAX_GAP_DAYS))
        & (nd[kn0] - nd >= REGROWTH_AMP * amp)
    )
    # below 60 % of the peers (hail seen 12-20 days on, or below half of them on a field
    # not seen green before), seen green or not, the field emerged: its share of the peers
    # rises by BAND_REGROWTH_F, no faster than hail regrows (docs/monitoring.md, "Hail seen
    # 12-20 days on" and "Hail below half of its peers, regrowing at hail's rate")
    rise = f[kn0] - f
    next_gap = (day[kn0] - day).astype(np.int64)
    regrowing |= (
        valid
        & plateau
        & (day >= flowering)
        & emerged
        & (f < COLLAPSE_F)
        & (kn >= 0)
        & (day[kn0] - day <= _days(ABRUPT_MAX_GAP_DAYS))
        & (rise >= BAND_REGROWTH_F)
        & (rise <= HAIL_REGROWTH_RATE * next_gap + REGROWTH_NOISE_F)
        & (nd[kn0] - nd >= REGROWTH_NOISE_F * amp)
    )
    collapse = (
        (
            valid
            & (
                (prev_green & (((f < 0.5) & ((f < 0.3) | abrupt | seen_late)) | band))
                | ((f < 0.3) & stunted)
            )
        )
        | ripe_flood
        | drowned
        | regrowing
    )
    if collapse.any():
        i = int(np.argmax(collapse))
        d = day[i]
        water = bool(wet[i])
        rained = bool(stormed[i])
        after = np.flatnonzero(valid[i:]) + i
        regrew = bool((f[after[1:]] >= 0.6).any())
        # stubble within 30 days of the collapse, while the peers are green (before the
        # start of ripening, or at their plateau), confirms an early harvest; stubble once
        # they ripen is the (damaged) field's harvest with them
        soon = (day >= d) & (day <= d + _days(30)) & ((day < late) | plateau)
        low = bool((nd[soon] <= STUBBLE_NDVI).any())
        # or stubble reached by a dry-down: the field's NDVI fell by DRYING_NDVI on every
        # clear view from the collapse to it, at most GAP_MAX_DAYS on, the peers' canopy
        # comparable (also once they ripen): hail and flood stop falling at 30 % and 15 % of
        # the canopy and regrow before their harvest (docs/monitoring.md, "Early harvests
        # seen weeks later")
        on = np.flatnonzero(day > d)
        falling = np.minimum.accumulate(nd[on] <= nd[on - 1] - DRYING_NDVI)
        cut = on[falling & (day[on] <= d + _days(GAP_MAX_DAYS)) & comparable[on]]
        low = low or bool((nd[cut] <= STUBBLE_NDVI).any())
        stubble = low and not regrew
        # a drop without water or storm (or on a field never seen green) is named at the
        # next clear view (at most SHALLOW_WAIT_DAYS on): harvest dry-down or damage? the
        # next view tells (stubble, or a canopy that stays low or regrows)
        confirmed = bool((day > d).any()) or as_of > d + _days(SHALLOW_WAIT_DAYS)
        # a crop failure also waits while the canopy is still falling: the dry-down to a
        # harvest goes on, hail's canopy stops at 30 % and regrows (a flood named by the
        # storm does not wait: its canopy follows its own senescence after the peak); named
        # at the latest at a view more than SHALLOW_WAIT_DAYS after the drop (only a new
        # view changes this, as :func:`changed_parcels` assumes)
        later = np.flatnonzero(day > d)
        settled = (
            bool((nd[later] > nd[later - 1] - DRYING_NDVI).any())
            or bool((day[later] > d + _days(SHALLOW_WAIT_DAYS)).any())
            or (not len(later) and as_of > d + _days(SHALLOW_WAIT_DAYS))
        )
        if water or young[i]:
            kind = "flood"
        elif stubble:
            kind = "early_harvest"
        elif (
            rained
            and ((f[i] < 0.3 and (prev_green[i] or confirmed)) or (seen_late[i] and confirmed))
            or settled
        ):
            # deep after a storm, or seen late after one: hail or flood is told by the
            # field's trajectory against the two signatures (docs/monitoring.md, "Naming a
            # collapse"); without a storm, or shallow and settled, it is hail's
            named = _collapse_kind(v, i, rain_days, valid, wet, f_prev[i], as_of, settled)
            if named is None:
                return []
            kind = named
        else:
            return []
        # latest comparable observation on which recovery can be judged: once the peers
        # senesce (green amplitude below PEER_SENESCENCE of its season maximum), a damaged
        # canopy and ripening peers converge and ``f`` rises without any regrowth
        judged = after[plateau[after]]
        j = int(judged[-1]) if len(judged) else i
        if kind == "early_harvest" or f[j] < RECOVERED_F:
            return [_imagery_condition(pid, v, kind, i, j, water, bool(rained), stubble)]
        return []
    # persistent moderate under-performance (from flowering - 10 d: green-up timing differs)
    idx = np.flatnonzero(valid & (day >= flowering))
    if len(idx) >= 2 and f[idx[-1]] < 0.65 and f[idx[-2]] < 0.65 and seen_green[idx[-1]]:
        return [_imagery_condition(pid, v, "vegetation_decline", int(idx[-2]), int(idx[-1]))]
    return []


def _imagery_condition(
    pid: str,
    v: dict[str, np.ndarray],
    kind: str,
    i: int,
    j: int,
    water: bool = False,
    rained: bool = False,
    stubble: bool = False,
) -> Condition:
    """The condition :func:`_parcel_conditions` (or the kernel) found, with its evidence.

    ``i``: the view it starts on (no_emergence: the view that confirmed it), ``j``: the
    view its severity is judged on (vegetation_decline: the last of its two views);
    ``water``, ``rained``, ``stubble``: what named a collapse.
    """
    day, nd, f, ref = v["day"], v["ndvi"], v["f"], v["ref"]
    onset, last_day = _ts(day[i]), _ts(day[-1])
    ev: dict[str, object]
    if kind == "no_emergence":
        sev = "high"
        ev = dict(
            expected_ndvi=ref[i],
            observed_ndvi=nd[i],
            date=onset,
            season_max_ndvi=float(np.nanmax(nd)),
        )
    elif kind == "vegetation_decline":
        sev = "medium" if f[j] < 0.5 else "low"
        ev = dict(
            date=onset,
            expected_ndvi=ref[j],
            observed_ndvi=nd[j],
            canopy_fraction=f[j],
            latest_date=_ts(day[j]),
        )
    else:
        high = kind == "early_harvest" or f[j] < 0.35
        sev = "high" if high else ("medium" if f[j] < 0.6 else "low")
        ev = dict(
            date=onset,
            expected_ndvi=ref[i],
            observed_ndvi=nd[i],
            canopy_fraction=f[i],
            previous_clear=_ts(day[i - 1]),
            open_water=water,
            heavy_rain=rained,
            stubble=stubble,
            latest_date=_ts(day[j]),
            latest_expected_ndvi=ref[j],
            latest_observed_ndvi=nd[j],
            latest_canopy_fraction=f[j],
        )
    return _cond(pid, kind, sev, onset, last_day, **ev, last_clear=last_day)


@dataclass(frozen=True)
class DataGap:
    """A parcel without a clear view for ``days`` days up to the run's as-of date."""

    parcel_id: str
    last_clear: dt.date | None
    days: int


def data_gaps(
    series: pd.DataFrame,
    parcel_ids: pd.Index,
    season: Season,
    as_of: dt.date,
    *,
    min_days: int = DATA_GAP_DAYS,
) -> list[DataGap]:
    """Parcels whose latest clear observation is more than ``min_days`` before ``as_of``.

    Counted from the season start when the parcel has no clear view in the season yet;
    reported in the run summary, not as alerts (no data is not an anomaly).
    """
    return data_gaps_obs(
        clear_observations(series, season, as_of), parcel_ids, season, as_of, min_days=min_days
    )


def data_gaps_obs(
    obs: pd.DataFrame,
    parcel_ids: pd.Index | pd.Series,
    season: Season,
    as_of: dt.date,
    *,
    min_days: int = DATA_GAP_DAYS,
) -> list[DataGap]:
    """:func:`data_gaps` from the output of :func:`clear_observations`."""
    last = (
        obs.groupby("parcel_id", sort=False)["date"].max()
        if not obs.empty
        else pd.Series(dtype="datetime64[ns]")
    )
    end = pd.Timestamp(min(as_of, season.end))
    pids = pd.Index(parcel_ids.astype(str))
    seen = pd.to_datetime(last.reindex(pids)).to_numpy("datetime64[D]")
    since = np.where(np.isnat(seen), np.datetime64(season.start, "D"), seen)
    days = np.asarray(np.datetime64(end.date(), "D") - since).astype(np.int64)
    out = []
    for k in np.flatnonzero(days > min_days):
        d = seen[k]
        last_day = None if np.isnat(d) else pd.Timestamp(d).date()
        out.append(DataGap(str(pids[k]), last_day, int(days[k])))
    return out


def crop_mismatch_conditions(
    predicted: pd.DataFrame | None, crops: pd.Series, as_of: dt.date
) -> list[Condition]:
    """Hook for the crop-identification issue: ``crop_mismatch`` conditions.

    Parameters
    ----------
    predicted : ``parcel_id, crop, probability, date`` from a crop classifier, or None
        (no classifier yet: no conditions).
    crops : declared crop by parcel.

    Returns
    -------
    list of Condition: one ``crop_mismatch`` per parcel whose predicted crop (probability
    >= 0.8) differs from the declared one; severity medium.
    """
    if predicted is None or predicted.empty:
        return []
    out = []
    for r in predicted.itertuples(index=False):
        declared = str(crops.get(r.parcel_id, "other"))
        if r.probability >= 0.8 and r.crop != declared:
            day = pd.Timestamp(r.date)
            out.append(
                _cond(
                    str(r.parcel_id),
                    "crop_mismatch",
                    "medium",
                    day,
                    day,
                    expected_crop=declared,
                    observed_crop=r.crop,
                    probability=float(r.probability),
                )
            )
    return out
