"""Where money moves: disbursement, repayments (allocation, prepayment, reversal), credit lines.

Lock order, everywhere: the loan row, then its credit line. A draw locks the line and creates
a new loan, never locking another loan, so the two orders cannot deadlock.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from lender.audit import audit
from lender.db import fetch, fetch_one, insert
from lender.errors import InvalidInput, NotFound, StateError
from lender.history import history_context
from lender.money import format_cny
from loans import allocation, schedules
from loans.models import (
    CreditLine,
    CreditLineStatus,
    Disbursement,
    Installment,
    Loan,
    LoanProduct,
    LoanStatus,
    ProductKind,
    Repayment,
    RepaymentAllocation,
    RepaymentStatus,
)
from loans.products import product_check_application
from loans.services.applications import _lock, _require_perm, _require_transition, _user_id, loan_submit

PAYABLE = (LoanStatus.ACTIVE, LoanStatus.OVERDUE)


# ---------------------------------------------------------------------------------------------
# Disbursement
# ---------------------------------------------------------------------------------------------


def _disburse(loan: Loan, *, by, on: date) -> Disbursement:
    """Disburse a locked, approved loan: the installments, the contract snapshot and the record."""
    rows = schedules.build_schedule(
        loan.amount, loan.annual_rate, loan.term_months, loan.method, on, day_count=loan.day_count
    )
    loan.apr = schedules.apr(loan.amount, loan.fee_amount, rows, on, method=loan.method, day_count=loan.day_count)
    loan.disbursed_on = on
    loan.oldest_unpaid_due = rows[0].due_date
    disbursement = Disbursement.objects.create(
        loan=loan,
        disbursed_on=on,
        gross_amount=loan.amount,
        fee_amount=loan.fee_amount,
        net_amount=loan.amount - loan.fee_amount,
        apr=loan.apr,
        contract_schedule=[
            {
                "number": r.number,
                "due_date": r.due_date.isoformat(),
                "principal": str(r.principal),
                "interest": str(r.interest),
            }
            for r in rows
        ],
        disbursed_by=by if _user_id(by) else None,
    )
    Installment.objects.bulk_create(
        Installment(loan=loan, number=r.number, due_date=r.due_date, principal_due=r.principal, interest_due=r.interest)
        for r in rows
    )
    loan.disburse(by=by, description=f"Disbursed {format_cny(disbursement.net_amount)} net of fees on {on}.")
    loan.save()
    return disbursement


@transaction.atomic
def loan_disburse(*, loan_id: int, by, on: date | None = None) -> Loan:
    """Disburse an approved loan once: schedule, contract snapshot, APR and the disbursement record.

    Raises StateError unless the loan is approved (so a second, concurrent disbursement waits for
    the row lock, then finds the loan active and is refused), AuthorityError without permission.
    """
    loan = _lock(loan_id)
    _require_transition(loan, "disburse", "disburse")
    _require_perm(by, "loans.disburse_loan", "disburse loans")
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise InvalidInput("A loan cannot be disbursed on a future date.", field="on")
    _disburse(loan, by=by, on=on)
    return loan


# ---------------------------------------------------------------------------------------------
# Balances: replaying the repayments
# ---------------------------------------------------------------------------------------------


def _terms(loan: Loan) -> allocation.Terms:
    return allocation.Terms(
        principal=loan.amount,
        annual_rate=loan.annual_rate,
        method=loan.method,
        start_date=loan.disbursed_on,
        day_count=loan.day_count,
        order=tuple(loan.allocation_order.split(",")),
        prepayment_rule=loan.prepayment_rule,
    )


def _contract_slots(loan: Loan, installments: dict[int, Installment]) -> list[allocation.Slot]:
    """The contract schedule with the penalties and fees charged since (those are not replayed)."""
    slots = []
    for row in loan.disbursement.contract_schedule:
        charged = installments.get(row["number"])
        slots.append(
            allocation.Slot(
                number=row["number"],
                due_date=date.fromisoformat(row["due_date"]),
                principal_due=Decimal(row["principal"]),
                interest_due=Decimal(row["interest"]),
                fee_due=charged.fee_due if charged else Decimal("0.00"),
                penalty_due=charged.penalty_due if charged else Decimal("0.00"),
            )
        )
    return slots


def loan_state(loan: Loan, *, excluding: int | None = None, extra: allocation.Payment | None = None):
    """The loan's balances from its contract and posted repayments (ids in date order)."""
    installments = {i.number: i for i in loan.installments.all()}
    payments = [
        allocation.Payment(r.pk, r.amount, r.paid_on)
        for r in loan.repayments.filter(status=RepaymentStatus.POSTED).order_by("paid_on", "pk")
        if r.pk != excluding
    ]
    if extra is not None:
        payments.append(extra)
    return allocation.replay(_terms(loan), _contract_slots(loan, installments), payments)


