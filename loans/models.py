from decimal import Decimal

import django_fsm as fsm
import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from encrypted_fields.fields import EncryptedCharField

from lender.money import (
    AMOUNT_DECIMAL_PLACES,
    AMOUNT_MAX_DIGITS,
    RATE_DECIMAL_PLACES,
    RATE_MAX_DIGITS,
    to_rate,
)
from loans import schedules
from loans.validators import (
    birth_date_from_resident_id,
    blind_index,
    mask_id_number,
    mask_phone,
    normalize_credit_code,
    normalize_mobile,
    normalize_resident_id,
)


def MoneyField(**kwargs):  # noqa: N802  (reads like a field class)
    return models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs)


def RateField(**kwargs):  # noqa: N802
    return models.DecimalField(max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES, **kwargs)


class RepaymentMethod(models.TextChoices):
    EQUAL_INSTALLMENT = schedules.EQUAL_INSTALLMENT, "Equal installment (等额本息)"
    EQUAL_PRINCIPAL = schedules.EQUAL_PRINCIPAL, "Equal principal (等额本金)"
    INTEREST_FIRST = schedules.INTEREST_FIRST, "Interest first (先息后本)"
    BULLET = schedules.BULLET, "Daily interest, repay any day (随借随还)"


# ---------------------------------------------------------------------------------------------
# Borrowers
# ---------------------------------------------------------------------------------------------


