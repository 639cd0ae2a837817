"""The hand-built quote and repayment bodies are exactly what the schema's serializers render."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loans import api, services
from tests.loans.factories import ProductFactory


@pytest.mark.django_db
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amount=st.decimals("1000", "200000", places=2),
    term=st.integers(1, 36),
    method=st.sampled_from(["equal_installment", "equal_principal", "interest_first", "bullet"]),
    fee=st.sampled_from([("percent", Decimal("0.00")), ("percent", Decimal("1.50")), ("fixed", Decimal("88.00"))]),
)
def test_quote_body_equals_the_serializer(amount, term, method, fee):
    product = ProductFactory.build(
        code="q", amount_min=Decimal("100.00"), amount_max=Decimal("500000.00"), term_min_months=1,
        term_max_months=36, allowed_methods=[method], fee_kind=fee[0], fee_value=fee[1],
    )  # fmt: skip
    quote = services.loan_quote(product=product, amount=amount, term_months=term, method=method)
    raw = {  # the quote's own values, for the serializer to render
        "product": quote.product.code, "amount": quote.amount, "term_months": quote.term_months,
        "method": quote.method, "fee": quote.fee, "net_disbursed": quote.net_disbursed,
        "total_interest": quote.total_interest, "total_repayable": quote.total_repayable, "apr": quote.apr,
        "schedule": [{"number": r.number, "due_date": r.due_date, "principal": r.principal, "interest": r.interest,
                      "total": r.total} for r in quote.installments],
    }  # fmt: skip
    assert api._quote_out(quote) == api.QuoteOut(raw).data


@pytest.mark.django_db
def test_repayment_body_equals_the_serializer(partner_loan):
    repayment, _ = services.repayment_record(loan_id=partner_loan.pk, amount=Decimal("1500.50"),
                                             paid_on=date(2026, 2, 15), external_reference="acme:B1")  # fmt: skip
    raw = {"external_reference": "B1", "amount": repayment.amount, "paid_on": repayment.paid_on,
           "status": repayment.status, "kind": repayment.kind, "principal": repayment.principal_amount,
           "interest": repayment.interest_amount, "fee": repayment.fee_amount, "penalty": repayment.penalty_amount}  # fmt: skip
    by_hand = api._repayment_out(repayment, "B1")
    assert by_hand == api.RepaymentOut(raw).data and by_hand["amount"] == "1500.50"
