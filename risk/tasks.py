from celery import shared_task


@shared_task(acks_late=True)
def credit_limit_review_task() -> int:
    """Review every active line; each review is its own transaction and safe to repeat."""
    from risk import services

    raised = 0
    for line_id in services.credit_line_review_ids():
        raised += services.credit_line_review(credit_line_id=line_id) is not None
    return raised
