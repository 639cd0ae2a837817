from celery import shared_task


@shared_task(acks_late=True)
def loan_decide_task(loan_id: int) -> None:
    from loans import services

    services.loan_decide(loan_id=loan_id)  # no-op once decided: safe to run twice
