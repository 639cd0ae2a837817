"""The pages as officers, collectors and managers use them: forms, messages, htmx fragments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collection.models import ContactLog, PromiseToPay
from lender.models import AuditEvent
from loans.models import Loan, LoanStatus
from tests.pages.conftest import make_application, verify_documents

pytestmark = pytest.mark.django_db


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_officer_approves_within_limit(client, world):
    client.force_login(world["officer"])
    loan = world["application"]
    response = client.post(f"/applications/{loan.pk}/approve/", {"amount": "30000.00", "term_months": 12, "note": "ok"},
                           follow=True)  # fmt: skip
    assert response.status_code == 200
    assert f"{loan.reference} is approved." in messages_of(response)
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.APPROVED


def test_above_the_limit_the_page_names_the_countersigner_and_a_credit_manager_countersigns(client, world):
    loan = make_application(world["application"].product, "80000.00")
    verify_documents(loan, world["officer"])
    client.force_login(world["officer"])
    page = client.get(f"/applications/{loan.pk}/").content.decode()
    assert "Above your approval limit" in page and "¥80,000.00" in page
    refused = client.post(f"/applications/{loan.pk}/approve/", {"amount": "80000.00", "term_months": 12})
    assert refused.status_code == 400 and "above your approval limit" in refused.content.decode()
    assert 'value="80000.00"' in refused.content.decode()  # what the officer typed is kept
    client.post(f"/applications/{loan.pk}/propose/", {"note": "strong income"})
    client.force_login(world["credit_manager"])
    queue = client.get("/countersign/").content.decode()
    assert loan.reference in queue
    done = client.post(f"/applications/{loan.pk}/approve/", {"amount": "80000.00", "term_months": 12}, follow=True)
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.APPROVED
    assert loan.reference not in client.get("/countersign/").content.decode()
    assert done.status_code == 200


def test_terms_outside_the_product_are_field_errors(client, world):
    client.force_login(world["officer"])
    loan = world["application"]
    response = client.post(f"/applications/{loan.pk}/approve/", {"amount": "999999.00", "term_months": 12})
    assert response.status_code == 400
    assert "between" in " ".join(response.context["approve_form"].errors["amount"])
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.IN_REVIEW


def test_reject_with_a_reason_from_the_list(client, world):
    client.force_login(world["officer"])
    loan = world["application"]
    bad = client.post(f"/applications/{loan.pk}/reject/", {"reason": "whim"})
    assert bad.status_code == 400 and "reason" in bad.context["reject_form"].errors
    client.post(f"/applications/{loan.pk}/reject/", {"reason": "high_debt_burden", "note": "DTI 80%"})
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.REJECTED


def test_reveal_by_htmx_is_audited(client, world):
    client.force_login(world["credit_manager"])
    loan = world["application"]
    missing = client.post(f"/applications/{loan.pk}/reveal/", {"reason": ""}, HTTP_HX_REQUEST="true")
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    shown = client.post(f"/applications/{loan.pk}/reveal/", {"reason": "identity call"}, HTTP_HX_REQUEST="true")
    assert loan.borrower.id_number in shown.content.decode()
    assert AuditEvent.objects.filter(action="pii_revealed", actor=world["credit_manager"]).count() == 1


def test_bulk_disbursement_needs_a_confirmation(client, world):
    client.force_login(world["credit_manager"])
    loan = world["approved"]
    unconfirmed = client.post("/disbursements/disburse/", {"loan_ids": [loan.pk]}, follow=True)
    assert any("confirmation" in m for m in messages_of(unconfirmed))
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.APPROVED
    done = client.post("/disbursements/disburse/", {"loan_ids": [loan.pk], "confirm": "yes"}, follow=True)
    assert any(loan.reference in m for m in messages_of(done))
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.ACTIVE


def test_collector_logs_a_contact_and_a_promise_inline(client, world):
    case = world["case"]
    client.force_login(case.assigned_to)
    day = timezone.localdate() + timedelta(days=2)
    bad = client.post(
        f"/collections/cases/{case.pk}/contact/",
        {
            "channel": "call",
            "outcome": "promise_to_pay",
            "promise_amount": "300.00",
            "promise_date": "2020-01-01",
            "note": "call back",
        },  # fmt: skip
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 200 and "cannot be in the past" in bad.content.decode()
    assert "call back" in bad.content.decode() and not ContactLog.objects.exists()
    good = client.post(
        f"/collections/cases/{case.pk}/contact/",
        {"channel": "call", "outcome": "promise_to_pay", "promise_amount": "300.00", "promise_date": day.isoformat()},
        HTTP_HX_REQUEST="true",
    )
    assert good.status_code == 200 and "Promise to pay" in good.content.decode()
    assert "<html" not in good.content.decode()  # a fragment for the panel, not a page
    assert PromiseToPay.objects.get(case=case).amount == Decimal("300.00")


def test_worklist_shows_only_my_cases(client, world, make_staff):
    other = make_staff("collector")
    client.force_login(other)
    assert world["case"].loan.reference not in client.get("/collections/worklist/").content.decode()
    assert client.get(f"/collections/cases/{world['case'].pk}/").status_code == 403


def test_portfolio_page_and_csv(client, world):
    client.force_login(world["credit_manager"])
    page = client.get("/portfolio/").content.decode()
    assert "PAR30" in page and "¥12,000.00" in page
    csv_body = client.get("/portfolio.csv").content.decode()
    assert "risk,outstanding_principal,,12000.00" in csv_body and "funnel,submitted" in csv_body


def test_documents_download_privately(client, world):
    client.force_login(world["officer"])
    response = client.get(f"/documents/{world['document'].pk}/?inline=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_language_switch_to_chinese(client, world):
    client.force_login(world["officer"])
    client.post("/language/", {"language": "zh-hans"})
    assert "审核队列" in client.get("/review/").content.decode()
    client.post("/language/", {"language": "en"})
    assert "Review queue" in client.get("/review/").content.decode()