def _rebalance(loan: Loan, *, by=None) -> allocation.State:
    """Re-allocate every posted repayment in date order and store the balances that result."""
    try:
        state = loan_state(loan)
    except allocation.AllocationError as e:
        raise InvalidInput(e.message, **e.extra) from None
    existing = {i.number: i for i in loan.installments.all()}
    RepaymentAllocation.objects.filter(repayment__loan=loan).delete()
    keep = {s.number for s in state.slots}
    loan.installments.exclude(number__in=keep).delete()  # a shortened term drops the last ones
    fields = [f"{c}_{kind}" for c in allocation.COMPONENTS for kind in ("due", "paid")]
    changed, new = [], []
    for slot in state.slots:
        row = existing.get(slot.number) or Installment(loan=loan, number=slot.number)
        values = {"due_date": slot.due_date, **{name: getattr(slot, name) for name in fields}}
        if row.pk and all(getattr(row, k) == v for k, v in values.items()):
            continue  # unchanged: not written
        for name, value in values.items():
            setattr(row, name, value)
        (changed if row.pk else new).append(row)
    _update_rows("loans_installment", changed, ["due_date", *fields], {"due_date": "date"})
    Installment.objects.bulk_create(new)
    by_number = {**existing, **{i.number: i for i in new}}
    RepaymentAllocation.objects.bulk_create(
        RepaymentAllocation(repayment_id=a.key, installment=by_number[a.number], component=a.component, amount=a.amount)
        for a in state.allocations
    )
    _store_repayment_summaries(loan, state)
    return _balances_stored(loan, state)


def _balances_stored(loan: Loan, state: allocation.State) -> allocation.State:
    """What follows new balances: the oldest unpaid due date (the sweep's input) and the credit line."""
    unpaid = [s.due_date for s in state.slots if s.outstanding("principal") or s.outstanding("interest")]
    oldest = min(unpaid) if unpaid else None
    if oldest != loan.oldest_unpaid_due:
        loan.oldest_unpaid_due = oldest
        Loan.objects.filter(pk=loan.pk).update(oldest_unpaid_due=oldest)
    if loan.credit_line_id:
        _credit_line_refresh(loan.credit_line_id)
    return state


def _reference_and_latest(reference: str, loan_id: int, paid_on: date) -> tuple[int | None, bool]:
    """The id of a repayment already holding `reference`, and whether no posted repayment of the loan
    is dated after `paid_on`: both in one round trip, since every repayment asks both."""
    table = Repayment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT id FROM {table} WHERE external_reference = %s), "
            f"NOT EXISTS (SELECT 1 FROM {table} WHERE loan_id = %s AND status = %s AND paid_on > %s)",
            [reference, loan_id, RepaymentStatus.POSTED, paid_on],
        )
        existing_id, is_latest = cursor.fetchone()
    return existing_id, is_latest


def _plan_latest(loan: Loan, *, amount: Decimal, paid_on: date):
    """Allocate a repayment dated on or after every other one against the stored balances (no writes).

    Replaying the whole history would give the same result (the new payment comes last in date
    order, ties broken by id), at a cost that grows with the history; this costs one payment.
    Bullet loans always replay: their daily accrual state is not stored. Raises InvalidInput.
    """
    rows = fetch(Installment, '"loan_id" = %s', [loan.pk], suffix=' ORDER BY "number"')
    fields = [f"{c}_{kind}" for c in allocation.COMPONENTS for kind in ("due", "paid")]
    slots = [allocation.Slot(r.number, r.due_date, **{f: getattr(r, f) for f in fields}) for r in rows]
    state = allocation.new_state(_terms(loan), slots)
    try:
        applied = allocation.apply_payment(state, allocation.Payment(None, amount, paid_on))
    except allocation.AllocationError as e:
        raise InvalidInput(e.message, **e.extra) from None
    totals = dict.fromkeys(allocation.COMPONENTS, Decimal("0.00"))
    for a in state.allocations:
        totals[a.component] += a.amount
    summary = {"principal_amount": totals["principal"], "interest_amount": totals["interest"],
               "fee_amount": totals["fee"], "penalty_amount": totals["penalty"], "kind": applied.kind,
               "prepaid_principal": applied.prepaid_principal}  # fmt: skip
    return rows, state, summary


