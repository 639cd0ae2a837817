"""Every write of the loans app: one function per business action, each in a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import django_fsm as fsm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from lender.audit import audit
from lender.db import fetch_one
from lender.errors import AuthorityError, InvalidInput, NotFound, StateError
from lender.history import history_context
from lender.money import format_cny
from loans import schedules
from loans.models import (
    ApprovalKind,
    Borrower,
    Loan,
    LoanApproval,
    LoanProduct,
)
from loans.products import product_check_application

BORROWER_PROFILE_FIELDS = (
    "employment_kind",
    "employment_years",
    "monthly_income",
    "monthly_obligations",
    "school",
    "is_key_university",
    "degree_level",
    "is_enrolment_verified",
    "enrolment_verified_on",
    "company_name",
    "credit_code",
    "business_years",
    "annual_revenue",
    "monthly_bank_inflow",
)

REJECTION_REASONS = {
    "insufficient_income": "Income does not support the repayments",
    "high_debt_burden": "Existing debts are too high",
    "poor_credit_history": "Credit history below our standard",
    "identity_unverified": "Identity or documents could not be verified",
    "policy": "Outside the lending policy",
    "fraud_suspected": "Suspected fraud",
    "score": "Credit score below the product's cut-off",
    "other": "Other (see note)",
}


def _user_id(by) -> int | None:
    return by.pk if by is not None and getattr(by, "is_authenticated", False) else None


# ---------------------------------------------------------------------------------------------
# Borrowers
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def borrower_create(*, by, kind: str, full_name: str, id_number: str, phone: str, **profile) -> Borrower:
    """Create a borrower; raises ValidationError per field (including a duplicate ID number)."""
    unknown = set(profile) - set(BORROWER_PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown borrower fields: {', '.join(sorted(unknown))}")
    borrower = Borrower(kind=kind, full_name=full_name, **profile)
    borrower.set_identity(id_number=id_number, phone=phone)
    if Borrower.objects.filter(id_number_hash=borrower.id_number_hash).exists():
        raise ValidationError({"id_number": "A borrower with this ID number already exists."})
    borrower.full_clean()
    with history_context(user=_user_id(by)):
        borrower.save()
    return borrower


@transaction.atomic
def borrower_update(
    *, borrower_id: int, by, id_number: str | None = None, phone: str | None = None, **changes
) -> Borrower:
    """Change a borrower's profile or identity; raises ValidationError per field."""
    unknown = set(changes) - set(BORROWER_PROFILE_FIELDS) - {"full_name", "kind"}
    if unknown:
        raise TypeError(f"unknown borrower fields: {', '.join(sorted(unknown))}")
    borrower = Borrower.objects.select_for_update().get(pk=borrower_id)
    for name, value in changes.items():
        setattr(borrower, name, value)
    borrower.set_identity(id_number=id_number or None, phone=phone or None)
    if id_number and Borrower.objects.filter(id_number_hash=borrower.id_number_hash).exclude(pk=borrower.pk).exists():
        raise ValidationError({"id_number": "A borrower with this ID number already exists."})
    borrower.full_clean()
    with history_context(user=_user_id(by)):
        borrower.save()
    return borrower


def borrower_find_by_id_number(*, id_number: str) -> Borrower | None:
    """Exact look-up through the blind index; an invalid number finds nobody."""
    from loans.validators import blind_index, normalize_resident_id

    try:
        number = normalize_resident_id(id_number)
    except ValidationError:
        return None
    return Borrower.objects.filter(id_number_hash=blind_index(number)).first()


@transaction.atomic
def borrower_reveal(*, borrower_id: int, by, reason: str) -> dict[str, str]:
    """The unmasked ID number and phone, for a user with the permission; every reveal is audited."""
    if not by.has_perm("loans.view_borrower_pii"):
        raise AuthorityError("You are not allowed to see unmasked personal data.")
    if not reason.strip():
        raise InvalidInput("Say why you need to see the unmasked data.", field="reason")
    borrower = Borrower.objects.get(pk=borrower_id)
    audit(target=borrower, action="pii_revealed", actor=by, message=reason.strip())
    return {"id_number": borrower.id_number, "phone": borrower.phone}


