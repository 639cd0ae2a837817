"""Collectors' work, reminders and the review queue."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from collection import services, sweep
from collection.models import CollectionCase, ContactLog, Notification, PromiseToPay
from lender.errors import AuthorityError, InvalidInput, StateError
from lender.models import AuditEvent
from loans import services as loan_services
from loans.models import Loan, LoanStatus
from tests.loans.factories import BorrowerFactory, ProductFactory

D = Decimal
SHANGHAI = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


@pytest.fixture
def case(disbursed, collectors):
    loan = disbursed(grace_days=0)
    sweep.sweep_run(business_date=date(2026, 2, 20))
    return CollectionCase.objects.get(loan=loan)


def log(case, by, **kwargs):
    fields = dict(channel="call", outcome="no_answer")
    fields.update(kwargs)
    return services.contact_log(case_id=case.pk, by=by, **fields)


def test_contact_and_promise_to_pay_are_logged(case, collectors):
    today = timezone.localdate()
    log(case, collectors["collector"], outcome="promise_to_pay", promise_amount=D("500.00"),
        promise_date=today + timedelta(days=3), next_action_on=today + timedelta(days=4), note="will pay Friday")  # fmt: skip
    promise = PromiseToPay.objects.get(case=case)
    assert (promise.amount, promise.status) == (D("500.00"), "pending")
    case.refresh_from_db()
    assert case.next_action_on == today + timedelta(days=4)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(outcome="angry"), "outcome"),
        (dict(channel="pigeon"), "channel"),
        (dict(next_action_on=date(2020, 1, 1)), "next_action_on"),
        (dict(outcome="promise_to_pay", promise_amount=D("100.00"), promise_date=date(2020, 1, 1)), "promise_date"),
        (dict(outcome="promise_to_pay", promise_amount=D("99999.00")), "promise_amount"),
        (dict(outcome="promise_to_pay"), "promise_amount"),
    ],
)
def test_bad_contacts_are_refused_and_nothing_is_written(case, collectors, kwargs, field):
    if kwargs.get("outcome") == "promise_to_pay" and "promise_date" not in kwargs and "promise_amount" in kwargs:
        kwargs["promise_date"] = timezone.localdate() + timedelta(days=2)
    with pytest.raises(InvalidInput) as excinfo:
        log(case, collectors["collector"], **kwargs)
    assert excinfo.value.extra["field"] == field
    assert not ContactLog.objects.exists() and not PromiseToPay.objects.exists()


def test_collectors_work_only_their_own_cases(case, make_staff):
    other = make_staff("collector")
    with pytest.raises(AuthorityError):
        log(case, other)


def test_manager_reassigns_in_bulk_and_it_is_audited(case, collectors, make_staff):
    other = make_staff("collector")
    with pytest.raises(AuthorityError):
        services.cases_reassign(case_ids=[case.pk], to_user_id=other.pk, by=collectors["collector"])
    assert services.cases_reassign(case_ids=[case.pk], to_user_id=other.pk, by=collectors["manager"]) == 1
    case.refresh_from_db()
    assert case.assigned_to == other
    assert AuditEvent.objects.filter(action="case_reassigned", target_id=case.pk).exists()


def test_write_off_needs_a_recommendation(case, collectors):
    with pytest.raises(StateError):
        services.case_write_off_approve(case_id=case.pk, by=collectors["manager"], note="x")


# --- reminders ---------------------------------------------------------------------------------


def test_reminders_are_planned_once_per_installment_and_kind(disbursed):
    loan = disbursed()
    due = loan.installments.get(number=1).due_date
    assert services.reminders_plan(on=due - timedelta(days=3)) == 1
    assert services.reminders_plan(on=due - timedelta(days=3)) == 0
    assert services.reminders_plan(on=due) == 1
    note = Notification.objects.get(kind="due_d-3")
    assert "¥1,066.19" in note.body and "2026-02-15" in note.body and loan.reference in note.body


def test_reminder_texts_in_english_and_chinese():
    english = services.reminder_text(language="en", kind="due_d-1", reference="APP1", number=2, amount=D("12.5"),
                                     due=date(2026, 3, 1))  # fmt: skip
    chinese = services.reminder_text(language="zh-hans", kind="overdue_d+1", reference="APP1", number=2,
                                     amount=D("12.5"), due=date(2026, 3, 1))  # fmt: skip
    assert "¥12.50" in english and "due on 2026-03-01" in english
    assert "¥12.50" in chinese and "到期未还" in chinese


@pytest.mark.parametrize(
    "hour, quiet", [(20, False), (21, True), (23, True), (3, True), (7, True), (8, False), (12, False)]
)
def test_quiet_hours(hour, quiet):
    moment = datetime(2026, 3, 2, hour, 30, tzinfo=SHANGHAI)
    assert services.in_quiet_hours(moment) is quiet


def test_sms_waits_for_the_morning_in_quiet_hours(disbursed, gateway):
    loan = disbursed()
    services.reminders_plan(on=loan.installments.get(number=1).due_date)
    note = Notification.objects.get()
    night = datetime(2026, 3, 2, 22, 15, tzinfo=SHANGHAI)
    assert services.notification_send(notification_id=note.pk, now=night) == "deferred"
    note.refresh_from_db()
    assert note.status == "pending" and timezone.localtime(note.send_after) == datetime(
        2026, 3, 3, 8, 0, tzinfo=SHANGHAI
    )
    assert services.notifications_due(now=night) == [] and gateway.received == []
    morning = datetime(2026, 3, 3, 8, 5, tzinfo=SHANGHAI)
    assert services.notifications_due(now=morning) == [note.pk]
    assert services.notification_send(notification_id=note.pk, now=morning) == "sent"
    assert len(gateway.received) == 1


def test_gateway_failure_is_recorded_and_retried_until_sent_once(disbursed, gateway):
    gateway.failures = 2
    loan = disbursed()
    services.reminders_plan(on=loan.installments.get(number=1).due_date)
    note = Notification.objects.get()
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI)
    assert services.notification_send(notification_id=note.pk, now=noon) == "retry"
    note.refresh_from_db()
    assert note.attempts == 1 and "503" in note.last_error and note.status == "pending"
    assert services.notification_send(notification_id=note.pk, now=noon) == "retry"
    assert services.notification_send(notification_id=note.pk, now=noon) == "sent"
    assert services.notification_send(notification_id=note.pk, now=noon) == "skipped"
    note.refresh_from_db()
    assert note.status == "sent" and note.attempts == 3
    keys = {key for _, key, _ in gateway.received}
    assert keys == {f"reminder-{note.pk}"} and gateway.received[-1][2] == "Bearer test-key"


def test_exhausted_retries_leave_a_failed_row_for_a_manual_resend(disbursed, gateway, settings):
    settings.REMINDER_MAX_ATTEMPTS = 2
    gateway.failures = 10
    loan = disbursed()
    services.reminders_plan(on=loan.installments.get(number=1).due_date)
    note = Notification.objects.get()
    noon = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI)
    assert services.notification_send(notification_id=note.pk, now=noon) == "retry"
    assert services.notification_send(notification_id=note.pk, now=noon) == "failed"
    note.refresh_from_db()
    assert note.status == "failed" and note.attempts == 2


# --- review queue --------------------------------------------------------------------------------


@pytest.fixture
def referred(db):
    def make(amount="30000.00"):
        loan = loan_services.loan_submit(
            borrower_id=BorrowerFactory().pk, product_id=ProductFactory().pk, amount=D(amount), term_months=12,
            method="equal_installment", decide=False,
        )  # fmt: skip
        return loan_services.loan_refer(loan_id=loan.pk)

    return make


def test_referred_applications_go_to_the_least_loaded_officer_who_may_approve(referred, officer, junior_officer):
    loans = [referred("30000.00"), referred("10000.00"), referred("12000.00")]
    assert loan_services.review_assign_pending() == 3
    assigned = {loan.pk: Loan.objects.get(pk=loan.pk).assigned_to for loan in loans}
    assert assigned[loans[0].pk] == officer  # 30,000 is above the junior officer's 20,000
    assert assigned[loans[1].pk] == junior_officer  # least loaded
    assert loan_services.review_assign_pending() == 0
    assert AuditEvent.objects.filter(action="review_assigned").count() == 3


def test_officers_off_duty_get_nothing(referred, officer):
    officer.staff_profile.is_on_duty = False
    officer.staff_profile.save()
    referred()
    assert loan_services.review_assign_pending() == 0


def test_claim_release_and_escalation_past_the_sla(referred, officer, officer2, credit_manager):
    loan = referred()
    loan_services.review_claim(loan_id=loan.pk, by=officer)
    with pytest.raises(StateError, match="assigned to"):
        loan_services.review_claim(loan_id=loan.pk, by=officer2)
    with pytest.raises(AuthorityError):
        loan_services.review_release(loan_id=loan.pk, by=officer2)
    loan_services.review_release(loan_id=loan.pk, by=officer)
    loan_services.review_claim(loan_id=loan.pk, by=officer2)
    later = timezone.now() + timedelta(hours=25)  # the product's SLA is 24 hours
    assert loan_services.review_escalate_late(now=later) == 1
    assert loan_services.review_escalate_late(now=later) == 0
    loan.refresh_from_db()
    assert loan.escalated_to == credit_manager and loan.status == LoanStatus.IN_REVIEW
    assert AuditEvent.objects.filter(action="review_escalated", target_id=loan.pk).count() == 1
