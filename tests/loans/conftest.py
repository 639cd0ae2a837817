from datetime import date
from decimal import Decimal

import pytest

from loans import services
from tests.loans.factories import BorrowerFactory, ProductFactory

DISBURSED_ON = date(2026, 1, 15)


@pytest.fixture
def make_active_loan(db, credit_manager):
    """An approved and disbursed loan (12,000.00 at 12% over 12 months by default)."""

    def make(amount="12000.00", term=12, method="equal_installment", on=DISBURSED_ON, product=None, **product_fields):
        product = product or ProductFactory(**product_fields)
        loan = services.loan_submit(
            borrower_id=BorrowerFactory().pk,
            product_id=product.pk,
            amount=Decimal(amount),
            term_months=term,
            method=method,
            decide=False,
        )
        services.loan_refer(loan_id=loan.pk)
        services.loan_approve(loan_id=loan.pk, by=credit_manager)
        return services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=on)

    return make