# ---------------------------------------------------------------------------------------------
# Quotes and applications
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    product: LoanProduct
    amount: Decimal
    term_months: int
    method: str
    start_date: date
    installments: list[schedules.Installment]
    fee: Decimal
    apr: Decimal

    @property
    def total_interest(self) -> Decimal:
        return sum((i.interest for i in self.installments), Decimal("0.00"))

    @property
    def total_repayable(self) -> Decimal:
        return sum((i.total for i in self.installments), Decimal("0.00"))

    @property
    def net_disbursed(self) -> Decimal:
        return self.amount - self.fee


def loan_quote(
    *, product: LoanProduct, amount: Decimal, term_months: int, method: str, start_date: date | None = None
) -> Quote:
    """Schedule, fees and APR for the terms; raises InvalidInput when they do not fit the product."""
    product_check_application(product, amount=amount, term_months=term_months, method=method)
    start_date = start_date or timezone.localdate()
    rows = schedules.build_schedule(
        amount, product.annual_rate, term_months, method, start_date, day_count=product.day_count
    )
    fee = product.fee_for(amount)
    if fee >= amount:
        raise InvalidInput(f"The fee of {format_cny(fee)} leaves nothing to disburse.", field="amount")
    return Quote(
        product=product,
        amount=amount,
        term_months=term_months,
        method=method,
        start_date=start_date,
        installments=rows,
        fee=fee,
        apr=schedules.apr(amount, fee, rows, start_date, method=method, day_count=product.day_count),
    )


@transaction.atomic
def loan_submit(
    *,
    borrower_id: int,
    product_id: int,
    amount: Decimal,
    term_months: int,
    method: str,
    by=None,
    purpose: str = "",
    channel: str = "branch",
    device_id: str = "",
    reference: str | None = None,
    decide: bool = True,
    partner_id: int | None = None,
) -> Loan:
    """Record an application (status submitted) and queue its decision after commit."""
    try:
        borrower = Borrower.objects.get(pk=borrower_id)
    except Borrower.DoesNotExist:
        raise InvalidInput(f"No borrower {borrower_id}.", field="borrower") from None
    try:
        product = LoanProduct.objects.get(pk=product_id)
    except LoanProduct.DoesNotExist:
        raise InvalidInput(f"No product {product_id}.", field="product") from None
    quote = loan_quote(product=product, amount=amount, term_months=term_months, method=method)
    loan = Loan(
        reference=reference or f"PENDING-{timezone.now().timestamp()}",
        borrower=borrower,
        product=product,
        amount=amount,
        term_months=term_months,
        method=method,
        purpose=purpose,
        channel=channel,
        device_id=device_id,
        annual_rate=product.annual_rate,
        penalty_rate=product.effective_penalty_rate,
        fee_amount=quote.fee,
        grace_days=product.grace_days,
        day_count=product.day_count,
        allocation_order=product.allocation_order,
        prepayment_rule=product.prepayment_rule,
        senior_approval_threshold=product.senior_approval_threshold,
        quoted_apr=quote.apr,
        submitted_by=by if _user_id(by) else None,
        partner_id=partner_id,
    )
    loan.save()
    if reference is None:
        loan.reference = f"APP{loan.pk:09d}"
        loan.save(update_fields=["reference"])
    audit(target=loan, action="submitted", actor=by, amount=str(amount), term_months=term_months, method=method)
    if decide:
        from loans.tasks import loan_decide_task

        # Robust: a broker out of reach must not fail a committed application; the beat task
        # application_decide_pending_task queues any application left undecided.
        transaction.on_commit(lambda: loan_decide_task.delay(loan.pk), robust=True)
    return loan


# ---------------------------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------------------------


def _lock(loan_id: int) -> Loan:
    """The loan, locked (SELECT ... FOR UPDATE) until the caller's transaction ends; every write starts here."""
    loan = fetch_one(Loan, '"id" = %s', [loan_id], suffix=" FOR UPDATE")
    if loan is None:
        raise NotFound(f"No loan {loan_id}.")
    return loan


def _require_transition(loan: Loan, name: str, verb: str) -> None:
    if not fsm.can_proceed(getattr(loan, name)):
        raise StateError(
            f"Cannot {verb} loan {loan.reference}: it is {loan.get_status_display().lower()}.", status=loan.status
        )


def _require_perm(by, perm: str, what: str) -> None:
    if by is None or not by.has_perm(perm):
        raise AuthorityError(f"You are not allowed to {what}.")


def approval_limit_of(user) -> Decimal:
    profile = getattr(user, "staff_profile", None)
    return profile.approval_limit if profile is not None else Decimal("0.00")


