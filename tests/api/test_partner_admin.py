"""Product admins run the partner channels from Django admin: partners, keys shown once, revocation."""

import hashlib
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from lender import roles
from lender.models import AuditEvent
from loans.models import Partner, PartnerApiKey, WebhookDelivery, WebhookDeliveryStatus
from loans.services import partners

pytestmark = pytest.mark.django_db
QUOTE = {"product": "cash-12", "amount": "5000.00", "term_months": 12, "method": "equal_installment"}


def quote(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.post("/api/v1/quotes", QUOTE, format="json")


def test_product_admin_adds_a_partner_and_its_code_is_then_fixed(client, product_admin):
    client.force_login(product_admin)
    response = client.post("/admin/loans/partner/add/", {
        "code": "wepay", "name": "WePay", "is_active": "on", "rate_limit": "120/min",
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
        "webhooks-TOTAL_FORMS": "0", "webhooks-INITIAL_FORMS": "0",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    partner = Partner.objects.get(code="wepay")
    page = client.get(f"/admin/loans/partner/{partner.pk}/change/").content.decode()
    assert "Create an API key" in page and 'name="code"' not in page  # payment references carry the code


def test_a_bad_rate_limit_is_a_field_error(client, product_admin):
    client.force_login(product_admin)
    response = client.post("/admin/loans/partner/add/", {
        "code": "wepay", "name": "WePay", "rate_limit": "lots",
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
        "webhooks-TOTAL_FORMS": "0", "webhooks-INITIAL_FORMS": "0",
    })  # fmt: skip
    assert response.status_code == 200 and "rate_limit" in response.context["adminform"].form.errors
    assert not Partner.objects.exists()


def test_a_key_created_in_admin_is_shown_once_stored_hashed_and_works(client, product_admin, partner, product):
    client.force_login(product_admin)
    url = f"/admin/loans/partner/{partner.pk}/create-key/"
    assert client.get(url).status_code == 200
    page = client.post(url, {"scopes": ["quote", "read"]}).content.decode()
    raw = re.search(r"lk_[0-9a-f]{12}_[A-Za-z0-9_-]+", page).group(0)
    key = PartnerApiKey.objects.get(partner=partner)
    assert key.scopes == ["quote", "read"] and key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in client.get(f"/admin/loans/partner/{partner.pk}/change/").content.decode()
    assert quote(raw).status_code == 200
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.actor == product_admin and event.target_id == key.pk


def test_a_key_needs_a_scope(client, product_admin, partner):
    client.force_login(product_admin)
    response = client.post(f"/admin/loans/partner/{partner.pk}/create-key/", {})
    assert response.status_code == 200 and "Choose at least one scope" in response.content.decode()
    assert not PartnerApiKey.objects.exists()


def test_staff_without_the_permission_cannot_create_keys(client, make_staff, partner):
    client.force_login(make_staff(roles.LOAN_OFFICER, is_staff=True))
    assert client.post(f"/admin/loans/partner/{partner.pk}/create-key/", {"scopes": ["quote"]}).status_code == 403
    assert not PartnerApiKey.objects.exists()


def test_a_revoked_key_is_refused_at_once(client, product_admin, partner, product):
    key, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["quote"])
    assert quote(raw).status_code == 200
    client.force_login(product_admin)
    response = client.post("/admin/loans/partnerapikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert response.status_code == 302
    assert quote(raw).status_code == 401
    assert AuditEvent.objects.get(action="api_key.revoke").actor == product_admin


def test_admin_resends_a_failed_delivery(client, product_admin, partner, partner_loan):
    from datetime import date
    from decimal import Decimal

    from loans import services

    partners.webhook_register(partner=partner, url="http://127.0.0.1:9/hook")
    services.repayment_record(loan_id=partner_loan.pk, amount=Decimal("100.00"), paid_on=date(2026, 2, 1),
                              external_reference="acme:R1")  # fmt: skip
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDeliveryStatus.FAILED, attempts=30)
    client.force_login(product_admin)
    page = client.get("/admin/loans/webhookdelivery/").content.decode()
    assert "repayment.recorded" in page and "secret" not in page
    client.post("/admin/loans/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    # A fresh series of attempts, due now (the dispatcher sends it even if the queued task were lost).
    assert delivery.status == WebhookDeliveryStatus.PENDING and delivery.attempts == 0
    assert partners.webhook_deliveries_due() == [delivery.pk]


def test_the_call_log_is_read_only_in_admin(client, product_admin, api, product):
    api.post("/api/v1/quotes", QUOTE, format="json")
    client.force_login(product_admin)
    assert "/api/v1/quotes" in client.get("/admin/loans/apicalllog/").content.decode()
    assert client.get("/admin/loans/apicalllog/add/").status_code == 403


def test_the_command_prints_a_new_key_once(partner, product, capsys):
    call_command("partner_key_create", "--partner", "acme", "--scopes", "quote,read")
    raw = capsys.readouterr().out.strip()
    assert quote(raw).status_code == 200 and PartnerApiKey.objects.get().scopes == ["quote", "read"]


@pytest.mark.parametrize("args, message", [
    (["--partner", "nobody", "--scopes", "quote"], "no active partner"),
    (["--partner", "acme", "--scopes", "quote,launch"], "Scopes must be among"),
    (["--partner", "acme", "--scopes", ","], "Scopes must be among"),
])  # fmt: skip
def test_the_command_refuses_bad_input_with_exit_2_and_creates_nothing(partner, args, message):
    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("partner_key_create", *args)
    assert excinfo.value.returncode == 2 and "\n" not in str(excinfo.value)
    assert not PartnerApiKey.objects.exists()
