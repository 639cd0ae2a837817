"""The schedule engine: pure Decimal, no database (hypothesis invariants and hand-checked figures)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loans.schedules import METHODS, add_months, apr, build_schedule, upfront_fee

D = Decimal
principals = st.decimals(min_value="50", max_value="500000", places=2)
rates = st.decimals(min_value="0.01", max_value="0.36", places=6)
terms = st.integers(min_value=1, max_value=60)
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
methods = st.sampled_from(METHODS)


@given(p=principals, r=rates, n=terms, method=methods, start=starts)
def test_principal_parts_sum_exactly_to_the_principal(p, r, n, method, start):
    rows = build_schedule(p, r, n, method, start)
    assert sum(row.principal for row in rows) == p
    assert rows[-1].balance_after == D("0.00")


@given(p=principals, r=rates, n=terms, method=methods, start=starts)
def test_no_negative_amounts_and_every_amount_in_fen(p, r, n, method, start):
    for row in build_schedule(p, r, n, method, start):
        assert row.principal >= 0 and row.interest >= 0 and row.balance_after >= 0
        assert row.principal.as_tuple().exponent == -2 and row.interest.as_tuple().exponent == -2


@given(p=principals, r=rates, n=terms, method=methods, start=starts)
def test_due_dates_strictly_increase_one_month_apart(p, r, n, method, start):
    rows = build_schedule(p, r, n, method, start)
    dates = [start] + [row.due_date for row in rows]
    assert all(a < b for a, b in zip(dates, dates[1:]))
    expected_count = 1 if method == "bullet" else n
    assert len(rows) == expected_count
    assert rows[-1].due_date == add_months(start, n)


@given(p=principals, r=rates, n=st.integers(2, 60), start=starts)
def test_equal_installment_totals_are_equal_but_the_last(p, r, n, start):
    rows = build_schedule(p, r, n, "equal_installment", start)
    assert len({row.total for row in rows[:-1]}) == 1
    # The fixed total is rounded to the fen; that error compounds at the monthly rate until the end.
    m = r / 12
    assert abs(rows[-1].total - rows[0].total) <= D("0.01") * (((1 + m) ** n - 1) / m)


@given(p=principals, r=rates, n=st.integers(2, 60), start=starts)
def test_interest_first_repays_all_principal_last(p, r, n, start):
    rows = build_schedule(p, r, n, "interest_first", start)
    assert all(row.principal == 0 for row in rows[:-1]) and rows[-1].principal == p


@given(p=st.decimals(min_value="1000", max_value="500000", places=2), r=rates, n=st.integers(1, 60), start=starts)
def test_fee_free_monthly_apr_equals_the_contract_rate(p, r, n, start):
    # Equal up to the fen rounding of each installment's interest.
    rows = build_schedule(p, r, n, "equal_installment", start)
    assert abs(apr(p, D("0"), rows, start) - r) <= D("0.0005")


def test_equal_installment_matches_published_calculator():
    # 100,000 CNY at 12% over 12 months (等额本息): 8,884.88 a month, 6,618.53 total interest.
    rows = build_schedule(D("100000.00"), D("0.12"), 12, "equal_installment", date(2026, 1, 31))
    assert [row.total for row in rows[:-1]] == [D("8884.88")] * 11
    assert rows[0].interest == D("1000.00") and rows[0].principal == D("7884.88")
    assert sum(row.interest for row in rows) == D("6618.53")
    assert rows[-1].principal == D("8796.88") and rows[-1].interest == D("87.97")


def test_thirty_year_mortgage_figure():
    # 1,000,000 CNY at 4.9% over 30 years: the widely published 5,307.27 a month.
    rows = build_schedule(D("1000000.00"), D("0.049"), 360, "equal_installment", date(2026, 3, 15))
    assert rows[0].total == D("5307.27")
    assert rows[0].interest == D("4083.33")
    assert len(rows) == 360 and rows[-1].due_date == date(2056, 3, 15)


def test_equal_principal_matches_published_calculator():
    # 100,000 CNY at 12% over 12 months (等额本金): first payment 9,333.33, interest 6,500.00 in all.
    rows = build_schedule(D("100000.00"), D("0.12"), 12, "equal_principal", date(2026, 1, 31))
    assert rows[0].total == D("9333.33")
    assert [row.principal for row in rows[:-1]] == [D("8333.33")] * 11 and rows[-1].principal == D("8333.37")
    assert sum(row.interest for row in rows) == D("6500.00")


def test_bullet_accrues_daily_interest_on_the_day_count():
    # 10,000 CNY at 0.05% a day (18% / 360) from 15 Jan to 15 Feb: 31 days, 155.00 interest.
    rows = build_schedule(D("10000.00"), D("0.18"), 1, "bullet", date(2026, 1, 15))
    assert len(rows) == 1 and rows[0].due_date == date(2026, 2, 15)
    assert rows[0].interest == D("155.00")
    rows365 = build_schedule(D("10000.00"), D("0.1825"), 1, "bullet", date(2026, 1, 15), day_count=365)
    assert rows365[0].interest == D("155.00")


def test_due_dates_clamp_to_month_end():
    rows = build_schedule(D("3000.00"), D("0.12"), 4, "equal_principal", date(2028, 1, 31))
    assert [row.due_date for row in rows] == [
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
        date(2028, 5, 31),
    ]


def test_interest_of_each_installment_is_rounded_half_up_on_its_own():
    # 1,000.00 at 10% a year: 1000 * 0.10 / 12 = 8.3333.. -> 8.33; balance 500.00 -> 4.1666.. -> 4.17
    rows = build_schedule(D("1000.00"), D("0.10"), 2, "equal_principal", date(2026, 5, 10))
    assert [row.interest for row in rows] == [D("8.33"), D("4.17")]


def _float_irr(net: float, flows: list[float]) -> float:
    low, high = -0.5, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        value = sum(f / (1 + mid) ** (k + 1) for k, f in enumerate(flows)) - net
        low, high = (mid, high) if value > 0 else (low, mid)
    return (low + high) / 2


def test_apr_includes_the_upfront_fee():
    principal = D("100000.00")
    rows = build_schedule(principal, D("0.12"), 12, "equal_installment", date(2026, 1, 31))
    fee = upfront_fee(principal, fee_percent=D("0.01"))
    assert fee == D("1000.00")
    result = apr(principal, fee, rows, date(2026, 1, 31))
    independent = 12 * _float_irr(99000.0, [float(r.total) for r in rows])
    assert abs(float(result) - independent) < 1e-6
    assert D("0.1390") < result < D("0.1392")  # about 13.91% once the 1% fee is counted


def test_apr_of_a_bullet_loan_is_its_simple_daily_rate_annualised():
    rows = build_schedule(D("10000.00"), D("0.18"), 1, "bullet", date(2026, 1, 15))
    assert apr(D("10000.00"), D("0"), rows, date(2026, 1, 15), method="bullet") == D("0.180000")


@pytest.mark.parametrize(
    "args, message",
    [
        ((D("0"), D("0.1"), 12, "equal_installment"), "principal"),
        ((D("100.001"), D("0.1"), 12, "equal_installment"), "fen"),
        ((D("100"), D("-0.1"), 12, "equal_installment"), "annual_rate"),
        ((D("100"), D("0.1"), 0, "equal_installment"), "term_months"),
        ((D("100"), D("0.1"), 12, "balloon"), "unknown repayment method"),
    ],
)
def test_bad_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        build_schedule(*args, date(2026, 1, 1))


def test_floats_are_refused():
    with pytest.raises(TypeError):
        build_schedule(100.0, D("0.1"), 12, "equal_installment", date(2026, 1, 1))


def test_add_months_clamps_and_rolls_years():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 31), 13) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 8, 31), 6) - add_months(date(2026, 8, 31), 5) == timedelta(days=28)
