"""Partners hear about their loans' status changes through webhooks (queued in the same transaction)."""

from django.dispatch import receiver
from django_fsm.signals import post_transition

from loans.models import Loan


@receiver(post_transition, sender=Loan)
def loan_status_webhook(sender, instance, name, source, target, **kwargs):
    if instance.partner_id:
        from loans.services.partners import webhook_emit

        webhook_emit(loan=instance, event_type="loan.status_changed",
                     data={"loan": instance.reference, "from": source, "to": target, "transition": name})  # fmt: skip
