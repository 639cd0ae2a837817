from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django_fsm_log.admin import StateLogInline

from lender.admin_base import ReadOnlyAdmin
from lender.history import history_context
from lender.money import format_cny
from loans import services
from loans.models import (
    API_SCOPES,
    ApiCallLog,
    Borrower,
    CreditLine,
    Disbursement,
    Installment,
    Loan,
    LoanApproval,
    LoanProduct,
    Partner,
    PartnerApiKey,
    Repayment,
    RepaymentMethod,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from loans.products import product_costliest_combination
from loans.services import partners


class LoanProductForm(forms.ModelForm):
    allowed_methods = forms.MultipleChoiceField(
        choices=RepaymentMethod.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = LoanProduct
        fields = (
            "code",
            "name",
            "kind",
            "is_active",
            "amount_min",
            "amount_max",
            "term_min_months",
            "term_max_months",
            "allowed_methods",
            "annual_rate",
            "day_count",
            "fee_kind",
            "fee_value",
            "penalty_rate",
            "grace_days",
            "allocation_order",
            "prepayment_rule",
            "senior_approval_threshold",
            "review_sla_hours",
        )


@admin.register(LoanProduct)
class LoanProductAdmin(admin.ModelAdmin):
    form = LoanProductForm
    list_display = (
        "name",
        "code",
        "kind",
        "amount_range",
        "term_range",
        "rate_display",
        "daily_rate_display",
        "is_active",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    readonly_fields = ("daily_rate_display", "costliest_apr", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "name", "kind", "is_active")}),
        (
            "Amounts and terms",
            {"fields": ("amount_min", "amount_max", "term_min_months", "term_max_months", "allowed_methods")},
        ),
        (
            "Price",
            {
                "fields": (
                    "annual_rate",
                    "daily_rate_display",
                    "day_count",
                    "fee_kind",
                    "fee_value",
                    "penalty_rate",
                    "costliest_apr",
                )
            },
        ),
        (
            "Servicing",
            {
                "fields": (
                    "grace_days",
                    "allocation_order",
                    "prepayment_rule",
                    "senior_approval_threshold",
                    "review_sla_hours",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="amount")
    def amount_range(self, obj):
        return f"{format_cny(obj.amount_min)} – {format_cny(obj.amount_max)}"

    @admin.display(description="term")
    def term_range(self, obj):
        return f"{obj.term_min_months}–{obj.term_max_months} months"

    @admin.display(description="annual rate")
    def rate_display(self, obj):
        return f"{obj.annual_rate * 100:.4f}%"

    @admin.display(description="daily rate (equivalent)")
    def daily_rate_display(self, obj):
        if obj is None or obj.annual_rate is None:
            return "-"
        return f"{obj.daily_rate * 100:.4f}% a day ({obj.day_count}-day year)"

    @admin.display(description="highest APR of any allowed combination")
    def costliest_apr(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        worst = product_costliest_combination(obj)
        return f"{worst.apr * 100:.2f}% ({worst.method}, {worst.term_months} months, {format_cny(worst.amount)})"

    def save_model(self, request, obj, form, change):
        with history_context(user=request.user.pk):
            super().save_model(request, obj, form, change)


class BorrowerForm(forms.ModelForm):
    """Identity fields are write-only: entered here, never shown back unmasked."""

    new_id_number = forms.CharField(label="Resident ID number", required=False, max_length=18)
    new_phone = forms.CharField(label="Mobile phone", required=False, max_length=20)

    class Meta:
        model = Borrower
        fields = (
            "kind",
            "full_name",
            "employment_kind",
            "employment_years",
            "monthly_income",
            "monthly_obligations",
            "school",
            "is_key_university",
            "degree_level",
            "is_enrolment_verified",
            "enrolment_verified_on",
            "company_name",
            "credit_code",
            "business_years",
            "annual_revenue",
            "monthly_bank_inflow",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["new_id_number"].help_text = "Leave blank to keep the current number."
            self.fields["new_phone"].help_text = "Leave blank to keep the current phone."
        else:
            self.fields["new_id_number"].required = True
            self.fields["new_phone"].required = True

    def clean(self):
        cleaned = super().clean()
        try:
            self.instance.set_identity(
                id_number=cleaned.get("new_id_number") or None, phone=cleaned.get("new_phone") or None
            )
        except ValidationError as e:
            for field, errs in e.message_dict.items():
                self.add_error(f"new_{field}", errs)
        if (
            cleaned.get("new_id_number")
            and Borrower.objects.filter(id_number_hash=self.instance.id_number_hash)
            .exclude(pk=self.instance.pk)
            .exists()
        ):
            self.add_error("new_id_number", "A borrower with this ID number already exists.")
        return cleaned


@admin.register(Borrower)
class BorrowerAdmin(admin.ModelAdmin):
    form = BorrowerForm
    list_display = ("full_name", "kind", "masked_id_number", "masked_phone", "birth_date", "created_at")
    list_filter = ("kind", "is_key_university", "degree_level")
    search_fields = ("full_name", "company_name")
    readonly_fields = ("masked_id_number", "masked_phone", "birth_date", "created_at", "updated_at")

    def get_fieldsets(self, request, obj=None):
        identity = (
            ("new_id_number", "new_phone")
            if obj is None
            else ("masked_id_number", "new_id_number", "masked_phone", "new_phone", "birth_date")
        )
        return (
            (None, {"fields": ("kind", "full_name", *identity)}),
            ("Income", {"fields": ("employment_kind", "employment_years", "monthly_income", "monthly_obligations")}),
            (
                "Student",
                {
                    "fields": (
                        "school",
                        "is_key_university",
                        "degree_level",
                        "is_enrolment_verified",
                        "enrolment_verified_on",
                    )
                },
            ),
            (
                "Small business",
                {"fields": ("company_name", "credit_code", "business_years", "annual_revenue", "monthly_bank_inflow")},
            ),
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        found = services.borrower_find_by_id_number(id_number=search_term) if search_term else None
        if found is not None:
            queryset |= Borrower.objects.filter(pk=found.pk)
        return queryset, may_have_duplicates

    def save_model(self, request, obj, form, change):
        with history_context(user=request.user.pk):
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        messages.error(request, "Borrowers are never deleted from the admin.")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ApprovalInline(ReadOnlyInline):
    model = LoanApproval
    fields = ("created_at", "approver", "kind", "amount", "term_months", "approver_limit", "is_open", "note")
    readonly_fields = fields


class InstallmentInline(ReadOnlyInline):
    model = Installment
    fields = (
        "number",
        "due_date",
        "principal_due",
        "interest_due",
        "fee_due",
        "penalty_due",
        "principal_paid",
        "interest_paid",
        "fee_paid",
        "penalty_paid",
    )
    readonly_fields = fields


class DisbursementInline(ReadOnlyInline):
    model = Disbursement
    fields = ("disbursed_on", "gross_amount", "fee_amount", "net_amount", "apr", "disbursed_by")
    readonly_fields = fields


class RepaymentInline(ReadOnlyInline):
    model = Repayment
    fields = (
        "external_reference",
        "paid_on",
        "amount",
        "status",
        "kind",
        "principal_amount",
        "interest_amount",
        "fee_amount",
        "penalty_amount",
        "reversal_reason",
    )
    readonly_fields = fields


@admin.register(Loan)
class LoanAdmin(admin.ModelAdmin):
    """Loans are read-only here: every change goes through the services (and so the audit trail)."""

    list_display = ("reference", "borrower", "product", "amount", "term_months", "method", "status", "submitted_at")
    list_filter = ("status", "product", "method")
    search_fields = ("reference",)
    list_select_related = ("borrower", "product")
    inlines = (ApprovalInline, DisbursementInline, InstallmentInline, RepaymentInline, StateLogInline)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Loan._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CreditLine)
class CreditLineAdmin(ReadOnlyAdmin):
    """Lines change through draws, repayments and the limit services (audited)."""

    list_display = ("borrower", "product", "limit", "used", "available", "status", "updated_at")
    list_filter = ("status", "product")
    list_select_related = ("borrower", "product")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in CreditLine._meta.fields] + ["available"]


# ---------------------------------------------------------------------------------------------
# Partner channels: partners, API keys (created here, shown once), webhooks, the call log
# ---------------------------------------------------------------------------------------------


class ApiKeyInline(ReadOnlyInline):
    model = PartnerApiKey
    fields = ("prefix", "scopes", "is_active", "created_at", "last_used_at")
    readonly_fields = fields


class WebhookEndpointInline(ReadOnlyInline):
    model = WebhookEndpoint
    fields = ("url", "is_active", "created_at")
    readonly_fields = fields


class ApiKeyCreateForm(forms.Form):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in API_SCOPES], widget=forms.CheckboxSelectMultiple, required=True
    )


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "is_active", "can_see_reasons", "rate_limit", "created_at")
    list_filter = ("is_active", "can_see_reasons")
    search_fields = ("name", "code")
    fields = ("code", "name", "is_active", "can_see_reasons", "rate_limit", "api_keys")
    readonly_fields = ("api_keys",)
    inlines = (ApiKeyInline, WebhookEndpointInline)

    def get_readonly_fields(self, request, obj=None):
        # The code prefixes the partner's payment references: renaming it would let a reference repeat.
        return ("code", "api_keys") if obj else ("api_keys",)

    @admin.display(description="API keys")
    def api_keys(self, obj):
        if obj is None or obj.pk is None:
            return "Save the partner first, then create its keys here."
        url = reverse("admin:loans_partner_create_key", args=[obj.pk])
        return format_html('<a class="button" href="{}">Create an API key</a> (shown once, stored hashed)', url)

    def save_model(self, request, obj, form, change):
        with history_context(user=request.user.pk):
            super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: its loans, keys and call log keep pointing at it

    def get_urls(self):
        create = self.admin_site.admin_view(self.create_key_view)
        return [path("<int:partner_id>/create-key/", create, name="loans_partner_create_key"), *super().get_urls()]

    def create_key_view(self, request, partner_id):
        if not request.user.has_perm("loans.add_partnerapikey"):
            raise PermissionDenied
        partner = get_object_or_404(Partner, pk=partner_id)
        form = ApiKeyCreateForm(request.POST if request.method == "POST" else None)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "partner": partner,
                   "form": form, "title": f"New API key for {partner.name}"}  # fmt: skip
        if request.method == "POST" and form.is_valid():
            key, raw = partners.partner_key_create(
                partner_id=partner.pk, scopes=form.cleaned_data["scopes"], by=request.user
            )
            # Rendered, never put in a message: messages are stored between requests.
            return render(request, "admin/loans/partner_key_created.html", {**context, "key": key, "raw": raw})
        return render(request, "admin/loans/partner_key_create.html", context)


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("prefix", "partner", "scopes", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active", "partner")
    search_fields = ("prefix",)
    list_select_related = ("partner",)
    fields = ("partner", "prefix", "scopes", "is_active", "created_at", "last_used_at")
    readonly_fields = fields
    actions = ("revoke",)

    def has_revoke_permission(self, request):
        return request.user.has_perm("loans.change_partnerapikey")

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        count = partners.partner_key_revoke(key_ids=list(queryset.values_list("pk", flat=True)), by=request.user)
        self.message_user(request, f"{count} key(s) revoked; calls with them now get 401.")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "partner", "is_active", "created_at")
    list_filter = ("is_active", "partner")
    list_select_related = ("partner",)
    fields = ("partner", "url", "is_active", "created_at")  # never the signing secret
    readonly_fields = fields
    actions = ("deactivate",)

    def has_deactivate_permission(self, request):
        return request.user.has_perm("loans.change_webhookendpoint")

    @admin.action(description="Stop sending events to the selected endpoints", permissions=["deactivate"])
    def deactivate(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = partners.webhook_endpoint_deactivate(endpoint_ids=ids, by=request.user)
        self.message_user(request, f"{count} endpoint(s) deactivated.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_type", "endpoint", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("status", "event_type")
    search_fields = ("event_id",)
    list_select_related = ("endpoint",)
    actions = ("resend",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in WebhookDelivery._meta.fields]

    def has_resend_permission(self, request):
        return request.user.has_perm("loans.change_webhookdelivery")

    @admin.action(description="Resend the selected failed deliveries", permissions=["resend"])
    def resend(self, request, queryset):
        ids = list(queryset.filter(status=WebhookDeliveryStatus.FAILED).values_list("pk", flat=True))
        count = partners.webhook_resend(delivery_ids=ids, by=request.user)
        self.message_user(request, f"{count} failed delivery(ies) queued again; others were left as they were.")


@admin.register(ApiCallLog)
class ApiCallLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "partner", "key_prefix", "method", "path", "status", "latency_ms")
    list_filter = ("status", "method", "partner")
    search_fields = ("key_prefix", "path")
    list_select_related = ("partner",)
    show_full_result_count = False  # a large table: no COUNT(*) per page

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ApiCallLog._meta.fields]