@transaction.atomic
def loan_refer(*, loan_id: int, by=None, note: str = "") -> Loan:
    loan = _lock(loan_id)
    _require_transition(loan, "refer", "refer")
    if by is not None:
        _require_perm(by, "loans.reject_loan", "refer applications")
    loan.refer(by=by, description=note or "Referred for manual review.")
    loan.save()
    return loan


def _needs_senior(loan: Loan) -> bool:
    return loan.senior_approval_threshold is not None and loan.amount >= loan.senior_approval_threshold


def _can_sign_alone(loan: Loan, user) -> bool:
    if approval_limit_of(user) < loan.amount:
        return False
    return not _needs_senior(loan) or user.has_perm("loans.approve_senior")


def loan_countersign_requirement(loan: Loan) -> str:
    """Who may approve this loan alone, in words an officer reads on the page."""
    text = f"an approver with a limit of at least {format_cny(loan.amount)}"
    if _needs_senior(loan):
        text = f"a credit manager (senior approver) with a limit of at least {format_cny(loan.amount)}"
    return text


@transaction.atomic
def loan_approve(
    *, loan_id: int, by, note: str = "", amount: Decimal | None = None, term_months: int | None = None
) -> Loan:
    """Approve within the approver's authority, or countersign another user's proposal.

    `amount` and `term_months` adjust the terms within the product before approving. Raises
    AuthorityError when the amount is above the approver's limit (or needs a senior approver) and
    there is no proposal by another user to countersign; StateError from a wrong state;
    InvalidInput for terms outside the product or documents not verified.
    """
    loan = _lock(loan_id)
    _require_transition(loan, "approve", "approve")
    _require_perm(by, "loans.approve_loan", "approve loans")
    from loans.services.documents import require_documents

    require_documents(loan)
    proposal = loan.approvals.filter(is_open=True).first()
    new_amount = loan.amount if amount is None else amount
    new_term = loan.term_months if term_months is None else term_months
    if (new_amount, new_term) != (loan.amount, loan.term_months):
        if proposal is not None:
            raise StateError("The terms cannot change while a proposal waits for its countersign.")
        _adjust_terms(loan, amount=new_amount, term_months=new_term, by=by)
    limit = approval_limit_of(by)
    if proposal is not None and proposal.approver_id == by.pk:
        raise AuthorityError(
            f"Maker-checker: you proposed approving {loan.reference}; a different user must countersign it."
        )
    if not _can_sign_alone(loan, by):
        if _needs_senior(loan) and not by.has_perm("loans.approve_senior"):
            rule = (
                f"{format_cny(loan.amount)} is at or above the product's senior threshold of "
                f"{format_cny(loan.senior_approval_threshold)}"
            )
        else:
            rule = f"{format_cny(loan.amount)} is above your approval limit of {format_cny(limit)}"
        raise AuthorityError(
            f"Cannot approve {loan.reference}: {rule}. It needs {loan_countersign_requirement(loan)}"
            + ("." if proposal is not None else "; refer it for countersign."),
            amount=str(loan.amount),
            approval_limit=str(limit),
        )
    if proposal is not None:
        proposal.is_open = False
        proposal.save(update_fields=["is_open"])
        kind = ApprovalKind.COUNTERSIGN
    else:
        kind = ApprovalKind.SOLE
    approval = LoanApproval.objects.create(
        loan=loan,
        approver=by,
        kind=kind,
        amount=loan.amount,
        term_months=loan.term_months,
        approver_limit=limit,
        note=note,
    )
    # The score is recomputed at approval, whoever approves, and stored with the decision.
    from risk.services import approval_score  # risk builds on loans: imported here to avoid a cycle

    approval_score(loan=loan, approval=approval)
    loan.approve(by=by, description=note or ("Countersigned." if proposal else "Approved."))
    loan.decided_at = timezone.now()
    loan.save()
    return loan


def _adjust_terms(loan: Loan, *, amount: Decimal, term_months: int, by) -> None:
    """Change a locked application's amount or term within its product, re-quoting fee and APR."""
    quote = loan_quote(product=loan.product, amount=amount, term_months=term_months, method=loan.method)
    before = {"amount": str(loan.amount), "term_months": loan.term_months}
    loan.amount, loan.term_months, loan.fee_amount, loan.quoted_apr = amount, term_months, quote.fee, quote.apr
    loan.save(update_fields=["amount", "term_months", "fee_amount", "quoted_apr"])
    audit(target=loan, action="terms_adjusted", actor=by, before=before,
          after={"amount": str(amount), "term_months": term_months})  # fmt: skip


