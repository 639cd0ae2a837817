"""Collectors' worklist and case pages, and the collections manager's team page."""

from __future__ import annotations

from datetime import timedelta

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_tables2 import RequestConfig

from collection import services
from collection.models import (
    CaseStatus,
    CollectionCase,
    ContactChannel,
    ContactLog,
    ContactOutcome,
    LadderStep,
    PromiseStatus,
    PromiseToPay,
)
from lender import roles
from lender.errors import LenderError
from lender.money import format_cny
from loans.models import Bucket

User = get_user_model()
BUCKET_RANK = {"M3+": 4, "M3": 3, "M2": 2, "M1": 1, "current": 0}


def worklist_qs(*, user):
    """The collector's open cases in priority order: broken promises, bucket, amount, next action."""
    from django.db.models import Case, IntegerField, Value, When

    return (
        CollectionCase.objects.filter(assigned_to=user)
        .exclude(status=CaseStatus.CLOSED)
        .select_related("loan__borrower", "loan__product")
        .annotate(
            bucket_rank=Case(
                *[When(bucket=b, then=Value(r)) for b, r in BUCKET_RANK.items()],
                default=Value(0),
                output_field=IntegerField(),
            ),  # fmt: skip
            promise_due_today=Count(
                "promises",
                filter=Q(promises__status=PromiseStatus.PENDING, promises__promised_for=timezone.localdate()),
            ),
        )
        .order_by("-broken_promises", "-bucket_rank", "-overdue_amount", "next_action_on", "pk")
    )


class WorklistFilter(django_filters.FilterSet):
    bucket = django_filters.ChoiceFilter(choices=[(b, b) for b in Bucket.values if b != "current"], label=_("Bucket"))
    dpd_min = django_filters.NumberFilter(field_name="days_past_due", lookup_expr="gte", label=gettext_lazy("DPD from"))
    dpd_max = django_filters.NumberFilter(field_name="days_past_due", lookup_expr="lte", label=gettext_lazy("DPD to"))
    promise_today = django_filters.BooleanFilter(label=gettext_lazy("Promise due today"), method="filter_promise")
    next_action_by = django_filters.DateFilter(
        field_name="next_action_on", lookup_expr="lte", label=gettext_lazy("Next action by"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip

    class Meta:
        model = CollectionCase
        fields = ["bucket"]

    def filter_promise(self, queryset, name, value):
        return queryset.filter(promise_due_today__gt=0) if value else queryset


class WorklistTable(tables.Table):
    loan = tables.TemplateColumn(
        '<a href="#" hx-get="{% url \'collection:case\' record.pk %}" hx-target="#case-panel">{{ record.loan.reference }}</a>',
        verbose_name=gettext_lazy("Loan"), orderable=False,
    )  # fmt: skip
    borrower = tables.Column(
        accessor="loan__borrower__full_name", verbose_name=gettext_lazy("Borrower"), orderable=False
    )
    phone = tables.Column(accessor="loan__borrower__masked_phone", verbose_name=gettext_lazy("Phone"), orderable=False)
    bucket = tables.Column(verbose_name=gettext_lazy("Bucket"), orderable=False)
    days_past_due = tables.Column(verbose_name="DPD", orderable=False)
    overdue_amount = tables.Column(
        verbose_name=gettext_lazy("Overdue"), orderable=False, attrs={"td": {"class": "num"}}
    )
    broken_promises = tables.Column(verbose_name=gettext_lazy("Broken promises"), orderable=False)
    next_action_on = tables.DateColumn(verbose_name=gettext_lazy("Next action"), format="Y-m-d", orderable=False)

    class Meta:
        model = CollectionCase
        fields = ()
        sequence = ("loan", "borrower", "phone", "bucket", "days_past_due", "overdue_amount", "broken_promises",
                    "next_action_on")  # fmt: skip
        attrs = {"id": "worklist-table"}
        row_attrs = {"id": lambda record: f"case-row-{record.pk}"}

    def render_overdue_amount(self, value):
        return format_cny(value)


class ContactForm(forms.Form):
    channel = forms.ChoiceField(choices=ContactChannel.choices, label=gettext_lazy("Channel"))
    outcome = forms.ChoiceField(choices=ContactOutcome.choices, label=gettext_lazy("Outcome"))
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Note"))
    next_action_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                     label=gettext_lazy("Next action"))  # fmt: skip
    promise_amount = forms.DecimalField(required=False, max_digits=14, decimal_places=2,
                                        label=gettext_lazy("Promised amount"))  # fmt: skip
    promise_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                   label=gettext_lazy("Promised date"))  # fmt: skip


def _case_for(request, pk) -> CollectionCase:
    case = get_object_or_404(CollectionCase.objects.select_related("loan__borrower", "loan__product"), pk=pk)
    if case.assigned_to_id != request.user.pk and not request.user.has_perm("collection.manage_cases"):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    return case


def _case_context(case: CollectionCase, form: ContactForm | None = None) -> dict:
    today = timezone.localdate()
    return {
        "case": case,
        "owed": case.loan.installments.filter(due_date__lte=today).order_by("number"),
        "contacts": case.contacts.select_related("collector")[:20],
        "promises": case.promises.all(),
        "step": LadderStep.objects.filter(bucket=case.bucket).first(),
        "form": form or ContactForm(initial={"next_action_on": today + timedelta(days=1)}),
    }


