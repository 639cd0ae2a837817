"""The nightly overdue sweep: set-based SQL over chunks of loan ids, one transaction per chunk.

For a business date D and each chunk of loans (active or overdue):
1. lock the chunk's loans (the same lock repayments take first, so the two never interleave);
2. accrue one day of penalty interest on overdue principal (installments past due date plus
   grace days) at the loan's penalty rate / day count, rounded half up to the fen;
3. recompute days past due (from the oldest unpaid due date, which repayments keep current) and
   the bucket, writing only the loans whose figures changed;
4. move loans active → overdue and overdue → active (cure), with their django-fsm-log rows
   written by the same statement;
5. mark due promises to pay kept or broken;
6. open, update, reassign and close collection cases.
The chunk's record is written in the same transaction, so a re-run for the same date skips what
is done and a crashed run resumes with the chunks it had not finished.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from collection.models import CaseStatus, LadderStep, SweepChunk, SweepRun
from lender.errors import InvalidInput
from loans.models import Bucket, Loan, LoanStatus

BUCKETS = [b for b in Bucket.values if b != Bucket.CURRENT]

BUCKET_SQL = """CASE WHEN {dpd} <= {grace} THEN 'current' WHEN {dpd} <= 30 THEN 'M1' WHEN {dpd} <= 60 THEN 'M2'
                     WHEN {dpd} <= 90 THEN 'M3' ELSE 'M3+' END"""


def _check_date(business_date: date) -> None:
    if business_date > timezone.localdate():
        raise InvalidInput(f"The sweep cannot run for a future date ({business_date}).", field="date")


def sweep_plan(*, business_date: date) -> SweepRun:
    """The run of a date with its chunks (created once; safe to call again)."""
    _check_date(business_date)
    size = settings.SWEEP_CHUNK_SIZE
    with transaction.atomic():
        run, created = SweepRun.objects.get_or_create(
            business_date=business_date, defaults={"chunk_size": size, "chunks_planned": 0}
        )
        if created:
            # Loans to sweep, and loans whose cases must close (settled or written off since).
            bounds = Loan.objects.filter(
                Q(status__in=(LoanStatus.ACTIVE, LoanStatus.OVERDUE))
                | Q(collection_cases__status__in=(CaseStatus.OPEN, CaseStatus.WRITE_OFF_RECOMMENDED))
            ).aggregate(low=Min("pk"), high=Max("pk"))
            chunks = []
            if bounds["low"] is not None:
                for k in range(bounds["low"] // size, bounds["high"] // size + 1):
                    chunks.append(SweepChunk(run=run, first_loan_id=k * size, last_loan_id=(k + 1) * size - 1))
            SweepChunk.objects.bulk_create(chunks, ignore_conflicts=True)
            run.chunks_planned = len(chunks)
            run.save(update_fields=["chunks_planned"])
    return run


def _collectors_by_bucket() -> dict[str, list[int]]:
    """For each bucket, the on-duty members of its ladder group, least loaded first."""
    user_model = get_user_model()
    result = {}
    steps = {s.bucket: s for s in LadderStep.objects.all()}
    for bucket in BUCKETS:
        step = steps.get(bucket)
        if step is None:
            result[bucket] = []
            continue
        users = (
            user_model.objects.filter(is_active=True, groups__name=step.assignee_group, staff_profile__is_on_duty=True)
            .annotate(load=Count("collection_cases", filter=~Q(collection_cases__status=CaseStatus.CLOSED)))
            .order_by("load", "pk")
            .values_list("pk", flat=True)
        )
        result[bucket] = list(users)
    return result


def sweep_chunk(*, business_date: date, first_loan_id: int) -> bool:
    """Sweep one chunk for a date; False if it was already done (a re-run changes nothing)."""
    _check_date(business_date)
    with transaction.atomic():
        chunk = (
            SweepChunk.objects.select_for_update()
            .select_related("run")
            .get(run__business_date=business_date, first_loan_id=first_loan_id)
        )
        if chunk.done_at is not None:
            return False
        params = {"d": business_date, "lo": chunk.first_loan_id, "hi": chunk.last_loan_id,
                  "ct": ContentType.objects.get_for_model(Loan).pk}  # fmt: skip
        with connection.cursor() as cursor:
            # A chunk touches few installments (its overdue loans'), reached through the loan_id index.
            # Estimates make PostgreSQL hash-join the whole installments table instead, once per chunk:
            # quadratic over a large book. Nested loops keep every statement proportional to its chunk.
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute("SET LOCAL enable_mergejoin = off")
            # 1. Lock the chunk's loans (repayments lock the loan row first too).
            cursor.execute(
                """SELECT count(*) FROM (SELECT 1 FROM loans_loan WHERE id BETWEEN %(lo)s AND %(hi)s
                   AND status IN ('active', 'overdue') ORDER BY id FOR UPDATE) locked""",
                params,
            )
            # 2. One day of penalty interest on overdue principal.
            cursor.execute(
                """UPDATE loans_installment i
                      SET penalty_due = i.penalty_due
                          + round((i.principal_due - i.principal_paid) * l.penalty_rate / l.day_count, 2)
                     FROM loans_loan l
                    WHERE l.id BETWEEN %(lo)s AND %(hi)s AND l.status IN ('active', 'overdue')
                      AND l.oldest_unpaid_due + l.grace_days < %(d)s
                      AND i.loan_id = l.id AND i.due_date + l.grace_days < %(d)s
                      AND i.principal_paid < i.principal_due""",
                params,
            )
            charged = cursor.rowcount
            # 3. Days past due and bucket, written only where they changed.
            dpd = "(CASE WHEN l.oldest_unpaid_due < %(d)s THEN %(d)s - l.oldest_unpaid_due ELSE 0 END)"
            bucket = BUCKET_SQL.format(dpd=dpd, grace="l.grace_days")
            cursor.execute(
                f"""UPDATE loans_loan l SET days_past_due = {dpd}, bucket = {bucket}
                     WHERE l.id BETWEEN %(lo)s AND %(hi)s AND l.status IN ('active', 'overdue')
                       AND (l.days_past_due <> {dpd} OR l.bucket <> {bucket})""",
                params,
            )
            # 4. Transitions, each with its log row, in one statement each.
            for source, target, transition, condition, why in (
                ("active", "overdue", "mark_overdue", "l.days_past_due > l.grace_days",
                 "an installment is unpaid past its due date and grace days"),
                ("overdue", "active", "cure", "l.days_past_due <= l.grace_days", "no installment is past due"),
            ):  # fmt: skip
                # The partner of a loan hears of the change as from a service transition: one event per
                # loan (the CTE runs gen_random_uuid() once a row), one outbox row per active endpoint,
                # which the webhook dispatcher sends.
                cursor.execute(
                    f"""WITH moved AS (
                          UPDATE loans_loan l SET status = '{target}'
                           WHERE l.id BETWEEN %(lo)s AND %(hi)s AND l.status = '{source}' AND {condition}
                       RETURNING l.id, l.reference, l.partner_id),
                        logged AS (
                        INSERT INTO django_fsm_log_statelog
                               (timestamp, by_id, source_state, state, transition, content_type_id, object_id,
                                description)
                        SELECT now(), NULL, '{source}', '{target}', '{transition}', %(ct)s, id,
                               'Nightly sweep of ' || %(d)s::text || ': {why}.'
                          FROM moved),
                        events AS (
                        SELECT reference, partner_id, replace(gen_random_uuid()::text, '-', '') AS event_id
                          FROM moved WHERE partner_id IS NOT NULL)
                        INSERT INTO loans_webhookdelivery
                               (endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at,
                                last_error, created_at)
                        SELECT w.id, e.event_id, 'loan.status_changed',
                               jsonb_build_object('id', e.event_id, 'type', 'loan.status_changed',
                                                  'created', to_jsonb(now()),
                                                  'data', jsonb_build_object('loan', e.reference, 'from', '{source}',
                                                                             'to', '{target}',
                                                                             'transition', '{transition}')),
                               'pending', 0, now(), '', now()
                          FROM events e JOIN loans_webhookendpoint w ON w.partner_id = e.partner_id AND w.is_active""",
                    params,
                )
            cursor.execute(
                "SELECT count(*) FROM loans_loan WHERE id BETWEEN %(lo)s AND %(hi)s AND status = 'overdue'", params
            )
            overdue = cursor.fetchone()[0]
        broken = _promises(params)
        _cases(params)
        chunk.done_at = timezone.now()
        chunk.loans_overdue, chunk.installments_charged = overdue, charged
        chunk.save(update_fields=["done_at", "loans_overdue", "installments_charged"])
    if broken:
        from collection.services import case_escalate

        for case_id in broken:
            case_escalate(case_id=case_id, reason="A promise to pay was broken.")
    return True


def _promises(params: dict) -> list[int]:
    """Mark promises due before the business date kept or broken; the cases with broken ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE collection_promisetopay p
                  SET status = CASE WHEN x.paid >= p.amount THEN 'kept' ELSE 'broken' END, resolved_on = %(d)s
                 FROM (SELECT p2.id, coalesce((SELECT sum(r.amount) FROM loans_repayment r
                                                WHERE r.loan_id = c.loan_id AND r.status = 'posted'
                                                  AND r.paid_on BETWEEN p2.created_on AND p2.promised_for), 0) AS paid
                         FROM collection_promisetopay p2
                         JOIN collection_collectioncase c ON c.id = p2.case_id
                        WHERE c.loan_id BETWEEN %(lo)s AND %(hi)s AND p2.status = 'pending'
                          AND p2.promised_for < %(d)s) x
                WHERE p.id = x.id
            RETURNING p.case_id, p.status""",
            params,
        )
        rows = cursor.fetchall()
    broken = sorted({case_id for case_id, status in rows if status == "broken"})
    if broken:
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE collection_collectioncase SET broken_promises = broken_promises + 1, updated_at = now()
                    WHERE id = ANY(%(ids)s)""",
                {"ids": broken},
            )
    return broken


