from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from lender.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS


class StaffProfile(models.Model):
    """What the back office knows of a staff user beyond Django's auth: authority and duty."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    # The largest loan this user may approve alone; above it a second approver must countersign.
    approval_limit = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, default=Decimal("0.00")
    )
    is_on_duty = models.BooleanField(default=True)
    language = models.CharField(max_length=10, choices=[("en", "English"), ("zh-hans", "简体中文")], default="en")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(approval_limit__gte=0), name="approval_limit_gte_0")]

    def __str__(self) -> str:
        return f"{self.user} (limit {self.approval_limit})"


class AuditEvent(models.Model):
    """An audited business event that is not a state transition (those are in django-fsm-log)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    target_id = models.BigIntegerField()
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        indexes = [models.Index(fields=["target_type", "target_id", "created_at"])]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_type.model}#{self.target_id}"
