"""Benchmark the partner API under gunicorn (2 workers), driven from this process by 16 concurrent clients.

Builds once a scratch database `lender_api_bench` (demo products, a partner, 400 active loans), starts
gunicorn on it, then sends quotes, and repayments of which 20% reuse an earlier Idempotency-Key with
the same body (a partner retrying). A 409 (same key still in progress) is retried after a short wait,
as a partner would. Prints p50/p95/p99 and throughput for each, and repayments recorded versus
unique keys (they must be equal). The last line is one JSON object.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collection.management.commands.bench_sweep import _admin, _server_url

ROOT = Path(__file__).resolve().parents[3]
DATABASE = "lender_api_bench"
CLIENTS = 16


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command(BaseCommand):
    help = "p50/p95/p99 and throughput of quotes and idempotent repayments under gunicorn with 16 clients."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=2000, help="requests of each kind")
        parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--new-key", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, requests, build, new_key, count, **options):
        if build:
            return self._build()
        if new_key:
            return self._new_key()
        if count:
            return self._count()
        if requests < 50:
            raise CommandError("--requests must be at least 50", returncode=2)
        with _admin() as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
                self.stdout.write(f"building {DATABASE}; this runs once")
                admin.execute(f'CREATE DATABASE "{DATABASE}"')
                try:
                    self._child("migrate", "--noinput", "--verbosity", "0")
                    self._child("bench_api", "--build")
                except subprocess.CalledProcessError:
                    admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
                    raise CommandError("building the API benchmark database failed", returncode=1) from None
        self._child("migrate", "--noinput", "--verbosity", "0")  # a database built by an older checkout
        setup = json.loads(self._child("bench_api", "--new-key", capture=True).strip().splitlines()[-1])
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": _server_url(DATABASE), "ALLOWED_HOSTS": "127.0.0.1"}
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "lender.wsgi", "--workers", "2", "--bind",
             f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            self._wait(port)
            results = self._drive(port, setup, requests)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        counted = json.loads(self._child("bench_api", "--count", capture=True).strip().splitlines()[-1])
        results["repayments_recorded"] = counted["recorded"] - setup["recorded_before"]
        results["equal"] = results["repayments_recorded"] == results["unique_keys"]
        self.stdout.write(
            f"repayments recorded {results['repayments_recorded']} for {results['unique_keys']} unique keys "
            f"({'equal' if results['equal'] else 'NOT EQUAL'})"
        )
        self.stdout.write(json.dumps(results))
        if not results["equal"]:
            raise CommandError("repayments recorded differ from unique keys", returncode=1)

    def _child(self, *args, capture=False):
        env = {**os.environ, "DATABASE_URL": _server_url(DATABASE)}
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, text=True,
                                stdout=subprocess.PIPE if capture else None)  # fmt: skip
        return result.stdout or ""

    def _wait(self, port):
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise CommandError("gunicorn did not start", returncode=1)

    def _drive(self, port, setup, n):
        headers = {"Authorization": f"Bearer {setup['key']}", "Content-Type": "application/json"}
        lock = threading.Lock()

        def call(path, body, extra=None):
            started = time.perf_counter()
            while True:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("POST", path, body=body, headers={**headers, **(extra or {})})
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != 409:
                    return (time.perf_counter() - started) * 1000, response.status
                time.sleep(0.05)  # the same key is in progress: retry shortly, as a partner would

        quote = json.dumps({"product": "consumer-installment", "amount": "20000.00", "term_months": 12,
                            "method": "equal_installment"})  # fmt: skip
        results = {"clients": CLIENTS, "requests": n}
        for name, jobs in (("quote", [("/api/v1/quotes", quote, None)] * n), ("repayment", self._repayments(setup, n))):
            statuses: dict[int, int] = {}
            started = time.perf_counter()
            with ThreadPoolExecutor(CLIENTS) as pool:
                outcomes = list(pool.map(lambda job: call(*job), jobs))
            wall = time.perf_counter() - started
            timings = [t for t, _ in outcomes]
            for _, code in outcomes:
                with lock:
                    statuses[code] = statuses.get(code, 0) + 1
            results[name] = {
                "p50_ms": round(_percentile(timings, 50), 1), "p95_ms": round(_percentile(timings, 95), 1),
                "p99_ms": round(_percentile(timings, 99), 1), "per_second": round(len(jobs) / wall, 1),
                "statuses": statuses,
            }  # fmt: skip
            self.stdout.write(f"{name:<10} p50 {results[name]['p50_ms']} ms  p95 {results[name]['p95_ms']} ms  "
                              f"p99 {results[name]['p99_ms']} ms  {results[name]['per_second']}/s  {statuses}")  # fmt: skip
        results["unique_keys"] = self._unique
        return results

    def _repayments(self, setup, n):
        rng = random.Random(5)
        jobs, sent = [], []
        run = setup["run"]
        for i in range(n):
            if sent and rng.random() < 0.2:
                jobs.append(rng.choice(sent))  # a retry: the same key and the same body
                continue
            loan = rng.choice(setup["loans"])
            body = json.dumps({"amount": "1.00", "paid_on": setup["paid_on"], "payment_reference": f"{run}-{i}"})
            job = (f"/api/v1/loans/{loan}/repayments", body, {"Idempotency-Key": f"{run}-{i}"})
            sent.append(job)
            jobs.append(job)
        self._unique = len(sent)
        return jobs

    # --- steps run against the benchmark database ---------------------------------------------

    def _build(self):
        from decimal import Decimal

        from django.core.management import call_command
        from django.utils import timezone

        from lender.services import staff_user_create
        from loans import services
        from loans.models import Partner

        call_command("seed_demo", "--quiet", "--borrowers", "40")
        partner = Partner.objects.create(code="bench", name="Bench partner", rate_limit="100000/min")
        # The benchmark's loans are approved without documents: it measures the API, not the paperwork.
        product, _ = services.product_upsert(code="consumer-installment", required_documents=[])
        manager = staff_user_create(username="bench-cm", password="bench-only-pw", roles=["credit manager"],
                                    approval_limit=Decimal("500000"))  # fmt: skip
        from loans import demo

        rng = random.Random(9)
        for _ in range(400):
            borrower = services.borrower_create(by=None, kind="individual", full_name="Bench",
                                                id_number=demo.resident_id(rng), phone=demo.mobile(rng))  # fmt: skip
            loan = services.loan_submit(borrower_id=borrower.pk, product_id=product.pk, amount=Decimal("20000.00"),
                                        term_months=12, method="equal_installment", decide=False,
                                        partner_id=partner.pk)  # fmt: skip
            services.loan_refer(loan_id=loan.pk)
            services.loan_approve(loan_id=loan.pk, by=manager)
            services.loan_disburse(loan_id=loan.pk, by=manager, on=timezone.localdate() - timedelta(days=10))

    def _new_key(self):
        from django.utils import timezone

        from loans.models import Loan, Partner, Repayment
        from loans.services import partners

        partner = Partner.objects.get(code="bench")
        _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["quote", "repay", "read"])
        loans = list(Loan.objects.filter(partner=partner, status="active").values_list("reference", flat=True))
        print(json.dumps({"key": raw, "loans": loans, "paid_on": timezone.localdate().isoformat(),
                          "run": f"r{int(time.time())}", "recorded_before": Repayment.objects.count()}))  # fmt: skip

    def _count(self):
        from loans.models import Repayment

        print(json.dumps({"recorded": Repayment.objects.count()}))
