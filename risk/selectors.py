"""Reads of the risk app: an application's raw feature values from the database, active models."""

from datetime import date, timedelta

from django.db import connection
from django.utils import timezone

from loans import schedules
from loans.models import Loan, LoanStatus
from risk.models import ScoringModel

OPEN_LOAN = (LoanStatus.ACTIVE, LoanStatus.OVERDUE)


def active_model_for(product_kind: str) -> ScoringModel | None:
    """The active model of the product kind, else the active model for all kinds, else None."""
    models = {
        m.product_kind: m for m in ScoringModel.objects.filter(is_active=True, product_kind__in=[product_kind, ""])
    }
    return models.get(product_kind) or models.get("")


def _age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def new_monthly_payment(*, amount, annual_rate, term_months: int, method: str, day_count: int, on: date) -> float:
    rows = schedules.build_schedule(amount, annual_rate, term_months, method, on, day_count=day_count)
    total = sum(r.total for r in rows)
    return float(rows[0].total if method != schedules.BULLET else total / term_months)


# One hand-written query: the ORM's compilation of the same subqueries cost ten times the query.
APPLICATION_SQL = """
SELECT l.amount, l.annual_rate, l.term_months, l.method, l.day_count, p.kind, b.kind, b.birth_date,
       b.monthly_income, b.employment_years, b.employment_kind, b.monthly_obligations, b.is_key_university,
       b.degree_level, b.business_years, b.annual_revenue, b.monthly_bank_inflow,
       (SELECT min(i.due_date) FROM loans_installment i JOIN loans_loan o ON o.id = i.loan_id
         WHERE o.borrower_id = l.borrower_id AND i.due_date < %(on)s
           AND (i.principal_paid < i.principal_due OR i.interest_paid < i.interest_due
                OR i.penalty_paid < i.penalty_due OR i.fee_paid < i.fee_due)),
       (SELECT count(*) FROM loans_loan o WHERE o.borrower_id = l.borrower_id AND o.id <> l.id
           AND o.status IN ('active', 'overdue')),
       (SELECT count(*) FROM loans_loan o WHERE o.borrower_id = l.borrower_id AND o.id <> l.id
           AND o.status = 'written_off'),
       (SELECT count(*) FROM loans_loan o WHERE o.borrower_id = l.borrower_id AND o.id <> l.id
           AND o.submitted_at >= %(since)s)
  FROM loans_loan l JOIN loans_borrower b ON b.id = l.borrower_id JOIN loans_loanproduct p ON p.id = l.product_id
 WHERE l.id = %(loan_id)s
"""
RAW_COLUMNS = (
    "amount", "annual_rate", "term_months", "method", "day_count", "product__kind", "borrower__kind",
    "borrower__birth_date", "borrower__monthly_income", "borrower__employment_years", "borrower__employment_kind",
    "borrower__monthly_obligations", "borrower__is_key_university", "borrower__degree_level",
    "borrower__business_years", "borrower__annual_revenue", "borrower__monthly_bank_inflow", "oldest_unpaid",
    "open_count", "written_off_count", "recent_count",
)  # fmt: skip


def application_raw(loan: Loan, *, on: date | None = None) -> dict:
    """The raw values `risk.features` reads for one application, as the database holds them now.

    One query (borrower, product and history as subqueries), no model instances and no decryption:
    this runs on every decision and approval.
    """
    on = on or timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(APPLICATION_SQL, {"on": on, "since": timezone.now() - timedelta(days=30), "loan_id": loan.pk})
        values = cursor.fetchone()
    if values is None:
        raise Loan.DoesNotExist(f"No loan {loan.pk}.")
    row = dict(zip(RAW_COLUMNS, values))
    worst = (on - row["oldest_unpaid"]).days if row["oldest_unpaid"] else 0
    if row["written_off_count"]:
        worst = max(worst, 180)

    def number(value):
        return float(value) if value is not None else None

    return {
        "age": _age_on(row["borrower__birth_date"], on),
        "monthly_income": float(row["borrower__monthly_income"]),
        "employment_years": row["borrower__employment_years"],
        "employment_kind": row["borrower__employment_kind"],
        "monthly_obligations": float(row["borrower__monthly_obligations"]),
        "new_monthly_payment": new_monthly_payment(
            amount=row["amount"],
            annual_rate=row["annual_rate"],
            term_months=row["term_months"],
            method=row["method"],
            day_count=row["day_count"],
            on=on,
        ),  # fmt: skip
        "requested_amount": float(row["amount"]),
        "term_months": row["term_months"],
        "borrower_kind": row["borrower__kind"],
        "product_kind": row["product__kind"],
        "is_key_university": float(row["borrower__is_key_university"]) if row["borrower__kind"] == "student" else None,
        "degree_level": row["borrower__degree_level"] or None,
        "business_years": row["borrower__business_years"],
        "annual_revenue": number(row["borrower__annual_revenue"]),
        "monthly_bank_inflow": number(row["borrower__monthly_bank_inflow"]),
        "worst_days_past_due": worst,
        "open_loans": row["open_count"],
        "recent_applications": row["recent_count"],
    }
