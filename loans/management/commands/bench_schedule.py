"""Time schedule building and APR for long schedules; last line is one JSON object."""

import json
import statistics
import time
from datetime import date
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from loans.schedules import METHODS, apr, build_schedule


class Command(BaseCommand):
    help = "Benchmark the schedule engine (a 360-month schedule, with and without its APR)."

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, default=360)
        parser.add_argument("--repeat", type=int, default=200)

    def handle(self, *args, months, repeat, **options):
        if months < 1 or repeat < 1:
            raise CommandError("--months and --repeat must be at least 1", returncode=2)
        principal, rate, start = Decimal("1000000.00"), Decimal("0.049"), date(2026, 1, 31)
        figures = {"months": months, "repeat": repeat}
        for method in METHODS:
            build, with_apr = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                rows = build_schedule(principal, rate, months, method, start)
                t1 = time.perf_counter()
                apr(principal, Decimal("0"), rows, start, method=method)
                t2 = time.perf_counter()
                build.append((t1 - t0) * 1000)
                with_apr.append((t2 - t0) * 1000)
            p50, p95 = statistics.median(build), statistics.quantiles(build, n=20)[18] if repeat >= 20 else max(build)
            a50 = statistics.median(with_apr)
            a95 = statistics.quantiles(with_apr, n=20)[18] if repeat >= 20 else max(with_apr)
            self.stdout.write(
                f"{method:<18} schedule p50 {p50:7.3f} ms  p95 {p95:7.3f} ms   schedule+APR p50 {a50:7.3f} ms  p95 {a95:7.3f} ms"
            )
            figures[method] = {
                "schedule_p50_ms": round(p50, 3),
                "schedule_p95_ms": round(p95, 3),
                "with_apr_p50_ms": round(a50, 3),
                "with_apr_p95_ms": round(a95, 3),
            }
        self.stdout.write(json.dumps(figures))
