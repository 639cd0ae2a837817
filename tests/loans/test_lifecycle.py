"""The loan lifecycle: every transition allowed and refused, audit, authority and maker-checker."""

import threading
from decimal import Decimal

import django_fsm as fsm
import pytest
from django.db import connection
from django_fsm_log.models import StateLog

from lender.errors import AuthorityError, InvalidInput, StateError
from loans import services
from loans.models import Installment, Loan, LoanApproval, LoanStatus
from tests.loans.factories import BorrowerFactory, ProductFactory

S = LoanStatus

# DESIGN.md's diagram, transition by transition: name -> (sources, target)
TRANSITIONS = {
    "auto_approve": ({S.SUBMITTED}, S.APPROVED),
    "refer": ({S.SUBMITTED}, S.IN_REVIEW),
    "reject": ({S.SUBMITTED, S.IN_REVIEW}, S.REJECTED),
    "approve": ({S.IN_REVIEW}, S.APPROVED),
    "withdraw": ({S.IN_REVIEW}, S.WITHDRAWN),
    "cancel": ({S.APPROVED}, S.CANCELLED),
    "disburse": ({S.APPROVED}, S.ACTIVE),
    "mark_overdue": ({S.ACTIVE}, S.OVERDUE),
    "cure": ({S.OVERDUE}, S.ACTIVE),
    "settle": ({S.ACTIVE, S.OVERDUE}, S.CLOSED),
    "write_off": ({S.OVERDUE}, S.WRITTEN_OFF),
    # Added to the design: a reversed settling repayment reopens the loan.
    "reopen": ({S.CLOSED}, S.ACTIVE),
}


@pytest.mark.parametrize("name", TRANSITIONS)
@pytest.mark.parametrize("state", S.values)
def test_transition_matrix_matches_the_design(name, state):
    loan = Loan(status=state)
    sources, target = TRANSITIONS[name]
    assert fsm.can_proceed(getattr(loan, name)) == (state in sources)
    declared = {(t.source, t.target) for t in loan.get_all_status_transitions() if t.name == name}
    assert declared == {(source, target) for source in sources}


def test_status_cannot_be_assigned_directly():
    loan = Loan(status=S.IN_REVIEW)
    with pytest.raises(AttributeError):
        loan.status = S.APPROVED


@pytest.fixture
def product(db):
    return ProductFactory(amount_max=Decimal("300000.00"), senior_approval_threshold=Decimal("100000.00"))


@pytest.fixture
def submit(product):
    def make(amount="30000.00", decide=False, **kwargs):
        borrower = BorrowerFactory()
        return services.loan_submit(
            borrower_id=borrower.pk,
            product_id=product.pk,
            amount=Decimal(amount),
            term_months=12,
            method="equal_installment",
            decide=decide,
            **kwargs,
        )

    return make


@pytest.fixture
def in_review(submit):
    def make(amount="30000.00"):
        loan = submit(amount)
        return services.loan_refer(loan_id=loan.pk, note="manual check")

    return make


def logs(loan):
    return list(
        StateLog.objects.for_(loan)
        .order_by("pk")
        .values_list("source_state", "state", "transition", "by", "description")
    )


def test_submission_snapshots_the_product_terms(submit, product):
    loan = submit("12000.00")
    assert (loan.status, loan.annual_rate, loan.grace_days) == (S.SUBMITTED, Decimal("0.120000"), 3)
    assert loan.penalty_rate == Decimal("0.180000")  # 1.5 x contract rate by default
    assert abs(loan.quoted_apr - Decimal("0.12")) <= Decimal("0.000005")  # fen rounding only
    assert loan.reference == f"APP{loan.pk:09d}"
    services.product_upsert(code=product.code, annual_rate=Decimal("0.150000"))
    loan.refresh_from_db()
    assert loan.annual_rate == Decimal("0.120000")