@transaction.atomic
def loan_approval_propose(*, loan_id: int, by, note: str = "") -> LoanApproval:
    """The maker's signature on an approval that needs a countersign; the loan stays in review."""
    loan = _lock(loan_id)
    _require_transition(loan, "approve", "propose approving")
    _require_perm(by, "loans.approve_loan", "approve loans")
    from loans.services.documents import require_documents

    require_documents(loan)
    if loan.approvals.filter(is_open=True).exists():
        raise StateError(f"{loan.reference} is already waiting for a countersign.")
    proposal = LoanApproval.objects.create(
        loan=loan,
        approver=by,
        kind=ApprovalKind.PROPOSAL,
        amount=loan.amount,
        term_months=loan.term_months,
        approver_limit=approval_limit_of(by),
        note=note,
        is_open=True,
    )
    audit(
        target=loan,
        action="approval_proposed",
        actor=by,
        message=f"Awaiting countersign by {loan_countersign_requirement(loan)}.",
        note=note,
    )
    return proposal


@transaction.atomic
def loan_reject(*, loan_id: int, by, reason: str, note: str = "") -> Loan:
    """Reject with a reason from REJECTION_REASONS; by=None for the automatic decision."""
    if reason not in REJECTION_REASONS:
        raise InvalidInput(f"Unknown rejection reason {reason!r}.", field="reason")
    if reason == "other" and not note.strip():
        raise InvalidInput("Explain the rejection in the note.", field="note")
    loan = _lock(loan_id)
    _require_transition(loan, "reject", "reject")
    if by is not None:
        _require_perm(by, "loans.reject_loan", "reject applications")
    loan.reject(by=by, description=f"{REJECTION_REASONS[reason]}. {note}".strip())
    loan.decision_reason, loan.decision_note, loan.decided_at = reason, note, timezone.now()
    loan.save()
    LoanApproval.objects.filter(loan=loan, is_open=True).update(is_open=False)
    return loan


@transaction.atomic
def loan_withdraw(*, loan_id: int, by=None, note: str = "") -> Loan:
    """The applicant withdraws an application under review."""
    loan = _lock(loan_id)
    _require_transition(loan, "withdraw", "withdraw")
    loan.withdraw(by=by, description=note or "Withdrawn by the applicant.")
    loan.save()
    LoanApproval.objects.filter(loan=loan, is_open=True).update(is_open=False)
    return loan


@transaction.atomic
def loan_cancel(*, loan_id: int, by, note: str) -> Loan:
    """Cancel an approved loan before disbursement."""
    loan = _lock(loan_id)
    _require_transition(loan, "cancel", "cancel")
    _require_perm(by, "loans.disburse_loan", "cancel approved loans")
    if not note.strip():
        raise InvalidInput("Say why the loan is cancelled.", field="note")
    loan.cancel(by=by, description=note)
    loan.save()
    return loan


@transaction.atomic
def loan_write_off(*, loan_id: int, by, note: str) -> Loan:
    loan = _lock(loan_id)
    _require_transition(loan, "write_off", "write off")
    _require_perm(by, "loans.write_off_loan", "write off loans")
    if not note.strip():
        raise InvalidInput("Say why the loan is written off.", field="note")
    loan.write_off(by=by, description=note)
    loan.closed_at = timezone.now()
    loan.save()
    return loan


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def product_upsert(*, code: str, by=None, **fields) -> tuple[LoanProduct, bool]:
    """Create the product with this code, or update it; raises ValidationError per field.

    Existing loans keep the terms they snapshotted at submission.
    """
    product = LoanProduct.objects.select_for_update().filter(code=code).first()
    created = product is None
    product = product or LoanProduct(code=code)
    for name, value in fields.items():
        setattr(product, name, value)
    product.full_clean()
    with history_context(user=_user_id(by)):
        product.save()
    return product, created


@transaction.atomic
def loan_mark_overdue(*, loan_id: int, by=None, note: str = "") -> Loan:
    """Active → overdue (the nightly sweep does this in bulk; this is the one-loan form)."""
    loan = _lock(loan_id)
    _require_transition(loan, "mark_overdue", "mark overdue")
    loan.mark_overdue(by=by, description=note or "An installment is unpaid past its due date and grace days.")
    loan.save()
    return loan
