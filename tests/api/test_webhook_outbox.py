"""The webhook outbox: retries scheduled in the row, the dispatcher, resend, and the sweep's events."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collection import sweep
from lender.models import AuditEvent
from loans import services
from loans.models import Loan, LoanStatus, WebhookDelivery, WebhookDeliveryStatus
from loans.services import partners
from loans.tasks import webhook_dispatch_task
from tests.waiting import wait_for

FIRST_DUE = date(2026, 2, 15)  # partner_loan is disbursed on 15 January


def repay(loan, amount="100.00", ref="W1", on=date(2026, 2, 1)):
    return services.repayment_record(loan_id=loan.pk, amount=Decimal(amount), paid_on=on,
                                     external_reference=f"acme:{ref}")  # fmt: skip


def make_due(delivery):
    """As if its retry time had come."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_a_failed_attempt_waits_for_its_retry_time_then_is_sent_once(partner, receiver, partner_loan):
    handler, url = receiver
    handler.failures = 1
    endpoint, _ = partners.webhook_register(partner=partner, url=url)
    repay(partner_loan)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert partners.webhook_deliver(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.PENDING and delivery.attempts == 1
    assert "500" in delivery.last_error
    assert timedelta(seconds=25) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    # Not due yet: neither a duplicate task nor the dispatcher sends it early.
    assert partners.webhook_deliver(delivery_id=delivery.pk) == "skipped"
    assert partners.webhook_deliveries_due() == []
    assert len(handler.received) == 1
    make_due(delivery)
    assert partners.webhook_deliveries_due() == [delivery.pk]
    assert webhook_dispatch_task() == 1  # queues it; tasks run inline in unit tests
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 2, "")
    assert webhook_dispatch_task() == 0 and len(handler.received) == 2


def test_retry_delays_double_from_thirty_seconds_up_to_an_hour():
    delays = [partners.webhook_retry_delay(n) for n in range(1, 10)]
    assert delays[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert delays[-1] == timedelta(hours=1) and delays == sorted(delays)


@pytest.mark.django_db
def test_exhausted_retries_leave_it_failed_until_an_admin_resends_it(
    partner,
    receiver,
    partner_loan,
    product_admin,
    django_capture_on_commit_callbacks,
):
    handler, url = receiver
    handler.failures = 1
    endpoint, _ = partners.webhook_register(partner=partner, url=url)
    repay(partner_loan)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=partners.WEBHOOK_MAX_ATTEMPTS - 1)
    assert partners.webhook_deliver(delivery_id=delivery.pk) == "failed"
    make_due(delivery)
    assert partners.webhook_deliveries_due() == []  # a failed row is never picked up again by itself
    with django_capture_on_commit_callbacks(execute=True):
        assert partners.webhook_resend(delivery_ids=[delivery.pk], by=product_admin) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    event = AuditEvent.objects.get(action="webhook.resend")
    assert event.actor == product_admin and event.target_id == delivery.pk
    assert partners.webhook_resend(delivery_ids=[delivery.pk], by=product_admin) == 0  # only failed ones


