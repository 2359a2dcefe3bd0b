"""Farmers, their loans and whether they default: the credit half of the sample region.

Default is caused, not labelled: revenue on the TRUE area against the loan, the
farmer's credit history and skill, and the mitigants (insurance, cooperative,
irrigation) set a logit probability; the outcome is one Bernoulli draw from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def simulate_loans(
    rng: np.random.Generator,
    farmers: pd.DataFrame,
    farm_seasons: pd.DataFrame,
    past_years: list[int],
    current_year: int,
) -> tuple[pd.DataFrame, float]:
    """Loans of every season with their oracle probability and outcome.

    Parameters
    ----------
    farmers : farmer table of :func:`make_farmers`.
    farm_seasons : per farmer (index position) and season: ``season, farmer, cost_declared,
        expected_revenue, revenue`` (revenue on the true area, currency units).
    past_years, current_year : seasons; in each past season a farmer not new to the bank
        borrows with probability 0.8 (about 60 % of all farmers), in the current one all apply.

    Returns
    -------
    (loans table, calibrated intercept ``a``). The intercept is set by bisection so the
    portfolio default rate (all loans, all seasons) is ``TARGET_DEFAULT_RATE``; the
    uniforms of the Bernoulli draws are fixed first (common random numbers), so the
    realised rate is monotone in ``a`` and the result deterministic.
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
    out = []
    for y in years:
        exp_rev, rev, shortfall, burden, p, d, prior = rows[y]
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
                    "defaulted": d[b].astype(int),
                }
            )
        )
    loans = pd.concat(out, ignore_index=True)
    logger.info(
        "Default intercept a = %.3f; realised default rate %.3f", a, loans["defaulted"].mean()
    )
    return loans, a
