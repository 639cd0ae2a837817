"""Money movement on real PostgreSQL: disbursement, repayments, reversal, settlement, credit lines."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lender.errors import AuthorityError, InvalidInput, StateError
from lender.models import AuditEvent
from loans import selectors, services
from loans.models import CreditLine, Disbursement, Installment, Loan, LoanStatus, Repayment, RepaymentAllocation
from tests.loans.conftest import DISBURSED_ON
from tests.loans.factories import BorrowerFactory, ProductFactory

D = Decimal
pytestmark = pytest.mark.django_db


def balances(loan):
    return list(
        Installment.objects.filter(loan=loan)
        .order_by("number")
        .values_list("number", "due_date", "principal_due", "interest_due", "principal_paid", "interest_paid")
    )


def pay(loan, amount, on, ref=None, by=None):
    return services.repayment_record(
        loan_id=loan.pk, amount=D(amount), paid_on=on, external_reference=ref or f"{loan.pk}-{amount}-{on}", by=by
    )


def test_disbursement_fixes_schedule_snapshot_and_net_amount(make_active_loan):
    loan = make_active_loan(product=ProductFactory(fee_kind="percent", fee_value=D("1.00")))
    record = Disbursement.objects.get(loan=loan)
    assert (record.gross_amount, record.fee_amount, record.net_amount) == (D("12000.00"), D("120.00"), D("11880.00"))
    assert len(record.contract_schedule) == 12 and record.contract_schedule[0]["principal"] == "946.19"
    assert record.apr == loan.apr and loan.apr > D("0.1390")
    assert Installment.objects.filter(loan=loan).count() == 12


def test_disbursing_twice_is_refused(make_active_loan, credit_manager):
    loan = make_active_loan()
    with pytest.raises(StateError, match="Cannot disburse"):
        services.loan_disburse(loan_id=loan.pk, by=credit_manager)
    assert Disbursement.objects.filter(loan=loan).count() == 1


def test_partial_full_and_prepayments_allocate_exactly(make_active_loan):
    loan = make_active_loan(prepayment_rule="shorten_term")
    repayment, created = pay(loan, "500.00", date(2026, 2, 15))
    assert created and (repayment.interest_amount, repayment.principal_amount) == (D("120.00"), D("380.00"))
    pay(loan, "566.19", date(2026, 2, 16))
    first = Installment.objects.get(loan=loan, number=1)
    assert first.is_paid
    repayment, _ = pay(loan, "5000.00", date(2026, 3, 10))
    assert repayment.kind == "prepayment" and repayment.prepaid_principal == D("3933.81")
    assert Installment.objects.filter(loan=loan).count() == 8
    assert sum(i.principal_due for i in Installment.objects.filter(loan=loan)) == D("12000.00")
    assert AuditEvent.objects.filter(action="repayment_recorded", target_id=loan.pk).count() == 3


def test_prepayment_reducing_the_installment(make_active_loan):
    loan = make_active_loan(prepayment_rule="reduce_installment")
    pay(loan, "1066.19", date(2026, 2, 15))
    pay(loan, "5000.00", date(2026, 3, 10))
    rows = Installment.objects.filter(loan=loan).order_by("number")
    assert rows.count() == 12
    assert {r.principal_due + r.interest_due for r in rows[2:11]} == {D("650.84")}


def test_payoff_quote_then_paying_it_closes_the_loan(make_active_loan):
    loan = make_active_loan()
    pay(loan, "1066.19", date(2026, 2, 15))
    quote = selectors.loan_payoff_quote(loan=loan, on=date(2026, 3, 1))
    assert (quote.principal, quote.interest, quote.total) == (D("11053.81"), D("51.58"), D("11105.39"))
    repayment, _ = pay(loan, str(quote.total), date(2026, 3, 1))
    loan.refresh_from_db()
    assert repayment.kind == "settlement" and loan.status == LoanStatus.CLOSED
    assert all(i.is_paid for i in Installment.objects.filter(loan=loan))


@pytest.mark.parametrize(
    "amount, on, field, message",
    [
        ("0.00", date(2026, 2, 15), "amount", "more than zero"),
        ("-10.00", date(2026, 2, 15), "amount", "more than zero"),
        ("1.001", date(2026, 2, 15), "amount", "whole fen"),
        ("20000.00", date(2026, 2, 15), "amount", "settles the loan"),
        ("100.00", date(2099, 1, 1), "paid_on", "future"),
        ("100.00", date(2025, 12, 31), "paid_on", "before the disbursement"),
    ],
)
def test_bad_repayments_are_refused_and_nothing_is_written(make_active_loan, amount, on, field, message):
    loan = make_active_loan()
    before = balances(loan)
    with pytest.raises(InvalidInput, match=message) as excinfo:
        pay(loan, amount, on)
    assert excinfo.value.extra["field"] == field
    assert balances(loan) == before and not Repayment.objects.exists() and not RepaymentAllocation.objects.exists()


def test_repayment_on_a_loan_that_is_not_active_is_a_conflict(db, credit_manager):
    product, borrower = ProductFactory(), BorrowerFactory()
    loan = services.loan_submit(
        borrower_id=borrower.pk,
        product_id=product.pk,
        amount=D("5000.00"),
        term_months=6,
        method="equal_installment",
        decide=False,
    )
    with pytest.raises(StateError, match="active or overdue"):
        services.repayment_record(
            loan_id=loan.pk, amount=D("100.00"), paid_on=date(2026, 2, 1), external_reference="x1"
        )
    assert not Repayment.objects.exists()


def test_float_amounts_are_refused(make_active_loan):
    loan = make_active_loan()
    with pytest.raises(InvalidInput):
        services.repayment_record(loan_id=loan.pk, amount=100.5, paid_on=date(2026, 2, 1), external_reference="f")


def test_same_reference_records_once_and_returns_the_first(make_active_loan):
    loan = make_active_loan()
    first, created = pay(loan, "300.00", date(2026, 2, 15), ref="BANK-1")
    again, created_again = pay(loan, "300.00", date(2026, 2, 15), ref="BANK-1")
    assert created and not created_again and again.pk == first.pk
    assert Repayment.objects.count() == 1 and Installment.objects.get(loan=loan, number=1).interest_paid == D("120.00")
    with pytest.raises(InvalidInput, match="already used for a different repayment"):
        pay(loan, "301.00", date(2026, 2, 15), ref="BANK-1")


def test_reversal_needs_permission_and_reason_and_cannot_repeat(make_active_loan, officer, credit_manager):
    loan = make_active_loan()
    repayment, _ = pay(loan, "300.00", date(2026, 2, 15))
    with pytest.raises(AuthorityError):
        services.repayment_reverse(repayment_id=repayment.pk, by=officer, reason="bounced")
    with pytest.raises(InvalidInput):
        services.repayment_reverse(repayment_id=repayment.pk, by=credit_manager, reason="")
    reversed_ = services.repayment_reverse(repayment_id=repayment.pk, by=credit_manager, reason="bounced")
    assert reversed_.status == "reversed" and reversed_.principal_amount == 0 and reversed_.interest_amount == 0
    assert Installment.objects.get(loan=loan, number=1).interest_paid == 0
    with pytest.raises(StateError, match="already reversed"):
        services.repayment_reverse(repayment_id=repayment.pk, by=credit_manager, reason="again")
    event = AuditEvent.objects.get(action="repayment_reversed")
    assert event.actor == credit_manager and "bounced" in event.message


def test_reversing_the_settling_payment_reopens_the_loan(make_active_loan, credit_manager):
    loan = make_active_loan()
    quote = selectors.loan_payoff_quote(loan=loan, on=date(2026, 2, 1))
    repayment, _ = pay(loan, str(quote.total), date(2026, 2, 1))
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED
    services.repayment_reverse(repayment_id=repayment.pk, by=credit_manager, reason="payment bounced")
    loan.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE and loan.closed_at is None
    assert sum(i.principal_due - i.principal_paid for i in Installment.objects.filter(loan=loan)) == D("12000.00")


payment_lists = st.lists(
    # At most 6 x 1,500.00 on a 12,000.00 loan: never an overpayment, so both histories accept every payment.
    st.tuples(st.integers(1, 300), st.decimals(min_value="50", max_value="1500", places=2)),
    min_size=2,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payments=payment_lists, data=st.data())
def test_reversal_equals_a_history_that_never_had_the_payment(make_active_loan, credit_manager, payments, data):
    rule = data.draw(st.sampled_from(["reduce_installment", "shorten_term"]))
    method = data.draw(st.sampled_from(["equal_installment", "equal_principal", "interest_first"]))
    product = ProductFactory(prepayment_rule=rule)
    with_it = make_active_loan(method=method, product=product)
    without = make_active_loan(method=method, product=product)
    skip = data.draw(st.integers(0, len(payments) - 1))
    recorded = []
    for index, (day, amount) in enumerate(payments):
        on = date.fromordinal(DISBURSED_ON.toordinal() + day)
        for loan in (with_it, without) if index != skip else (with_it,):
            r, _ = pay(loan, str(amount), on, ref=f"{loan.pk}-{index}")
            if index == skip:
                recorded.append(r)
    services.repayment_reverse(repayment_id=recorded[0].pk, by=credit_manager, reason="property")
    assert balances(with_it) == balances(without)
    assert sum(r.amount for r in with_it.repayments.filter(status="posted")) == sum(
        r.amount for r in without.repayments.all()
    )


def test_repayment_history_is_kept_with_the_acting_user(make_active_loan, credit_manager):
    loan = make_active_loan()
    repayment, _ = pay(loan, "300.00", date(2026, 2, 15), by=credit_manager)
    services.repayment_reverse(repayment_id=repayment.pk, by=credit_manager, reason="bounced")
    events = Repayment.pgh_event_model.objects.filter(pgh_obj=repayment).order_by("pgh_id")
    assert events.first().pgh_label == "insert"
    assert events.last().status == "reversed" and events.last().pgh_context.metadata["user"] == credit_manager.pk


# --- credit lines ------------------------------------------------------------------------------


@pytest.fixture
def line(db):
    product = ProductFactory(
        kind="revolving",
        amount_min=D("50.00"),
        amount_max=D("200000.00"),
        term_min_months=1,
        term_max_months=12,
        allowed_methods=["bullet", "equal_installment"],
        annual_rate=D("0.180000"),
    )
    return services.credit_line_open(borrower_id=BorrowerFactory().pk, product_id=product.pk, limit=D("10000.00"))


def test_draws_use_the_line_and_principal_repaid_restores_it(line):
    loan = services.credit_line_draw(
        credit_line_id=line.pk, amount=D("6000.00"), term_months=1, method="bullet", on=date(2026, 1, 15)
    )
    line.refresh_from_db()
    assert loan.status == LoanStatus.ACTIVE and loan.credit_line == line
    assert (line.used, line.available) == (D("6000.00"), D("4000.00"))
    repayment, _ = pay(loan, "3045.00", date(2026, 1, 25))  # 10 days: 30.00 interest (0.05% a day), then principal
    assert (repayment.interest_amount, repayment.principal_amount) == (D("30.00"), D("3015.00"))
    line.refresh_from_db()
    assert (line.used, line.available) == (D("2985.00"), D("7015.00"))
    monthly = services.credit_line_draw(
        credit_line_id=line.pk, amount=D("7015.00"), term_months=6, method="equal_installment", on=date(2026, 1, 25)
    )
    assert monthly.installments.count() == 6
    line.refresh_from_db()
    assert line.available == D("0.00")


def test_a_draw_above_the_available_amount_is_refused(line):
    with pytest.raises(InvalidInput, match="above the available ¥10,000.00") as excinfo:
        services.credit_line_draw(credit_line_id=line.pk, amount=D("10000.01"), term_months=1, method="bullet")
    assert excinfo.value.extra["field"] == "amount"
    line.refresh_from_db()
    assert line.used == 0 and not Loan.objects.exists()


def test_a_line_on_a_non_revolving_product_is_refused(db):
    with pytest.raises(InvalidInput, match="not a revolving product"):
        services.credit_line_open(borrower_id=BorrowerFactory().pk, product_id=ProductFactory().pk, limit=D("100.00"))
    assert not CreditLine.objects.exists()


# --- concurrency on real PostgreSQL ----------------------------------------------------------


def run_threads(n, target):
    barrier = threading.Barrier(n)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as e:  # noqa: BLE001 - the test inspects which errors happened
            results.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_disbursements_give_one_disbursement_and_one_schedule(credit_manager):
    product, borrower = ProductFactory(), BorrowerFactory()
    loan = services.loan_submit(
        borrower_id=borrower.pk,
        product_id=product.pk,
        amount=D("9000.00"),
        term_months=9,
        method="equal_installment",
        decide=False,
    )
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    results = run_threads(2, lambda: services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=DISBURSED_ON))
    assert sorted(type(r).__name__ for r in results) == ["Loan", "StateError"]
    assert Disbursement.objects.filter(loan=loan).count() == 1
    assert Installment.objects.filter(loan=loan).count() == 9


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_same_reference_from_several_threads_records_one_repayment(credit_manager):
    product, borrower = ProductFactory(), BorrowerFactory()
    loan = services.loan_submit(
        borrower_id=borrower.pk,
        product_id=product.pk,
        amount=D("9000.00"),
        term_months=9,
        method="equal_installment",
        decide=False,
    )
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=DISBURSED_ON)
    results = run_threads(
        6,
        lambda: services.repayment_record(
            loan_id=loan.pk, amount=D("500.00"), paid_on=date(2026, 2, 15), external_reference="BANK-42"
        ),
    )
    assert all(isinstance(r, tuple) for r in results), results
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len({r.pk for r, _ in results}) == 1
    assert Repayment.objects.count() == 1
    assert Installment.objects.get(loan=loan, number=1).interest_paid == D("90.00")


def test_loan_admin_shows_terms_schedule_repayments_and_audit_trail_read_only(
    make_active_loan, client, django_user_model
):
    loan = make_active_loan()
    pay(loan, "300.00", date(2026, 2, 15), ref="ADMIN-VIEW")
    admin = django_user_model.objects.create_superuser("root", password="pw-for-tests-only")
    client.force_login(admin)
    page = client.get(f"/admin/loans/loan/{loan.pk}/change/").content.decode()
    assert "ADMIN-VIEW" in page and "946.19" in page and "disburse" in page
    assert 'name="_save"' not in page  # read-only: no save button
    assert client.get("/admin/loans/creditline/").status_code == 200


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.decimals(min_value="50", max_value="3000", places=2), min_size=1, max_size=5),
    rule=st.sampled_from(["reduce_installment", "shorten_term"]),
    method=st.sampled_from(["equal_installment", "equal_principal", "interest_first"]),
)
def test_applying_the_latest_payment_equals_replaying_the_history(make_active_loan, amounts, rule, method):
    from loans.services.payments import _rebalance

    loan = make_active_loan(method=method, product=ProductFactory(prepayment_rule=rule))
    for k, amount in enumerate(amounts):  # dated in order: each is applied to the stored balances
        pay(loan, str(amount), date(2026, 2, 1) + timedelta(days=20 * k), ref=f"{loan.pk}-{k}")
    incremental = balances(loan)
    summaries = list(loan.repayments.order_by("pk").values_list("principal_amount", "interest_amount", "kind"))
    _rebalance(Loan.objects.get(pk=loan.pk))  # the full replay from the contract
    assert balances(loan) == incremental
    assert list(loan.repayments.order_by("pk").values_list("principal_amount", "interest_amount", "kind")) == summaries
