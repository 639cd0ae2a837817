"""Reads of the loans app for pages, the API and tasks."""

from datetime import date

from lender.errors import InvalidInput, StateError
from loans import allocation
from loans.models import Loan, LoanStatus


def loan_payoff_quote(*, loan: Loan, on: date) -> allocation.Payoff:
    """The amount that settles the loan on `on`: principal, interest accrued to `on`, fees, penalties."""
    if loan.status not in (LoanStatus.ACTIVE, LoanStatus.OVERDUE):
        raise StateError(f"{loan.reference} is {loan.get_status_display().lower()}; nothing can be settled.")
    if on < loan.disbursed_on:
        raise InvalidInput(f"Quote a date on or after the disbursement on {loan.disbursed_on}.", field="on")
    from loans.services import loan_state

    return allocation.payoff(loan_state(loan), on)


def applications_undecided(*, submitted_before) -> list[int]:
    """Ids of applications still `submitted` (no decision ran) since before the given time, oldest first."""
    return list(
        Loan.objects.filter(status=LoanStatus.SUBMITTED, submitted_at__lt=submitted_before, decision__isnull=True)
        .order_by("submitted_at", "pk")
        .values_list("pk", flat=True)[:1000]
    )
