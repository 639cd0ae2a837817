"""Product rules: whether a product's configuration is lawful, and whether requested terms fit it."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError

from lender.errors import InvalidInput
from lender.money import format_cny
from loans import schedules


def _percent(rate: Decimal) -> str:
    return f"{rate * 100:.2f}%"


@dataclass(frozen=True)
class CostliestCombination:
    method: str
    term_months: int
    amount: Decimal
    apr: Decimal


def product_costliest_combination(product, *, start_date: date | None = None) -> CostliestCombination:
    """The allowed (method, term, amount) with the highest APR, fees included."""
    start_date = start_date or date(2026, 1, 31)
    terms = list(range(product.term_min_months, product.term_max_months + 1))
    if len(terms) > 60:  # APR falls with the term when a fee is charged; sample long ranges
        terms = sorted(set(terms[:24] + terms[::12] + [terms[-1]]))
    worst = None
    for method in product.allowed_methods:
        for term in terms:
            for amount in {product.amount_min, product.amount_max}:
                fee = product.fee_for(amount)
                if fee >= amount:
                    return CostliestCombination(method, term, amount, Decimal("999"))
                rows = schedules.build_schedule(
                    amount, product.annual_rate, term, method, start_date, day_count=product.day_count
                )
                rate = schedules.apr(amount, fee, rows, start_date, method=method, day_count=product.day_count)
                if worst is None or rate > worst.apr:
                    worst = CostliestCombination(method, term, amount, rate)
    return worst


def product_check_terms_config(product) -> None:
    """Raise ValidationError (per field) when a product's configuration is inconsistent or unlawful."""
    errors: dict[str, str] = {}
    if product.amount_min is not None and product.amount_min <= 0:
        errors["amount_min"] = "The minimum amount must be positive."
    if product.amount_min is not None and product.amount_max is not None and product.amount_min > product.amount_max:
        errors["amount_max"] = "The maximum amount must be at least the minimum amount."
    if product.term_min_months is not None and product.term_min_months < 1:
        errors["term_min_months"] = "The minimum term is at least one month."
    if (
        product.term_min_months is not None
        and product.term_max_months is not None
        and product.term_min_months > product.term_max_months
    ):
        errors["term_max_months"] = "The maximum term must be at least the minimum term."
    if product.annual_rate is not None and product.annual_rate <= 0:
        errors["annual_rate"] = "The rate must be positive."
    if product.penalty_rate is not None and product.penalty_rate <= 0:
        errors["penalty_rate"] = "The penalty rate must be positive (or blank for 1.5 × the contract rate)."
    if product.fee_value is not None and product.fee_value < 0:
        errors["fee_value"] = "The fee cannot be negative."
    if product.fee_kind == "percent" and product.fee_value is not None and product.fee_value >= 100:
        errors["fee_value"] = "A percentage fee must be below 100%."
    if not product.allowed_methods:
        errors["allowed_methods"] = "Allow at least one repayment method."
    else:
        unknown = set(product.allowed_methods) - set(schedules.METHODS)
        if unknown:
            errors["allowed_methods"] = f"Unknown repayment methods: {', '.join(sorted(unknown))}."
    if product.senior_approval_threshold is not None and product.senior_approval_threshold <= 0:
        errors["senior_approval_threshold"] = "The senior approval threshold must be positive (or blank)."
    if errors:
        raise ValidationError(errors)
    cap = settings.LEGAL_APR_CAP
    worst = product_costliest_combination(product)
    if worst.apr > cap:
        raise ValidationError(
            {
                "annual_rate": (
                    f"The costliest allowed combination ({worst.method}, {worst.term_months} months, "
                    f"{format_cny(worst.amount)}) has an APR of {_percent(worst.apr)}, above the legal cap of "
                    f"{_percent(cap)}. Lower the rate or the fee, or narrow the terms."
                )
            }
        )


def product_check_application(product, *, amount: Decimal, term_months: int, method: str) -> None:
    """Raise InvalidInput naming the field when requested terms do not fit the product."""
    if not product.is_active:
        raise InvalidInput(f"The product {product.name} is not offered at the moment.", field="product")
    if not isinstance(amount, Decimal) or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("The amount must be a number of yuan with at most two decimals.", field="amount")
    if not product.amount_min <= amount <= product.amount_max:
        raise InvalidInput(
            f"The amount must be between {format_cny(product.amount_min)} and {format_cny(product.amount_max)} "
            f"for {product.name}.",
            field="amount",
        )
    if not product.term_min_months <= term_months <= product.term_max_months:
        raise InvalidInput(
            f"The term must be between {product.term_min_months} and {product.term_max_months} months "
            f"for {product.name}.",
            field="term_months",
        )
    if method not in product.allowed_methods:
        allowed = ", ".join(product.allowed_methods)
        raise InvalidInput(f"{product.name} does not offer the method {method!r}; it offers {allowed}.", field="method")
