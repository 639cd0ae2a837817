"""Portfolio figures for the dashboard: set-based SQL, cached for a few minutes in the shared cache.

An installment's paid date is the date of the last repayment that completed it, so the state of
the book at any past date (vintages, month-end buckets for roll rates) follows from the
installments and the repayments, with no snapshot tables.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import connection

CACHE_SECONDS = 300
BUCKETS = ("current", "M1", "M2", "M3", "M3+")

PAID = """
paid AS (
  SELECT a.installment_id, max(r.paid_on) AS d
    FROM loans_repaymentallocation a
    JOIN loans_repayment r ON r.id = a.repayment_id AND r.status = 'posted'
    JOIN loans_installment i ON i.id = a.installment_id
   WHERE i.principal_paid = i.principal_due AND i.interest_paid = i.interest_due
   GROUP BY a.installment_id)
"""


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _risk(on: date) -> dict:
    (total, par1, par30, par90, npl, loans, overdue) = _rows(
        """SELECT coalesce(sum(o), 0), coalesce(sum(o) FILTER (WHERE dpd >= 1), 0),
                  coalesce(sum(o) FILTER (WHERE dpd >= 30), 0), coalesce(sum(o) FILTER (WHERE dpd >= 90), 0),
                  coalesce(sum(o) FILTER (WHERE bucket = 'M3+'), 0), count(*), count(*) FILTER (WHERE dpd >= 1)
             FROM (SELECT l.id, l.days_past_due AS dpd, l.bucket, sum(i.principal_due - i.principal_paid) AS o
                     FROM loans_loan l JOIN loans_installment i ON i.loan_id = l.id
                    WHERE l.status IN ('active', 'overdue')
                    GROUP BY l.id) x""",
        {},
    )[0]

    def share(part):
        return (Decimal(part) / Decimal(total)).quantize(Decimal("0.0001")) if total else Decimal("0")

    return {
        "outstanding_principal": Decimal(total),
        "open_loans": loans,
        "loans_past_due": overdue,
        "par1": share(par1),
        "par30": share(par30),
        "par90": share(par90),
        "npl_ratio": share(npl),
    }


def _funnel() -> dict:
    row = _rows(
        """SELECT count(*),
                  (SELECT count(*) FROM risk_decision WHERE outcome = 'approve'),
                  (SELECT count(DISTINCT object_id) FROM django_fsm_log_statelog s
                     JOIN django_content_type ct ON ct.id = s.content_type_id
                    WHERE ct.app_label = 'loans' AND ct.model = 'loan' AND s.transition = 'refer'),
                  count(*) FILTER (WHERE status = 'rejected'),
                  count(*) FILTER (WHERE status IN ('approved', 'cancelled', 'active', 'overdue', 'closed',
                                                    'written_off')),
                  count(*) FILTER (WHERE disbursed_on IS NOT NULL),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - submitted_at))
                    FILTER (WHERE decided_at IS NOT NULL),
                  avg(extract(epoch FROM decided_at - submitted_at)) FILTER (WHERE decided_at IS NOT NULL)
             FROM loans_loan WHERE credit_line_id IS NULL""",
        {},
    )[0]
    submitted, auto, referred, declined, approved, disbursed, median_s, mean_s = row
    return {
        "steps": [
            ("submitted", submitted),
            ("auto_approved", auto),
            ("referred", referred),
            ("declined", declined),
            ("approved", approved),
            ("disbursed", disbursed),
        ],  # fmt: skip
        "decision_hours_median": round((median_s or 0) / 3600, 2),
        "decision_hours_mean": round(float(mean_s or 0) / 3600, 2),
    }


def _vintages(on: date) -> dict:
    rows = _rows(
        f"""WITH {PAID},
           first30 AS (
             SELECT i.loan_id, min(i.due_date + 30) AS reached
               FROM loans_installment i LEFT JOIN paid p ON p.installment_id = i.id
              WHERE i.due_date + 30 <= %(on)s AND (p.d IS NULL OR p.d > i.due_date + 30)
              GROUP BY i.loan_id)
           SELECT to_char(date_trunc('month', l.disbursed_on), 'YYYY-MM') AS vintage, k,
                  count(*) FILTER (WHERE f.reached <= (l.disbursed_on + make_interval(months => k))::date),
                  count(*)
             FROM loans_loan l LEFT JOIN first30 f ON f.loan_id = l.id CROSS JOIN generate_series(1, 12) k
            WHERE l.disbursed_on IS NOT NULL AND (l.disbursed_on + make_interval(months => k))::date <= %(on)s
              AND l.disbursed_on >= %(since)s
            GROUP BY 1, 2 ORDER BY 1, 2""",
        {"on": on, "since": on - timedelta(days=550)},
    )
    curves: dict[str, list] = {}
    for vintage, k, bad, n in rows:
        curves.setdefault(vintage, []).append({"months_on_book": k, "share_30_plus": round(bad / n, 4), "loans": n})
    return curves


def _month_ends(on: date, count: int = 6) -> list[date]:
    ends, first = [], on.replace(day=1)
    for _ in range(count + 1):
        first_prev = (first - timedelta(days=1)).replace(day=1)
        ends.append(first - timedelta(days=1))
        first = first_prev
    return sorted(ends)


def _roll_rates(on: date) -> list[dict]:
    ends = _month_ends(on)
    rows = _rows(
        f"""WITH {PAID},
           state AS (
             SELECT e.t, l.id,
                    coalesce(e.t - min(i.due_date) FILTER (WHERE i.due_date < e.t AND (p.d IS NULL OR p.d > e.t)), 0)
                      AS dpd
               FROM unnest(%(ends)s::date[]) AS e(t)
               JOIN loans_loan l ON l.disbursed_on IS NOT NULL AND l.disbursed_on <= e.t
                                AND (l.closed_at IS NULL OR l.closed_at::date > e.t)
               JOIN loans_installment i ON i.loan_id = l.id
               LEFT JOIN paid p ON p.installment_id = i.id
              GROUP BY e.t, l.id),
           bucketed AS (
             SELECT t, id, CASE WHEN dpd <= 0 THEN 'current' WHEN dpd <= 30 THEN 'M1' WHEN dpd <= 60 THEN 'M2'
                                WHEN dpd <= 90 THEN 'M3' ELSE 'M3+' END AS bucket FROM state)
           SELECT a.t, a.bucket, b.bucket, count(*)
             FROM bucketed a JOIN bucketed b ON b.id = a.id
              AND b.t = (SELECT min(t2) FROM unnest(%(ends)s::date[]) AS u(t2) WHERE t2 > a.t)
            GROUP BY 1, 2, 3""",
        {"ends": ends},
    )
    totals: dict[tuple, int] = {}
    forward: dict[tuple, int] = {}
    for t, source, target, n in rows:
        totals[(t, source)] = totals.get((t, source), 0) + n
        if source != "M3+" and BUCKETS.index(target) == BUCKETS.index(source) + 1:
            forward[(t, source)] = forward.get((t, source), 0) + n
    result = []
    for t in ends[:-1]:
        entry = {"month_end": t.isoformat()}
        for source in BUCKETS[:-1]:
            n = totals.get((t, source), 0)
            entry[f"{source}->{BUCKETS[BUCKETS.index(source) + 1]}"] = (
                round(forward.get((t, source), 0) / n, 4) if n else None
            )
        result.append(entry)
    return result


def _buckets() -> dict:
    rows = _rows(
        """SELECT bucket, count(*) FROM loans_loan WHERE status IN ('active', 'overdue') GROUP BY bucket""", {}
    )
    counts = dict(rows)
    return {b: counts.get(b, 0) for b in BUCKETS}


def compute(on: date) -> dict:
    return {
        "on": on.isoformat(),
        "risk": _risk(on),
        "buckets": _buckets(),
        "funnel": _funnel(),
        "vintages": _vintages(on),
        "roll_rates": _roll_rates(on),
    }


def dashboard(*, on: date, refresh: bool = False) -> dict:
    """The dashboard's figures for `on`, from the shared cache when fresh (five minutes)."""
    key = f"portfolio:{on.isoformat()}"
    data = None if refresh else cache.get(key)
    if data is None:
        data = compute(on)
        cache.set(key, data, CACHE_SECONDS)
    return data


def as_rows(data: dict):
    """The figures as (section, name, key, value) rows, for the CSV download."""
    for name, value in data["risk"].items():
        yield ("risk", name, "", value)
    for name, value in data["buckets"].items():
        yield ("buckets", name, "loans", value)
    for name, value in data["funnel"]["steps"]:
        yield ("funnel", name, "applications", value)
    yield ("funnel", "decision_hours_median", "", data["funnel"]["decision_hours_median"])
    yield ("funnel", "decision_hours_mean", "", data["funnel"]["decision_hours_mean"])
    for vintage, points in data["vintages"].items():
        for point in points:
            yield ("vintage_30_plus", vintage, f"mob {point['months_on_book']}", point["share_30_plus"])
    for entry in data["roll_rates"]:
        for name, value in entry.items():
            if name != "month_end":
                yield ("roll_rate", entry["month_end"], name, value)
