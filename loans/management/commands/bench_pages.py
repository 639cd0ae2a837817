"""Benchmark the busiest pages over a large book: the review queue, a collector's worklist, the dashboard.

`bench_pages --rows N` builds once a scratch database `lender_pages_N` on the configured server
(N applications in review with scores, N overdue loans of 12 installments with their collection
cases over 10 collectors), then requests each page through Django's full stack (middleware,
sessions, templates) in this process and prints p50/p95. The last line is one JSON object.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from collection.management.commands.bench_sweep import ROOT, _admin, _server_url

COLLECTORS = 10


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Command(BaseCommand):
    help = "p50/p95 of the review queue, a worklist and the dashboard over N applications and N cases."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100000)
        parser.add_argument("--requests", type=int, default=40)
        parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, rows, requests, build, measure, **options):
        if rows < 10 or rows > 2_000_000 or requests < 5:
            raise CommandError("--rows must be 10 to 2,000,000 and --requests at least 5", returncode=2)
        if build:
            return self._build(rows)
        if measure:
            return self._measure(rows, requests)
        database = f"lender_pages_{rows}"
        with _admin() as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                self.stdout.write(f"building {database} ({rows} applications, {rows} cases); this runs once")
                admin.execute(f'CREATE DATABASE "{database}"')
                try:
                    self._child(database, "migrate", "--noinput", "--verbosity", "0")
                    self._child(database, "bench_pages", "--build", "--rows", str(rows))
                except subprocess.CalledProcessError:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
                    raise CommandError(f"building {database} failed", returncode=1) from None
        output = self._child(database, "bench_pages", "--measure", "--rows", str(rows), "--requests", str(requests),
                             capture=True)  # fmt: skip
        self.stdout.write(output.rstrip())

    def _child(self, database, *args, capture=False):
        env = {**os.environ, "DATABASE_URL": _server_url(database)}
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True,
                                stdout=subprocess.PIPE if capture else None)  # fmt: skip
        return result.stdout or ""

    def _build(self, rows: int) -> None:
        import random
        from decimal import Decimal

        from lender import roles
        from lender.services import staff_user_create
        from loans import demo, services

        rng = random.Random(3)
        borrower = services.borrower_create(
            by=None, kind="individual", full_name="Bench", id_number=demo.resident_id(rng), phone=demo.mobile(rng),
            monthly_income=Decimal("12000.00"),
        )  # fmt: skip
        product, _ = services.product_upsert(code="bench", **demo.DEMO_PRODUCTS["consumer-installment"])
        officer = staff_user_create(username="bench-officer", password="bench-only-pw", roles=[roles.LOAN_OFFICER],
                                    approval_limit=Decimal("50000"))  # fmt: skip
        staff_user_create(username="bench-manager", password="bench-only-pw",
                          roles=[roles.COLLECTIONS_MANAGER, roles.CREDIT_MANAGER])  # fmt: skip
        collectors = [
            staff_user_create(username=f"bench-collector-{k}", password="bench-only-pw", roles=[roles.COLLECTOR]).pk
            for k in range(COLLECTORS)
        ]
        common = """borrower_id, product_id, amount, term_months, method, purpose, channel, device_id, annual_rate,
                    penalty_rate, fee_amount, grace_days, day_count, allocation_order, prepayment_rule, quoted_apr,
                    submitted_at, decision_reason, decision_note, days_past_due, bucket"""
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO loans_loan (reference, status, assigned_to_id, review_due_at, {common})
                    SELECT 'R' || g, 'in_review', CASE WHEN g %% 2 = 0 THEN %(officer)s END,
                           now() + (g %% 48 - 12) * interval '1 hour',
                           %(b)s, %(p)s, 1000 + (g %% 500) * 100, 12, 'equal_installment', '', 'app', '', 0.15, 0.225,
                           30, 3, 360, 'penalty,fee,interest,principal', 'reduce_installment', 0.17,
                           now() - (g %% 72) * interval '1 hour', '', '', 0, 'current'
                      FROM generate_series(1, %(n)s) g""",
                {"officer": officer.pk, "b": borrower.pk, "p": product.pk, "n": rows},
            )
            cursor.execute(
                """INSERT INTO risk_scoringmodel (version, product_kind, file_path, file_sha256, feature_spec,
                          training_fingerprint, metrics, baseline, is_active, created_at)
                   VALUES ('bench', '', '', '', '{}', '', '{}', '{}', false, now()) RETURNING id"""
            )
            model_id = cursor.fetchone()[0]
            cursor.execute(
                """INSERT INTO risk_creditscore (loan_id, model_id, stage, probability, margin, bias, points, grade,
                          raw_values, feature_values, contributions, reasons, created_at)
                   SELECT id, %(m)s, 'submission', 0.05, -2.9, -2.2, 560 + id %% 80,
                          (ARRAY['A','B','C','D','E'])[1 + id %% 5], '{}', '[]', '[]', '[]', now()
                     FROM loans_loan WHERE reference LIKE 'R%%'""",
                {"m": model_id},
            )
            cursor.execute(
                f"""INSERT INTO loans_loan (reference, status, disbursed_on, oldest_unpaid_due, {common})
                    SELECT 'O' || g, 'overdue', DATE '2026-01-10', DATE '2026-02-10',
                           %(b)s, %(p)s, 12000, 12, 'equal_installment', '', 'app', '', 0.15, 0.225, 30, 3, 360,
                           'penalty,fee,interest,principal', 'reduce_installment', 0.17, now(), '', '',
                           1 + g %% 150,
                           CASE WHEN 1 + g %% 150 <= 30 THEN 'M1' WHEN 1 + g %% 150 <= 60 THEN 'M2'
                                WHEN 1 + g %% 150 <= 90 THEN 'M3' ELSE 'M3+' END
                      FROM generate_series(1, %(n)s) g""",
                {"b": borrower.pk, "p": product.pk, "n": rows},
            )
            cursor.execute(
                """INSERT INTO loans_installment (loan_id, number, due_date, principal_due, interest_due, fee_due,
                          penalty_due, principal_paid, interest_paid, fee_paid, penalty_paid)
                   SELECT l.id, k, (l.disbursed_on + make_interval(months => k))::date, 1000, 150 - 12.5 * k, 0,
                          CASE WHEN k = 1 THEN 3.5 ELSE 0 END, 0, 0, 0, 0
                     FROM loans_loan l CROSS JOIN generate_series(1, 12) k WHERE l.reference LIKE 'O%%'"""
            )
            cursor.execute(
                """INSERT INTO collection_collectioncase (loan_id, status, assigned_to_id, bucket, days_past_due,
                          overdue_amount, broken_promises, is_escalated, next_action_on, opened_on, updated_at)
                   SELECT l.id, 'open', (%(c)s::bigint[])[1 + l.id %% %(k)s], l.bucket, l.days_past_due,
                          1000 + l.id %% 9000, l.id %% 3, false, CURRENT_DATE + (l.id %% 10 - 5)::int, DATE '2026-02-14',
                          now()
                     FROM loans_loan l WHERE l.reference LIKE 'O%%'""",
                {"c": collectors, "k": COLLECTORS},
            )
            cursor.execute("VACUUM ANALYZE")

    def _measure(self, rows: int, requests: int) -> None:
        from django.contrib.auth.models import User
        from django.test import Client

        from loans import portfolio

        settings.ALLOWED_HOSTS = ["*"]
        results = {"rows": rows, "requests": requests}
        pages = [
            ("review_queue", "bench-officer", "/review/"),
            ("worklist", "bench-collector-0", "/collections/worklist/"),
            ("dashboard", "bench-manager", "/portfolio/"),
        ]
        from django.utils import timezone

        started = time.perf_counter()
        portfolio.dashboard(on=timezone.localdate(), refresh=True)
        results["dashboard_compute_ms"] = round((time.perf_counter() - started) * 1000, 1)
        for name, username, url in pages:
            client = Client()
            client.force_login(User.objects.get(username=username))
            assert client.get(url).status_code == 200  # warm-up (connections, templates)
            timings = []
            for _ in range(requests):
                t0 = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
            results[f"{name}_p50_ms"] = round(statistics.median(timings), 1)
            results[f"{name}_p95_ms"] = round(_percentile(timings, 95), 1)
            self.stdout.write(
                f"{name:<13} p50 {results[f'{name}_p50_ms']:7.1f} ms   p95 {results[f'{name}_p95_ms']:7.1f} ms"
            )
        self.stdout.write(
            f"dashboard figures computed from scratch in {results['dashboard_compute_ms']} ms, then served from the "
            f"shared cache for {portfolio.CACHE_SECONDS} s"
        )
        self.stdout.write(json.dumps(results))