def _cases(params: dict) -> None:
    """Close cases of loans no longer overdue; open, update and (re)assign cases of overdue loans."""
    collectors = _collectors_by_bucket()
    write_off_buckets = list(LadderStep.objects.filter(recommend_write_off=True).values_list("bucket", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE collection_collectioncase c SET status = 'closed', closed_on = %(d)s, updated_at = now()
                 FROM loans_loan l
                WHERE c.loan_id = l.id AND l.id BETWEEN %(lo)s AND %(hi)s AND c.status <> 'closed'
                  AND l.status <> 'overdue'""",
            params,
        )
        cursor.execute(
            """INSERT INTO collection_collectioncase
                      (loan_id, status, bucket, days_past_due, overdue_amount, broken_promises, is_escalated,
                       next_action_on, opened_on, updated_at)
               SELECT l.id, 'open', l.bucket, l.days_past_due, 0, 0, false, %(d)s, %(d)s, now()
                 FROM loans_loan l
                WHERE l.id BETWEEN %(lo)s AND %(hi)s AND l.status = 'overdue'
                  AND NOT EXISTS (SELECT 1 FROM collection_collectioncase c
                                   WHERE c.loan_id = l.id AND c.status <> 'closed')""",
            params,
        )
        cursor.execute(
            """UPDATE collection_collectioncase c
                  SET bucket = l.bucket, days_past_due = l.days_past_due, overdue_amount = o.amount,
                      updated_at = now()
                 FROM loans_loan l,
                      (SELECT i.loan_id, sum(i.principal_due - i.principal_paid + i.interest_due - i.interest_paid
                                             + i.penalty_due - i.penalty_paid + i.fee_due - i.fee_paid) AS amount
                         FROM loans_installment i JOIN loans_loan l2 ON l2.id = i.loan_id
                        WHERE l2.id BETWEEN %(lo)s AND %(hi)s AND l2.status = 'overdue' AND i.due_date < %(d)s
                        GROUP BY i.loan_id) o
                WHERE c.loan_id = l.id AND o.loan_id = l.id AND c.status <> 'closed'
                  AND (c.bucket <> l.bucket OR c.days_past_due <> l.days_past_due OR c.overdue_amount <> o.amount)""",
            params,
        )
        for bucket, users in collectors.items():
            if not users:
                continue
            # Cases in this bucket not held by its ladder group go to its members in turn, least loaded first.
            cursor.execute(
                """UPDATE collection_collectioncase c SET assigned_to_id = x.collector, is_escalated = false,
                          updated_at = now()
                     FROM (SELECT c2.id, (%(users)s::bigint[])[1 + ((row_number() OVER (ORDER BY c2.id)) - 1)
                                                              %% %(n)s] AS collector
                             FROM collection_collectioncase c2
                            WHERE c2.loan_id BETWEEN %(lo)s AND %(hi)s AND c2.status <> 'closed'
                              AND c2.bucket = %(bucket)s
                              AND (c2.assigned_to_id IS NULL OR NOT c2.assigned_to_id = ANY(%(users)s::bigint[]))
                              AND NOT c2.is_escalated) x
                    WHERE c.id = x.id""",
                {**params, "users": users, "n": len(users), "bucket": bucket},
            )
        if write_off_buckets:
            cursor.execute(
                """UPDATE collection_collectioncase SET status = 'write_off_recommended', updated_at = now()
                    WHERE loan_id BETWEEN %(lo)s AND %(hi)s AND status = 'open' AND bucket = ANY(%(buckets)s)""",
                {**params, "buckets": write_off_buckets},
            )


def sweep_finish(*, business_date: date) -> bool:
    """Mark the run complete once every chunk is done."""
    with transaction.atomic():
        run = SweepRun.objects.select_for_update().get(business_date=business_date)
        if run.completed_at is None and not run.chunks.filter(done_at__isnull=True).exists():
            run.completed_at = timezone.now()
            run.save(update_fields=["completed_at"])
        return run.completed_at is not None


def sweep_dates(*, business_date: date) -> list[date]:
    """The dates to sweep, in order, to bring the book to `business_date` (missed days caught up)."""
    _check_date(business_date)
    last = SweepRun.objects.filter(completed_at__isnull=False).aggregate(d=Max("business_date"))["d"]
    unfinished = list(
        SweepRun.objects.filter(completed_at__isnull=True, business_date__lte=business_date)
        .order_by("business_date")
        .values_list("business_date", flat=True)
    )
    start = (last + timedelta(days=1)) if last is not None else business_date
    dates = sorted(set(unfinished) | {start + timedelta(days=k) for k in range((business_date - start).days + 1)})
    return [d for d in dates if d <= business_date]


def sweep_run(*, business_date: date) -> list[date]:
    """Sweep every date up to `business_date` in order, chunk by chunk, in this process."""
    done = []
    for day in sweep_dates(business_date=business_date):
        run = sweep_plan(business_date=day)
        for first in (
            run.chunks.filter(done_at__isnull=True).order_by("first_loan_id").values_list("first_loan_id", flat=True)
        ):
            sweep_chunk(business_date=day, first_loan_id=first)
        sweep_finish(business_date=day)
        done.append(day)
    return done
