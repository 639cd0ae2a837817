"""Benchmark the nightly sweep against the floor of writing every installment row once.

`bench_sweep --loans N` builds, once, a scratch database `lender_bench_N` on the configured
PostgreSQL server with N active loans of 12 monthly installments (a fifth of them 20 days
overdue, the rest current), clones it for each run (CREATE DATABASE ... TEMPLATE), sweeps one
business date in the clone, then times one plain UPDATE touching every installment row once.
The last line printed is one JSON object. The project's own database is never touched.
"""

import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

DISBURSED = date(2026, 1, 10)
BUSINESS_DATE = date(2026, 3, 2)  # the first installment (10 February) is 20 days past due
ROOT = Path(__file__).resolve().parents[3]


def _server_url(database: str) -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}"


def _admin():
    return psycopg.connect(_server_url("postgres"), autocommit=True)


class Command(BaseCommand):
    help = "Time the nightly sweep over N loans against one UPDATE of every installment (the floor)."

    def add_arguments(self, parser):
        parser.add_argument("--loans", type=int, default=20000)
        parser.add_argument("--build", action="store_true", help=argparse_hidden())
        parser.add_argument("--measure", action="store_true", help=argparse_hidden())

    def handle(self, *args, loans, build, measure, **options):
        if loans < 10 or loans > 5_000_000:
            raise CommandError("--loans must be between 10 and 5,000,000", returncode=2)
        if build:
            return self._build(loans)
        if measure:
            return self._measure(loans)
        base, clone = f"lender_bench_{loans}", f"lender_bench_{loans}_run"
        with _admin() as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [base]).fetchone()
            if not exists:
                self.stdout.write(f"building {base} ({loans} loans, {loans * 12} installments); this runs once")
                admin.execute(f'CREATE DATABASE "{base}"')
                try:
                    self._child(base, "migrate", "--noinput", "--verbosity", "0")
                    self._child(base, "bench_sweep", "--build", "--loans", str(loans))
                except subprocess.CalledProcessError:
                    admin.execute(f'DROP DATABASE IF EXISTS "{base}"')
                    raise CommandError(f"building {base} failed", returncode=1) from None
            admin.execute(f'DROP DATABASE IF EXISTS "{clone}"')
            admin.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{base}"')
        try:
            output = self._child(clone, "bench_sweep", "--measure", "--loans", str(loans), capture=True)
        finally:
            with _admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{clone}"')
        self.stdout.write(output.rstrip())

    def _child(self, database: str, *args: str, capture: bool = False) -> str:
        env = {**os.environ, "DATABASE_URL": _server_url(database)}
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True,
            stdout=subprocess.PIPE if capture else None,
        )  # fmt: skip
        return result.stdout or ""

    def _build(self, loans: int) -> None:
        from loans import demo, services
        from loans.models import Borrower

        borrower = Borrower.objects.first() or services.borrower_create(
            by=None, kind="individual", full_name="Bench", id_number=demo.resident_id(__import__("random").Random(1)),
            phone="13800138000",
        )  # fmt: skip
        product, _ = services.product_upsert(code="bench", **demo.DEMO_PRODUCTS["consumer-installment"])
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO loans_loan
                     (reference, borrower_id, product_id, status, amount, term_months, method, purpose, channel,
                      device_id, annual_rate, penalty_rate, fee_amount, grace_days, day_count, allocation_order,
                      prepayment_rule, quoted_apr, apr, submitted_at, disbursed_on, decision_reason, decision_note,
                      oldest_unpaid_due, days_past_due, bucket)
                   SELECT 'B' || g, %(b)s, %(p)s, 'active', 12000.00, 12, 'equal_installment', '', 'bench', '',
                          0.150000, 0.225000, 0, 3, 360, 'penalty,fee,interest,principal', 'reduce_installment',
                          0.150000, 0.150000, now(), %(d0)s, '', '',
                          CASE WHEN g %% 5 = 0 THEN %(d0)s + interval '1 month' ELSE %(d0)s + interval '2 months' END,
                          0, 'current'
                     FROM generate_series(1, %(n)s) g""",
                {"b": borrower.pk, "p": product.pk, "d0": DISBURSED, "n": loans},
            )
            cursor.execute(
                """INSERT INTO loans_installment
                     (loan_id, number, due_date, principal_due, interest_due, fee_due, penalty_due, principal_paid,
                      interest_paid, fee_paid, penalty_paid)
                   SELECT l.id, k, (l.disbursed_on + make_interval(months => k))::date, 1000.00, 150.00 - 12.5 * k, 0,
                          0, CASE WHEN k = 1 AND l.oldest_unpaid_due > %(d0)s + interval '1 month' THEN 1000.00
                                  ELSE 0 END,
                          CASE WHEN k = 1 AND l.oldest_unpaid_due > %(d0)s + interval '1 month' THEN 150.00 - 12.5
                               ELSE 0 END, 0, 0
                     FROM loans_loan l CROSS JOIN generate_series(1, 12) k
                    WHERE l.product_id = %(p)s""",
                {"p": product.pk, "d0": DISBURSED},
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    def _measure(self, loans: int) -> None:
        from collection import sweep
        from lender import roles
        from lender.services import staff_user_create

        for role in (roles.COLLECTOR, roles.COLLECTIONS_MANAGER):
            staff_user_create(username=f"bench-{role.replace(' ', '-')}", password="bench-only-pw", roles=[role])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM loans_installment")
            installments = cursor.fetchone()[0]
        started = time.perf_counter()
        sweep.sweep_run(business_date=BUSINESS_DATE)
        sweep_s = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM loans_loan WHERE status = 'overdue'")
            overdue = cursor.fetchone()[0]
            started = time.perf_counter()
            cursor.execute("UPDATE loans_installment SET penalty_due = penalty_due")
            floor_s = time.perf_counter() - started
        figures = {
            "loans": loans,
            "installments": installments,
            "overdue_loans": overdue,
            "sweep_s": round(sweep_s, 3),
            "floor_s": round(floor_s, 3),
            "ratio": round(sweep_s / floor_s, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "chunk_size": settings.SWEEP_CHUNK_SIZE,
        }
        self.stdout.write(json.dumps(figures))


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
