"""Reads of the loans app for pages, the API and tasks."""

from datetime import date

from django.db import connection

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


def loan_id_of_partner(*, reference: str, partner_id: int) -> int | None:
    """The id of the partner's loan with this reference, or None (one keyed read: every API repayment)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Loan._meta.db_table} WHERE reference = %s AND partner_id = %s",
                       [reference, partner_id])  # fmt: skip
        row = cursor.fetchone()
    return row[0] if row else None
