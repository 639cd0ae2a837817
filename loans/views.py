"""Officers' and managers' pages. Views read through selectors and write only through services."""

from __future__ import annotations

import csv
import mimetypes

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_tables2 import RequestConfig

from lender import roles
from lender.errors import LenderError
from lender.money import format_cny
from lender.services import staff_language_set
from loans import pages, portfolio, schedules, services
from loans.models import DocumentKind, Loan, LoanDocument, LoanStatus

PER_PAGE = 25


# ---------------------------------------------------------------------------------------------
# Forms
# ---------------------------------------------------------------------------------------------


class ApproveForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=14, decimal_places=2, min_value=0)
    term_months = forms.IntegerField(label=gettext_lazy("Term (months)"), min_value=1, max_value=600)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ProposeForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Note for the countersigner"), widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=[])
    note = forms.CharField(label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [
            (code, text) for code, text in services.REJECTION_REASONS.items() if code not in ("score",)
        ]


class RevealForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why do you need the unmasked data?"), max_length=300)


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Document"), choices=DocumentKind.choices)
    file = forms.FileField(label=gettext_lazy("File (PDF, PNG or JPEG)"))


def _service_error(form: forms.Form, error: LenderError) -> None:
    field = error.extra.get("field")
    form.add_error(field if field in form.fields else None, error.message)


# ---------------------------------------------------------------------------------------------
# Home and language
# ---------------------------------------------------------------------------------------------


@login_required
def home(request):
    user = request.user
    for perm, name in (
        ("loans.approve_loan", "loans:review_queue"),
        ("collection.work_cases", "collection:worklist"),
        ("loans.view_portfolio", "loans:portfolio"),
    ):
        if user.has_perm(perm):
            return redirect(name)
    if user.is_staff:
        return redirect("admin:index")
    my_roles = [r for r in roles.ALL if roles.has_role(user, r)]
    return render(request, "loans/home.html", {"roles": my_roles})


@login_required
@require_POST
def language(request):
    try:
        staff_language_set(user=request.user, language=request.POST.get("language", ""))
    except LenderError as e:
        messages.error(request, e.message)
    return redirect(request.headers.get("Referer") or "loans:home")


# ---------------------------------------------------------------------------------------------
# Review queue and applications
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@vary_on_headers("HX-Request")
def review_queue(request):
    base = pages.review_queue_qs()
    filterset = pages.ReviewFilter(request.GET, queryset=base, request=request)
    table = pages.ReviewTable(filterset.qs)
    RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    counts = {
        "mine": base.filter(assigned_to=request.user).count(),
        "unassigned": base.filter(assigned_to__isnull=True).count(),
        "late": base.filter(review_due_at__lt=timezone.now()).count(),
    }
    template = "loans/review_queue.html#queue" if request.htmx else "loans/review_queue.html"
    return render(request, template, {"filter": filterset, "table": table, "counts": counts})


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@require_POST
def review_claim(request, pk):
    try:
        services.review_claim(loan_id=pk, by=request.user)
        messages.success(request, _("The application is yours to review."))
    except LenderError as e:
        messages.error(request, e.message)
    return redirect(request.POST.get("next") or "loans:review_queue")


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@require_POST
def review_release(request, pk):
    try:
        services.review_release(loan_id=pk, by=request.user)
        messages.success(request, _("The application is back in the queue."))
    except LenderError as e:
        messages.error(request, e.message)
    return redirect(request.POST.get("next") or "loans:review_queue")


def _application_context(request, loan: Loan, **forms_):
    from risk.models import ScoreStage

    scores = list(loan.scores.select_related("model").order_by("created_at", "pk"))
    latest = scores[-1] if scores else None
    submission = next((s for s in scores if s.stage == ScoreStage.SUBMISSION), None)
    quote_rows = schedules.build_schedule(
        loan.amount, loan.annual_rate, loan.term_months, loan.method, timezone.localdate(), day_count=loan.day_count
    )
    proposal = loan.approvals.filter(is_open=True).select_related("approver").first()
    documents = list(loan.documents.select_related("uploaded_by", "verified_by"))
    return {
        "loan": loan,
        "borrower": loan.borrower,
        "score": latest,
        "submission_score": submission if latest and submission and submission.pk != latest.pk else None,
        "reasons_chart": [
            {"label": r["text_zh"] if request.LANGUAGE_CODE == "zh-hans" else r["text_en"], "value": r["contribution"]}
            for r in (latest.reasons if latest else [])
        ],
        "decision": getattr(loan, "decision", None) if hasattr(loan, "decision") else None,
        "rule_hits": list(loan.rule_hits.all()),
        "quote_rows": quote_rows,
        "quote_total_interest": sum(r.interest for r in quote_rows),
        "record": pages.borrower_record(loan),
        "timeline": pages.timeline(loan),
        "proposal": proposal,
        "countersign_needed": services.loan_countersign_requirement(loan),
        "can_sign_alone": services.approval_limit_of(request.user) >= loan.amount,
        "documents": documents,
        "missing_documents": [DocumentKind(k).label for k in services.loan_missing_documents(loan)],
        "can_reveal": request.user.has_perm("loans.view_borrower_pii"),
        "approve_form": forms_.get("approve_form")
        or ApproveForm(initial={"amount": loan.amount, "term_months": loan.term_months}),
        "propose_form": forms_.get("propose_form") or ProposeForm(),
        "reject_form": forms_.get("reject_form") or RejectForm(),
        "reveal_form": forms_.get("reveal_form") or RevealForm(),
        "upload_form": forms_.get("upload_form") or UploadForm(),
        "product_terms": f"{format_cny(loan.product.amount_min)}–{format_cny(loan.product.amount_max)}, "
        f"{loan.product.term_min_months}–{loan.product.term_max_months}",
    }


def _application(pk) -> Loan:
    return get_object_or_404(Loan.objects.select_related("borrower", "product", "assigned_to"), pk=pk)


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
def application(request, pk):
    loan = _application(pk)
    return render(request, "loans/application.html", _application_context(request, loan))


def _decide(request, pk, form_class, form_key, action):
    loan = _application(pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            message = action(loan, form.cleaned_data)
            messages.success(request, message)
            return redirect(
                "loans:application" if Loan.objects.get(pk=pk).status == LoanStatus.IN_REVIEW else "loans:loan", pk=pk
            )
        except LenderError as e:
            _service_error(form, e)
    loan.refresh_from_db()
    return render(
        request, "loans/application.html", _application_context(request, loan, **{form_key: form}), status=400
    )


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@require_POST
def approve(request, pk):
    def act(loan, data):
        result = services.loan_approve(
            loan_id=loan.pk, by=request.user, note=data["note"], amount=data["amount"], term_months=data["term_months"]
        )
        return _("%(ref)s is approved.") % {"ref": result.reference}

    return _decide(request, pk, ApproveForm, "approve_form", act)


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@require_POST
def propose(request, pk):
    def act(loan, data):
        services.loan_approval_propose(loan_id=loan.pk, by=request.user, note=data["note"])
        return _("Sent for countersign: %(who)s.") % {"who": services.loan_countersign_requirement(loan)}

    return _decide(request, pk, ProposeForm, "propose_form", act)


@login_required
@permission_required("loans.reject_loan", raise_exception=True)
@require_POST
def reject(request, pk):
    def act(loan, data):
        services.loan_reject(loan_id=loan.pk, by=request.user, reason=data["reason"], note=data["note"])
        return _("%(ref)s is rejected.") % {"ref": loan.reference}

    return _decide(request, pk, RejectForm, "reject_form", act)


@login_required
@permission_required("loans.view_borrower_pii", raise_exception=True)
@require_POST
def reveal(request, pk):
    loan = _application(pk)
    form = RevealForm(request.POST)
    shown = None
    if form.is_valid():
        try:
            shown = services.borrower_reveal(
                borrower_id=loan.borrower_id, by=request.user, reason=form.cleaned_data["reason"]
            )
        except LenderError as e:
            _service_error(form, e)
    return render(request, "loans/_reveal.html", {"loan": loan, "shown": shown, "reveal_form": form},
                  status=200 if shown or request.htmx else 400)  # htmx swaps only 2xx bodies  # fmt: skip


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@require_POST
def document_upload(request, pk):
    loan = _application(pk)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.document_upload(
                loan_id=loan.pk, kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"], by=request.user
            )
            messages.success(request, _("Document uploaded."))
            return redirect("loans:application", pk=pk)
        except LenderError as e:
            _service_error(form, e)
    return render(request, "loans/application.html", _application_context(request, loan, upload_form=form), status=400)


@login_required
@permission_required("loans.approve_loan", raise_exception=True)
@require_POST
def document_verify(request, pk):
    document = get_object_or_404(LoanDocument, pk=pk)
    try:
        services.document_verify(document_id=pk, by=request.user)
        messages.success(request, _("Document verified."))
    except LenderError as e:
        messages.error(request, e.message)
    return redirect("loans:application", pk=document.loan_id)


@login_required
def document_file(request, pk):
    """Each download checks permission; files are never served from a public URL."""
    if not (request.user.has_perm("loans.approve_loan") or request.user.has_perm("loans.disburse_loan")):
        raise PermissionDenied
    document = get_object_or_404(LoanDocument, pk=pk)
    inline = request.GET.get("inline") == "1"
    response = FileResponse(document.file.open("rb"), content_type=document.content_type, as_attachment=not inline,
                            filename=document.original_name or f"document{mimetypes.guess_extension(document.content_type)}")  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------------------------
# Countersign and disbursement queues
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required("loans.approve_senior", raise_exception=True)
def countersign_queue(request):
    loans = pages.countersign_queue_qs(user=request.user)
    return render(request, "loans/countersign_queue.html", {"loans": loans})


@login_required
@permission_required("loans.disburse_loan", raise_exception=True)
def disbursement_queue(request):
    table = pages.DisbursementTable(pages.disbursement_queue_qs())
    RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    return render(request, "loans/disbursement_queue.html", {"table": table})


@login_required
@permission_required("loans.disburse_loan", raise_exception=True)
@require_POST
def disburse(request):
    ids = [int(i) for i in request.POST.getlist("loan_ids") if i.isdigit()]
    if not ids:
        messages.error(request, _("Select the loans to disburse."))
        return redirect("loans:disbursement_queue")
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the confirmation to disburse %(n)s loans.") % {"n": len(ids)})
        return redirect("loans:disbursement_queue")
    done, failed = [], []
    for loan_id in ids:  # one transaction each: one failure does not undo the others
        try:
            done.append(services.loan_disburse(loan_id=loan_id, by=request.user).reference)
        except LenderError as e:
            failed.append(e.message)
    if done:
        messages.success(request, _("Disbursed: %(refs)s.") % {"refs": ", ".join(done)})
    for message in failed:
        messages.error(request, message)
    return redirect("loans:disbursement_queue")


# ---------------------------------------------------------------------------------------------
# Loan page and portfolio
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required("loans.view_loan", raise_exception=True)
def loan_page(request, pk):
    loan = get_object_or_404(Loan.objects.select_related("borrower", "product"), pk=pk)
    today = timezone.localdate()
    installments = list(loan.installments.all())
    for row in installments:
        row.state = "paid" if row.is_paid else ("overdue" if row.due_date < today else "due")
    return render(
        request,
        "loans/loan.html",
        {
            "loan": loan,
            "installments": installments,
            "repayments": loan.repayments.select_related("reversed_by"),
            "timeline": pages.timeline(loan),
        },  # fmt: skip
    )


@login_required
@permission_required("loans.view_portfolio", raise_exception=True)
def portfolio_page(request):
    return render(request, "loans/portfolio.html", {"data": portfolio.dashboard(on=timezone.localdate())})


@login_required
@permission_required("loans.view_portfolio", raise_exception=True)
def portfolio_csv(request):
    data = portfolio.dashboard(on=timezone.localdate())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="portfolio-{timezone.localdate()}.csv"'
    writer = csv.writer(response)
    writer.writerow(["section", "name", "key", "value"])
    for row in portfolio.as_rows(data):
        writer.writerow(row)
    return response