def _write_latest(loan: Loan, repayment: Repayment, rows, state: allocation.State) -> allocation.State:
    """Store a planned latest repayment: changed installments, its allocations, the loan's follow-ups."""
    fields = [f"{c}_{kind}" for c in allocation.COMPONENTS for kind in ("due", "paid")]
    by_number = {r.number: r for r in rows}
    keep = {slot.number for slot in state.slots}
    dropped = [r.pk for r in rows if r.number not in keep]
    if dropped:  # a shortened term drops the last installments (they have no allocations: they were not due)
        Installment.objects.filter(pk__in=dropped).delete()
    changed = []
    for slot in state.slots:
        row = by_number[slot.number]
        values = {f: getattr(slot, f) for f in fields}
        if any(getattr(row, f) != v for f, v in values.items()):
            for f, v in values.items():
                setattr(row, f, v)
            changed.append(row)
    _update_rows("loans_installment", changed, fields, {})
    RepaymentAllocation.objects.bulk_create(
        RepaymentAllocation(
            repayment=repayment, installment=by_number[a.number], component=a.component, amount=a.amount
        )
        for a in state.allocations
    )
    return _balances_stored(loan, state)


def _store_repayment_summaries(loan: Loan, state: allocation.State) -> None:
    totals: dict[int, dict[str, Decimal]] = {}
    for a in state.allocations:
        bucket = totals.setdefault(a.key, dict.fromkeys(allocation.COMPONENTS, Decimal("0.00")))
        bucket[a.component] += a.amount
    applied = {a.key: a for a in state.applied}
    names = ["principal_amount", "interest_amount", "fee_amount", "penalty_amount", "kind", "prepaid_principal"]
    changed = []
    for r in loan.repayments.all():
        bucket = totals.get(r.pk, dict.fromkeys(allocation.COMPONENTS, Decimal("0.00")))
        before = [getattr(r, n) for n in names]
        r.principal_amount, r.interest_amount = bucket["principal"], bucket["interest"]
        r.fee_amount, r.penalty_amount = bucket["fee"], bucket["penalty"]
        if r.pk in applied:
            r.kind, r.prepaid_principal = applied[r.pk].kind, applied[r.pk].prepaid_principal
        if [getattr(r, n) for n in names] != before:
            changed.append(r)
    _update_rows("loans_repayment", changed, names, {"kind": "varchar"})


def _update_rows(table: str, rows: list, columns: list[str], casts: dict[str, str]) -> None:
    """One UPDATE ... FROM (VALUES ...) for the rows that changed (the ORM's bulk_update builds a CASE per
    row and column, which cost more than the rest of a repayment together)."""
    if not rows:
        return
    width = len(columns) + 1
    placeholders = ", ".join("(" + ", ".join(["%s"] * width) + ")" for _ in rows)
    params = [value for row in rows for value in (row.pk, *[getattr(row, c) for c in columns])]
    assignments = ", ".join(f"{c} = v.{c}::{casts.get(c, 'numeric')}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} t SET {assignments} FROM (VALUES {placeholders}) AS v(id, {', '.join(columns)}) "
            f"WHERE t.id = v.id::bigint",
            params,
        )


# ---------------------------------------------------------------------------------------------
# Repayments
# ---------------------------------------------------------------------------------------------


