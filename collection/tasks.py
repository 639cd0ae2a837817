"""Thin Celery tasks over the collection services; ids and ISO dates in, safe to run twice."""

from datetime import date

from celery import shared_task
from django.utils import timezone

from collection.channels import ChannelError


@shared_task(acks_late=True)
def sweep_run_task(business_date: str | None = None) -> None:
    """Plan every date still to sweep up to `business_date` and fan its chunks out to the workers."""
    from collection import sweep

    target = date.fromisoformat(business_date) if business_date else timezone.localdate()
    dates = sweep.sweep_dates(business_date=target)
    if not dates:
        return
    day = dates[0]  # dates go in order: the next one starts when this one's last chunk finishes
    run = sweep.sweep_plan(business_date=day)
    pending = list(run.chunks.filter(done_at__isnull=True).values_list("first_loan_id", flat=True))
    if not pending:
        sweep.sweep_finish(business_date=day)
        if day < target:
            sweep_run_task.delay(target.isoformat())
        return
    for first in pending:
        sweep_chunk_task.delay(day.isoformat(), first, target.isoformat())


@shared_task(acks_late=True)
def sweep_chunk_task(business_date: str, first_loan_id: int, target_date: str | None = None) -> None:
    from collection import sweep

    day = date.fromisoformat(business_date)
    sweep.sweep_chunk(business_date=day, first_loan_id=first_loan_id)
    # The worker that finishes a date's last chunk completes it and starts the next date.
    if sweep.sweep_finish(business_date=day) and target_date and day < date.fromisoformat(target_date):
        sweep_run_task.delay(target_date)


@shared_task(acks_late=True)
def reminders_plan_task() -> int:
    from collection import services

    return services.reminders_plan(on=timezone.localdate())


@shared_task(acks_late=True)
def notifications_dispatch_task() -> int:
    from collection import services

    ids = services.notifications_due()
    for notification_id in ids:
        notification_send_task.delay(notification_id)
    return len(ids)


class RetryReminder(ChannelError):
    pass


@shared_task(
    acks_late=True, autoretry_for=(RetryReminder,), retry_backoff=2, retry_backoff_max=600, max_retries=8,
    retry_jitter=False,
)  # fmt: skip
def notification_send_task(notification_id: int) -> str:
    from collection import services

    result = services.notification_send(notification_id=notification_id)
    if result == services.SendResult.RETRY:
        raise RetryReminder(f"reminder {notification_id}: gateway failure recorded, retrying")
    return result