def test_submit_queues_the_decision_which_refers_without_a_model(submit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        loan = submit(decide=True)
    loan.refresh_from_db()
    assert loan.status == S.IN_REVIEW and loan.decision_reason == "referred"
    from risk.services import application_decide

    assert application_decide(loan_id=loan.pk) is None  # a second run changes nothing
    assert logs(loan) == [
        (S.SUBMITTED, S.IN_REVIEW, "refer", None, "No credit model is active: referred for manual review.")
    ]


@pytest.mark.parametrize(
    "field, value, message",
    [("amount", "500.00", "between"), ("term_months", 48, "between"), ("method", "bullet", "does not offer")],
)
def test_application_outside_the_product_is_refused(product, field, value, message):
    borrower = BorrowerFactory()
    terms = dict(amount=Decimal("5000.00"), term_months=12, method="equal_installment")
    terms[field] = Decimal(value) if field == "amount" else value
    with pytest.raises(InvalidInput, match=message) as excinfo:
        services.loan_submit(borrower_id=borrower.pk, product_id=product.pk, **terms)
    assert excinfo.value.extra["field"] == field
    assert Loan.objects.count() == 0


def test_officer_approves_within_limit_and_the_transition_is_logged(in_review, officer):
    loan = in_review("30000.00")
    loan = services.loan_approve(loan_id=loan.pk, by=officer, note="stable income")
    assert loan.status == S.APPROVED
    assert logs(loan)[-1] == (S.IN_REVIEW, S.APPROVED, "approve", officer.pk, "stable income")
    assert LoanApproval.objects.get(loan=loan).kind == "sole"


def test_approval_above_the_limit_without_countersign_is_refused(in_review, officer):
    loan = in_review("60000.00")
    with pytest.raises(AuthorityError, match="above your approval limit of ¥50,000.00"):
        services.loan_approve(loan_id=loan.pk, by=officer)
    loan.refresh_from_db()
    assert loan.status == S.IN_REVIEW and not LoanApproval.objects.exists()
    assert len(logs(loan)) == 1


def test_maker_checker_needs_a_different_user_with_a_high_enough_limit(
    in_review, officer, officer2, junior_officer, credit_manager
):
    loan = in_review("60000.00")
    services.loan_approval_propose(loan_id=loan.pk, by=officer, note="good file")
    with pytest.raises(AuthorityError, match="different user"):
        services.loan_approve(loan_id=loan.pk, by=officer)
    with pytest.raises(AuthorityError, match="limit"):
        services.loan_approve(loan_id=loan.pk, by=junior_officer)
    with pytest.raises(AuthorityError, match="limit"):
        services.loan_approve(loan_id=loan.pk, by=officer2)  # 50,000 < 60,000
    loan.refresh_from_db()
    assert loan.status == S.IN_REVIEW
    loan = services.loan_approve(loan_id=loan.pk, by=credit_manager, note="countersigned")
    assert loan.status == S.APPROVED
    assert list(loan.approvals.values_list("kind", "approver", "is_open")) == [
        ("proposal", officer.pk, False),
        ("countersign", credit_manager.pk, False),
    ]


def test_senior_threshold_needs_a_credit_manager(in_review, make_staff, credit_manager):
    rich_officer = make_staff("loan officer", "900000.00")
    loan = in_review("150000.00")
    with pytest.raises(AuthorityError, match="senior threshold"):
        services.loan_approve(loan_id=loan.pk, by=rich_officer)
    assert services.loan_approve(loan_id=loan.pk, by=credit_manager).status == S.APPROVED


def test_users_without_the_permission_cannot_approve(in_review, make_staff):
    collector = make_staff("collector", "900000.00")
    loan = in_review()
    with pytest.raises(AuthorityError):
        services.loan_approve(loan_id=loan.pk, by=collector)


@pytest.mark.parametrize(
    "action",
    ["approve", "withdraw", "cancel", "disburse", "write_off", "refer"],
)
def test_transitions_from_the_wrong_state_are_conflicts_and_change_nothing(submit, credit_manager, action):
    loan = services.loan_reject(loan_id=submit().pk, by=credit_manager, reason="policy")
    before = logs(loan)
    call = {
        "approve": lambda: services.loan_approve(loan_id=loan.pk, by=credit_manager),
        "withdraw": lambda: services.loan_withdraw(loan_id=loan.pk),
        "cancel": lambda: services.loan_cancel(loan_id=loan.pk, by=credit_manager, note="x"),
        "disburse": lambda: services.loan_disburse(loan_id=loan.pk, by=credit_manager),
        "write_off": lambda: services.loan_write_off(loan_id=loan.pk, by=credit_manager, note="x"),
        "refer": lambda: services.loan_refer(loan_id=loan.pk),
    }[action]
    with pytest.raises(StateError, match="it is rejected") as excinfo:
        call()
    assert excinfo.value.http_status == 409
    loan.refresh_from_db()
    assert loan.status == S.REJECTED and logs(loan) == before


def test_reject_needs_a_known_reason(in_review, officer):
    loan = in_review()
    with pytest.raises(InvalidInput):
        services.loan_reject(loan_id=loan.pk, by=officer, reason="dislike")
    with pytest.raises(InvalidInput):
        services.loan_reject(loan_id=loan.pk, by=officer, reason="other", note="")
    loan = services.loan_reject(loan_id=loan.pk, by=officer, reason="high_debt_burden", note="DTI 70%")
    assert loan.status == S.REJECTED and loan.decision_reason == "high_debt_burden"
    assert logs(loan)[-1][1:4] == (S.REJECTED, "reject", officer.pk)


def test_withdraw_cancel_and_disburse(in_review, credit_manager):
    loan = in_review()
    assert services.loan_withdraw(loan_id=loan.pk).status == S.WITHDRAWN
    loan = in_review("12000.00")
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    with pytest.raises(InvalidInput):
        services.loan_cancel(loan_id=loan.pk, by=credit_manager, note="")
    assert services.loan_cancel(loan_id=loan.pk, by=credit_manager, note="declined offer").status == S.CANCELLED
    loan = in_review("12000.00")
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    from datetime import date

    loan = services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=date(2026, 1, 31))
    assert loan.status == S.ACTIVE and abs(loan.apr - Decimal("0.12")) <= Decimal("0.000005")
    rows = Installment.objects.filter(loan=loan)
    assert rows.count() == 12 and sum(r.principal_due for r in rows) == Decimal("12000.00")
    assert rows.first().due_date == date(2026, 2, 28)


def test_only_permitted_users_disburse(in_review, officer, credit_manager):
    loan = in_review("12000.00")
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    with pytest.raises(AuthorityError):
        services.loan_disburse(loan_id=loan.pk, by=officer)
    loan.refresh_from_db()
    assert loan.status == S.APPROVED and not Installment.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_approvals_one_wins_one_conflicts(officer, officer2):
    product = ProductFactory()
    borrower = BorrowerFactory()
    loan = services.loan_submit(
        borrower_id=borrower.pk,
        product_id=product.pk,
        amount=Decimal("20000.00"),
        term_months=12,
        method="equal_installment",
        decide=False,
    )
    services.loan_refer(loan_id=loan.pk)
    barrier = threading.Barrier(2)
    results = []

    def approve(user):
        try:
            barrier.wait()
            services.loan_approve(loan_id=loan.pk, by=user)
            results.append("approved")
        except StateError:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (officer, officer2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["approved", "conflict"]
    assert LoanApproval.objects.filter(loan=loan).count() == 1
    assert StateLog.objects.for_(loan).filter(transition="approve").count() == 1
