"""The nightly sweep on real PostgreSQL: buckets, grace, penalty, transitions, cases, re-runs."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_fsm_log.models import StateLog

from collection import services, sweep
from collection.models import CaseStatus, CollectionCase, PromiseToPay, SweepChunk
from lender.errors import InvalidInput
from loans import services as loan_services
from loans.models import Bucket, Installment, Loan, LoanStatus, bucket_for

D = Decimal
FIRST_DUE = date(2026, 2, 15)  # the first installment of a loan disbursed on 15 January


@pytest.mark.parametrize(
    "dpd, expected",
    [(0, "current"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"), (91, "M3+")],
)
def test_bucket_edges(dpd, expected):
    assert bucket_for(dpd, is_overdue=dpd > 0) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("dpd, bucket", [(30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"), (91, "M3+")])
def test_sweep_sets_bucket_at_the_edges(disbursed, dpd, bucket):
    loan = disbursed(grace_days=0)
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=dpd))
    loan.refresh_from_db()
    assert (loan.days_past_due, loan.bucket, loan.status) == (dpd, bucket, LoanStatus.OVERDUE)


@pytest.mark.django_db
def test_grace_days_keep_a_loan_current_and_free_of_penalty(disbursed):
    loan = disbursed(grace_days=3)
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=3))
    loan.refresh_from_db()
    assert (loan.status, loan.bucket, loan.days_past_due) == (LoanStatus.ACTIVE, Bucket.CURRENT, 3)
    assert Installment.objects.get(loan=loan, number=1).penalty_due == 0
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=4))
    loan.refresh_from_db()
    assert (loan.status, loan.bucket, loan.days_past_due) == (LoanStatus.OVERDUE, Bucket.M1, 4)
    log = StateLog.objects.for_(loan).get(transition="mark_overdue")
    assert (log.source_state, log.state, log.by) == ("active", "overdue", None)


@pytest.mark.django_db
def test_penalty_accrues_daily_on_overdue_principal_in_exact_decimals(disbursed):
    loan = disbursed(grace_days=0)  # penalty rate 1.5 x 12% = 18% a year, 360-day count
    day = FIRST_DUE + timedelta(days=1)
    sweep.sweep_run(business_date=day)
    first = Installment.objects.get(loan=loan, number=1)
    # 946.19 x 0.18 / 360 = 0.473095 -> 0.47 a day
    assert first.penalty_due == D("0.47")
    sweep.sweep_run(business_date=day + timedelta(days=2))  # two missed days caught up
    first.refresh_from_db()
    assert first.penalty_due == D("1.41")
    assert Installment.objects.get(loan=loan, number=2).penalty_due == 0


@pytest.mark.django_db
def test_missed_days_are_caught_up_in_date_order(disbursed):
    disbursed(grace_days=0)
    assert sweep.sweep_run(business_date=FIRST_DUE) == [FIRST_DUE]
    done = sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=3))
    assert done == [FIRST_DUE + timedelta(days=k) for k in (1, 2, 3)]


@pytest.mark.django_db
def test_running_twice_for_a_date_changes_nothing(disbursed, collectors):
    loans = [disbursed(grace_days=0) for _ in range(3)]
    day = FIRST_DUE + timedelta(days=40)

    def state():
        return (
            list(Installment.objects.order_by("pk").values_list("pk", "penalty_due", "principal_paid")),
            list(Loan.objects.order_by("pk").values_list("pk", "status", "days_past_due", "bucket")),
            list(StateLog.objects.order_by("pk").values_list("object_id", "transition", "state")),
            list(CollectionCase.objects.order_by("pk").values_list("loan_id", "status", "bucket", "overdue_amount")),
        )

    sweep.sweep_run(business_date=day)
    once = state()
    assert sweep.sweep_run(business_date=day) == []
    assert sweep.sweep_chunk(business_date=day, first_loan_id=SweepChunk.objects.first().first_loan_id) is False
    assert state() == once
    assert all(loan.collection_cases.count() == 1 for loan in loans)


@pytest.mark.django_db
def test_future_dates_are_refused(db):
    with pytest.raises(InvalidInput, match="future"):
        sweep.sweep_run(business_date=date.today() + timedelta(days=2))
    with pytest.raises(CommandError) as excinfo:
        call_command("run_sweep", "--date", (date.today() + timedelta(days=2)).isoformat())
    assert excinfo.value.returncode == 2
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("run_sweep", "--date", "yesterday")


@pytest.mark.django_db
def test_cases_open_by_bucket_escalate_up_the_ladder_and_close_on_cure(disbursed, collectors):
    loan = disbursed(grace_days=0)
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=5))
    case = CollectionCase.objects.get(loan=loan)
    assert (case.status, case.bucket, case.assigned_to) == (CaseStatus.OPEN, "M1", collectors["collector"])
    assert case.overdue_amount == D("1066.19") + Installment.objects.get(loan=loan, number=1).penalty_due
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=65))  # M3: a senior collector (collections manager)
    case.refresh_from_db()
    assert (case.bucket, case.assigned_to) == ("M3", collectors["manager"])
    quote_day = FIRST_DUE + timedelta(days=65)
    from loans import selectors

    quote = selectors.loan_payoff_quote(loan=Loan.objects.get(pk=loan.pk), on=quote_day)
    loan_services.repayment_record(loan_id=loan.pk, amount=quote.total, paid_on=quote_day, external_reference="PAYOFF")
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED
    sweep.sweep_run(business_date=quote_day + timedelta(days=1))
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED


@pytest.mark.django_db
def test_cure_moves_an_overdue_loan_back_to_active(disbursed, collectors):
    loan = disbursed(grace_days=0)
    day = FIRST_DUE + timedelta(days=10)
    sweep.sweep_run(business_date=day)
    owed = Installment.objects.get(loan=loan, number=1).total_outstanding
    loan_services.repayment_record(loan_id=loan.pk, amount=owed, paid_on=day, external_reference="CURE")
    sweep.sweep_run(business_date=day + timedelta(days=1))
    loan.refresh_from_db()
    assert (loan.status, loan.bucket, loan.days_past_due) == (LoanStatus.ACTIVE, "current", 0)
    assert StateLog.objects.for_(loan).filter(transition="cure").count() == 1
    assert CollectionCase.objects.get(loan=loan).status == CaseStatus.CLOSED


@pytest.mark.django_db
def test_write_off_recommended_at_m3_plus_and_approved_by_a_manager(disbursed, collectors):
    loan = disbursed(grace_days=0)
    sweep.sweep_run(business_date=FIRST_DUE + timedelta(days=95))
    case = CollectionCase.objects.get(loan=loan)
    assert case.status == CaseStatus.WRITE_OFF_RECOMMENDED
    services.case_write_off_approve(case_id=case.pk, by=collectors["manager"], note="No recovery possible.")
    loan.refresh_from_db()
    case.refresh_from_db()
    assert loan.status == LoanStatus.WRITTEN_OFF and case.status == CaseStatus.CLOSED


@pytest.mark.django_db
def test_promises_are_kept_when_paid_and_broken_ones_escalate_at_once(disbursed, collectors, make_staff):
    second = make_staff("collector")
    kept_loan, broken_loan = disbursed(grace_days=0), disbursed(grace_days=0)
    day = FIRST_DUE + timedelta(days=5)
    sweep.sweep_run(business_date=day)
    kept_case, broken_case = (CollectionCase.objects.get(loan=x) for x in (kept_loan, broken_loan))
    for case in (kept_case, broken_case):
        PromiseToPay.objects.create(case=case, amount=D("500.00"), promised_for=day + timedelta(days=2),
                                    created_by=collectors["collector"], created_on=day)  # fmt: skip
    loan_services.repayment_record(loan_id=kept_loan.pk, amount=D("500.00"), paid_on=day + timedelta(days=1),
                                   external_reference="PTP-1")  # fmt: skip
    sweep.sweep_run(business_date=day + timedelta(days=3))
    assert kept_case.promises.get().status == "kept"
    assert broken_case.promises.get().status == "broken"
    before = broken_case.assigned_to
    broken_case.refresh_from_db()
    assert broken_case.is_escalated and broken_case.broken_promises == 1
    # One step up the ladder (M2: a phone collector), to someone else than the collector who had it.
    assert broken_case.assigned_to in (collectors["collector"], second) and broken_case.assigned_to != before
