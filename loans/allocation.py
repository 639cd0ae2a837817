"""Repayment allocation, prepayment and payoff: pure Decimal calculations, no Django import.

A loan's balances are a function of its contract schedule, the penalties and fees charged to
its installments and its valid repayments applied in date order. `replay` computes them from
scratch, so reversing a repayment and replaying gives exactly the balances of a history that
never had it (DESIGN.md, Repayments).

Rules:
- A payment on date d goes to the installments due on or before d, oldest first, then to the
  current period's installment (the first one due after d); within an installment the
  components follow the product's order (default penalty → fee → interest → principal).
- What is left after that is a prepayment: it reduces the principal of the later installments,
  without a fee, and re-amortises them by the product's rule (reduce the installment, or keep it
  and shorten the term).
- A payment equal to the payoff amount settles the loan: interest stops at d (the current
  period's interest pro rata by day, later periods' interest waived). A payment above the payoff
  amount is refused.
- Bullet loans (one repayment, daily interest) accrue interest by day on the outstanding
  principal; a payment on d owes interest accrued to d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from loans import schedules

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
COMPONENTS = ("penalty", "fee", "interest", "principal")
DEFAULT_ORDER = ("penalty", "fee", "interest", "principal")
REDUCE_INSTALLMENT, SHORTEN_TERM = "reduce_installment", "shorten_term"


class AllocationError(ValueError):
    """A payment that cannot be applied (overpayment, nothing owed, bad amount)."""

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message, self.extra = message, extra


def _fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass
class Slot:
    """One installment's amounts due and paid."""

    number: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal = ZERO
    penalty_due: Decimal = ZERO
    principal_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO
    fee_paid: Decimal = ZERO
    penalty_paid: Decimal = ZERO

    def due(self, component: str) -> Decimal:
        return getattr(self, f"{component}_due")

    def paid(self, component: str) -> Decimal:
        return getattr(self, f"{component}_paid")

    def outstanding(self, component: str) -> Decimal:
        return self.due(component) - self.paid(component)

    @property
    def total_outstanding(self) -> Decimal:
        return sum((self.outstanding(c) for c in COMPONENTS), ZERO)

    @property
    def is_paid(self) -> bool:
        return self.total_outstanding == 0


@dataclass(frozen=True)
class Terms:
    principal: Decimal
    annual_rate: Decimal
    method: str
    start_date: date
    day_count: int = 360
    order: tuple[str, ...] = DEFAULT_ORDER
    prepayment_rule: str = REDUCE_INSTALLMENT

    @property
    def is_bullet(self) -> bool:
        return self.method == schedules.BULLET


@dataclass(frozen=True)
class Payment:
    key: object  # the caller's id for the payment
    amount: Decimal
    paid_on: date


@dataclass(frozen=True)
class Allocation:
    key: object
    number: int
    component: str
    amount: Decimal


@dataclass(frozen=True)
class Applied:
    key: object
    kind: str  # "regular", "prepayment" or "settlement"
    prepaid_principal: Decimal


@dataclass(frozen=True)
class Payoff:
    on: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    penalty: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fee + self.penalty


@dataclass
class State:
    terms: Terms
    slots: list[Slot]
    # Bullet loans only: interest accrued (paid or not) up to `accrued_to`.
    accrued_interest: Decimal = ZERO
    accrued_to: date | None = None
    allocations: list[Allocation] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)

    @property
    def principal_outstanding(self) -> Decimal:
        return sum((s.outstanding("principal") for s in self.slots), ZERO)

    @property
    def is_settled(self) -> bool:
        return all(s.is_paid for s in self.slots)


def new_state(terms: Terms, slots: list[Slot]) -> State:
    """A state from the contract schedule (copied, nothing paid)."""
    state = State(terms=terms, slots=[replace(s) for s in slots])
    if terms.is_bullet:
        state.accrued_to = terms.start_date
    return state


# ---------------------------------------------------------------------------------------------
# Bullet interest
# ---------------------------------------------------------------------------------------------


def _bullet_accrue(state: State, on: date) -> None:
    """Accrue daily interest on the outstanding principal up to `on` (never past maturity)."""
    slot = state.slots[0]
    until = min(on, slot.due_date)
    if until > state.accrued_to:
        days = (until - state.accrued_to).days
        with localcontext() as ctx:
            ctx.prec = 40
            state.accrued_interest += _fen(
                slot.outstanding("principal") * state.terms.annual_rate * days / state.terms.day_count
            )
        state.accrued_to = until


