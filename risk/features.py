"""The one feature definition used for training and scoring (pure: no Django import).

An application is described by a flat dict of raw values (`RAW_FIELDS`); `feature_vector`
turns it into the model's input row in `FEATURES` order. The synthetic generator produces the
same raw dicts, and `risk.selectors.application_raw` builds them from the database, so training
and scoring cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = float("nan")


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "numeric" or "categorical"
    # +1: a higher value never lowers the predicted risk; -1: never raises it; 0: free.
    monotone: int = 0
    categories: tuple[str, ...] = ()
    required: bool = True  # scoring refuses a missing required value (refers the application)


FEATURES: tuple[Feature, ...] = (
    Feature("age", "numeric"),
    Feature("monthly_income", "numeric", monotone=-1),
    Feature("employment_years", "numeric", monotone=-1),
    Feature("monthly_obligations", "numeric"),
    Feature("debt_to_income", "numeric", monotone=+1),
    Feature("worst_days_past_due", "numeric", monotone=+1),  # more overdue history never lowers risk
    Feature("open_loans", "numeric", monotone=+1),
    Feature("recent_applications", "numeric", monotone=+1),
    Feature("requested_amount", "numeric"),
    Feature("term_months", "numeric"),
    Feature("amount_to_annual_income", "numeric", monotone=+1),
    Feature("is_key_university", "numeric", required=False),
    Feature("business_years", "numeric", required=False),
    Feature("annual_revenue", "numeric", required=False),
    Feature("monthly_bank_inflow", "numeric", required=False),
    Feature("borrower_kind", "categorical", categories=("individual", "student", "small_business")),
    Feature(
        "employment_kind",
        "categorical",
        categories=("employed", "self_employed", "business_owner", "student", "retired", "unemployed"),
    ),
    Feature("degree_level", "categorical", categories=("undergraduate", "master", "doctorate"), required=False),
    Feature(
        "product_kind", "categorical", categories=("consumer_installment", "revolving", "student", "small_business")
    ),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)

# What the database (or the generator) provides for one application.
RAW_FIELDS = (
    "age", "monthly_income", "employment_years", "monthly_obligations", "new_monthly_payment",
    "worst_days_past_due", "open_loans", "recent_applications", "requested_amount", "term_months",
    "is_key_university", "business_years", "annual_revenue", "monthly_bank_inflow",
    "borrower_kind", "employment_kind", "degree_level", "product_kind",
)  # fmt: skip


class FeatureError(ValueError):
    """A required raw value is missing; `field` names it."""

    def __init__(self, field: str):
        super().__init__(f"The application has no {field.replace('_', ' ')}; it cannot be scored.")
        self.field = field


def _number(value) -> float:
    if value is None or value == "":
        return NAN
    return float(value)


REQUIRED_RAW = (
    "age", "monthly_income", "employment_years", "monthly_obligations", "new_monthly_payment",
    "worst_days_past_due", "open_loans", "recent_applications", "requested_amount", "term_months",
    "borrower_kind", "employment_kind", "product_kind",
)  # fmt: skip
RATIO_CAP = 10.0  # a ratio over a zero income counts as very high, not as missing


def derived(raw: dict) -> dict:
    """The feature values (by name) of one application's raw values; raises FeatureError."""
    for name in REQUIRED_RAW:
        value = raw.get(name)
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            raise FeatureError(name)
    values: dict[str, object] = {}
    for name in ("age", "monthly_income", "employment_years", "monthly_obligations", "worst_days_past_due",
                 "open_loans", "recent_applications", "requested_amount", "term_months", "is_key_university",
                 "business_years", "annual_revenue", "monthly_bank_inflow"):  # fmt: skip
        values[name] = _number(raw.get(name))
    income = values["monthly_income"]
    burden = values["monthly_obligations"] + _number(raw["new_monthly_payment"])
    values["debt_to_income"] = min(burden / income, RATIO_CAP) if income > 0 else RATIO_CAP
    values["amount_to_annual_income"] = (
        min(values["requested_amount"] / (12 * income), RATIO_CAP) if income > 0 else RATIO_CAP
    )
    for name in ("borrower_kind", "employment_kind", "degree_level", "product_kind"):
        values[name] = raw.get(name) or None
    return values


def feature_vector(raw: dict, categories: dict[str, list[str]] | None = None) -> list[float]:
    """The model's input row: numbers in FEATURES order, categories as their index (NaN if unknown)."""
    values = derived(raw)
    row = []
    for feature in FEATURES:
        value = values[feature.name]
        if feature.kind == "categorical":
            known = (categories or {}).get(feature.name, list(feature.categories))
            row.append(float(known.index(value)) if value in known else NAN)
        else:
            row.append(value)
    return row


def monotone_constraints(overrides: dict[str, int] | None = None) -> tuple[int, ...]:
    overrides = overrides or {}
    return tuple(overrides.get(f.name, f.monotone) for f in FEATURES)


REASON_TEXT = {
    # feature: (English, Chinese) — read by officers and, on a decline letter, by borrowers
    "age": ("Age profile of the applicant", "申请人年龄因素"),
    "monthly_income": ("Monthly income is low for the request", "月收入相对申请金额偏低"),
    "employment_years": ("Short time in current employment", "当前工作年限较短"),
    "monthly_obligations": ("High existing monthly repayments", "现有月还款负担较高"),
    "debt_to_income": ("Debt payments are high relative to income", "负债收入比偏高"),
    "worst_days_past_due": ("Past late payments with us", "在本机构有逾期记录"),
    "open_loans": ("Number of loans currently open", "当前未结清贷款笔数较多"),
    "recent_applications": ("Many recent credit applications", "近期申请次数较多"),
    "requested_amount": ("Requested amount is large", "申请金额较大"),
    "term_months": ("Long requested term", "申请期限较长"),
    "amount_to_annual_income": ("Requested amount is high relative to income", "申请金额相对收入偏高"),
    "is_key_university": ("School tier", "院校层次因素"),
    "business_years": ("Business has a short operating history", "企业经营年限较短"),
    "annual_revenue": ("Business revenue is low", "企业营业收入偏低"),
    "monthly_bank_inflow": ("Low monthly bank inflows", "银行流水偏低"),
    "borrower_kind": ("Borrower type", "借款人类型"),
    "employment_kind": ("Type of employment", "就业类型"),
    "degree_level": ("Degree level", "学历层次"),
    "product_kind": ("Product applied for", "所申请产品"),
}
