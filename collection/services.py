"""Writes of the collections app: cases, contacts, promises, write-offs and reminders."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from collection import channels
from collection.models import (
    CaseStatus,
    CollectionCase,
    ContactLog,
    ContactOutcome,
    LadderStep,
    Notification,
    NotificationKind,
    NotificationStatus,
    PromiseToPay,
)
from lender.audit import audit
from lender.errors import AuthorityError, InvalidInput, NotFound, StateError
from lender.money import format_cny
from loans.models import Bucket, Installment, LoanStatus
from loans.services import loan_write_off

User = get_user_model()
NEXT_BUCKET = {Bucket.M1: Bucket.M2, Bucket.M2: Bucket.M3, Bucket.M3: Bucket.M3_PLUS, Bucket.M3_PLUS: Bucket.M3_PLUS}


def _case(case_id: int) -> CollectionCase:
    try:
        return CollectionCase.objects.select_for_update().select_related("loan").get(pk=case_id)
    except CollectionCase.DoesNotExist:
        raise NotFound(f"No collection case {case_id}.") from None


def _least_loaded(group: str, *, other_than: int | None = None) -> User | None:
    """The on-duty member of `group` with the fewest open cases, someone else than `other_than` if possible."""
    members = list(
        User.objects.filter(is_active=True, groups__name=group, staff_profile__is_on_duty=True)
        .annotate(load=Count("collection_cases", filter=~Q(collection_cases__status=CaseStatus.CLOSED)))
        .order_by("load", "pk")
    )
    others = [m for m in members if m.pk != other_than]
    return (others or members or [None])[0]


@transaction.atomic
def case_escalate(*, case_id: int, reason: str, by=None) -> CollectionCase:
    """Move a case one step up the ladder at once (a broken promise, or a manager's call)."""
    case = _case(case_id)
    step = LadderStep.objects.filter(bucket=NEXT_BUCKET.get(case.bucket, Bucket.M3_PLUS)).first()
    assignee = _least_loaded(step.assignee_group, other_than=case.assigned_to_id) if step else None
    before = case.assigned_to
    case.is_escalated = True
    if assignee is not None:
        case.assigned_to = assignee
    case.next_action_on = timezone.localdate()
    case.save(update_fields=["is_escalated", "assigned_to", "next_action_on", "updated_at"])
    audit(target=case, action="case_escalated", actor=by, message=reason,
          before=getattr(before, "pk", None), after=getattr(case.assigned_to, "pk", None))  # fmt: skip
    return case


def amount_owed(loan_id: int) -> Decimal:
    """Everything still owed on the loan: all principal, and interest, penalties and fees charged."""
    total = Installment.objects.filter(loan_id=loan_id).aggregate(
        owed=Sum(
            F("principal_due") - F("principal_paid") + F("interest_due") - F("interest_paid")
            + F("penalty_due") - F("penalty_paid") + F("fee_due") - F("fee_paid")
        )
    )["owed"]  # fmt: skip
    return total or Decimal("0.00")


@transaction.atomic
def contact_log(
    *,
    case_id: int,
    by,
    channel: str,
    outcome: str,
    note: str = "",
    next_action_on: date | None = None,
    promise_amount: Decimal | None = None,
    promise_date: date | None = None,
) -> ContactLog:
    """Log a contact (and a promise to pay); raises InvalidInput naming the field, nothing written."""
    case = _case(case_id)
    if case.assigned_to_id != by.pk and not by.has_perm("collection.manage_cases"):
        raise AuthorityError("This case is not yours.")
    if case.status == CaseStatus.CLOSED:
        raise StateError("This case is closed.")
    if outcome not in ContactOutcome.values:
        raise InvalidInput(f"Unknown contact outcome {outcome!r}.", field="outcome")
    from collection.models import ContactChannel

    if channel not in ContactChannel.values:
        raise InvalidInput(f"Unknown contact channel {channel!r}.", field="channel")
    today = timezone.localdate()
    if next_action_on is not None and next_action_on < today:
        raise InvalidInput("The next action date cannot be in the past.", field="next_action_on")
    if outcome == ContactOutcome.PROMISE_TO_PAY:
        if promise_amount is None or promise_date is None:
            raise InvalidInput("A promise to pay needs an amount and a date.", field="promise_amount")
        if promise_date < today:
            raise InvalidInput("The promised date cannot be in the past.", field="promise_date")
        if promise_amount <= 0:
            raise InvalidInput("The promised amount must be more than zero.", field="promise_amount")
        owed = amount_owed(case.loan_id)
        if promise_amount > owed:
            raise InvalidInput(
                f"The promise of {format_cny(promise_amount)} is more than the {format_cny(owed)} owed.",
                field="promise_amount",
            )
    contact = ContactLog.objects.create(
        case=case, collector=by, channel=channel, outcome=outcome, note=note, next_action_on=next_action_on
    )
    if outcome == ContactOutcome.PROMISE_TO_PAY:
        PromiseToPay.objects.create(
            case=case, contact=contact, amount=promise_amount, promised_for=promise_date, created_by=by,
            created_on=today,
        )  # fmt: skip
        case.next_action_on = promise_date + timedelta(days=1)
    if next_action_on is not None:
        case.next_action_on = next_action_on
    case.save(update_fields=["next_action_on", "updated_at"])
    return contact


@transaction.atomic
def cases_reassign(*, case_ids: list[int], to_user_id: int, by) -> int:
    """A collections manager moves cases to a collector (audited)."""
    if not by.has_perm("collection.manage_cases"):
        raise AuthorityError("Only a collections manager can reassign cases.")
    target = User.objects.filter(pk=to_user_id, is_active=True).first()
    if target is None:
        raise InvalidInput("Choose an active collector.", field="to_user")
    cases = list(CollectionCase.objects.filter(pk__in=case_ids).exclude(status=CaseStatus.CLOSED).select_for_update())
    if len(cases) != len(set(case_ids)):
        raise InvalidInput("Some cases are closed or do not exist.", field="cases")
    for case in cases:
        before = case.assigned_to_id
        case.assigned_to = target
        case.save(update_fields=["assigned_to", "updated_at"])
        audit(target=case, action="case_reassigned", actor=by, before=before, after=target.pk)
    return len(cases)


@transaction.atomic
def case_write_off_approve(*, case_id: int, by, note: str) -> CollectionCase:
    """Approve a write-off recommendation: the loan is written off and the case closed."""
    case = _case(case_id)
    if case.status != CaseStatus.WRITE_OFF_RECOMMENDED:
        raise StateError("Only a case recommended for write-off can be written off.")
    loan_write_off(loan_id=case.loan_id, by=by, note=note)
    case.status, case.closed_on = CaseStatus.CLOSED, timezone.localdate()
    case.save(update_fields=["status", "closed_on", "updated_at"])
    audit(target=case, action="write_off_approved", actor=by, message=note)
    return case


# ---------------------------------------------------------------------------------------------
# Reminders
# ---------------------------------------------------------------------------------------------

OFFSETS = {  # kind: days from the due date to the reminder
    NotificationKind.DUE_IN_3: -3,
    NotificationKind.DUE_IN_1: -1,
    NotificationKind.DUE_TODAY: 0,
    NotificationKind.OVERDUE_1: 1,
    NotificationKind.OVERDUE_3: 3,
    NotificationKind.OVERDUE_7: 7,
}
TEMPLATES = {
    "en": {
        "due": "Your installment {number} of {reference}, {amount}, is due on {due}. Pay in the app or by bank "
        "transfer quoting {reference}.",
        "overdue": "Your installment {number} of {reference}, {amount}, was due on {due} and is unpaid. Please pay "
        "in the app or by bank transfer quoting {reference} to avoid penalty interest.",
    },
    "zh-hans": {
        "due": "您的借款{reference}第{number}期应还{amount}，到期日{due}。请在App内还款或银行转账并备注{reference}。",
        "overdue": "您的借款{reference}第{number}期应还{amount}已于{due}到期未还，请尽快在App内还款或银行转账并备注"
        "{reference}，以免产生罚息。",
    },
}


def reminder_text(*, language: str, kind: str, reference: str, number: int, amount: Decimal, due: date) -> str:
    template = TEMPLATES.get(language, TEMPLATES["zh-hans"])["overdue" if kind.startswith("overdue") else "due"]
    return template.format(reference=reference, number=number, amount=format_cny(amount), due=due.isoformat())


def reminders_plan(*, on: date) -> int:
    """Queue the reminders of the day in the outbox; one per installment and kind, whatever re-runs."""
    created = 0
    now = timezone.now()
    for kind, offset in OFFSETS.items():
        if kind not in settings.REMINDER_KINDS:
            continue
        rows = (
            Installment.objects.filter(
                due_date=on - timedelta(days=offset), loan__status__in=(LoanStatus.ACTIVE, LoanStatus.OVERDUE)
            )
            .exclude(principal_paid=F("principal_due"), interest_paid=F("interest_due"))
            .exclude(notifications__kind=kind)  # planned already; the unique constraint guards races
            .select_related("loan__borrower")
        )
        batch = [
            Notification(
                installment=i,
                kind=kind,
                channel=settings.REMINDER_CHANNEL,
                language=i.loan.borrower.preferred_language,
                body=reminder_text(
                    language=i.loan.borrower.preferred_language,
                    kind=kind,
                    reference=i.loan.reference,
                    number=i.number,
                    amount=i.total_outstanding,
                    due=i.due_date,
                ),
                send_after=now,
            )  # fmt: skip
            for i in rows
        ]
        created += len(Notification.objects.bulk_create(batch, ignore_conflicts=True))
    return created


def in_quiet_hours(moment: datetime) -> bool:
    local = timezone.localtime(moment).time()
    start, end = time(settings.QUIET_HOURS_START), time(settings.QUIET_HOURS_END)
    return local >= start or local < end if start > end else start <= local < end


def next_morning(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    morning = local.replace(hour=settings.QUIET_HOURS_END, minute=0, second=0, microsecond=0)
    if local.time() >= time(settings.QUIET_HOURS_END):
        morning += timedelta(days=1)
    return morning


class SendResult:
    SENT, SKIPPED, DEFERRED, RETRY, FAILED = "sent", "skipped", "deferred", "retry", "failed"


@transaction.atomic
def notification_send(*, notification_id: int, now: datetime | None = None) -> str:
    """Send one reminder at most once: the row lock serialises retries and duplicate tasks.

    SMS and calls wait for the morning in quiet hours; a gateway failure is recorded and the
    caller retries (RETRY) until the attempts run out (FAILED, kept for a manual resend).
    """
    now = now or timezone.now()
    note = (
        Notification.objects.select_for_update().select_related("installment__loan__borrower").get(pk=notification_id)
    )
    if note.status != NotificationStatus.PENDING:
        return SendResult.SKIPPED
    if note.installment.is_paid:
        note.status = NotificationStatus.CANCELLED
        note.save(update_fields=["status"])
        return SendResult.SKIPPED
    if note.channel in channels.QUIET_HOUR_CHANNELS and in_quiet_hours(now):
        note.send_after = next_morning(now)
        note.save(update_fields=["send_after"])
        return SendResult.DEFERRED
    note.attempts += 1
    try:
        channels.get(note.channel).send(note)
    except channels.ChannelError as e:
        note.last_error = str(e)[:2000]
        if note.attempts >= settings.REMINDER_MAX_ATTEMPTS:
            note.status = NotificationStatus.FAILED
        note.save(update_fields=["attempts", "last_error", "status"])
        return SendResult.FAILED if note.status == NotificationStatus.FAILED else SendResult.RETRY
    note.status, note.sent_at, note.last_error = NotificationStatus.SENT, now, ""
    note.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return SendResult.SENT


def notifications_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or timezone.now()
    return list(
        Notification.objects.filter(status=NotificationStatus.PENDING, send_after__lte=now)
        .order_by("send_after", "pk")
        .values_list("pk", flat=True)[:limit]
    )
