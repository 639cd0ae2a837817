"""The manual review queue: assignment to officers on duty, claim and release, SLA escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from lender import roles
from lender.audit import audit
from lender.errors import AuthorityError, StateError
from loans.models import Loan, LoanStatus
from loans.services.applications import _lock, _require_perm, approval_limit_of

User = get_user_model()


def _reviewers(role_names: tuple[str, ...]):
    """Users of these roles who are on duty, with their open review load."""
    return (
        User.objects.filter(is_active=True, groups__name__in=role_names, staff_profile__is_on_duty=True)
        .annotate(load=Count("review_queue", filter=Q(review_queue__status=LoanStatus.IN_REVIEW), distinct=True))
        .select_related("staff_profile")
        .order_by("load", "pk")
        .distinct()
    )


def _pick(loan: Loan, candidates: list) -> object | None:
    """Least loaded first, among those whose approval limit covers the loan (else anyone on duty)."""
    able = [u for u in candidates if approval_limit_of(u) >= loan.amount]
    pool = able or candidates
    return min(pool, key=lambda u: (u.load, u.pk)) if pool else None


@transaction.atomic
def review_assign_pending(*, now: datetime | None = None, limit: int = 500) -> int:
    """Assign unassigned applications in review, oldest first; safe to run twice and on many workers."""
    now = now or timezone.now()
    pending = list(
        Loan.objects.filter(status=LoanStatus.IN_REVIEW, assigned_to__isnull=True)
        .select_related("product")
        .order_by("submitted_at", "pk")
        .select_for_update(skip_locked=True, of=("self",))[:limit]
    )
    if not pending:
        return 0
    officers = list(_reviewers((roles.LOAN_OFFICER, roles.CREDIT_MANAGER)))
    assigned = 0
    for loan in pending:
        officer = _pick(loan, officers)
        if officer is None:
            break
        loan.assigned_to, loan.assigned_at = officer, now
        loan.review_due_at = now + timedelta(hours=loan.product.review_sla_hours)
        loan.save(update_fields=["assigned_to", "assigned_at", "review_due_at"])
        officer.load += 1
        audit(target=loan, action="review_assigned", message=f"Assigned to {officer.get_username()}.",
              officer_id=officer.pk, due_at=loan.review_due_at.isoformat())  # fmt: skip
        assigned += 1
    return assigned


@transaction.atomic
def review_claim(*, loan_id: int, by) -> Loan:
    """An officer takes an application in review (unassigned, their own, or one past its SLA)."""
    loan = _lock(loan_id)
    _require_perm(by, "loans.approve_loan", "review applications")
    if loan.status != LoanStatus.IN_REVIEW:
        raise StateError(f"{loan.reference} is not in review.")
    is_late = loan.review_due_at is not None and loan.review_due_at < timezone.now()
    if loan.assigned_to_id not in (None, by.pk) and not is_late:
        raise StateError(f"{loan.reference} is assigned to {loan.assigned_to.get_username()}.")
    now = timezone.now()
    loan.assigned_to, loan.assigned_at = by, now
    loan.review_due_at = now + timedelta(hours=loan.product.review_sla_hours)
    loan.save(update_fields=["assigned_to", "assigned_at", "review_due_at"])
    audit(target=loan, action="review_claimed", actor=by)
    return loan


@transaction.atomic
def review_release(*, loan_id: int, by) -> Loan:
    """Give an application back to the queue; only its assignee can."""
    loan = _lock(loan_id)
    if loan.assigned_to_id != by.pk:
        raise AuthorityError(f"{loan.reference} is not assigned to you.")
    loan.assigned_to = loan.assigned_at = loan.review_due_at = None
    loan.save(update_fields=["assigned_to", "assigned_at", "review_due_at"])
    audit(target=loan, action="review_released", actor=by)
    return loan


@transaction.atomic
def review_escalate_late(*, now: datetime | None = None) -> int:
    """Escalate applications untouched past their SLA to the least-loaded credit manager, once each."""
    now = now or timezone.now()
    late = list(
        Loan.objects.filter(status=LoanStatus.IN_REVIEW, review_due_at__lt=now, escalated_at__isnull=True)
        .order_by("review_due_at", "pk")
        .select_for_update(skip_locked=True)
    )
    managers = list(_reviewers((roles.CREDIT_MANAGER,)))
    for loan in late:
        manager = min(managers, key=lambda u: (u.load, u.pk)) if managers else None
        loan.escalated_at, loan.escalated_to = now, manager
        loan.save(update_fields=["escalated_at", "escalated_to"])
        if manager is not None:
            manager.load += 1
        audit(target=loan, action="review_escalated",
              message=f"Past its SLA ({loan.review_due_at:%Y-%m-%d %H:%M}); escalated to "
                      f"{manager.get_username() if manager else 'no credit manager on duty'}.")  # fmt: skip
    return len(late)