@pytest.mark.django_db
def test_the_sweep_tells_partners_when_a_loan_goes_overdue_and_when_it_is_cured(partner, partner_loan):
    hook_a, _ = partners.webhook_register(partner=partner, url="http://127.0.0.1:9/a")
    hook_b, _ = partners.webhook_register(partner=partner, url="http://127.0.0.1:9/b")
    partners.webhook_endpoint_deactivate(endpoint_ids=[hook_b.pk], by=None)
    partners.webhook_register(partner=partner, url="http://127.0.0.1:9/c")
    before = set(WebhookDelivery.objects.values_list("pk", flat=True))
    late = FIRST_DUE + timedelta(days=10)
    sweep.sweep_run(business_date=late)
    assert Loan.objects.get(pk=partner_loan.pk).status == LoanStatus.OVERDUE
    events = list(WebhookDelivery.objects.exclude(pk__in=before).order_by("endpoint_id"))
    # One event, to each active endpoint (not the deactivated one), due at once.
    assert len(events) == 2 and hook_b.pk not in {e.endpoint_id for e in events}
    assert len({e.event_id for e in events}) == 1
    payload = events[0].payload
    assert payload["type"] == events[0].event_type == "loan.status_changed"
    assert payload["id"] == events[0].event_id and len(payload["id"]) == 32
    assert payload["data"] == {"loan": partner_loan.reference, "from": "active", "to": "overdue",
                               "transition": "mark_overdue"}  # fmt: skip
    assert abs(timezone.datetime.fromisoformat(payload["created"]) - timezone.now()) < timedelta(minutes=1)
    assert set(partners.webhook_deliveries_due()) >= {e.pk for e in events}
    sweep.sweep_run(business_date=late)  # a re-run tells nobody twice
    assert WebhookDelivery.objects.exclude(pk__in=before).count() == 2

    owed = partner_loan.installments.get(number=1)
    repay(partner_loan, amount=str(owed.total_outstanding + owed.penalty_due + Decimal("50.00")), ref="cure", on=late)
    sweep.sweep_run(business_date=late + timedelta(days=1))
    cured = WebhookDelivery.objects.filter(payload__data__transition="cure")
    assert Loan.objects.get(pk=partner_loan.pk).status == LoanStatus.ACTIVE
    assert cured.count() == 2 and {d.payload["data"]["to"] for d in cured} == {"active"}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sweep_event_reaches_the_partner_through_the_dispatcher_and_a_real_worker(
    partner,
    receiver,
    partner_loan,
    worker,
):
    handler, url = receiver
    endpoint, secret = partners.webhook_register(partner=partner, url=url)
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=10))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type="loan.status_changed")
    webhook_dispatch_task.delay()
    webhook_dispatch_task.delay()  # beat and a retry of it: still sent once
    assert wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered", 60)
    headers, body = handler.received[-1]
    assert headers["X-Lender-Delivery"] == delivery.event_id
    assert headers["X-Lender-Signature"] == "sha256=" + partners.signature(secret, headers["X-Lender-Timestamp"], body)
    assert len([h for h, _ in handler.received if h["X-Lender-Delivery"] == delivery.event_id]) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_broker_outage_after_the_commit_neither_fails_the_repayment_nor_loses_the_event(
    partner, partner_loan, monkeypatch
):
    from kombu.exceptions import OperationalError
    from rest_framework.test import APIClient

    from loans.models import IdempotencyRecord, Repayment
    from loans.tasks import webhook_deliver_task

    partners.webhook_register(partner=partner, url="http://127.0.0.1:9/hook")
    _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["repay"])

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr(webhook_deliver_task, "delay", broker_down)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def post():
        return client.post(f"/api/v1/loans/{partner_loan.reference}/repayments",
                           {"amount": "100.00", "paid_on": "2026-02-01", "payment_reference": "OUT-1"},
                           format="json", HTTP_IDEMPOTENCY_KEY="outage-1")  # fmt: skip

    first = post()
    assert first.status_code == 201, first.content
    assert Repayment.objects.filter(external_reference="acme:OUT-1").count() == 1
    assert IdempotencyRecord.objects.get(key="outage-1").is_complete
    again = post()
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    delivery = WebhookDelivery.objects.get(event_type="repayment.recorded")
    assert delivery.status == "pending" and delivery.pk in partners.webhook_deliveries_due()  # the dispatcher's


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_broker_outage_after_the_commit_does_not_fail_an_application(partner, product, monkeypatch):
    from kombu.exceptions import OperationalError
    from rest_framework.test import APIClient

    from loans.tasks import loan_decide_task

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr(loan_decide_task, "delay", broker_down)
    _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["apply"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    created = client.post("/api/v1/applications", {
        "product": "cash-12", "amount": "20000.00", "term_months": 12, "method": "equal_installment",
        "borrower": {"kind": "individual", "full_name": "张三", "id_number": "110101199001011237",
                     "phone": "13800138000"},
    }, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    # Left submitted for the beat task that decides applications whose task was lost.
    assert Loan.objects.get(reference=created.json()["reference"]).status == LoanStatus.SUBMITTED
