"""lender.db.fetch: the hot-path reads return the same model instances as the ORM."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from lender.db import fetch, fetch_one
from loans import services
from loans.models import Borrower, IdempotencyRecord, Installment, Loan, LoanProduct, Partner
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
