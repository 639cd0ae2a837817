"""Allocation, prepayment and payoff (pure, no database), in exact Decimals."""

from datetime import date
from decimal import Decimal

import pytest

from loans import schedules
from loans.allocation import AllocationError, Payment, Slot, Terms, apply_payment, new_state, payoff, replay
from loans.models import AllocationOrder

D = Decimal
START = date(2026, 1, 15)


def contract(principal="12000.00", rate="0.12", n=12, method="equal_installment", **terms):
    t = Terms(D(principal), D(rate), method, START, **terms)
    rows = schedules.build_schedule(t.principal, t.annual_rate, n, method, START, day_count=t.day_count)
    return t, [Slot(r.number, r.due_date, r.principal, r.interest) for r in rows]


def paid(slot):
    return (slot.penalty_paid, slot.fee_paid, slot.interest_paid, slot.principal_paid)


@pytest.mark.parametrize(
    "order, expected",
    [
        # installment 1: penalty 10.00, fee 5.00, interest 120.00, principal 946.19; pay 100.00
        (AllocationOrder.PENALTY_FEE_INTEREST_PRINCIPAL, (D("10.00"), D("5.00"), D("85.00"), D("0.00"))),
        (AllocationOrder.FEE_PENALTY_INTEREST_PRINCIPAL, (D("10.00"), D("5.00"), D("85.00"), D("0.00"))),
        (AllocationOrder.INTEREST_PRINCIPAL_PENALTY_FEE, (D("0.00"), D("0.00"), D("100.00"), D("0.00"))),
        (AllocationOrder.PRINCIPAL_INTEREST_PENALTY_FEE, (D("0.00"), D("0.00"), D("0.00"), D("100.00"))),
    ],
)
def test_partial_payment_follows_the_product_order(order, expected):
    terms, slots = contract(order=tuple(order.split(",")))
    slots[0].penalty_due, slots[0].fee_due = D("10.00"), D("5.00")
    state = replay(terms, slots, [Payment(1, D("100.00"), date(2026, 2, 20))])
    assert paid(state.slots[0]) == expected
    assert sum(a.amount for a in state.allocations) == D("100.00")


def test_fee_before_penalty_order_pays_the_fee_first():
    terms, slots = contract(order=("fee", "penalty", "interest", "principal"))
    slots[0].penalty_due, slots[0].fee_due = D("10.00"), D("5.00")
    state = replay(terms, slots, [Payment(1, D("7.00"), date(2026, 2, 20))])
    assert (state.slots[0].fee_paid, state.slots[0].penalty_paid) == (D("5.00"), D("2.00"))


def test_oldest_installment_is_paid_first():
    terms, slots = contract()
    # Two installments overdue on 20 March: 1,066.19 each.
    state = replay(terms, slots, [Payment(1, D("1500.00"), date(2026, 3, 20))])
    first, second = state.slots[0], state.slots[1]
    assert first.is_paid
    assert (second.interest_paid, second.principal_paid) == (D("110.54"), D("323.27"))
    assert second.total_outstanding == D("1066.19") - D("433.81")


def test_full_installment_payment_and_early_payment_of_the_current_installment():
    terms, slots = contract()
    state = replay(terms, slots, [Payment(1, D("1066.19"), date(2026, 2, 10))])  # before its due date
    assert state.slots[0].is_paid and state.applied[0].kind == "regular"
    assert state.principal_outstanding == D("12000.00") - D("946.19")


def test_prepayment_reduces_the_installment_and_keeps_the_term():
    terms, slots = contract(prepayment_rule="reduce_installment")
    state = replay(
        terms, slots, [Payment(1, D("1066.19"), date(2026, 2, 15)), Payment(2, D("5000.00"), date(2026, 3, 10))]
    )
    assert len(state.slots) == 12
    assert state.applied[1].kind == "prepayment" and state.applied[1].prepaid_principal == D("3933.81")
    later = state.slots[2:]
    assert [s.principal_due + s.interest_due for s in later[:-1]] == [D("650.84")] * 9
    assert sum(s.principal_due for s in state.slots) == D("12000.00")
    assert state.principal_outstanding == D("6164.35")


