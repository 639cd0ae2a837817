"""Benchmark scoring: one application at a time (features from PostgreSQL), the bare booster, batches.

Creates N applications inside a transaction that is rolled back at the end: nothing is left behind.
The last line printed is one JSON object.
"""

import json
import random
import statistics
import time
from decimal import Decimal

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from loans import demo, services
from loans.models import Loan, LoanProduct
from risk import features, registry, selectors
from risk import services as risk_services
from risk.models import ScoringModel


def p(values, q):
    return float(np.percentile(np.array(values), q))


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Benchmark credit scoring (p50/p99 per application, overhead over the bare booster, batch rate)."

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=1000)
        parser.add_argument("--batch", type=int, default=1000)

    def handle(self, *args, n, batch, **options):
        if n < 10 or batch < 1:
            raise CommandError("--n must be at least 10 and --batch at least 1", returncode=2)
        model = ScoringModel.objects.filter(is_active=True).first()
        if model is None:
            raise CommandError("no active model: run `manage.py train_model` first", returncode=2)
        product = LoanProduct.objects.filter(kind="consumer_installment", is_active=True).first()
        if product is None:
            raise CommandError("no active consumer product: run `manage.py seed_demo` first", returncode=2)
        figures = {}
        try:
            with transaction.atomic():
                figures = self._run(model, product, n, batch)
                raise Rollback
        except Rollback:
            pass
        self.stdout.write(json.dumps(figures))

    def _run(self, model, product, n, batch):
        rng = random.Random(11)
        loans = []
        for _ in range(n):
            borrower = services.borrower_create(
                by=None, kind="individual", full_name="Bench", id_number=demo.resident_id(rng), phone=demo.mobile(rng),
                monthly_income=Decimal(rng.randrange(4000, 30000)), monthly_obligations=Decimal(rng.randrange(0, 3000)),
                employment_years=rng.randrange(0, 20),
            )  # fmt: skip
            loans.append(
                services.loan_submit(
                    borrower_id=borrower.pk,
                    product_id=product.pk,
                    amount=Decimal(rng.randrange(50, 500) * 100),
                    term_months=12,
                    method=product.allowed_methods[0],
                    decide=False,
                ).pk  # fmt: skip
            )
        booster = registry.booster_for(model.file_path, model.file_sha256)
        full, ours, bare, rows = [], [], [], []
        for loan_id in loans:
            t0 = time.perf_counter()
            raw = selectors.application_raw(Loan(pk=loan_id))
            result = risk_services.score_raw(model, raw)
            t1 = time.perf_counter()
            full.append((t1 - t0) * 1000)
            row = features.feature_vector(raw)
            rows.append(row)
            t2 = time.perf_counter()
            probability, _ = risk_services.score_row(model, row)
            risk_services.points_for(probability)
            t3 = time.perf_counter()
            ours.append((t3 - t2) * 1000)
            x = np.array([row], dtype=np.float64)
            t4 = time.perf_counter()
            booster.inplace_predict(x, predict_type="margin")
            t5 = time.perf_counter()
            bare.append((t5 - t4) * 1000)
            assert result["points"] == risk_services.points_for(probability)
        matrix = np.array(rows, dtype=np.float64)
        booster.set_param({"nthread": 2})
        t0 = time.perf_counter()
        for start in range(0, len(matrix), batch):
            booster.inplace_predict(matrix[start : start + batch])
        batch_seconds = time.perf_counter() - t0
        booster.set_param({"nthread": 1})
        figures = {
            "n": n,
            "p50_ms": round(p(full, 50), 3),
            "p99_ms": round(p(full, 99), 3),
            "ours_p99_ms": round(p(ours, 99), 3),
            "bare_p50_ms": round(p(bare, 50), 3),
            "bare_p99_ms": round(p(bare, 99), 3),
            "ratio": round(p(ours, 99) / p(bare, 99), 3),
            "batch_per_second": round(len(matrix) / batch_seconds, 1),
        }
        self.stdout.write(
            f"full scoring (features from PostgreSQL, model, reasons): p50 {figures['p50_ms']} ms, p99 "
            f"{figures['p99_ms']} ms\nour scoring call on a built row: p99 {figures['ours_p99_ms']} ms; bare booster "
            f"inplace_predict p99 {figures['bare_p99_ms']} ms; ratio {figures['ratio']}\nbatch scoring: "
            f"{figures['batch_per_second']} applications/s (model only, batches of {batch}); "
            f"statistics median check {statistics.median(full):.3f} ms"
        )
        return figures
