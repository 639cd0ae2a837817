"""Real Celery workers against the real Redis broker and PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from collection import services, sweep
from collection.models import CollectionCase, Notification, PromiseToPay, SweepChunk, SweepRun
from collection.tasks import notification_send_task, sweep_run_task
from lender.celery import app
from loans.models import Installment, Loan
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
FIRST_DUE = date(2026, 2, 15)
integration = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def book():
    """Everything the sweep writes, to compare two runs."""
    return (
        list(Installment.objects.order_by("loan_id", "number").values_list("loan_id", "number", "penalty_due")),
        list(Loan.objects.order_by("pk").values_list("pk", "status", "days_past_due", "bucket")),
        list(CollectionCase.objects.order_by("loan_id").values_list("loan_id", "status", "bucket", "overdue_amount")),
    )


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reminder_retried_after_a_gateway_failure_is_sent_once(disbursed, gateway, worker, settings):
    gateway.failures = 1
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = 0  # no quiet hours for this run
    loan = disbursed()
    services.reminders_plan(on=loan.installments.get(number=1).due_date)
    note = Notification.objects.get()
    notification_send_task.delay(note.pk)
    notification_send_task.delay(note.pk)  # a duplicate task, as after a redelivery
    assert wait_for(lambda: Notification.objects.get(pk=note.pk).status == "sent", 60)
    time.sleep(1)
    note.refresh_from_db()
    assert note.attempts == 2 and len(gateway.received) == 2  # one 503, then one accepted delivery
    assert Notification.objects.filter(status="sent").count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sweep_through_workers_twice_gives_the_same_book_as_once(disbursed, collectors, worker, settings):
    settings.SWEEP_CHUNK_SIZE = 2
    for _ in range(5):
        disbursed(grace_days=0)
    day = FIRST_DUE + timedelta(days=40)
    sweep_run_task.delay(day.isoformat())
    assert wait_for(lambda: SweepRun.objects.filter(business_date=day, completed_at__isnull=False).exists())
    once = book()
    sweep_run_task.delay(day.isoformat())
    time.sleep(2)
    assert book() == once
    assert Installment.objects.filter(penalty_due__gt=0).exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_broken_promise_escalates_through_the_worker(disbursed, collectors, make_staff, worker):
    make_staff("collector")
    loan = disbursed(grace_days=0)
    day = FIRST_DUE + timedelta(days=5)
    sweep.sweep_run(business_date=day)
    case = CollectionCase.objects.get(loan=loan)
    PromiseToPay.objects.create(case=case, amount=Decimal("300.00"), promised_for=day + timedelta(days=1),
                                created_by=collectors["collector"], created_on=day)  # fmt: skip
    sweep_run_task.delay((day + timedelta(days=2)).isoformat())
    assert wait_for(lambda: CollectionCase.objects.get(pk=case.pk).is_escalated)
    assert PromiseToPay.objects.get(case=case).status == "broken"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_quiet_hours_hold_in_the_worker(disbursed, gateway, worker, settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = 0, 23  # quiet nearly all day
    from django.utils import timezone

    if not services.in_quiet_hours(timezone.now()):
        settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = 23, 0  # the remaining hour
    loan = disbursed()
    services.reminders_plan(on=loan.installments.get(number=1).due_date)
    note = Notification.objects.get()
    notification_send_task.delay(note.pk)
    assert wait_for(lambda: Notification.objects.get(pk=note.pk).send_after > note.send_after, 30)
    assert Notification.objects.get(pk=note.pk).status == "pending" and gateway.received == []


def _worker_env():
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "SWEEP_CHUNK_SIZE": "2", "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sweep_whose_worker_is_killed_mid_run_ends_like_a_clean_run(disbursed, collectors, settings):
    settings.SWEEP_CHUNK_SIZE = 2
    loans = [disbursed(grace_days=0) for _ in range(8)]
    day = FIRST_DUE + timedelta(days=20)
    blocked = loans[5]
    queue = f"sweep-kill-{os.getpid()}"
    sweep.sweep_plan(business_date=day)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lender", "worker", "--pool", "solo", "-Q", queue, "--loglevel",
         "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=_worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with transaction.atomic():
            # Hold one loan's row lock: the worker's chunk for it blocks mid-transaction.
            Loan.objects.select_for_update().get(pk=blocked.pk)
            for first in SweepChunk.objects.filter(run__business_date=day).values_list("first_loan_id", flat=True):
                from collection.tasks import sweep_chunk_task

                sweep_chunk_task.apply_async((day.isoformat(), first), queue=queue)
            # Wait (on another connection) until some chunks are done, then kill the worker mid-chunk.
            done = wait_for(lambda: _chunks_done(day) >= 2, 60)
            time.sleep(1)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert done
        assert SweepChunk.objects.filter(run__business_date=day, done_at__isnull=True).exists()
        # The re-run finishes what the killed worker left.
        sweep.sweep_run(business_date=day)
        assert not SweepChunk.objects.filter(run__business_date=day, done_at__isnull=True).exists()
    finally:
        if process.poll() is None:
            process.kill()
        app.connection_for_write().default_channel.client.delete(queue)
    resumed = book()
    # A clean run on the same data: every loan's figures follow from its own schedule.
    for loan in Loan.objects.all():
        first = loan.installments.get(number=1)
        overdue_days = (day - FIRST_DUE).days
        assert (loan.status, loan.days_past_due, loan.bucket) == ("overdue", overdue_days, "M1")
        # One sweep date, one day of penalty: 946.19 x 18% / 360 = 0.47.
        assert first.penalty_due == Decimal("0.47")
    assert len(resumed[2]) == 8


def _chunks_done(day) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM collection_sweepchunk c JOIN collection_sweeprun r ON r.id = c.run_id
                WHERE r.business_date = %s AND c.done_at IS NOT NULL""",
            [day],
        )
        return cursor.fetchone()[0]
