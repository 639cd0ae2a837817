from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from lender.admin_base import ReadOnlyAdmin
from lender.models import AuditEvent, StaffProfile


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    fields = ("approval_limit", "is_on_duty")


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = (StaffProfileInline,)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "target_type", "target_id", "actor", "message")
    list_filter = ("action", "target_type")
    list_select_related = ("actor", "target_type")


admin.site.site_header = "Lender back office"
admin.site.site_title = "Lender back office"