def _bullet_project(state: State) -> None:
    """Interest due at maturity: accrued so far plus the outstanding principal's interest to maturity."""
    slot = state.slots[0]
    days = (slot.due_date - state.accrued_to).days
    with localcontext() as ctx:
        ctx.prec = 40
        future = _fen(slot.outstanding("principal") * state.terms.annual_rate * days / state.terms.day_count)
    slot.interest_due = state.accrued_interest + future


# ---------------------------------------------------------------------------------------------
# Payoff
# ---------------------------------------------------------------------------------------------


def _targets(state: State, on: date) -> tuple[list[Slot], Slot | None, list[Slot]]:
    """Installments due by `on`, the current period's installment, and the later ones."""
    due = [s for s in state.slots if s.due_date <= on]
    later = [s for s in state.slots if s.due_date > on]
    current = later[0] if later else None
    return due, current, later[1:]


def _current_accrued_interest(state: State, current: Slot, on: date) -> Decimal:
    """Interest of the current period accrued by day up to `on` (never more than the installment's)."""
    index = state.slots.index(current)
    period_start = state.slots[index - 1].due_date if index > 0 else state.terms.start_date
    opening_balance = sum((s.principal_due for s in state.slots[index:]), ZERO)
    days = max((on - period_start).days, 0)
    with localcontext() as ctx:
        ctx.prec = 40
        accrued = _fen(opening_balance * state.terms.annual_rate * days / state.terms.day_count)
    return max(min(accrued, current.interest_due), current.interest_paid)


def payoff(state: State, on: date) -> Payoff:
    """What settles the loan on `on`: all principal, interest accrued to `on`, fees and penalties."""
    if state.terms.is_bullet:
        probe = State(state.terms, [replace(s) for s in state.slots], state.accrued_interest, state.accrued_to)
        _bullet_accrue(probe, on)
        slot = probe.slots[0]
        return Payoff(
            on,
            slot.outstanding("principal"),
            probe.accrued_interest - slot.interest_paid,
            slot.outstanding("fee"),
            slot.outstanding("penalty"),
        )
    due, current, later = _targets(state, on)
    interest = sum((s.outstanding("interest") for s in due), ZERO)
    if current is not None:
        interest += _current_accrued_interest(state, current, on) - current.interest_paid
    return Payoff(
        on,
        principal=state.principal_outstanding,
        interest=interest,
        fee=sum((s.outstanding("fee") for s in state.slots), ZERO),
        penalty=sum((s.outstanding("penalty") for s in state.slots), ZERO),
    )


# ---------------------------------------------------------------------------------------------
# Applying payments
# ---------------------------------------------------------------------------------------------


def _pay(state: State, key, slot: Slot, component: str, available: Decimal) -> Decimal:
    amount = min(available, slot.outstanding(component))
    if amount > 0:
        setattr(slot, f"{component}_paid", slot.paid(component) + amount)
        state.allocations.append(Allocation(key, slot.number, component, amount))
    return available - amount


def apply_payment(state: State, payment: Payment) -> Applied:
    """Apply one payment; raises AllocationError for a non-positive amount or an overpayment."""
    amount, on = payment.amount, payment.paid_on
    if amount <= 0 or amount != _fen(amount):
        raise AllocationError("A repayment must be a positive amount in whole fen.", field="amount")
    if state.is_settled:
        raise AllocationError("Nothing is owed on this loan.", field="amount")
    quote = payoff(state, on)
    if amount > quote.total:
        raise AllocationError(
            f"The repayment of {amount} is more than the {quote.total} that settles the loan on {on}.",
            field="amount",
            payoff=str(quote.total),
        )
    if state.terms.is_bullet:
        _bullet_accrue(state, on)
        slot = state.slots[0]
        slot.interest_due = state.accrued_interest  # owed so far; the rest is projected below
        remaining = amount
        for component in state.terms.order:
            remaining = _pay(state, payment.key, slot, component, remaining)
        kind = "settlement" if slot.is_paid else "regular"
        if kind != "settlement":
            _bullet_project(state)
        applied = Applied(payment.key, kind, ZERO)
        state.applied.append(applied)
        return applied

    due, current, later = _targets(state, on)
    if amount == quote.total:
        return _settle(state, payment, due, current, later)
    remaining = amount
    for slot in due + ([current] if current else []):
        for component in state.terms.order:
            remaining = _pay(state, payment.key, slot, component, remaining)
    prepaid = ZERO
    if remaining > 0:
        # Everything due and the current installment are paid: the rest is a prepayment.
        prepaid = remaining
        _prepay(state, payment.key, current, later, remaining)
    applied = Applied(payment.key, "prepayment" if prepaid else "regular", prepaid)
    state.applied.append(applied)
    return applied


