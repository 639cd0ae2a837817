from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from loans.models import Loan, LoanProduct, MoneyField, ProductKind


class ScoringModel(models.Model):
    """A trained model in the registry: its file, what it was trained on and how well it did."""

    version = models.CharField(max_length=64, unique=True)
    # Blank: serves every product kind that has no model of its own.
    product_kind = models.CharField(max_length=30, choices=ProductKind.choices, blank=True)
    file_path = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    feature_spec = models.JSONField(help_text="names, types, categories, monotone constraints, source")
    training_fingerprint = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    # Held-out score distribution (probabilities), the PSI baseline.
    baseline = models.JSONField(default=dict)
    is_active = models.BooleanField(default=False)
    trained_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["product_kind"], condition=Q(is_active=True), name="one_active_model_per_kind"
            )
        ]

    def __str__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"{self.version} ({self.product_kind or 'all kinds'}, {state})"


class ProductPolicy(models.Model):
    """Decision rules and cut-offs of a product (risk's side of the product, edited in admin)."""

    product = models.OneToOneField(LoanProduct, on_delete=models.CASCADE, related_name="policy")
    approve_min_points = models.PositiveSmallIntegerField(default=640, help_text="Auto-approve at or above.")
    decline_below_points = models.PositiveSmallIntegerField(default=560, help_text="Decline below.")
    qc_sample_rate = models.DecimalField(
        max_digits=4, decimal_places=3, default=Decimal("0.050"), help_text="Share of auto-approvals sent to review."
    )
    min_age = models.PositiveSmallIntegerField(default=18)
    max_age = models.PositiveSmallIntegerField(default=65)
    max_debt_to_income = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("0.70"))
    max_applications_24h = models.PositiveSmallIntegerField(
        default=3, help_text="Per ID number, phone and device, all products."
    )

    class Meta:
        verbose_name_plural = "product policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(decline_below_points__lte=models.F("approve_min_points")), name="policy_cutoffs_ordered"
            ),
            models.CheckConstraint(condition=Q(min_age__lt=models.F("max_age")), name="policy_ages_ordered"),
        ]

    def __str__(self) -> str:
        return f"Policy of {self.product}"


class ListKind(models.TextChoices):
    BLACKLIST = "blacklist", "Blacklist"
    WHITELIST = "whitelist", "Whitelist"


class ListEntry(models.Model):
    """An ID number or phone on the blacklist or whitelist, stored as its blind index only."""

    kind = models.CharField(max_length=10, choices=ListKind.choices)
    identifier_hash = models.CharField(max_length=64)
    reason = models.CharField(max_length=200)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "list entries"
        constraints = [models.UniqueConstraint(fields=["kind", "identifier_hash"], name="list_entry_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.reason}"


class ScoreStage(models.TextChoices):
    SUBMISSION = "submission", "At submission"
    APPROVAL = "approval", "At approval"
    REVIEW = "review", "Periodic review"


class CreditScore(models.Model):
    """One scoring of an application, with everything needed to reproduce it exactly."""

    # An application (or draw) is scored through its loan row; a periodic line review through the line.
    loan = models.ForeignKey(Loan, null=True, blank=True, on_delete=models.PROTECT, related_name="scores")
    credit_line = models.ForeignKey(
        "loans.CreditLine", null=True, blank=True, on_delete=models.PROTECT, related_name="scores"
    )
    model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="scores")
    approval = models.OneToOneField(
        "loans.LoanApproval", null=True, blank=True, on_delete=models.PROTECT, related_name="score"
    )
    stage = models.CharField(max_length=12, choices=ScoreStage.choices)
    probability = models.FloatField(help_text="Probability of default (XGBoost's output; a float on purpose).")
    margin = models.FloatField()
    bias = models.FloatField()
    points = models.SmallIntegerField()
    grade = models.CharField(max_length=1)
    raw_values = models.JSONField(encoder=DjangoJSONEncoder, help_text="The inputs, as read at scoring time.")
    feature_values = models.JSONField(help_text="The model's input row.")
    contributions = models.JSONField(help_text="TreeSHAP contribution of every feature (pred_contribs).")
    reasons = models.JSONField(help_text="Top four reasons, with English and Chinese texts.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.points} ({self.grade}) by {self.model.version}"


class RuleHit(models.Model):
    """A hard rule that fired on an application, with its reason."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="rule_hits")
    rule = models.CharField(max_length=40)
    reason = models.CharField(max_length=300)
    is_decisive = models.BooleanField(default=True, help_text="False: noted, not a reason to decline.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.loan.reference}: {self.rule}"


class DecisionOutcome(models.TextChoices):
    APPROVE = "approve", "Auto-approved"
    REFER = "refer", "Referred to manual review"
    DECLINE = "decline", "Declined"


class Decision(models.Model):
    """The automatic decision on an application (one per loan: the task is safe to run twice)."""

    loan = models.OneToOneField(Loan, on_delete=models.PROTECT, related_name="decision")
    outcome = models.CharField(max_length=10, choices=DecisionOutcome.choices)
    reason = models.CharField(max_length=300)
    score = models.ForeignKey(CreditScore, null=True, blank=True, on_delete=models.PROTECT)
    is_whitelisted = models.BooleanField(default=False)
    # Quality-control sampling, reproducible: draw = hash(seed, loan) in [0, 1); sampled if < rate.
    qc_draw = models.FloatField(null=True, blank=True)
    is_qc_sample = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.loan.reference}: {self.get_outcome_display()}"


class CreditLimitChange(models.Model):
    """Every change of a credit line's limit, with before and after (audit)."""

    credit_line = models.ForeignKey("loans.CreditLine", on_delete=models.PROTECT, related_name="limit_changes")
    before = MoneyField()
    after = MoneyField()
    reason = models.CharField(max_length=200)
    score = models.ForeignKey(CreditScore, null=True, blank=True, on_delete=models.PROTECT)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"line {self.credit_line_id}: {self.before} → {self.after}"