def test_prepayment_shortens_the_term_and_keeps_the_installment():
    terms, slots = contract(prepayment_rule="shorten_term")
    state = replay(
        terms, slots, [Payment(1, D("1066.19"), date(2026, 2, 15)), Payment(2, D("5000.00"), date(2026, 3, 10))]
    )
    assert len(state.slots) == 8
    assert [s.principal_due + s.interest_due for s in state.slots[2:-1]] == [D("1066.19")] * 5
    assert state.slots[-1].principal_due + state.slots[-1].interest_due == D("1050.54")
    assert sum(s.principal_due for s in state.slots) == D("12000.00")


def test_equal_principal_prepayment_shortens_by_whole_parts():
    terms, slots = contract(method="equal_principal", prepayment_rule="shorten_term")
    state = replay(terms, slots, [Payment(1, D("3120.00"), date(2026, 2, 10))])
    # Installment 1 (1,000.00 + 120.00), then 2,000.00 prepaid: 9,000.00 left in parts of 1,000.00.
    assert len(state.slots) == 10
    assert [s.principal_due for s in state.slots[1:]] == [D("1000.00")] * 9
    assert state.slots[0].principal_due == D("3000.00")


def test_payoff_quote_and_settlement_close_the_loan():
    terms, slots = contract()
    state = replay(terms, slots, [Payment(1, D("1066.19"), date(2026, 2, 15))])
    quote = payoff(state, date(2026, 3, 1))
    # Principal 11,053.81; interest 11,053.81 x 0.12 / 360 x 14 days = 51.58.
    assert (quote.principal, quote.interest, quote.fee, quote.penalty) == (D("11053.81"), D("51.58"), D("0"), D("0"))
    applied = apply_payment(state, Payment(2, quote.total, date(2026, 3, 1)))
    assert applied.kind == "settlement" and state.is_settled
    assert sum(s.interest_paid for s in state.slots) == D("120.00") + D("51.58")


def test_payoff_includes_overdue_interest_and_penalty():
    terms, slots = contract()
    slots[0].penalty_due = D("3.20")
    state = new_state(terms, slots)
    quote = payoff(state, date(2026, 3, 1))  # installment 1 overdue, 14 days into period 2
    assert quote.penalty == D("3.20")
    assert quote.interest == D("120.00") + D("51.58")
    assert quote.total == D("12000.00") + D("171.58") + D("3.20")


def test_overpayment_is_refused_with_the_payoff_amount():
    terms, slots = contract()
    state = new_state(terms, slots)
    # 26 days of interest on 12,000.00: 104.00
    with pytest.raises(AllocationError, match="more than the 12104.00 that settles") as excinfo:
        apply_payment(state, Payment(1, D("12104.01"), date(2026, 2, 10)))
    assert excinfo.value.extra["payoff"] == "12104.00"
    assert state.allocations == [] and state.slots[0].interest_paid == 0


@pytest.mark.parametrize("amount", [D("0"), D("-5.00"), D("1.005")])
def test_non_positive_or_sub_fen_amounts_are_refused(amount):
    terms, slots = contract()
    with pytest.raises(AllocationError):
        apply_payment(new_state(terms, slots), Payment(1, amount, date(2026, 2, 10)))


def test_bullet_accrues_interest_by_day_and_can_be_prepaid_any_day():
    terms, slots = contract(principal="10000.00", rate="0.18", n=3, method="bullet")
    state = new_state(terms, slots)
    assert payoff(state, date(2026, 2, 14)).interest == D("150.00")  # 30 days at 0.05%
    apply_payment(state, Payment(1, D("5000.00"), date(2026, 2, 14)))
    assert (state.slots[0].interest_paid, state.slots[0].principal_paid) == (D("150.00"), D("4850.00"))
    quote = payoff(state, date(2026, 3, 1))  # 15 more days on 5,150.00
    assert (quote.principal, quote.interest) == (D("5150.00"), D("38.63"))
    apply_payment(state, Payment(2, quote.total, date(2026, 3, 1)))
    assert state.is_settled and state.slots[0].interest_paid == D("188.63")


def test_replay_applies_payments_in_date_order_whatever_the_order_given():
    terms, slots = contract()
    a = replay(terms, slots, [Payment(1, D("500.00"), date(2026, 3, 20)), Payment(2, D("700.00"), date(2026, 2, 20))])
    b = replay(terms, slots, [Payment(2, D("700.00"), date(2026, 2, 20)), Payment(1, D("500.00"), date(2026, 3, 20))])
    assert [paid(s) for s in a.slots] == [paid(s) for s in b.slots]
