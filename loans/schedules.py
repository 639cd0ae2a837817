"""Repayment schedules and APR: pure Decimal calculations, no Django import.

Rules (DESIGN.md, "Money and dates"): amounts in CNY to the fen, ROUND_HALF_UP; monthly methods
charge annual_rate / 12 per period; installment k falls due k months after the start date, on the
start day clamped to the month's end; each installment's interest is rounded on its own and the
last installment takes the rounding residue, so principal parts sum exactly to the principal.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

EQUAL_INSTALLMENT = "equal_installment"
EQUAL_PRINCIPAL = "equal_principal"
INTEREST_FIRST = "interest_first"
BULLET = "bullet"
METHODS = (EQUAL_INSTALLMENT, EQUAL_PRINCIPAL, INTEREST_FIRST, BULLET)

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
APR_QUANTUM = Decimal("0.000001")
_PRECISION = 40  # digits for intermediate results; far beyond what a fen needs


@dataclass(frozen=True)
class Installment:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    balance_after: Decimal  # principal still owed once this installment is paid

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


def _fen(value: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return value.quantize(FEN, rounding=rounding)


def add_months(start: date, months: int) -> date:
    """The start day `months` months later, clamped to that month's last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _check(principal: Decimal, annual_rate: Decimal, term_months: int, method: str, day_count: int) -> None:
    if not isinstance(principal, Decimal) or not isinstance(annual_rate, Decimal):
        raise TypeError("principal and annual_rate must be Decimal")
    if principal <= 0 or principal != _fen(principal):
        raise ValueError("principal must be positive and in whole fen")
    if annual_rate < 0:
        raise ValueError("annual_rate must not be negative")
    if not isinstance(term_months, int) or term_months < 1:
        raise ValueError("term_months must be a whole number of at least 1")
    if method not in METHODS:
        raise ValueError(f"unknown repayment method {method!r}; expected one of {', '.join(METHODS)}")
    if day_count not in (360, 365):
        raise ValueError("day_count must be 360 or 365")


def build_schedule(
    principal: Decimal,
    annual_rate: Decimal,
    term_months: int,
    method: str,
    start_date: date,
    *,
    day_count: int = 360,
) -> list[Installment]:
    """The installments in order; principal parts sum exactly to `principal`. Raises ValueError."""
    _check(principal, annual_rate, term_months, method, day_count)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if method == BULLET:
            due = add_months(start_date, term_months)
            days = (due - start_date).days
            interest = _fen(principal * annual_rate * days / day_count)
            return [Installment(1, due, principal, interest, ZERO)]
        monthly_rate = annual_rate / 12
        principals = _principal_parts(principal, monthly_rate, term_months, method)
        installments = []
        balance = principal
        for number, part in enumerate(principals, start=1):
            interest = _fen(balance * monthly_rate)
            balance -= part
            installments.append(Installment(number, add_months(start_date, number), part, interest, balance))
        return installments


def _principal_parts(principal: Decimal, monthly_rate: Decimal, n: int, method: str) -> list[Decimal]:
    if method == INTEREST_FIRST:
        return [ZERO] * (n - 1) + [principal]
    if method == EQUAL_PRINCIPAL:
        part = _fen(principal / n)
        if part * (n - 1) > principal:  # only for tiny loans over very long terms
            part = _fen(principal / n, ROUND_DOWN)
        return [part] * (n - 1) + [principal - part * (n - 1)]
    # Equal installment (annuity): a fixed total, rounded to the fen; each month's principal is
    # that total less the month's own rounded interest, and the last month takes the residue.
    if monthly_rate == 0:
        return _principal_parts(principal, monthly_rate, n, EQUAL_PRINCIPAL)
    factor = (1 + monthly_rate) ** n
    payment = _fen(principal * monthly_rate * factor / (factor - 1))
    parts, balance = [], principal
    for _ in range(n - 1):
        part = min(payment - _fen(balance * monthly_rate), balance)
        parts.append(part)
        balance -= part
    parts.append(balance)
    return parts


def upfront_fee(principal: Decimal, *, fee_percent: Decimal = ZERO, fee_fixed: Decimal = ZERO) -> Decimal:
    """Fee deducted at disbursement: a share of the principal plus a fixed amount, to the fen."""
    return _fen(principal * fee_percent + fee_fixed)


def apr(
    principal: Decimal,
    fee: Decimal,
    installments: list[Installment],
    start_date: date,
    *,
    method: str = EQUAL_INSTALLMENT,
    day_count: int = 360,
) -> Decimal:
    """Annualised IRR of the borrower's cash flows (net amount received, then every installment).

    Monthly methods: the monthly IRR times 12 (so a fee-free loan's APR equals its contract rate).
    Bullet (daily interest): the IRR over the loan's days, annualised by the day count.
    Raises ValueError when the fee leaves nothing to disburse.
    """
    net = principal - fee
    if net <= 0:
        raise ValueError("the upfront fee leaves nothing to disburse")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        if method == BULLET:
            days = (installments[0].due_date - start_date).days
            rate = (installments[0].total / net - 1) * day_count / days
            return rate.quantize(APR_QUANTUM, rounding=ROUND_HALF_UP)
        flows = [i.total for i in installments]
        return (_monthly_irr(net, flows) * 12).quantize(APR_QUANTUM, rounding=ROUND_HALF_UP)


def _monthly_irr(net: Decimal, flows: list[Decimal]) -> Decimal:
    """Solve sum(flow_k / (1+i)^k) = net for i by Newton's method, bisection as a fallback."""

    def value_and_slope(i: Decimal) -> tuple[Decimal, Decimal]:
        v = 1 / (1 + i)
        vk, value, slope = Decimal(1), Decimal(0), Decimal(0)
        for k, flow in enumerate(flows, start=1):
            vk *= v
            value += flow * vk
            slope -= k * flow * vk * v
        return value - net, slope

    tolerance = Decimal("1e-18")
    i = (sum(flows) / net - 1) / len(flows)  # simple-interest guess, close for usual loans
    for _ in range(60):
        value, slope = value_and_slope(i)
        if slope == 0:
            break
        step = value / slope
        i -= step
        if i <= -1:
            break
        if abs(step) < tolerance:
            return i
    low, high = Decimal("-0.99"), Decimal("10")
    for _ in range(200):
        mid = (low + high) / 2
        if value_and_slope(mid)[0] > 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2