def _check_amount(amount) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidInput("The amount must be a decimal number of yuan.", field="amount")
    if amount <= 0:
        raise InvalidInput("A repayment must be more than zero.", field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("A repayment is in whole fen (at most two decimals).", field="amount")
    return amount


def _same_request(existing: Repayment, *, loan_id: int, amount: Decimal, paid_on: date) -> bool:
    return (existing.loan_id, existing.amount, existing.paid_on) == (loan_id, amount, paid_on)


@transaction.atomic
def repayment_record(
    *,
    loan_id: int,
    amount: Decimal,
    paid_on: date,
    external_reference: str,
    by=None,
    channel: str = "",
) -> tuple[Repayment, bool]:
    """Record and allocate a repayment; returns (repayment, created).

    The same external reference twice records once and returns the first repayment. Raises
    InvalidInput (bad amount or date, overpayment, a reference reused for another payment) and
    StateError (a loan that is not active or overdue); nothing is written then.
    """
    return repayment_record_in_transaction(loan=_lock(loan_id), amount=amount, paid_on=paid_on,
                                           external_reference=external_reference, by=by, channel=channel)  # fmt: skip


def loan_lock_of_partner(*, reference: str, partner_id: int) -> Loan | None:
    """The partner's loan with this reference, locked until the transaction ends; None if it has none."""
    return fetch_one(Loan, '"reference" = %s AND "partner_id" = %s', [reference, partner_id], suffix=" FOR UPDATE")


def repayment_record_in_transaction(
    *,
    loan: Loan,
    amount: Decimal,
    paid_on: date,
    external_reference: str,
    by=None,
    channel: str = "",
) -> tuple[Repayment, bool]:
    """repayment_record for a loan the caller locked, in the caller's transaction.atomic.

    No savepoint (two round trips) of its own: for a caller that writes more in the same
    transaction (the API stores its answer to replay) and lets any error roll it all back.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("repayment_record_in_transaction runs inside transaction.atomic")
    amount = _check_amount(amount)
    reference = (external_reference or "").strip()
    if not reference:
        raise InvalidInput("A repayment needs the payment's external reference.", field="external_reference")
    existing_id, is_latest = _reference_and_latest(reference, loan.pk, paid_on)
    if existing_id is not None:
        existing = fetch_one(Repayment, '"id" = %s', [existing_id])
        if not _same_request(existing, loan_id=loan.pk, amount=amount, paid_on=paid_on):
            raise InvalidInput(
                f"The reference {reference} was already used for a different repayment.", field="external_reference"
            )
        return existing, False
    if loan.status not in PAYABLE:
        raise StateError(
            f"Repayments are taken on active or overdue loans; {loan.reference} is {loan.get_status_display().lower()}.",
            status=loan.status,
        )
    if paid_on > timezone.localdate():
        raise InvalidInput("A repayment cannot be dated in the future.", field="paid_on")
    if paid_on < loan.disbursed_on:
        raise InvalidInput(
            f"A repayment cannot be dated before the disbursement on {loan.disbursed_on}.", field="paid_on"
        )
    planned = (
        _plan_latest(loan, amount=amount, paid_on=paid_on) if is_latest and loan.method != schedules.BULLET else None
    )
    repayment = Repayment(
        loan=loan,
        external_reference=reference,
        amount=amount,
        paid_on=paid_on,
        channel=channel,
        recorded_by=by if _user_id(by) else None,
        **(planned[2] if planned else {}),
    )
    with history_context(user=_user_id(by)):  # the repayment's own row history too
        if not insert(repayment, unless_exists="external_reference"):  # another loan's request holds it
            existing = Repayment.objects.get(external_reference=reference)
            if not _same_request(existing, loan_id=loan.pk, amount=amount, paid_on=paid_on):
                raise InvalidInput(
                    f"The reference {reference} was already used for a different repayment.",
                    field="external_reference",
                ) from None
            return existing, False
        if planned is not None:
            state = _write_latest(loan, repayment, planned[0], planned[1])
        else:
            state = _rebalance(loan, by=by)
            repayment.refresh_from_db()
    audit(
        target=loan,
        action="repayment_recorded",
        actor=by,
        message=f"{format_cny(amount)} paid on {paid_on} ({repayment.get_kind_display().lower()}).",
        repayment_id=repayment.pk,
        external_reference=reference,
    )
    from loans.services.partners import webhook_emit

    webhook_emit(loan=loan, event_type="repayment.recorded",
                 data={"loan": loan.reference, "repayment": repayment.external_reference, "amount": str(amount),
                       "paid_on": paid_on.isoformat(), "kind": repayment.kind})  # fmt: skip
    if state.is_settled:
        loan.settle(by=by, description=f"Settled by repayment {reference} on {paid_on}.")
        loan.closed_at = timezone.now()
        loan.save()
    return repayment, True


@transaction.atomic
def repayment_reverse(*, repayment_id: int, by, reason: str) -> Repayment:
    """Reverse a repayment (a credit manager, with a reason) and re-allocate the later ones in date order.

    Reopens a loan that the reversed payment had settled. Raises StateError for a repayment
    already reversed, AuthorityError without the permission, InvalidInput without a reason.
    """
    _require_perm(by, "loans.reverse_repayment", "reverse repayments")
    if not (reason or "").strip():
        raise InvalidInput("Say why the repayment is reversed.", field="reason")
    try:
        loan_id = Repayment.objects.values_list("loan_id", flat=True).get(pk=repayment_id)
    except Repayment.DoesNotExist:
        raise NotFound(f"No repayment {repayment_id}.") from None
    loan = _lock(loan_id)
    repayment = Repayment.objects.select_for_update().get(pk=repayment_id)
    if repayment.status == RepaymentStatus.REVERSED:
        raise StateError(f"Repayment {repayment.external_reference} was already reversed.")
    repayment.status = RepaymentStatus.REVERSED
    repayment.reversed_at, repayment.reversed_by, repayment.reversal_reason = timezone.now(), by, reason.strip()
    with history_context(user=_user_id(by)):
        repayment.save(update_fields=["status", "reversed_at", "reversed_by", "reversal_reason"])
        state = _rebalance(loan, by=by)
    audit(
        target=loan,
        action="repayment_reversed",
        actor=by,
        message=f"{format_cny(repayment.amount)} of {repayment.paid_on} reversed: {reason.strip()}",
        repayment_id=repayment.pk,
        external_reference=repayment.external_reference,
    )
    if loan.status == LoanStatus.CLOSED and not state.is_settled:
        loan.reopen(by=by, description=f"Reopened: repayment {repayment.external_reference} reversed.")
        loan.closed_at = None
        loan.save()
    repayment.refresh_from_db()
    return repayment


# ---------------------------------------------------------------------------------------------
# Credit lines
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def credit_line_open(*, borrower_id: int, product_id: int, limit: Decimal, by=None) -> CreditLine:
    """Open a revolving line; raises InvalidInput for a non-revolving product or a limit outside it."""
    product = LoanProduct.objects.get(pk=product_id)
    if product.kind != ProductKind.REVOLVING:
        raise InvalidInput(f"{product.name} is not a revolving product.", field="product")
    limit = _check_amount(limit) if limit != 0 else Decimal("0.00")
    if limit > product.amount_max:
        raise InvalidInput(
            f"The limit cannot exceed the product ceiling of {format_cny(product.amount_max)}.", field="limit"
        )
    if CreditLine.objects.filter(borrower_id=borrower_id, product=product).exists():
        raise InvalidInput("This borrower already has a line on this product.", field="product")
    with history_context(user=_user_id(by)):
        line = CreditLine.objects.create(borrower_id=borrower_id, product=product, limit=limit)
    audit(target=line, action="credit_line_opened", actor=by, limit=str(limit))
    return line


@transaction.atomic
def credit_line_draw(
    *,
    credit_line_id: int,
    amount: Decimal,
    term_months: int,
    method: str,
    by=None,
    on: date | None = None,
    channel: str = "app",
) -> Loan:
    """Draw on a line: a loan within the available amount, approved by the line and disbursed at once.

    Raises InvalidInput for an amount above what is available or outside the product.
    """
    amount = _check_amount(amount)
    try:
        line = CreditLine.objects.select_for_update().select_related("product").get(pk=credit_line_id)
    except CreditLine.DoesNotExist:
        raise NotFound(f"No credit line {credit_line_id}.") from None
    if line.status != CreditLineStatus.ACTIVE:
        raise StateError(f"The credit line is {line.get_status_display().lower()}; no draws are allowed.")
    if amount > line.available:
        raise InvalidInput(
            f"The draw of {format_cny(amount)} is above the available {format_cny(line.available)} "
            f"(limit {format_cny(line.limit)}, used {format_cny(line.used)}).",
            field="amount",
            available=str(line.available),
        )
    product_check_application(line.product, amount=amount, term_months=term_months, method=method)
    loan = loan_submit(
        borrower_id=line.borrower_id,
        product_id=line.product_id,
        amount=amount,
        term_months=term_months,
        method=method,
        by=by,
        channel=channel,
        decide=False,
    )
    loan.credit_line = line
    loan.auto_approve(by=by, description=f"Draw on credit line {line.pk} within its available amount.")
    loan.decided_at = timezone.now()
    loan.save()
    _disburse(loan, by=by, on=on or timezone.localdate())
    with history_context(user=_user_id(by)):
        line.used += amount
        line.save(update_fields=["used", "updated_at"])
    return loan


def _credit_line_refresh(line_id: int) -> None:
    """Set a line's used amount to the principal outstanding on its open draws."""
    from django.db.models import F, Sum

    line = CreditLine.objects.select_for_update().get(pk=line_id)
    used = Installment.objects.filter(loan__credit_line=line).aggregate(
        total=Sum(F("principal_due") - F("principal_paid"))
    )["total"] or Decimal("0.00")
    if used != line.used:
        line.used = used
        line.save(update_fields=["used", "updated_at"])
