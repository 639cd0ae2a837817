import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from loans import services
from loans.models import WebhookDelivery
from loans.services import partners


@pytest.mark.django_db
def test_webhook_is_signed_retried_and_delivered_once(partner, receiver, partner_loan):
    handler, url = receiver
    handler.failures = 1
    endpoint, secret = partners.webhook_register(partner=partner, url=url)
    services.repayment_record(loan_id=partner_loan.pk, amount=Decimal("100.00"), paid_on=date(2026, 2, 1),
                              external_reference="acme:W1")  # fmt: skip
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert partners.webhook_deliver(delivery_id=delivery.pk) == "retry"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # its retry is due
    assert partners.webhook_deliver(delivery_id=delivery.pk) == "delivered"
    assert partners.webhook_deliver(delivery_id=delivery.pk) == "skipped"
    headers, body = handler.received[-1]
    expected = hmac.new(secret.encode(), headers["X-Lender-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-Lender-Signature"] == "sha256=" + expected.hexdigest()
    assert json.loads(body)["type"] == "repayment.recorded" and headers["X-Lender-Delivery"] == delivery.event_id
    assert len(handler.received) == 2  # one failure, one delivery


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    assert "/api/v1/loans/{reference}/repayments" in schema and "Idempotency-Key" in schema


@pytest.mark.django_db
def test_docs_are_served_without_downloads(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower()
    assert client.get("/api/schema/").status_code == 200