class BorrowerKind(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    STUDENT = "student", "Student"
    SMALL_BUSINESS = "small_business", "Small business"


class EmploymentKind(models.TextChoices):
    EMPLOYED = "employed", "Employed"
    SELF_EMPLOYED = "self_employed", "Self-employed"
    BUSINESS_OWNER = "business_owner", "Business owner"
    STUDENT = "student", "Student"
    RETIRED = "retired", "Retired"
    UNEMPLOYED = "unemployed", "Unemployed"


class DegreeLevel(models.TextChoices):
    UNDERGRADUATE = "undergraduate", "Undergraduate"
    MASTER = "master", "Master"
    DOCTORATE = "doctorate", "Doctorate"


@pghistory.track()
class Borrower(models.Model):
    kind = models.CharField(max_length=20, choices=BorrowerKind.choices)
    full_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True, help_text="For reminders by email, when the borrower chose them.")
    preferred_language = models.CharField(
        max_length=10, choices=[("zh-hans", "简体中文"), ("en", "English")], default="zh-hans"
    )
    # Personal data is encrypted at rest; the *_hash columns are HMAC blind indexes for exact
    # look-ups (duplicates, blacklist) without decrypting. Set them through Borrower.set_identity().
    id_number = EncryptedCharField(max_length=18)
    id_number_hash = models.CharField(max_length=64, unique=True, editable=False)
    phone = EncryptedCharField(max_length=20)
    phone_hash = models.CharField(max_length=64, db_index=True, editable=False)
    birth_date = models.DateField(editable=False)

    employment_kind = models.CharField(max_length=20, choices=EmploymentKind.choices, default=EmploymentKind.EMPLOYED)
    employment_years = models.PositiveSmallIntegerField(default=0)
    monthly_income = MoneyField(default=Decimal("0.00"))
    monthly_obligations = MoneyField(default=Decimal("0.00"))

    # Students
    school = models.CharField(max_length=120, blank=True)
    is_key_university = models.BooleanField(default=False)
    degree_level = models.CharField(max_length=20, choices=DegreeLevel.choices, blank=True)
    is_enrolment_verified = models.BooleanField(default=False)
    enrolment_verified_on = models.DateField(null=True, blank=True)

    # Small businesses
    company_name = models.CharField(max_length=200, blank=True)
    credit_code = models.CharField("unified social credit code", max_length=18, blank=True)
    business_years = models.PositiveSmallIntegerField(null=True, blank=True)
    annual_revenue = MoneyField(null=True, blank=True)
    monthly_bank_inflow = MoneyField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("view_borrower_pii", "Can see unmasked identity numbers and phones (audited)")]
        constraints = [
            models.CheckConstraint(condition=Q(monthly_income__gte=0), name="borrower_income_gte_0"),
            models.CheckConstraint(condition=Q(monthly_obligations__gte=0), name="borrower_obligations_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.masked_id_number})"

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    def set_identity(self, *, id_number: str | None = None, phone: str | None = None) -> None:
        """Normalise, validate and store the ID number and phone with their blind indexes."""
        errors = {}
        if id_number is not None:
            try:
                self.id_number = normalize_resident_id(id_number)
                self.id_number_hash = blind_index(self.id_number)
                self.birth_date = birth_date_from_resident_id(self.id_number)
            except ValidationError as e:
                errors["id_number"] = e.messages
        if phone is not None:
            try:
                self.phone = normalize_mobile(phone)
                self.phone_hash = blind_index(self.phone)
            except ValidationError as e:
                errors["phone"] = e.messages
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        errors = {}
        if self.kind == BorrowerKind.STUDENT:
            if not self.school:
                errors["school"] = "A student borrower needs a school."
            if not self.degree_level:
                errors["degree_level"] = "A student borrower needs a degree level."
            if self.is_enrolment_verified and not self.enrolment_verified_on:
                errors["enrolment_verified_on"] = "Give the date the enrolment was verified."
        if self.kind == BorrowerKind.SMALL_BUSINESS:
            if not self.company_name:
                errors["company_name"] = "A small-business borrower needs a company name."
            if not self.credit_code:
                errors["credit_code"] = "A small-business borrower needs a unified social credit code."
            else:
                try:
                    self.credit_code = normalize_credit_code(self.credit_code)
                except ValidationError as e:
                    errors["credit_code"] = e.messages
            for name in ("business_years", "annual_revenue", "monthly_bank_inflow"):
                if getattr(self, name) is None:
                    errors[name] = "Required for a small-business borrower."
        if errors:
            raise ValidationError(errors)


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------


class ProductKind(models.TextChoices):
    CONSUMER_INSTALLMENT = "consumer_installment", "Consumer installment loan"
    REVOLVING = "revolving", "Revolving credit line"
    STUDENT = "student", "Student micro-loan"
    SMALL_BUSINESS = "small_business", "Small-business credit loan"


class FeeKind(models.TextChoices):
    NONE = "none", "No fee"
    PERCENT = "percent", "Share of the amount"
    FIXED = "fixed", "Fixed amount"


class PrepaymentRule(models.TextChoices):
    REDUCE_INSTALLMENT = "reduce_installment", "Reduce the installment, keep the term"
    SHORTEN_TERM = "shorten_term", "Keep the installment, shorten the term"


ALLOCATION_COMPONENTS = ("penalty", "fee", "interest", "principal")


class AllocationOrder(models.TextChoices):
    PENALTY_FEE_INTEREST_PRINCIPAL = "penalty,fee,interest,principal", "Penalty → fee → interest → principal"
    FEE_PENALTY_INTEREST_PRINCIPAL = "fee,penalty,interest,principal", "Fee → penalty → interest → principal"
    INTEREST_PRINCIPAL_PENALTY_FEE = "interest,principal,penalty,fee", "Interest → principal → penalty → fee"
    PRINCIPAL_INTEREST_PENALTY_FEE = "principal,interest,penalty,fee", "Principal → interest → penalty → fee"


DEFAULT_PENALTY_MULTIPLIER = Decimal("1.5")


class DocumentKind(models.TextChoices):
    ID_CARD = "id_card", "Resident ID card"
    ENROLMENT = "enrolment", "Enrolment certificate"
    BUSINESS_LICENCE = "business_licence", "Business licence"
    BANK_STATEMENTS = "bank_statements", "Bank statements"
    INCOME_PROOF = "income_proof", "Proof of income"


@pghistory.track()
class LoanProduct(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=30, choices=ProductKind.choices)
    amount_min = MoneyField()
    amount_max = MoneyField()
    term_min_months = models.PositiveSmallIntegerField()
    term_max_months = models.PositiveSmallIntegerField()
    allowed_methods = ArrayField(models.CharField(max_length=20, choices=RepaymentMethod.choices))
    annual_rate = RateField(help_text="Contract rate per year as a fraction: 0.180000 is 18%.")
    fee_kind = models.CharField(max_length=10, choices=FeeKind.choices, default=FeeKind.NONE)
    fee_value = MoneyField(
        default=Decimal("0.00"), help_text="For a share: percent of the amount (1.50 = 1.5%); for fixed: CNY."
    )
    penalty_rate = RateField(
        null=True, blank=True, help_text="Penalty interest per year on overdue principal; blank = 1.5 × contract rate."
    )
    grace_days = models.PositiveSmallIntegerField(default=0)
    day_count = models.PositiveSmallIntegerField(choices=[(360, "360"), (365, "365")], default=360)
    allocation_order = models.CharField(
        max_length=40, choices=AllocationOrder.choices, default=AllocationOrder.PENALTY_FEE_INTEREST_PRINCIPAL
    )
    prepayment_rule = models.CharField(
        max_length=20, choices=PrepaymentRule.choices, default=PrepaymentRule.REDUCE_INSTALLMENT
    )
    senior_approval_threshold = MoneyField(
        null=True, blank=True, help_text="Amounts at or above this need a credit manager's approval."
    )
    review_sla_hours = models.PositiveSmallIntegerField(default=24)
    required_documents = ArrayField(
        models.CharField(max_length=20, choices=DocumentKind.choices), default=list, blank=True,
        help_text="Documents an officer must verify before approving.",
    )  # fmt: skip
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_min__gt=0) & Q(amount_min__lte=models.F("amount_max")), name="product_amount_range"
            ),
            models.CheckConstraint(
                condition=Q(term_min_months__gte=1) & Q(term_min_months__lte=models.F("term_max_months")),
                name="product_term_range",
            ),
            models.CheckConstraint(condition=Q(annual_rate__gt=0), name="product_rate_gt_0"),
            models.CheckConstraint(condition=Q(fee_value__gte=0), name="product_fee_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def daily_rate(self) -> Decimal:
        return (self.annual_rate / self.day_count).quantize(Decimal("0.00000001"))

    @property
    def effective_penalty_rate(self) -> Decimal:
        if self.penalty_rate is not None:
            return self.penalty_rate
        return to_rate(self.annual_rate * DEFAULT_PENALTY_MULTIPLIER)

    def fee_for(self, amount: Decimal) -> Decimal:
        if self.fee_kind == FeeKind.PERCENT:
            return schedules.upfront_fee(amount, fee_percent=self.fee_value / 100)
        if self.fee_kind == FeeKind.FIXED:
            return schedules.upfront_fee(amount, fee_fixed=self.fee_value)
        return Decimal("0.00")

    def clean(self) -> None:
        from loans.products import product_check_terms_config

        product_check_terms_config(self)


# ---------------------------------------------------------------------------------------------
# Loans
# ---------------------------------------------------------------------------------------------


class LoanStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    CANCELLED = "cancelled", "Cancelled"
    ACTIVE = "active", "Active"
    OVERDUE = "overdue", "Overdue"
    CLOSED = "closed", "Closed"
    WRITTEN_OFF = "written_off", "Written off"


S = LoanStatus


class Bucket(models.TextChoices):
    CURRENT = "current", "Current"
    M1 = "M1", "M1 (1–30 DPD)"
    M2 = "M2", "M2 (31–60 DPD)"
    M3 = "M3", "M3 (61–90 DPD)"
    M3_PLUS = "M3+", "M3+ (over 90 DPD, non-performing)"


def bucket_for(days_past_due: int, *, is_overdue: bool) -> str:
    """The delinquency bucket of a loan: current until past its grace days, then by days past due."""
    if not is_overdue or days_past_due <= 0:
        return Bucket.CURRENT
    if days_past_due <= 30:
        return Bucket.M1
    if days_past_due <= 60:
        return Bucket.M2
    if days_past_due <= 90:
        return Bucket.M3
    return Bucket.M3_PLUS


PRE_DISBURSEMENT = (S.SUBMITTED, S.IN_REVIEW, S.APPROVED, S.REJECTED, S.WITHDRAWN, S.CANCELLED)
OPEN_APPLICATION = (S.SUBMITTED, S.IN_REVIEW, S.APPROVED)


class LoanQuerySet(models.QuerySet):
    def open_applications(self):
        return self.filter(status__in=OPEN_APPLICATION)

    def in_review(self):
        return self.filter(status=S.IN_REVIEW)


class Loan(fsm.FSMModelMixin, models.Model):
    """An application and, once disbursed, the loan: one row, one lifecycle (DESIGN.md)."""

    reference = models.CharField(max_length=32, unique=True)
    # PROTECT: a borrower or product with loans is never deleted; the contract must stay readable.
    borrower = models.ForeignKey(Borrower, on_delete=models.PROTECT, related_name="loans")
    product = models.ForeignKey(LoanProduct, on_delete=models.PROTECT, related_name="loans")
    status = fsm.FSMField(default=S.SUBMITTED, choices=S.choices, protected=True, db_index=True)

    amount = MoneyField()
    term_months = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=20, choices=RepaymentMethod.choices)
    purpose = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=40, default="branch")
    device_id = models.CharField(max_length=64, blank=True)

    # Contract terms copied from the product at submission: editing a product never changes a loan.
    annual_rate = RateField()
    penalty_rate = RateField()
    fee_amount = MoneyField()
    grace_days = models.PositiveSmallIntegerField()
    day_count = models.PositiveSmallIntegerField()
    allocation_order = models.CharField(max_length=40)
    prepayment_rule = models.CharField(max_length=20)
    senior_approval_threshold = MoneyField(null=True, blank=True)
    quoted_apr = RateField(help_text="APR quoted at submission.")
    apr = RateField(null=True, blank=True, help_text="APR of the contract, fixed at disbursement.")

    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    disbursed_on = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=64, blank=True)
    decision_note = models.TextField(blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    credit_line = models.ForeignKey("CreditLine", null=True, blank=True, on_delete=models.PROTECT, related_name="draws")
    partner = models.ForeignKey("Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="loans")

    # Delinquency, kept by repayments (oldest_unpaid_due) and the nightly sweep (the rest).
    oldest_unpaid_due = models.DateField(null=True, blank=True, help_text="Due date of the oldest unpaid installment.")
    days_past_due = models.PositiveIntegerField(default=0)
    bucket = models.CharField(max_length=8, choices=Bucket.choices, default=Bucket.CURRENT)

    # Manual review queue
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="review_queue"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    review_due_at = models.DateTimeField(null=True, blank=True, help_text="SLA: the review should be done by then.")
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="escalations"
    )

    objects = LoanQuerySet.as_manager()

    class Meta:
        permissions = [
            ("approve_loan", "Can approve loans within their approval limit"),
            ("approve_senior", "Can approve loans at or above a product's senior threshold"),
            ("reject_loan", "Can reject or refer applications"),
            ("disburse_loan", "Can disburse or cancel approved loans"),
            ("write_off_loan", "Can write off overdue loans"),
            ("reverse_repayment", "Can reverse a recorded repayment"),
            ("view_portfolio", "Can see the portfolio dashboard"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="loan_amount_gt_0"),
            models.CheckConstraint(condition=Q(fee_amount__gte=0), name="loan_fee_gte_0"),
            models.CheckConstraint(condition=Q(term_months__gte=1), name="loan_term_gte_1"),
        ]
        indexes = [
            models.Index(fields=["borrower", "product", "status"]),
            models.Index(fields=["status", "assigned_to"], name="loan_review_queue_idx"),
            models.Index(fields=["status", "review_due_at", "submitted_at", "id"], name="loan_review_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_status_display()})"

    # Transitions: only services call these, inside transaction.atomic with the row locked.
    # django-fsm-log writes who, why, from and to on post_transition, in the same transaction.
    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.SUBMITTED, target=S.APPROVED)
    def auto_approve(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.SUBMITTED, target=S.IN_REVIEW)
    def refer(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=[S.SUBMITTED, S.IN_REVIEW], target=S.REJECTED)
    def reject(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.IN_REVIEW, target=S.APPROVED, permission="loans.approve_loan")
    def approve(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.IN_REVIEW, target=S.WITHDRAWN)
    def withdraw(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.APPROVED, target=S.CANCELLED, permission="loans.disburse_loan")
    def cancel(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.APPROVED, target=S.ACTIVE, permission="loans.disburse_loan")
    def disburse(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.ACTIVE, target=S.OVERDUE)
    def mark_overdue(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.OVERDUE, target=S.ACTIVE)
    def cure(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=[S.ACTIVE, S.OVERDUE], target=S.CLOSED)
    def settle(self, *, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.OVERDUE, target=S.WRITTEN_OFF, permission="loans.write_off_loan")
    def write_off(self, *, by=None, description=None):
        pass

    # Not in DESIGN.md's diagram: reversing the repayment that settled a loan (a bounced
    # payment) must reopen it, or its balances would say "owed" while its status says "closed".
    @fsm_log_by
    @fsm_log_description
    @fsm.transition(field=status, source=S.CLOSED, target=S.ACTIVE, permission="loans.reverse_repayment")
    def reopen(self, *, by=None, description=None):
        pass


class ApprovalKind(models.TextChoices):
    SOLE = "sole", "Approved alone, within limit"
    PROPOSAL = "proposal", "Proposed; awaiting countersign"
    COUNTERSIGN = "countersign", "Countersigned"


class LoanApproval(models.Model):
    """One signature on an approval (maker-checker: a proposal and its countersign are two people)."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=ApprovalKind.choices)
    amount = MoneyField()
    term_months = models.PositiveSmallIntegerField()
    approver_limit = MoneyField(help_text="The approver's limit when they signed.")
    note = models.TextField(blank=True)
    is_open = models.BooleanField(default=False, help_text="A proposal still waiting for its countersign.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # At most one proposal waits per loan.
            models.UniqueConstraint(fields=["loan"], condition=Q(is_open=True), name="one_open_proposal_per_loan"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.approver} on {self.loan.reference}"


class Installment(models.Model):
    """One scheduled repayment of a disbursed loan: what is due and what has been paid, by component.

    Not under row history on purpose: the nightly sweep updates this table in bulk.
    """

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="installments")
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    principal_due = MoneyField()
    interest_due = MoneyField()
    fee_due = MoneyField(default=Decimal("0.00"))
    penalty_due = MoneyField(default=Decimal("0.00"))  # accrued by the nightly sweep
    principal_paid = MoneyField(default=Decimal("0.00"))
    interest_paid = MoneyField(default=Decimal("0.00"))
    fee_paid = MoneyField(default=Decimal("0.00"))
    penalty_paid = MoneyField(default=Decimal("0.00"))

    class Meta:
        ordering = ["loan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="installment_unique_number"),
            models.CheckConstraint(
                condition=Q(principal_due__gte=0) & Q(interest_due__gte=0) & Q(fee_due__gte=0) & Q(penalty_due__gte=0),
                name="installment_due_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(principal_paid__gte=0)
                & Q(principal_paid__lte=models.F("principal_due"))
                & Q(interest_paid__gte=0)
                & Q(interest_paid__lte=models.F("interest_due"))
                & Q(fee_paid__gte=0)
                & Q(fee_paid__lte=models.F("fee_due"))
                & Q(penalty_paid__gte=0)
                & Q(penalty_paid__lte=models.F("penalty_due")),
                name="installment_paid_within_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan.reference} #{self.number} due {self.due_date}"

    @property
    def total_due(self) -> Decimal:
        return self.principal_due + self.interest_due + self.fee_due + self.penalty_due

    @property
    def total_paid(self) -> Decimal:
        return self.principal_paid + self.interest_paid + self.fee_paid + self.penalty_paid

    @property
    def total_outstanding(self) -> Decimal:
        return self.total_due - self.total_paid

    @property
    def is_paid(self) -> bool:
        return self.total_outstanding == 0


class Disbursement(models.Model):
    """The one disbursement of a loan, with the contract schedule it fixed (the replay's start)."""

    loan = models.OneToOneField(Loan, on_delete=models.PROTECT, related_name="disbursement")
    disbursed_on = models.DateField()
    gross_amount = MoneyField()
    fee_amount = MoneyField()
    net_amount = MoneyField()
    apr = RateField()
    # [{"number", "due_date", "principal", "interest"}, ...] exactly as contracted, amounts as strings.
    contract_schedule = models.JSONField()
    disbursed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(net_amount=models.F("gross_amount") - models.F("fee_amount")) & Q(net_amount__gt=0),
                name="disbursement_net_is_gross_less_fee",
            )
        ]

    def __str__(self) -> str:
        return f"{self.loan.reference} disbursed {self.disbursed_on}"


class RepaymentStatus(models.TextChoices):
    POSTED = "posted", "Posted"
    REVERSED = "reversed", "Reversed"


class RepaymentKind(models.TextChoices):
    REGULAR = "regular", "Regular"
    PREPAYMENT = "prepayment", "Includes a prepayment"
    SETTLEMENT = "settlement", "Settlement"


@pghistory.track()
class Repayment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments")
    # The payment system's own reference: the same reference twice records once.
    external_reference = models.CharField(max_length=64, unique=True)
    amount = MoneyField()
    paid_on = models.DateField()
    channel = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=RepaymentStatus.choices, default=RepaymentStatus.POSTED)
    # How the amount was allocated, kept current by every re-allocation.
    kind = models.CharField(max_length=12, choices=RepaymentKind.choices, default=RepaymentKind.REGULAR)
    principal_amount = MoneyField(default=Decimal("0.00"))
    interest_amount = MoneyField(default=Decimal("0.00"))
    fee_amount = MoneyField(default=Decimal("0.00"))
    penalty_amount = MoneyField(default=Decimal("0.00"))
    prepaid_principal = MoneyField(default=Decimal("0.00"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["paid_on", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_gt_0")]

    def __str__(self) -> str:
        return f"{self.external_reference}: {self.amount} on {self.paid_on}"


class RepaymentAllocation(models.Model):
    repayment = models.ForeignKey(Repayment, on_delete=models.CASCADE, related_name="allocations")
    installment = models.ForeignKey(Installment, on_delete=models.CASCADE, related_name="allocations")
    component = models.CharField(max_length=10, choices=[(c, c) for c in ALLOCATION_COMPONENTS])
    amount = MoneyField()

    class Meta:
        ordering = ["repayment", "installment__number", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_gt_0")]


class CreditLineStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FROZEN = "frozen", "Frozen"
    CLOSED = "closed", "Closed"


@pghistory.track()
class CreditLine(models.Model):
    """A borrower's revolving line on a revolving product: draws use it, principal repaid restores it."""

    borrower = models.ForeignKey(Borrower, on_delete=models.PROTECT, related_name="credit_lines")
    product = models.ForeignKey(LoanProduct, on_delete=models.PROTECT, related_name="credit_lines")
    limit = MoneyField()
    used = MoneyField(default=Decimal("0.00"))  # principal outstanding on the line's draws
    status = models.CharField(max_length=10, choices=CreditLineStatus.choices, default=CreditLineStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["borrower", "product"], name="one_line_per_borrower_product"),
            models.CheckConstraint(condition=Q(limit__gte=0) & Q(used__gte=0), name="credit_line_amounts_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.borrower.full_name}: {self.limit} line on {self.product}"

    @property
    def available(self) -> Decimal:
        return max(self.limit - self.used, Decimal("0.00"))


def document_path(instance, filename: str) -> str:
    return f"loan-documents/{instance.loan_id}/{instance.kind}-{filename}"


class LoanDocument(models.Model):
    """A document uploaded for an application; stored through the storage API, never served publicly."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    file = models.FileField(upload_to=document_path)
    content_type = models.CharField(max_length=100)
    original_name = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.loan.reference}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


# ---------------------------------------------------------------------------------------------
# Partner channels (the public API)
# ---------------------------------------------------------------------------------------------

API_SCOPES = ("quote", "apply", "read", "repay")
RATE_PERIODS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "day": 86400}


def rate_limit_parse(text: str) -> tuple[int, int]:
    """'600/min' -> (600, 60): requests allowed per window of seconds. Raises ValidationError."""
    count, _, period = (text or "").strip().partition("/")
    if not count.isdigit() or int(count) < 1 or period not in RATE_PERIODS:
        raise ValidationError(
            f"Write a rate as <requests>/<period>, the period one of {', '.join(RATE_PERIODS)} (e.g. 600/min).",
            code="invalid_rate",
        )
    return int(count), RATE_PERIODS[period]


def _validate_rate_limit(text: str) -> None:
    rate_limit_parse(text)


class Partner(models.Model):
    """A channel or partner that originates applications and collects payments through the API."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    # Partners allowed to see the score band and reasons of their applicants' decisions.
    can_see_reasons = models.BooleanField(default=False)
    rate_limit = models.CharField(
        max_length=20, default="600/min", validators=[_validate_rate_limit], help_text="Requests per key, e.g. 600/min."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_limit__regex=r"^[1-9][0-9]*/(s|sec|second|min|minute|h|hour|day)$"),
                name="partner_rate_limit_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PartnerApiKey(models.Model):
    """An API key: shown once when created, stored as a SHA-256 hash with a public prefix for look-up."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=10, choices=[(s, s) for s in API_SCOPES]))
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.partner.code}:{self.prefix}"


class IdempotencyRecord(models.Model):
    """The first response to a partner's Idempotency-Key, replayed for the same request (kept ≥ 24 h)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    is_complete = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_per_partner")]


class ApiCallLog(models.Model):
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL)
    key_prefix = models.CharField(max_length=16, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name, verbose_name_plural = "API call", "API call log"


class WebhookEndpoint(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    # HMAC-SHA256 signing secret, shown once at registration (needed in clear to sign).
    secret = EncryptedCharField(max_length=100)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retries exhausted)"


class WebhookDelivery(models.Model):
    """The webhook outbox: one row per event and endpoint, so each event is delivered once."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=WebhookDeliveryStatus.choices, default="pending")
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due: retries are scheduled here, not in broker countdowns, so a lost
    # task message or a restarted worker never strands an event (the dispatcher picks it up).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"], name="one_delivery_per_event_endpoint")]
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due")]
