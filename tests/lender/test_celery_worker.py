"""A real Celery worker against the real Redis broker and PostgreSQL."""

import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker

from lender.celery import app
from loans import services
from loans.models import Loan, LoanStatus
from tests.loans.factories import BorrowerFactory, ProductFactory


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_submitted_application_is_decided_by_a_real_worker():
    product = ProductFactory()
    borrower = BorrowerFactory()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["celery", "decisions"], shutdown_timeout=30):
        loan = services.loan_submit(
            borrower_id=borrower.pk,
            product_id=product.pk,
            amount=Decimal("8000.00"),
            term_months=6,
            method="equal_principal",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            loan.refresh_from_db()
            if loan.status != LoanStatus.SUBMITTED:
                break
            time.sleep(0.2)
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.IN_REVIEW
