"""Reads for the officers' pages: querysets with everything a list shows, in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import django_filters
import django_tables2 as tables
from django.db.models import Case, Exists, F, OuterRef, Subquery, Value, When
from django.db.models.fields import BooleanField
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_fsm_log.models import StateLog

from lender.audit import audit_trail
from lender.money import format_cny
from loans.models import Loan, LoanApproval, LoanProduct, LoanStatus
from risk.models import CreditScore


def _latest_score(field: str):
    return Subquery(CreditScore.objects.filter(loan=OuterRef("pk")).order_by("-created_at", "-pk").values(field)[:1])


def review_queue_qs(*, now=None):
    now = now or timezone.now()
    return (
        Loan.objects.filter(status=LoanStatus.IN_REVIEW)
        .select_related("borrower", "product", "assigned_to", "escalated_to")
        .annotate(
            grade=_latest_score("grade"),
            points=_latest_score("points"),
            is_late=Case(
                When(review_due_at__lt=now, then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
            awaiting_countersign=Exists(LoanApproval.objects.filter(loan=OuterRef("pk"), is_open=True)),
        )
        # Earliest SLA first puts late work on top, and an index serves the order (no sort of the queue).
        .order_by(F("review_due_at").asc(nulls_last=True), "submitted_at", "pk")
    )


class ReviewFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(
        label=_("Show"),
        choices=[("mine", _("Assigned to me")), ("unassigned", _("Unassigned")), ("late", _("Late"))],
        method="filter_scope",
        empty_label=_("All"),
    )
    product = django_filters.ModelChoiceFilter(queryset=LoanProduct.objects.all(), label=_("Product"))
    amount_min = django_filters.NumberFilter(field_name="amount", lookup_expr="gte", label=_("Amount from"))
    amount_max = django_filters.NumberFilter(field_name="amount", lookup_expr="lte", label=_("Amount to"))
    grade = django_filters.ChoiceFilter(
        choices=[(g, g) for g in "ABCDE"], label=_("Score band"), method="filter_grade", empty_label=_("Any")
    )
    older_than_hours = django_filters.NumberFilter(label=_("In queue over (hours)"), method="filter_age")

    class Meta:
        model = Loan
        fields = ["product"]

    def filter_scope(self, queryset, name, value):
        if value == "mine":
            return queryset.filter(assigned_to=self.request.user)
        if value == "unassigned":
            return queryset.filter(assigned_to__isnull=True)
        if value == "late":
            return queryset.filter(review_due_at__lt=timezone.now())
        return queryset

    def filter_grade(self, queryset, name, value):
        return queryset.filter(grade=value)

    def filter_age(self, queryset, name, value):
        return queryset.filter(submitted_at__lt=timezone.now() - timedelta(hours=float(value)))


class MoneyColumn(tables.Column):
    attrs = {"td": {"class": "num"}, "th": {"class": "num"}}

    def render(self, value):
        return format_cny(value)


class ReviewTable(tables.Table):
    reference = tables.Column(linkify=("loans:application", {"pk": tables.A("pk")}), verbose_name=_("Application"))
    borrower = tables.Column(accessor="borrower__full_name", verbose_name=_("Borrower"))
    product = tables.Column(accessor="product__name", verbose_name=_("Product"))
    amount = MoneyColumn(verbose_name=_("Amount"))
    term_months = tables.Column(verbose_name=_("Months"))
    grade = tables.Column(verbose_name=_("Score"), default="–", orderable=False)
    assigned_to = tables.Column(verbose_name=_("Assigned to"), default="–")
    review_due_at = tables.Column(verbose_name=_("SLA"), default="–")
    actions = tables.TemplateColumn(template_name="loans/_review_actions.html", verbose_name="", orderable=False)

    class Meta:
        model = Loan
        fields = ()
        sequence = (
            "reference",
            "borrower",
            "product",
            "amount",
            "term_months",
            "grade",
            "assigned_to",
            "review_due_at",
        )
        attrs = {"class": "table", "id": "review-table"}
        row_attrs = {"class": lambda record: "overdue" if record.is_late else ""}
        order_by = ()

    def render_grade(self, value, record):
        return f"{value} ({record.points})"

    def render_review_due_at(self, value, record):
        from lender.templatetags.lender import hours_left

        text = hours_left(value)
        return format_html('<span class="{}">{}</span>', "late" if record.is_late else "muted", text)


class DisbursementTable(tables.Table):
    select = tables.CheckBoxColumn(accessor="pk", attrs={"input": {"name": "loan_ids"}}, orderable=False)
    reference = tables.Column(linkify=("loans:loan", {"pk": tables.A("pk")}), verbose_name=_("Loan"))
    borrower = tables.Column(accessor="borrower__full_name", verbose_name=_("Borrower"))
    product = tables.Column(accessor="product__name", verbose_name=_("Product"))
    amount = MoneyColumn(verbose_name=_("Amount"))
    fee_amount = MoneyColumn(verbose_name=_("Fee"))
    decided_at = tables.DateTimeColumn(verbose_name=_("Approved"), format="Y-m-d H:i")

    class Meta:
        model = Loan
        fields = ()
        sequence = ("select", "reference", "borrower", "product", "amount", "fee_amount", "decided_at")
        attrs = {"class": "table", "id": "disbursement-table"}
        order_by = ()


def disbursement_queue_qs():
    return (
        Loan.objects.filter(status=LoanStatus.APPROVED)
        .select_related("borrower", "product")
        .order_by("decided_at", "pk")
    )


def countersign_queue_qs(*, user):
    open_proposals = LoanApproval.objects.filter(is_open=True).select_related("approver")
    return (
        Loan.objects.filter(status=LoanStatus.IN_REVIEW, approvals__is_open=True)
        .exclude(approvals__is_open=True, approvals__approver=user)
        .select_related("borrower", "product")
        .annotate(
            proposed_by=Subquery(open_proposals.filter(loan=OuterRef("pk")).values("approver__username")[:1]),
            proposed_at=Subquery(open_proposals.filter(loan=OuterRef("pk")).values("created_at")[:1]),
        )
        .order_by("proposed_at", "pk")
    )


def timeline(loan: Loan) -> list[dict]:
    """Transitions (django-fsm-log) and audit events of a loan, oldest first."""
    rows = [
        {"at": log.timestamp, "who": log.by, "what": f"{log.source_state} → {log.state}", "note": log.description or ""}
        for log in StateLog.objects.for_(loan).select_related("by")
    ]
    rows += [
        {"at": e.created_at, "who": e.actor, "what": e.action.replace("_", " "), "note": e.message}
        for e in audit_trail(loan)
    ]
    return sorted(rows, key=lambda r: r["at"])


def borrower_record(loan: Loan):
    """The borrower's other loans with their status and days past due."""
    return (
        Loan.objects.filter(borrower_id=loan.borrower_id)
        .exclude(pk=loan.pk)
        .select_related("product")
        .order_by("-submitted_at")
    )
