"""Farmers, their loans and whether they default: the credit half of the sample region.

Default is caused, not labelled: revenue on the TRUE area against the loan, the
farmer's credit history and skill, and the mitigants (insurance, cooperative,
irrigation) set a logit probability; the outcome is one Bernoulli draw from it.

Two oracle probabilities are written to the truth (neither changes a draw):

- ``oracle_pd``: the probability the outcome was drawn from. It contains the season's
  realised weather and field events (through the revenue shortfall), so it is a ceiling
  no pre-loan score can reach.
- ``oracle_pd_preseason``: the best probability anyone could state at season start,
  knowing every hidden trait but not the season's weather and events
  (:func:`preseason_pd` over :func:`climate_shortfall_draws`: the same farms and crops
  re-simulated under 12 fresh weather years). This is the yardstick of a pre-loan score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agririsk.sample import _seasons, _weather

logger = logging.getLogger(__name__)

# Logit coefficients of the default mechanism (docs/sample-region.md, section 7).
COEF = {
    "shortfall": 4.0,  # per unit of revenue shortfall (1 - revenue / expected)
    "log_burden": 1.6,  # per log unit of loan / expected revenue on the true area
    "prior_defaults": 0.9,  # per past default
    "low_skill": 0.7,  # per sd of skill below average
    "insured": -0.6,
    "cooperative_member": -0.4,
    "irrigated": -0.4,
}
TARGET_DEFAULT_RATE = 0.10
#: fresh weather replicates of the pre-season oracle: each re-draws the generator's four
#: season types (the planted scenarios of 2023-2026) with new daily weather and events
CLIMATE_REPLICATES = 3

_SURNAMES = (
    "Wang Li Zhang Liu Chen Yang Zhao Huang Zhou Wu Xu Sun Hu Zhu Gao Lin He Guo Ma Luo "
    "Liang Song Zheng Xie Han Tang Feng Yu Dong Xiao Cheng Cao Yuan Deng Fu Shen Zeng Peng Lü Su"
).split()
_GIVEN = (
    "Wei Fang Na Min Jing Li Qiang Lei Jun Yang Yong Yan Jie Tao Ming Chao Xiuying Guiying "
    "Jianhua Jianguo Guoqiang Hong Ping Gang Hui Xiuzhen Lihua Dan Bo Shuai Haiyan Chunmei "
    "Fenglan Zhiqiang Guilan Yulan Defu Baoshan Changsheng Shulan Xiumei Yuzhen Fengying"
).split()


@dataclass
class Farmers:
    """Farmer attributes (one row per farmer) and the parcel -> farmer map."""

    table: pd.DataFrame
    parcel_farmer: np.ndarray


def group_farmers(rng: np.random.Generator, n_parcels: int) -> np.ndarray:
    """Farmer index of each parcel: consecutive runs of 1-5 parcels (so often adjacent)."""
    sizes = []
    total = 0
    while total < n_parcels:
        k = int(rng.choice([1, 2, 3, 4, 5], p=[0.28, 0.27, 0.2, 0.15, 0.1]))
        k = min(k, n_parcels - total)
        sizes.append(k)
        total += k
    return np.repeat(np.arange(len(sizes)), sizes)


def _national_id(rng: np.random.Generator, birth_year: int) -> str:
    """A FAKE 18-character ID in the GB 11643 layout; area code 99 exists nowhere."""
    body = f"99{rng.integers(0, 10000):04d}{birth_year:04d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}{rng.integers(0, 1000):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def make_farmers(rng: np.random.Generator, n_parcels: int, parcel_rice: np.ndarray) -> Farmers:
    """Draw farmers and their (fake) personal data and latent traits.

    Parameters
    ----------
    n_parcels : number of parcels.
    parcel_rice : parcel grows paddy rice (drives the ``irrigated`` flag).
    """
    pf = group_farmers(rng, n_parcels)
    n = int(pf.max()) + 1 if n_parcels else 0
    rice_share = np.bincount(pf, weights=parcel_rice.astype(float), minlength=n) / np.maximum(
        np.bincount(pf, minlength=n), 1
    )
    skill = rng.standard_normal(n)
    age = np.clip(np.round(rng.normal(49, 10, n)), 23, 75).astype(int)
    years = np.clip(np.round((age - 18) * rng.uniform(0.4, 1.0, n)), 1, None).astype(int)
    irrigated = np.where(rice_share > 0.5, rng.random(n) < 0.95, rng.random(n) < 0.12)
    insured = rng.random(n) < 0.45
    coop = rng.random(n) < 1 / (1 + np.exp(-(-0.6 + 0.5 * skill)))
    new_to_bank = rng.random(n) < 0.25
    over = rng.random(n) < 0.08
    names = [f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}" for _ in range(n)]
    ids = [_national_id(rng, 2026 - int(a)) for a in age]
    phones = [f"100-{rng.integers(0, 10000):04d}-{rng.integers(0, 10000):04d}" for _ in range(n)]
    width = max(5, len(str(n)))
    table = pd.DataFrame(
        {
            "farmer_id": [f"F{i:0{width}d}" for i in range(n)],
            "name": names,
            "national_id": ids,
            "phone": phones,
            "age": age,
            "years_farming": years,
            "household_size": rng.integers(2, 8, n),
            "irrigated": irrigated,
            "insured": insured,
            "cooperative_member": coop,
            "skill": skill,
            "new_to_bank": new_to_bank,
            "over_declared": over,
            "loan_term_months": rng.choice([8, 10, 12], n, p=[0.3, 0.3, 0.4]),
        }
    )
    return Farmers(table=table, parcel_farmer=pf)


def default_logit(
    a: float,
    shortfall: np.ndarray,
    burden: np.ndarray,
    prior_defaults: np.ndarray,
    skill: np.ndarray,
    insured: np.ndarray,
    coop: np.ndarray,
    irrigated: np.ndarray,
) -> np.ndarray:
    """Log-odds of default.

    Notes
    -----
    z = a + b1 shortfall + b2 log(burden) + b3 prior_defaults + b4 max(0, -skill)
        - c1 insured - c2 cooperative_member - c3 irrigated   (coefficients in ``COEF``)
    """
    c = COEF
    return (
        a
        + c["shortfall"] * shortfall
        + c["log_burden"] * np.log(np.maximum(burden, 1e-3))
        + c["prior_defaults"] * prior_defaults
        + c["low_skill"] * np.maximum(0.0, -skill)
        + c["insured"] * insured
        + c["cooperative_member"] * coop
        + c["irrigated"] * irrigated
    )


def climate_shortfall_draws(
    rng: np.random.Generator,
    *,
    fields: pd.DataFrame,
    crops_by_season: dict[int, np.ndarray],
    crops: pd.DataFrame,
    stations: pd.DataFrame,
    skill: np.ndarray,
    irrigated: np.ndarray,
    extent_m: float,
    parcel_farmer: np.ndarray,
    true_area: np.ndarray,
    n_farmers: int,
    replicates: int = CLIMATE_REPLICATES,
) -> dict[int, np.ndarray]:
    """Each farm's revenue shortfall under many climate years, for each season's crops.

    Parameters
    ----------
    rng : a stream of its own (the draws must not disturb any other component).
    fields : the parcels' field rows (``x_m, y_m, station_id, soil_quality, taw_mm,
        dist_water_m``), one per parcel in parcel order.
    crops_by_season : true crop of each parcel per season.
    crops : crops.csv table.
    stations : station table.
    skill, irrigated : the parcel's farmer's skill and irrigation.
    extent_m : side of the region (hail storm rate).
    parcel_farmer, true_area : farmer index and true area (ha) of each parcel.
    n_farmers : number of farmers.
    replicates : fresh weather series; each holds one year of every season type.

    Returns
    -------
    season -> (replicates x season types, n_farmers) shortfalls
    ``clip(1 - revenue / expected revenue, 0, 1)``.

    Notes
    -----
    The generator's weather of a year is its WGEN climate plus that year's planted scenario
    (``_weather.SCENARIOS``: a heat wave, a summer drought, a wet summer, a dry spring with
    heat). Before a season nobody knows which kind of season is coming, nor its daily
    weather and field events. So each replicate re-simulates the weather of all season
    types with new random numbers, and the same yield model as the realised seasons
    (``_seasons.simulate_seasons``: water balance, heat, skill and soil potential, field
    events) is run on the season's true crops under each of them: the draws carry
    everything known before a season (the farm's fields, soil, skill, irrigation, flood
    exposure, crop, the kinds of season the climate brings, each equally likely) and
    nothing of how the season turned out.
    """
    types = sorted(_weather.SCENARIOS)
    f = fields.reset_index(drop=True)
    cp_by_season = {s: np.asarray(c, dtype=object) for s, c in crops_by_season.items()}
    ry: dict[int, list[np.ndarray]] = {s: [] for s in cp_by_season}
    for _ in range(replicates):
        daily = _weather.simulate_weather(rng, stations, f"{types[0]}-01-01", f"{types[-1]}-12-31")
        for season, crop_names in cp_by_season.items():
            sim = _seasons.simulate_seasons(
                rng, f, dict.fromkeys(types, crop_names), crops, daily, stations, skill, irrigated,
                extent_m,
            )
            ry[season].append(sim["relative_yield"].to_numpy(float).reshape(len(types), len(f)))
    out = {}
    for season, crop_names in cp_by_season.items():
        cp = crops.loc[crop_names]
        value = true_area * cp["yield_t_ha"].to_numpy() * cp["price_per_t"].to_numpy()
        expected = np.bincount(parcel_farmer, weights=value, minlength=n_farmers)
        revenue = np.stack(
            [
                np.bincount(parcel_farmer, weights=value * r, minlength=n_farmers)
                for r in np.concatenate(ry[season])
            ]
        )
        out[season] = np.clip(1 - revenue / np.maximum(expected, 1.0), 0, 1)
    return out


def preseason_pd(
    a: float,
    shortfall_draws: np.ndarray,
    burden: np.ndarray,
    prior_defaults: np.ndarray,
    skill: np.ndarray,
    insured: np.ndarray,
    coop: np.ndarray,
    irrigated: np.ndarray,
) -> np.ndarray:
    """Pre-season oracle probability of default: E[sigmoid(z)] over the season's shortfall.

    Parameters
    ----------
    a : the calibrated intercept of :func:`default_logit`.
    shortfall_draws : (k, n) draws of each farm's revenue shortfall under the region's
        climate (NaN where a draw is missing), from :func:`climate_shortfall_draws`.
    burden, prior_defaults, skill, insured, coop, irrigated : as in :func:`default_logit`,
        all known before the season starts.

    Returns
    -------
    (n,) probabilities.

    Notes
    -----
    At season start everything in ``z`` is known except the shortfall, which the season's
    weather and field events decide. The oracle averages the default probability over
    draws of the farm's shortfall:

        p_pre = (1/k) sum_j sigmoid(z_known + b_shortfall * shortfall_j)

    a Monte Carlo estimate of E[sigmoid(z) | everything known at season start] (k = 12
    weather years by default; its Monte Carlo error is small next to the Bernoulli noise of
    the outcomes).
    """
    known = default_logit(
        a, np.zeros_like(burden), burden, prior_defaults, skill, insured, coop, irrigated
    )
    p = 1 / (1 + np.exp(-(known[None, :] + COEF["shortfall"] * shortfall_draws)))
    p = np.where(np.isfinite(shortfall_draws), p, np.nan)
    counts = np.isfinite(p).sum(axis=0)
    fallback = 1 / (1 + np.exp(-known))  # no draw at all: no shortfall expected
    return np.where(counts > 0, np.nansum(p, axis=0) / np.maximum(counts, 1), fallback)


def simulate_loans(
    rng: np.random.Generator,
    farmers: pd.DataFrame,
    farm_seasons: pd.DataFrame,
    past_years: list[int],
    current_year: int,
    shortfall_draws: dict[int, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, float]:
    """Loans of every season with their oracle probability and outcome.

    Parameters
    ----------
    farmers : farmer table of :func:`make_farmers`.
    farm_seasons : per farmer (index position) and season: ``season, farmer, cost_declared,
        expected_revenue, revenue`` (revenue on the true area, currency units).
    past_years, current_year : seasons; in each past season a farmer not new to the bank
        borrows with probability 0.8 (about 60 % of all farmers), in the current one all apply.
    shortfall_draws : per season, (k, n farmers) shortfalls under climate draws
        (:func:`climate_shortfall_draws`) for ``oracle_pd_preseason``; without them the
        farm's shortfalls in the other seasons serve as (fewer, cruder) draws.

    Returns
    -------
    (loans table, calibrated intercept ``a``). The intercept is set by bisection so the
    portfolio default rate (all loans, all seasons) is ``TARGET_DEFAULT_RATE``; the
    uniforms of the Bernoulli draws are fixed first (common random numbers), so the
    realised rate is monotone in ``a`` and the result deterministic. Each loan carries
    ``oracle_pd`` (the probability its outcome was drawn from) and
    ``oracle_pd_preseason`` (:func:`preseason_pd`, computed after the draws; it consumes
    no random numbers of ``rng``).
    """
    n = len(farmers)
    years = [*past_years, current_year]
    borrow = {}
    for y in past_years:
        borrow[y] = (~farmers["new_to_bank"].to_numpy()) & (rng.random(n) < 0.8)
    borrow[current_year] = np.ones(n, dtype=bool)
    markup = {y: rng.uniform(0.6, 1.4, n) for y in years}
    u = {y: rng.random(n) for y in years}
    fs = {
        y: farm_seasons[farm_seasons["season"] == y].set_index("farmer").reindex(range(n))
        for y in years
    }
    loan = {y: np.round(fs[y]["cost_declared"].to_numpy() * markup[y], -2) for y in years}
    skill = farmers["skill"].to_numpy()
    ins = farmers["insured"].to_numpy(float)
    coop = farmers["cooperative_member"].to_numpy(float)
    irr = farmers["irrigated"].to_numpy(float)

    def run(a: float) -> tuple[float, dict]:
        prior = np.zeros(n)
        rows = {}
        d_all = []
        for y in years:
            f = fs[y]
            exp_rev = f["expected_revenue"].to_numpy()
            rev = f["revenue"].to_numpy()
            shortfall = np.clip(1 - rev / np.maximum(exp_rev, 1.0), 0, 1)
            burden = loan[y] / np.maximum(exp_rev, 1.0)
            z = default_logit(a, shortfall, burden, prior, skill, ins, coop, irr)
            p = 1 / (1 + np.exp(-z))
            d = (u[y] < p) & borrow[y]
            rows[y] = (exp_rev, rev, shortfall, burden, p, d, prior.copy())
            d_all.append(d[borrow[y]])
            prior = prior + d
        return float(np.concatenate(d_all).mean()), rows

    lo, hi = -12.0, 6.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if run(mid)[0] < TARGET_DEFAULT_RATE:
            lo = mid
        else:
            hi = mid
    a = (lo + hi) / 2
    _, rows = run(a)
    all_shortfalls = {y: rows[y][2] for y in years}
    out = []
    for y in years:
        exp_rev, rev, shortfall, burden, p, d, prior = rows[y]
        if shortfall_draws is not None:
            draws = shortfall_draws[y]
        else:
            others = [all_shortfalls[o] for o in years if o != y]
            draws = np.stack(others) if others else np.full((1, n), np.nan)
        p_pre = preseason_pd(a, draws, burden, prior, skill, ins, coop, irr)
        b = borrow[y]
        out.append(
            pd.DataFrame(
                {
                    "farmer_id": farmers["farmer_id"].to_numpy()[b],
                    "loan_id": [f"L{y}-{i:05d}" for i in np.flatnonzero(b)],
                    "season": y,
                    "loan_amount": loan[y][b],
                    "expected_revenue": np.round(exp_rev[b], 0),
                    "revenue": np.round(rev[b], 0),
                    "shortfall": np.round(shortfall[b], 4),
                    "burden": np.round(burden[b], 4),
                    "prior_defaults": prior[b].astype(int),
                    "oracle_pd": np.round(p[b], 5),
                    "oracle_pd_preseason": np.round(p_pre[b], 5),
                    "defaulted": d[b].astype(int),
                }
            )
        )
    loans = pd.concat(out, ignore_index=True)
    logger.info(
        "Default intercept a = %.3f; realised default rate %.3f", a, loans["defaulted"].mean()
    )
    return loans, a