@login_required
@permission_required("collection.work_cases", raise_exception=True)
@vary_on_headers("HX-Request")
def worklist(request):
    base = worklist_qs(user=request.user)
    filterset = WorklistFilter(request.GET, queryset=base)
    table = WorklistTable(filterset.qs)
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    today = timezone.localdate()
    mine = CollectionCase.objects.filter(assigned_to=request.user).exclude(status=CaseStatus.CLOSED)
    counts = mine.aggregate(
        open=Count("pk"), action_due=Count("pk", filter=Q(next_action_on__lte=today)), overdue=Sum("overdue_amount")
    )
    counts["promises_today"] = PromiseToPay.objects.filter(
        case__in=mine, status=PromiseStatus.PENDING, promised_for=today
    ).count()
    counts["contacts_today"] = ContactLog.objects.filter(collector=request.user, created_at__date=today).count()
    template = "collection/worklist.html#list" if request.htmx else "collection/worklist.html"
    return render(request, template, {"filter": filterset, "table": table, "counts": counts})


@login_required
@permission_required("collection.work_cases", raise_exception=True)
def case(request, pk):
    case = _case_for(request, pk)
    template = "collection/case.html#panel" if request.htmx else "collection/case.html"
    return render(request, template, _case_context(case))


@login_required
@permission_required("collection.work_cases", raise_exception=True)
@require_POST
def contact(request, pk):
    case = _case_for(request, pk)
    form = ContactForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.contact_log(
                case_id=case.pk, by=request.user, channel=data["channel"], outcome=data["outcome"], note=data["note"],
                next_action_on=data["next_action_on"], promise_amount=data["promise_amount"],
                promise_date=data["promise_date"],
            )  # fmt: skip
            messages.success(request, _("Contact logged."))
            case.refresh_from_db()
            form = None
        except LenderError as e:
            field = e.extra.get("field")
            form.add_error(field if field in form.fields else None, e.message)
    template = "collection/case.html#panel" if request.htmx else "collection/case.html"
    # htmx swaps only 2xx bodies: the panel comes back with the form's errors and what was typed.
    status = 200 if request.htmx or form is None else 400
    return render(request, template, _case_context(case, form), status=status)


class ReassignForm(forms.Form):
    case_ids = forms.CharField(label=gettext_lazy("Case numbers, comma-separated"))
    to_user = forms.ModelChoiceField(queryset=User.objects.none(), label=gettext_lazy("Collector"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = User.objects.filter(
            groups__name__in=(roles.COLLECTOR, roles.COLLECTIONS_MANAGER), is_active=True
        ).distinct()

    def clean_case_ids(self):
        raw = [p.strip() for p in self.cleaned_data["case_ids"].replace(" ", ",").split(",") if p.strip()]
        if not raw or not all(p.isdigit() for p in raw):
            raise forms.ValidationError(_("Give case numbers separated by commas."))
        return [int(p) for p in raw]


def _team_context(form=None):
    since = timezone.now() - timedelta(days=30)
    team = (
        User.objects.filter(groups__name__in=(roles.COLLECTOR, roles.COLLECTIONS_MANAGER))
        .distinct()
        .annotate(
            open_cases=Count("collection_cases", filter=~Q(collection_cases__status=CaseStatus.CLOSED), distinct=True),
            overdue=Sum("collection_cases__overdue_amount", filter=~Q(collection_cases__status=CaseStatus.CLOSED)),
        )
        .order_by("username")
    )
    productivity = (
        User.objects.filter(groups__name__in=(roles.COLLECTOR, roles.COLLECTIONS_MANAGER))
        .distinct()
        .annotate(
            contacts=Count("contactlog", filter=Q(contactlog__created_at__gte=since), distinct=True),
            promises_made=Count("promisetopay", filter=Q(promisetopay__created_on__gte=since.date()), distinct=True),
            promises_kept=Count(
                "promisetopay",
                filter=Q(promisetopay__status=PromiseStatus.KEPT, promisetopay__created_on__gte=since.date()),
                distinct=True,
            ),  # fmt: skip
        )
        .order_by("username")
    )
    recommended = (
        CollectionCase.objects.filter(status=CaseStatus.WRITE_OFF_RECOMMENDED)
        .select_related("loan__borrower", "assigned_to")
        .order_by("-days_past_due")[:100]
    )
    return {"team": team, "productivity": productivity, "recommended": recommended, "form": form or ReassignForm()}


@login_required
@permission_required("collection.manage_cases", raise_exception=True)
def team(request):
    return render(request, "collection/team.html", _team_context())


@login_required
@permission_required("collection.manage_cases", raise_exception=True)
@require_POST
def reassign(request):
    form = ReassignForm(request.POST)
    if form.is_valid():
        try:
            count = services.cases_reassign(
                case_ids=form.cleaned_data["case_ids"], to_user_id=form.cleaned_data["to_user"].pk, by=request.user
            )
            messages.success(request, _("%(n)s cases reassigned.") % {"n": count})
            return redirect("collection:team")
        except LenderError as e:
            form.add_error(None, e.message)
    return render(request, "collection/team.html", _team_context(form), status=400)


@login_required
@permission_required("collection.manage_cases", raise_exception=True)
@require_POST
def write_off(request, pk):
    note = request.POST.get("note", "").strip() or _("Approved from the team page: no recovery expected.")
    try:
        services.case_write_off_approve(case_id=pk, by=request.user, note=note)
        messages.success(request, _("Written off."))
    except LenderError as e:
        messages.error(request, e.message)
    return redirect("collection:team")
