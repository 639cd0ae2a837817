"""lender.db.fetch: the hot-path reads return the same model instances as the ORM."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from lender.db import execute_without_flush, fetch, fetch_one, insert
from loans import services
from loans.models import Borrower, IdempotencyRecord, Installment, Loan, LoanProduct, Partner, Repayment
from tests.loans.factories import BorrowerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.fixture
def loan(credit_manager):
    product = ProductFactory(code="cash-12")
    loan = services.loan_submit(
        borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("12000.00"), term_months=12,
        method="equal_installment", decide=False,
    )  # fmt: skip
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    return services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=date(2026, 1, 15))


def test_fetch_reads_every_kind_of_field_as_the_orm_does(loan):
    # Loan: a protected FSM status, decimals, dates, a JSON schedule; Borrower: encrypted identity
    # numbers; LoanProduct: arrays; IdempotencyRecord: JSON with nulls.
    partner = Partner.objects.create(code="acme", name="Acme")
    record = IdempotencyRecord.objects.create(
        partner=partner, key="k", request_hash="h" * 64, response_status=201, response_body={"amount": "5.00"}
    )
    for model, pk in ((Loan, loan.pk), (Borrower, loan.borrower_id), (LoanProduct, loan.product_id),
                      (IdempotencyRecord, record.pk), (Partner, partner.pk)):  # fmt: skip
        fetched = fetch_one(model, '"id" = %s', [pk])
        assert type(fetched) is model and not fetched._state.adding
        assert values(fetched) == values(model.objects.get(pk=pk)), model.__name__
    assert fetch_one(Loan, '"id" = %s', [0]) is None


def test_fetch_keeps_order_and_locks_with_a_suffix(loan):
    rows = fetch(Installment, '"loan_id" = %s', [loan.pk], suffix=' ORDER BY "number" DESC')
    assert [r.number for r in rows] == list(range(12, 0, -1))
    assert [values(r) for r in rows] == [values(r) for r in loan.installments.order_by("-number")]
    with transaction.atomic():
        fetch_one(Loan, '"id" = %s', [loan.pk], suffix=" FOR UPDATE")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'loans_loan' AND l.mode = 'RowShareLock' AND l.pid = pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 1
    fetched = fetch_one(Loan, '"id" = %s', [loan.pk])
    fetched.purpose = "changed through a fetched instance"
    fetched.save(update_fields=["purpose"])  # a fetched instance saves like an ORM one
    assert Loan.objects.get(pk=loan.pk).purpose == "changed through a fetched instance"


def test_fetch_brings_a_related_row_in_the_same_statement(loan, django_assert_num_queries):
    where = '"loans_loan"."id" = %s'
    with django_assert_num_queries(1):
        fetched = fetch_one(Loan, where, [loan.pk], related="product")
        product = fetched.product  # set from the join: no second query
    assert values(fetched) == values(Loan.objects.get(pk=loan.pk))
    assert type(product) is LoanProduct and values(product) == values(LoanProduct.objects.get(pk=loan.product_id))
    assert fetch_one(Loan, where, [0], related="product") is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_statement_without_flush_commits_and_never_weakens_a_transaction():
    partner = Partner.objects.create(code="acme", name="Acme")
    row = execute_without_flush(
        "UPDATE loans_partner SET name = %s WHERE id = %s RETURNING name", ["Acme Pay", partner.pk]
    )
    assert row == ("Acme Pay",)
    assert not connection.in_atomic_block
    assert Partner.objects.get(pk=partner.pk).name == "Acme Pay"  # committed, not left open
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        assert cursor.fetchone() == ("on",)  # the setting ended with its statement
    with transaction.atomic():
        assert execute_without_flush("SELECT current_setting('synchronous_commit')", []) == ("on",)
    assert execute_without_flush("SELECT 1 WHERE false", []) is None


def test_insert_writes_what_save_would_and_skips_a_taken_unique_value(loan):
    from lender.models import AuditEvent

    event = AuditEvent(action="checked", target_type_id=1, target_id=loan.pk, data={"amount": Decimal("5.10")})
    assert insert(event) and event.pk and not event._state.adding and event.created_at is not None
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.data, stored.created_at) == ("checked", {"amount": "5.10"}, event.created_at)

    first = Repayment(loan=loan, external_reference="ref-1", amount=Decimal("10.00"), paid_on=date(2026, 2, 1))
    assert insert(first, unless_exists="external_reference")
    again = Repayment(loan=loan, external_reference="ref-1", amount=Decimal("99.00"), paid_on=date(2026, 2, 1))
    assert not insert(again, unless_exists="external_reference") and again.pk is None
    # No error was raised, so the transaction goes on without a savepoint.
    assert list(Repayment.objects.values_list("external_reference", "amount")) == [("ref-1", Decimal("10.00"))]
    assert values(Repayment.objects.get(pk=first.pk)) == values(first)
