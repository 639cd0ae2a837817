from django.contrib import admin, messages

from lender.admin_base import ReadOnlyAdmin
from risk import services
from risk.models import CreditLimitChange, CreditScore, Decision, ListEntry, ProductPolicy, RuleHit, ScoringModel


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    list_display = ("version", "product_kind", "is_active", "auc", "created_at", "activated_at")
    list_filter = ("is_active", "product_kind")
    actions = ("activate",)
    readonly_fields = [f.name for f in ScoringModel._meta.fields]

    @admin.display(description="AUC (held out)")
    def auc(self, obj):
        return f"{obj.metrics.get('auc', 0):.4f}"

    @admin.action(description="Activate (or roll back to) the selected version")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            model = services.model_activate(model_id=queryset.get().pk, by=request.user)
        except Exception as e:  # noqa: BLE001 - shown to the admin as it is
            self.message_user(request, f"Not activated: {getattr(e, 'message', e)}", messages.ERROR)
            return
        self.message_user(request, f"{model.version} is now active for {model.product_kind or 'all kinds'}.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProductPolicy)
class ProductPolicyAdmin(admin.ModelAdmin):
    list_display = ("product", "approve_min_points", "decline_below_points", "qc_sample_rate", "max_debt_to_income")


@admin.register(ListEntry)
class ListEntryAdmin(admin.ModelAdmin):
    list_display = ("kind", "reason", "added_by", "created_at")
    list_filter = ("kind",)
    readonly_fields = ("identifier_hash",)


@admin.register(CreditScore)
class CreditScoreAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "loan", "stage", "points", "grade", "probability", "model")
    list_filter = ("stage", "grade")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "loan", "outcome", "reason", "is_qc_sample", "is_whitelisted")
    list_filter = ("outcome", "is_qc_sample")


@admin.register(RuleHit)
class RuleHitAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "loan", "rule", "reason")
    list_filter = ("rule",)


@admin.register(CreditLimitChange)
class CreditLimitChangeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "credit_line", "before", "after", "reason")
