from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from loans.models import Bucket, Installment, Loan, MoneyField


class LadderStep(models.Model):
    """The escalation ladder, configurable in admin: who works a bucket and what they do."""

    bucket = models.CharField(max_length=8, choices=Bucket.choices, unique=True)
    assignee_group = models.CharField(max_length=40, help_text="The staff group whose members get these cases.")
    action = models.CharField(max_length=200)
    script = models.TextField(blank=True, help_text="What the collector says in this bucket.")
    recommend_write_off = models.BooleanField(default=False)

    class Meta:
        ordering = ["bucket"]

    def __str__(self) -> str:
        return f"{self.bucket}: {self.action}"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    WRITE_OFF_RECOMMENDED = "write_off_recommended", "Write-off recommended"
    CLOSED = "closed", "Closed"


class CollectionCase(models.Model):
    """One case per overdue loan while it is overdue (opened and updated by the nightly sweep)."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="collection_cases")
    status = models.CharField(max_length=24, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="collection_cases"
    )
    bucket = models.CharField(max_length=8, choices=Bucket.choices)
    days_past_due = models.PositiveIntegerField(default=0)
    overdue_amount = MoneyField(default=Decimal("0.00"))
    broken_promises = models.PositiveSmallIntegerField(default=0)
    is_escalated = models.BooleanField(default=False)
    next_action_on = models.DateField(null=True, blank=True)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("manage_cases", "Can reassign cases, escalate them and approve write-offs"),
            ("work_cases", "Can work their own collection cases"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["loan"], condition=~Q(status="closed"), name="one_open_case_per_loan")
        ]
        indexes = [models.Index(fields=["assigned_to", "status"])]

    def __str__(self) -> str:
        return f"Case {self.pk} on {self.loan.reference} ({self.bucket})"


class ContactChannel(models.TextChoices):
    CALL = "call", "Phone call"
    SMS = "sms", "SMS"
    VISIT = "visit", "Field visit"
    LETTER = "letter", "Letter"
    APP = "app", "App message"


class ContactOutcome(models.TextChoices):
    NO_ANSWER = "no_answer", "No answer"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    PROMISE_TO_PAY = "promise_to_pay", "Promise to pay"
    REFUSED = "refused", "Refused to pay"
    PAID = "paid", "Says they paid"
    DISPUTE = "dispute", "Disputes the debt"
    THIRD_PARTY = "third_party", "Spoke to a third party"


class ContactLog(models.Model):
    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="contacts")
    collector = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    channel = models.CharField(max_length=10, choices=ContactChannel.choices)
    outcome = models.CharField(max_length=20, choices=ContactOutcome.choices)
    note = models.TextField(blank=True)
    next_action_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class PromiseStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    KEPT = "kept", "Kept"
    BROKEN = "broken", "Broken"


class PromiseToPay(models.Model):
    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="promises")
    contact = models.OneToOneField(ContactLog, null=True, blank=True, on_delete=models.PROTECT)
    amount = MoneyField()
    promised_for = models.DateField()
    status = models.CharField(max_length=10, choices=PromiseStatus.choices, default=PromiseStatus.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_on = models.DateField()
    resolved_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["promised_for", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_gt_0")]


class SweepRun(models.Model):
    """The nightly sweep of one business date; its chunks say what is done."""

    business_date = models.DateField(unique=True)
    chunk_size = models.PositiveIntegerField()
    chunks_planned = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-business_date"]

    def __str__(self) -> str:
        return f"sweep {self.business_date} ({'done' if self.completed_at else 'running'})"


class SweepChunk(models.Model):
    """One chunk of loan ids of a sweep: written in the same transaction as the chunk's work."""

    run = models.ForeignKey(SweepRun, on_delete=models.CASCADE, related_name="chunks")
    first_loan_id = models.BigIntegerField()
    last_loan_id = models.BigIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)
    loans_overdue = models.PositiveIntegerField(default=0)
    installments_charged = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "first_loan_id"], name="sweep_chunk_unique")]


class NotificationKind(models.TextChoices):
    DUE_IN_3 = "due_d-3", "Due in 3 days"
    DUE_IN_1 = "due_d-1", "Due tomorrow"
    DUE_TODAY = "due_d0", "Due today"
    OVERDUE_1 = "overdue_d+1", "1 day overdue"
    OVERDUE_3 = "overdue_d+3", "3 days overdue"
    OVERDUE_7 = "overdue_d+7", "7 days overdue"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (retries exhausted)"
    CANCELLED = "cancelled", "Cancelled (paid before sending)"


class Notification(models.Model):
    """The reminder outbox: one row per installment and kind, so a reminder is never sent twice."""

    installment = models.ForeignKey(Installment, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=12, choices=NotificationKind.choices)
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=10)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    send_after = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["installment", "kind"], name="one_reminder_per_installment_kind")
        ]
        indexes = [models.Index(fields=["status", "send_after"])]

    def __str__(self) -> str:
        return f"{self.kind} for installment {self.installment_id}: {self.status}"
