from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from lender.errors import InvalidInput
from loans import services
from loans.models import LoanProduct
from tests.loans.factories import ProductFactory

pytestmark = pytest.mark.django_db


def admin_form_data(**overrides):
    data = {
        "code": "new-product",
        "name": "New product",
        "kind": "consumer_installment",
        "is_active": "on",
        "amount_min": "1000.00",
        "amount_max": "50000.00",
        "term_min_months": "6",
        "term_max_months": "24",
        "allowed_methods": ["equal_installment", "equal_principal"],
        "annual_rate": "0.150000",
        "day_count": "360",
        "fee_kind": "none",
        "fee_value": "0.00",
        "penalty_rate": "",
        "grace_days": "3",
        "allocation_order": "penalty,fee,interest,principal",
        "prepayment_rule": "reduce_installment",
        "senior_approval_threshold": "",
        "review_sla_hours": "24",
    }
    data.update(overrides)
    return data


def test_product_admin_creates_a_product_and_sees_the_daily_rate(client, product_admin):
    client.force_login(product_admin)
    response = client.post("/admin/loans/loanproduct/add/", admin_form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    product = LoanProduct.objects.get(code="new-product")
    assert product.allowed_methods == ["equal_installment", "equal_principal"]
    assert product.effective_penalty_rate == Decimal("0.225000")
    page = client.get(f"/admin/loans/loanproduct/{product.pk}/change/").content.decode()
    assert "0.0417% a day" in page


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"amount_min": "60000.00"}, "amount_max", "at least the minimum amount"),
        ({"term_min_months": "30"}, "term_max_months", "at least the minimum term"),
        ({"annual_rate": "0"}, "annual_rate", "positive"),
        ({"annual_rate": "0.300000"}, "annual_rate", "above the legal cap of 24.00%"),
        ({"fee_kind": "fixed", "fee_value": "300.00"}, "annual_rate", "above the legal cap"),
        ({"allowed_methods": []}, "allowed_methods", "required"),
    ],
)
def test_admin_validation_shows_field_errors_and_saves_nothing(client, product_admin, overrides, field, message):
    client.force_login(product_admin)
    response = client.post("/admin/loans/loanproduct/add/", admin_form_data(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not LoanProduct.objects.exists()


def test_legal_cap_is_configurable(settings):
    settings.LEGAL_APR_CAP = Decimal("0.10")
    product = ProductFactory.build(annual_rate=Decimal("0.12"))
    with pytest.raises(ValidationError) as excinfo:
        product.full_clean()
    assert "above the legal cap of 10.00%" in excinfo.value.message_dict["annual_rate"][0]


def test_collector_cannot_open_product_admin(client, make_staff):
    collector = make_staff("collector", is_staff=True)
    client.force_login(collector)
    assert client.get("/admin/loans/loanproduct/add/").status_code == 403


def test_quote_shows_schedule_fees_and_apr():
    product = ProductFactory(fee_kind="percent", fee_value=Decimal("1.00"))
    quote = services.loan_quote(
        product=product,
        amount=Decimal("100000.00"),
        term_months=12,
        method="equal_installment",
        start_date=date(2026, 1, 31),
    )
    assert quote.fee == Decimal("1000.00") and quote.net_disbursed == Decimal("99000.00")
    assert quote.total_interest == Decimal("6618.53")
    assert quote.total_repayable == Decimal("106618.53")
    assert Decimal("0.1390") < quote.apr < Decimal("0.1392")


def test_quote_of_an_inactive_product_is_refused():
    product = ProductFactory(is_active=False)
    with pytest.raises(InvalidInput, match="not offered"):
        services.loan_quote(product=product, amount=Decimal("5000.00"), term_months=12, method="equal_installment")


def test_product_changes_keep_row_history(product_admin):
    product = ProductFactory()
    services.product_upsert(code=product.code, by=product_admin, annual_rate=Decimal("0.130000"))
    events = LoanProduct.pgh_event_model.objects.filter(pgh_obj=product).order_by("pgh_id")
    assert [e.annual_rate for e in events] == [Decimal("0.120000"), Decimal("0.130000")]
    assert events.last().pgh_context.metadata["user"] == product_admin.pk
