from celery import shared_task


@shared_task(acks_late=True)
def loan_decide_task(loan_id: int) -> None:
    from risk import services  # risk builds on loans: imported here to avoid a cycle

    services.application_decide(loan_id=loan_id)  # no-op once decided: safe to run twice


@shared_task(acks_late=True)
def review_assign_task() -> int:
    from loans.services import review

    return review.review_assign_pending()


@shared_task(acks_late=True)
def review_escalate_task() -> int:
    from loans.services import review

    return review.review_escalate_late()
