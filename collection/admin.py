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
from lender.admin_base import ReadOnlyAdmin


@admin.register(LadderStep)
class LadderStepAdmin(admin.ModelAdmin):
    list_display = ("bucket", "assignee_group", "action", "recommend_write_off")


@admin.register(CollectionCase)
class CollectionCaseAdmin(ReadOnlyAdmin):
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
class ContactLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "case", "collector", "channel", "outcome", "next_action_on")
    list_filter = ("channel", "outcome")


@admin.register(PromiseToPay)
class PromiseToPayAdmin(ReadOnlyAdmin):
    list_display = ("case", "amount", "promised_for", "status", "created_by")
    list_filter = ("status",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "installment", "kind", "channel", "status", "attempts", "sent_at", "last_error")
    list_filter = ("status", "kind", "channel")


class SweepChunkInline(admin.TabularInline):
    model = SweepChunk
    extra = 0
    can_delete = False
    readonly_fields = ("first_loan_id", "last_loan_id", "done_at", "loans_overdue", "installments_charged")


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "chunks_planned", "started_at", "completed_at")
    inlines = (SweepChunkInline,)
