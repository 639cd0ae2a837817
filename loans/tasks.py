from celery import shared_task


@shared_task(acks_late=True)
def loan_decide_task(loan_id: int) -> None:
    from risk import services  # risk builds on loans: imported here to avoid a cycle

    services.application_decide(loan_id=loan_id)  # no-op once decided: safe to run twice


@shared_task(acks_late=True)
def application_decide_pending_task() -> int:
    """Queue the decision of every application left undecided for five minutes (a lost task)."""
    from datetime import timedelta

    from django.utils import timezone

    from loans import selectors

    ids = selectors.applications_undecided(submitted_before=timezone.now() - timedelta(minutes=5))
    for loan_id in ids:
        loan_decide_task.delay(loan_id)  # a no-op for one decided meanwhile
    return len(ids)


@shared_task(acks_late=True)
def review_assign_task() -> int:
    from loans.services import review

    return review.review_assign_pending()


@shared_task(acks_late=True)
def review_escalate_task() -> int:
    from loans.services import review

    return review.review_escalate_late()


@shared_task(acks_late=True)
def portfolio_refresh_task() -> None:
    """Recompute the dashboard's figures into the shared cache, so no manager waits for them."""
    from django.utils import timezone

    from loans import portfolio

    portfolio.dashboard(on=timezone.localdate(), refresh=True)


@shared_task(acks_late=True)
def webhook_deliver_task(delivery_id: int) -> str:
    """One attempt; a failure schedules the next in the outbox row, which the dispatcher queues."""
    from loans.services import partners

    return partners.webhook_deliver(delivery_id=delivery_id)


@shared_task(acks_late=True)
def webhook_dispatch_task() -> int:
    """Queue every delivery whose attempt is due: retries, and events the sweep wrote in SQL."""
    from loans.services import partners

    ids = partners.webhook_deliveries_due()
    for delivery_id in ids:
        webhook_deliver_task.delay(delivery_id)
    return len(ids)


@shared_task(acks_late=True)
def idempotency_purge_task() -> int:
    from loans.services import partners

    return partners.idempotency_purge()
