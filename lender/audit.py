"""Writing audit events; call inside the service's transaction so the event and the change commit together."""

from django.contrib.contenttypes.models import ContentType
from django.db import models

from lender.db import insert
from lender.models import AuditEvent


def audit(*, target: models.Model, action: str, actor=None, message: str = "", **data) -> AuditEvent:
    event = AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=ContentType.objects.get_for_model(target),
        target_id=target.pk,
        message=message,
        data=data,
    )
    insert(event)  # every service writes one: the INSERT is compiled once
    return event


def audit_trail(target: models.Model):
    return AuditEvent.objects.filter(
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk
    ).select_related("actor")