def _settle(state: State, payment: Payment, due: list[Slot], current: Slot | None, later: list[Slot]) -> Applied:
    if current is not None:
        current.interest_due = _current_accrued_interest(state, current, payment.paid_on)
    for slot in later:
        slot.interest_due = slot.interest_paid  # interest of periods not yet begun is not owed
    remaining = payment.amount
    for slot in due + ([current] if current else []) + later:
        for component in state.terms.order:
            remaining = _pay(state, payment.key, slot, component, remaining)
    assert remaining == 0 and state.is_settled, "payoff and settlement disagree"
    applied = Applied(payment.key, "settlement", ZERO)
    state.applied.append(applied)
    return applied


def _prepay(state: State, key, current: Slot, later: list[Slot], amount: Decimal) -> None:
    """Reduce the later installments' principal by `amount` and re-amortise them.

    The prepaid principal is booked, due and paid, on the current installment, so principal
    parts still sum to the loan amount and every allocation names an installment.
    """
    balance = sum((s.principal_due for s in later), ZERO) - amount
    if balance <= 0:  # unreachable: such a payment is at least the payoff amount
        raise AllocationError("The prepayment is more than the principal outstanding.", field="amount")
    current.principal_due += amount
    current.principal_paid += amount
    state.allocations.append(Allocation(key, current.number, "principal", amount))
    rows = _reamortise(state.terms, later, balance)
    for slot, (principal, interest) in zip(later, rows):
        slot.principal_due, slot.interest_due = principal, interest
    for slot in later[len(rows) :]:  # a shorter term drops the last installments
        state.slots.remove(slot)


def _reamortise(terms: Terms, later: list[Slot], balance: Decimal) -> list[tuple[Decimal, Decimal]]:
    """(principal, interest) of each later installment once a prepayment leaves `balance`.

    reduce_installment keeps the number of installments; shorten_term keeps the installment
    (equal installment: the same total; equal principal: the same principal part) and drops
    installments from the end. Interest-first loans always keep their term.
    """
    monthly = terms.annual_rate / 12
    n = len(later)
    if terms.prepayment_rule == SHORTEN_TERM and terms.method == schedules.EQUAL_INSTALLMENT:
        payment = later[0].principal_due + later[0].interest_due
        rows, owed = [], balance
        for k in range(n):
            interest = _fen(owed * monthly)
            principal = owed if k == n - 1 else min(payment - interest, owed)
            rows.append((principal, interest))
            owed -= principal
            if owed == 0:
                break
        return rows
    if terms.prepayment_rule == SHORTEN_TERM and terms.method == schedules.EQUAL_PRINCIPAL:
        part = later[0].principal_due
        count = min(max(math.ceil(balance / part), 1), n)
        rows, owed = [], balance
        for k in range(count):
            principal = owed if k == count - 1 else part
            rows.append((principal, _fen(owed * monthly)))
            owed -= principal
        return rows
    built = schedules.build_schedule(balance, terms.annual_rate, n, terms.method, later[0].due_date)
    return [(r.principal, r.interest) for r in built]


def replay(terms: Terms, slots: list[Slot], payments: list[Payment]) -> State:
    """Balances after applying `payments` in (date, order given) order to the contract `slots`.

    `slots` carry the contract amounts and any penalties and fees charged; paid amounts are ignored.
    Raises AllocationError naming the payment that cannot be applied.
    """
    fresh = [Slot(s.number, s.due_date, s.principal_due, s.interest_due, s.fee_due, s.penalty_due) for s in slots]
    state = new_state(terms, fresh)
    for payment in sorted(payments, key=lambda p: p.paid_on):
        apply_payment(state, payment)
    return state
