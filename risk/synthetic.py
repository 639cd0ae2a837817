"""A synthetic loan portfolio with documented, realistic links between features and default.

Deterministic for a seed (numpy's PCG64). Each row is a raw application dict in the shape
`risk.features` reads, plus `defaulted` (1 = went 90+ days past due within 12 months).

How default depends on the applicant (the log-odds of default, before noise):
- debt-to-income: +2.4 per 1.0 of (monthly debts + the new payment) / income, above 0.4;
- past worst days past due with us: +0.025 per day (90 days ≈ ×9.5 the odds);
- recent applications: +0.35 each (credit hunger); open loans: +0.15 each;
- income: −0.45 per doubling of income relative to the borrower group's median;
- employment: −0.06 per year in the current job (at most 15 counted);
- amount against annual income: +0.8 per 1.0 above 0.5;
- age: +0.35 under 25;
- students: undergraduate +0.30, doctorate −0.30, key university −0.50;
- small businesses: −0.07 per year in business (at most 15), and −0.9 × (bank inflow ×12 /
  revenue − 0.8): declared revenue that the bank flows do not back is a warning sign.
The base rate gives about 10% defaults over the whole portfolio.
"""

from __future__ import annotations

import math

import numpy as np

KINDS = ("individual", "student", "small_business")
PRODUCT_FOR_KIND = {"individual": ("consumer_installment", "revolving"), "student": ("student",),
                    "small_business": ("small_business",)}  # fmt: skip


def _payment(amount: float, months: int, annual_rate: float = 0.12) -> float:
    r = annual_rate / 12
    return amount * r / (1 - (1 + r) ** -months)


def generate(n: int, *, seed: int = 2026) -> list[dict]:
    """`n` raw applications with a `defaulted` outcome; the same seed gives the same rows."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    rows = []
    kinds = rng.choice(len(KINDS), size=n, p=(0.6, 0.2, 0.2))
    for i in range(n):
        kind = KINDS[kinds[i]]
        row: dict[str, object] = {"borrower_kind": kind}
        if kind == "student":
            age = int(rng.integers(18, 31))
            income = float(np.round(rng.lognormal(math.log(2000), 0.45), 2))
            median = 2000.0
            employment = "student"
            years = 0
            degree = str(rng.choice(("undergraduate", "master", "doctorate"), p=(0.65, 0.27, 0.08)))
            key_university = float(rng.random() < 0.3)
            amount = float(min(max(round(income * rng.lognormal(math.log(3), 0.5) / 100) * 100, 500), 30000))
            term = int(rng.choice((6, 12, 18, 24)))
            row.update(degree_level=degree, is_key_university=key_university)
        elif kind == "small_business":
            age = int(rng.integers(25, 61))
            income = float(np.round(rng.lognormal(math.log(20000), 0.6), 2))
            median = 20000.0
            employment = "business_owner"
            years = int(min(rng.exponential(6), 30))
            revenue = float(np.round(rng.lognormal(math.log(3_000_000), 0.8), 2))
            backing = float(rng.uniform(0.45, 1.15))
            inflow = round(revenue / 12 * backing, 2)
            business_years = int(rng.integers(1, 21))
            amount = float(min(max(round(revenue * rng.uniform(0.01, 0.06) / 1000) * 1000, 10_000), 500_000))
            term = int(rng.choice((6, 12, 24, 36)))
            row.update(business_years=business_years, annual_revenue=revenue, monthly_bank_inflow=inflow)
        else:
            age = int(rng.integers(22, 61))
            income = float(np.round(rng.lognormal(math.log(9000), 0.55), 2))
            median = 9000.0
            employment = str(
                rng.choice(("employed", "self_employed", "retired", "unemployed"), p=(0.75, 0.17, 0.05, 0.03))
            )
            years = int(min(rng.exponential(5), 35))
            amount = float(min(max(round(income * rng.lognormal(math.log(3), 0.6) / 100) * 100, 1000), 200_000))
            term = int(rng.choice((6, 12, 24, 36), p=(0.15, 0.35, 0.3, 0.2)))
        obligations = float(np.round(income * rng.beta(1.5, 6), 2))
        worst = 0 if rng.random() < 0.75 else int(min(rng.geometric(1 / 20), 180))
        recent = int(rng.poisson(0.6 + (0.8 if worst > 30 else 0)))
        open_loans = int(rng.poisson(0.7))
        payment = _payment(amount, term)
        row.update(
            age=age, monthly_income=income, employment_years=years, employment_kind=employment,
            monthly_obligations=obligations, new_monthly_payment=round(payment, 2), worst_days_past_due=worst,
            open_loans=open_loans, recent_applications=recent, requested_amount=amount, term_months=term,
            product_kind=str(rng.choice(PRODUCT_FOR_KIND[kind])),
        )  # fmt: skip
        dti = (obligations + payment) / income
        logit = -3.4
        logit += 2.4 * max(dti - 0.4, 0)
        logit += 0.025 * worst + 0.35 * recent + 0.15 * open_loans
        logit += -0.45 * math.log2(income / median)
        logit += -0.06 * min(years, 15)
        logit += 0.8 * max(amount / (12 * income) - 0.5, 0)
        logit += 0.35 if age < 25 else 0
        if kind == "student":
            logit += {"undergraduate": 0.3, "master": 0.0, "doctorate": -0.3}[row["degree_level"]]
            logit += -0.5 * row["is_key_university"]
        if kind == "small_business":
            logit += -0.07 * min(row["business_years"], 15)
            logit += -0.9 * (row["monthly_bank_inflow"] * 12 / row["annual_revenue"] - 0.8)
        if employment == "unemployed":
            logit += 0.8
        row["defaulted"] = int(rng.random() < 1 / (1 + math.exp(-logit)))
        rows.append(row)
    return rows
