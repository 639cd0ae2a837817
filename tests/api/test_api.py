"""The partner API: every endpoint and its errors, as problem details."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from lender.errors import InvalidInput
from loans import services
from loans.models import (
    ApiCallLog,
    Borrower,
    IdempotencyRecord,
    Loan,
    LoanStatus,
    PartnerApiKey,
    Repayment,
    WebhookDelivery,
)
from loans.services import partners
from tests.api.conftest import BorrowerFactory

pytestmark = pytest.mark.django_db
ID = "110101199001011237"  # born 1990


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


def test_quote_returns_schedule_fees_and_apr(api, product):
    response = api.post("/api/v1/quotes", {"product": "cash-12", "amount": "100000.00", "term_months": 12,
                                           "method": "equal_installment"}, format="json")  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert (body["fee"], body["net_disbursed"], body["total_interest"]) == ("1000.00", "99000.00", "6618.53")
    assert len(body["schedule"]) == 12 and body["schedule"][0]["total"] == "8884.88"
    assert Decimal(body["apr"]) > Decimal("0.139")


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"product": "cash-12", "amount": "10.00", "term_months": 12, "method": "equal_installment"}, "amount"),
        ({"product": "cash-12", "amount": "5000.00", "term_months": 99, "method": "equal_installment"}, "term_months"),
        ({"product": "cash-12", "amount": "5000.00", "term_months": 12, "method": "bullet"}, "method"),
        ({"product": "nope", "amount": "5000.00", "term_months": 12, "method": "equal_installment"}, "product"),
        ({"product": "cash-12", "amount": "abc", "term_months": 12, "method": "equal_installment"}, "amount"),
        ({"amount": "5000.00", "term_months": 12, "method": "equal_installment"}, "product"),
    ],
)
def test_bad_quotes_are_400_with_a_message_per_field(api, product, payload, field):
    body = problem(api.post("/api/v1/quotes", payload, format="json"), 400)
    assert field in body["errors"]


def test_no_key_bad_key_and_missing_scope(partner, product):
    client = APIClient()
    payload = {"product": "cash-12", "amount": "5000.00", "term_months": 12, "method": "equal_installment"}
    assert problem(client.post("/api/v1/quotes", payload, format="json"), 401)
    client.credentials(HTTP_AUTHORIZATION="Bearer lk_nothing_here")
    assert problem(client.post("/api/v1/quotes", payload, format="json"), 401)
    _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert problem(client.post("/api/v1/quotes", payload, format="json"), 403)


def test_keys_are_hashed_at_rest(partner):
    key, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["quote"])
    stored = PartnerApiKey.objects.get(pk=key.pk)
    assert raw not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    assert partners.partner_key_authenticate(raw) == stored
    assert partners.partner_key_authenticate(raw + "x") is None
    with pytest.raises(InvalidInput):
        partners.partner_key_create(partner_id=partner.pk, scopes=["admin"])


def test_application_create_read_and_withdraw(api, product, partner, django_capture_on_commit_callbacks):
    payload = {"product": "cash-12", "amount": "20000.00", "term_months": 12, "method": "equal_installment",
               "borrower": {"kind": "individual", "full_name": "张三", "id_number": ID, "phone": "13800138000",
                            "monthly_income": "15000.00"}}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):  # the decision task runs after the commit
        created = api.post("/api/v1/applications", payload, format="json")
    assert created.status_code == 201, created.content
    reference = created.json()["reference"]
    assert created.json()["status"] in ("submitted", "in_review")
    assert ID not in created.content.decode()
    read = api.get(f"/api/v1/applications/{reference}")
    assert read.status_code == 200 and read.json()["status"] == "in_review"  # decided (no model: referred)
    assert "score_band" not in read.json()["decision"]  # this partner may not see reasons
    existing = {k: v for k, v in payload.items() if k != "borrower"} | {"borrower_id_number": ID, "product": "other"}
    assert "product" in problem(api.post("/api/v1/applications", existing, format="json"), 400)["errors"]
    withdrawn = api.post(f"/api/v1/applications/{reference}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    body = problem(api.post(f"/api/v1/applications/{reference}/withdraw"), 409)
    assert "withdrawn" in body["detail"]


def test_bad_borrower_data_is_a_field_error_and_creates_nothing(api, product):
    payload = {"product": "cash-12", "amount": "20000.00", "term_months": 12, "method": "equal_installment",
               "borrower": {"kind": "individual", "full_name": "李四", "id_number": "110105194912310021",
                            "phone": "13800138000"}}  # fmt: skip
    body = problem(api.post("/api/v1/applications", payload, format="json"), 400)
    assert "id_number" in body["errors"]
    assert not Loan.objects.exists()


def test_other_partners_loans_are_not_found(api, credit_manager, product):
    from loans import services

    loan = services.loan_submit(borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("5000.00"),
                                term_months=12, method="equal_installment", decide=False)  # fmt: skip
    problem(api.get(f"/api/v1/applications/{loan.reference}"), 404)
    problem(api.get("/api/v1/loans/NOPE"), 404)
    problem(api.get("/api/v1/nothing-here"), 404)


def test_loan_shows_outstanding_schedule_and_repayments(api, partner_loan):
    body = api.get(f"/api/v1/loans/{partner_loan.reference}").json()
    assert body["status"] == "active" and len(body["schedule"]) == 12
    assert body["outstanding"]["principal"] == "12000.00" and body["repayments"] == []
    assert partner_loan.borrower.id_number not in str(body)


def pay(api, loan, key, amount="500.00", reference="P-1"):
    return api.post(f"/api/v1/loans/{loan.reference}/repayments",
                    {"amount": amount, "paid_on": "2026-02-15", "payment_reference": reference},
                    format="json", HTTP_IDEMPOTENCY_KEY=key)  # fmt: skip


def test_idempotent_repayment_replays_the_first_response(api, partner_loan):
    first = pay(api, partner_loan, "key-1")
    assert first.status_code == 201 and first.json()["interest"] == "120.00"
    again = pay(api, partner_loan, "key-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Repayment.objects.count() == 1
    body = problem(pay(api, partner_loan, "key-1", amount="600.00"), 422)
    assert body["code"] == "idempotency_conflict"
    assert Repayment.objects.count() == 1


def test_row_history_of_api_writes_names_the_partner(api, partner_loan, product):
    assert pay(api, partner_loan, "key-h").status_code == 201
    repayment = Repayment.objects.get(external_reference="acme:P-1")
    event = Repayment.pgh_event_model.objects.get(pgh_obj=repayment, pgh_label="insert")
    assert event.pgh_context.metadata == {
        "partner": "acme",
        "url": f"/api/v1/loans/{partner_loan.reference}/repayments",
    }
    payload = {"product": "cash-12", "amount": "20000.00", "term_months": 12, "method": "equal_installment",
               "borrower": {"kind": "individual", "full_name": "张三", "id_number": ID, "phone": "13800138000"}}  # fmt: skip
    assert api.post("/api/v1/applications", payload, format="json").status_code == 201
    borrower = services.borrower_find_by_id_number(id_number=ID)
    created = Borrower.pgh_event_model.objects.get(pgh_obj=borrower, pgh_label="insert")
    assert created.pgh_context.metadata["partner"] == "acme"


def test_repayment_errors(api, partner_loan):
    body = problem(api.post(f"/api/v1/loans/{partner_loan.reference}/repayments",
                            {"amount": "5.00", "paid_on": "2026-02-15", "payment_reference": "x"}, format="json"),
                   400)  # fmt: skip
    assert "Idempotency-Key" in body["errors"]
    body = problem(pay(api, partner_loan, "key-2", amount="999999.00"), 400)
    assert "amount" in body["errors"]
    replay = problem(pay(api, partner_loan, "key-2", amount="999999.00"), 400)  # the same answer, replayed
    assert replay == body
    assert not Repayment.objects.exists()


def test_same_key_in_progress_is_409(api, partner_loan, partner):
    state, record = partners.idempotency_begin(partner=partner, key="busy", fingerprint="x" * 64)
    assert state == "new"
    body = problem(pay(api, partner_loan, "busy"), 422)  # another body: conflict
    fingerprint = partners.request_fingerprint(
        method="POST", path=f"/api/v1/loans/{partner_loan.reference}/repayments",
        body=b'{"amount":"500.00","paid_on":"2026-02-15","payment_reference":"P-1"}',
    )  # fmt: skip
    record.request_hash = fingerprint
    record.save()
    response = pay(api, partner_loan, "busy")
    body = problem(response, 409)
    assert body["code"] == "idempotency_in_progress" and response["Retry-After"] == "1"


def test_throttling_answers_429_with_retry_after(api, product, partner):
    partner.rate_limit = "2/min"
    partner.save()
    payload = {"product": "cash-12", "amount": "5000.00", "term_months": 12, "method": "equal_installment"}
    assert api.post("/api/v1/quotes", payload, format="json").status_code == 200
    assert api.post("/api/v1/quotes", payload, format="json").status_code == 200
    # A minute boundary may fall between calls and allow two more; five calls cannot all pass.
    responses = [api.post("/api/v1/quotes", payload, format="json") for _ in range(3)]
    throttled = [r for r in responses if r.status_code == 429]
    assert throttled, [r.status_code for r in responses]
    problem(throttled[0], 429)
    assert 1 <= int(throttled[0]["Retry-After"]) <= 60


def test_throttle_counts_each_key_apart(api, product, partner):
    partner.rate_limit = "3/hour"
    partner.save()
    _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["quote"])
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    payload = {"product": "cash-12", "amount": "5000.00", "term_months": 12, "method": "equal_installment"}
    codes = [other.post("/api/v1/quotes", payload, format="json").status_code for _ in range(7)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]  # an hour boundary lets at most 3 more through
    assert api.post("/api/v1/quotes", payload, format="json").status_code == 200  # the first key: its own count


def test_throttle_lets_calls_through_when_redis_is_down(api, product, partner, settings, caplog):
    settings.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"
    partner.rate_limit = "1/min"
    partner.save()
    payload = {"product": "cash-12", "amount": "5000.00", "term_months": 12, "method": "equal_installment"}
    assert [api.post("/api/v1/quotes", payload, format="json").status_code for _ in range(3)] == [200, 200, 200]
    assert "throttle counter unavailable" in caplog.text


@pytest.mark.parametrize("rate", ["lots", "0/min", "10/fortnight", "-5/s", ""])
def test_a_partner_rate_limit_must_be_readable(partner, rate):
    partner.rate_limit = rate
    with pytest.raises(ValidationError) as error:
        partner.full_clean()
    assert "rate_limit" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        partner.save()  # the database refuses it too, so a bad rate never reaches the throttle


def test_a_key_left_in_progress_by_a_dead_request_is_taken_over(api, partner_loan, partner):
    path = f"/api/v1/loans/{partner_loan.reference}/repayments"
    body = b'{"amount":"500.00","paid_on":"2026-02-15","payment_reference":"P-1"}'
    fingerprint = partners.request_fingerprint(method="POST", path=path, body=body)
    state, record = partners.idempotency_begin(partner=partner, key="dead", fingerprint=fingerprint)
    assert state == "new"
    problem(pay(api, partner_loan, "dead"), 409)  # still fresh: in progress
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - partners.IN_PROGRESS_ABANDONED - timedelta(seconds=1)
    )
    response = pay(api, partner_loan, "dead")
    assert response.status_code == 201 and Repayment.objects.count() == 1
    replay = pay(api, partner_loan, "dead")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == response.json()


def test_calls_are_logged_with_key_path_status_and_latency(api, product):
    api.post("/api/v1/quotes", {"product": "cash-12"}, format="json")
    log = ApiCallLog.objects.get()
    assert (log.path, log.status, log.partner.code) == ("/api/v1/quotes", 400, "acme") and log.latency_ms > 0


def test_webhooks_registered_and_queued_once_per_event_and_endpoint(
    api, partner_loan, django_capture_on_commit_callbacks
):
    registered = api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert registered.status_code == 201 and len(registered.json()["secret"]) == 48
    problem(api.post("/api/v1/webhooks", {"url": "not a url"}, format="json"), 400)
    with django_capture_on_commit_callbacks(execute=False):
        pay(api, partner_loan, "key-w")
    deliveries = WebhookDelivery.objects.all()
    assert [d.event_type for d in deliveries] == ["repayment.recorded"]
    assert deliveries[0].payload["data"]["loan"] == partner_loan.reference


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_idempotent_repayment_from_several_threads_is_recorded_once(partner_loan_tx):
    api_key, loan = partner_loan_tx
    results = []

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        try:
            results.append(pay(client, loan, "same-key").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Repayment.objects.count() == 1
    assert results.count(201) >= 1 and set(results) <= {201, 409}


@pytest.fixture
def partner_loan_tx(partner, product, credit_manager):
    from datetime import date

    from loans import services

    _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["repay", "read"])
    loan = services.loan_submit(borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("9000.00"),
                                term_months=9, method="equal_installment", decide=False, partner_id=partner.pk)  # fmt: skip
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=date(2026, 1, 15))
    return raw, Loan.objects.get(pk=loan.pk)


def test_loan_status_changes_reach_partner_webhooks(partner, product, credit_manager):
    from loans import services

    partners.webhook_register(partner=partner, url="http://127.0.0.1:9/hook")
    loan = services.loan_submit(borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("5000.00"),
                                term_months=12, method="equal_installment", decide=False, partner_id=partner.pk)  # fmt: skip
    services.loan_refer(loan_id=loan.pk)
    event = WebhookDelivery.objects.get()
    assert event.event_type == "loan.status_changed" and event.payload["data"]["to"] == LoanStatus.IN_REVIEW
