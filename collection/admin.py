from django.contrib import admin

from collection.models import (
    CollectionCase,
    ContactLog,
    LadderStep,
    Notification,
    PromiseToPay,
    SweepChunk,
    SweepRun,
)


@admin.register(LadderStep)
class LadderStepAdmin(admin.ModelAdmin):
    list_display = ("bucket", "assignee_group", "action", "recommend_write_off")


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CollectionCase)
class CollectionCaseAdmin(ReadOnly):
    list_display = (
        "pk",
        "loan",
        "status",
        "bucket",
        "days_past_due",
        "overdue_amount",
        "assigned_to",
        "next_action_on",
    )
    list_filter = ("status", "bucket", "is_escalated")
    list_select_related = ("loan", "assigned_to")


@admin.register(ContactLog)
class ContactLogAdmin(ReadOnly):
    list_display = ("created_at", "case", "collector", "channel", "outcome", "next_action_on")
    list_filter = ("channel", "outcome")


@admin.register(PromiseToPay)
class PromiseToPayAdmin(ReadOnly):
    list_display = ("case", "amount", "promised_for", "status", "created_by")
    list_filter = ("status",)


@admin.register(Notification)
class NotificationAdmin(ReadOnly):
    list_display = ("created_at", "installment", "kind", "channel", "status", "attempts", "sent_at", "last_error")
    list_filter = ("status", "kind", "channel")


class SweepChunkInline(admin.TabularInline):
    model = SweepChunk
    extra = 0
    can_delete = False
    readonly_fields = ("first_loan_id", "last_loan_id", "done_at", "loans_overdue", "installments_charged")


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnly):
    list_display = ("business_date", "chunks_planned", "started_at", "completed_at")
    inlines = (SweepChunkInline,)
