"""Deterministic generators of valid Chinese identifiers and demo products (seed_demo and tests)."""

import random
from datetime import date, timedelta
from decimal import Decimal

from stdnum.cn import ric, uscc

REGIONS = ("110101", "110102", "110105", "110108", "310101", "310104", "310105", "120101")  # valid 1960-2009
MOBILE_PREFIXES = ("138", "139", "135", "136", "186", "188", "158", "159", "150", "187")


def resident_id(rng: random.Random, *, born_from: int = 1965, born_to: int = 2004) -> str:
    born = date(born_from, 1, 1) + timedelta(days=rng.randrange((date(born_to, 12, 31) - date(born_from, 1, 1)).days))
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit


def mobile(rng: random.Random) -> str:
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"


def credit_code(rng: random.Random) -> str:
    body = f"91{rng.choice(REGIONS)}{rng.randrange(10**9):09d}"
    return body + uscc.calc_check_digit(body + "0")


DEMO_PRODUCTS = {
    # Revolving consumer line (随星借-style): 50–200,000 CNY at 0.02%–0.05% a day. The contract
    # rate here is 0.05% a day (18% a year on a 360-day count); the score sets each line's limit.
    "revolving-line": dict(
        name="Revolving consumer line",
        kind="revolving",
        amount_min=Decimal("50.00"),
        amount_max=Decimal("200000.00"),
        term_min_months=1,
        term_max_months=12,
        allowed_methods=["bullet", "equal_installment"],
        annual_rate=Decimal("0.180000"),
        day_count=360,
        grace_days=3,
        senior_approval_threshold=Decimal("100000.00"),
        required_documents=["id_card"],
    ),
    "student-micro": dict(
        name="Student micro-loan",
        kind="student",
        amount_min=Decimal("500.00"),
        amount_max=Decimal("30000.00"),
        term_min_months=3,
        term_max_months=24,
        allowed_methods=["equal_installment", "equal_principal"],
        annual_rate=Decimal("0.086000"),
        grace_days=5,
        senior_approval_threshold=Decimal("20000.00"),
        required_documents=["id_card", "enrolment"],
    ),
    "sme-credit": dict(
        name="Small-business credit loan",
        kind="small_business",
        amount_min=Decimal("10000.00"),
        amount_max=Decimal("500000.00"),
        term_min_months=3,
        term_max_months=36,
        allowed_methods=["equal_installment", "equal_principal", "interest_first"],
        annual_rate=Decimal("0.120000"),
        fee_kind="percent",
        fee_value=Decimal("1.00"),
        grace_days=3,
        senior_approval_threshold=Decimal("200000.00"),
        required_documents=["id_card", "business_licence", "bank_statements"],
    ),
    "consumer-installment": dict(
        name="Consumer installment loan",
        kind="consumer_installment",
        amount_min=Decimal("5000.00"),
        amount_max=Decimal("100000.00"),
        term_min_months=6,
        term_max_months=36,
        allowed_methods=["equal_installment", "equal_principal"],
        annual_rate=Decimal("0.150000"),
        fee_kind="fixed",
        fee_value=Decimal("30.00"),
        grace_days=3,
        senior_approval_threshold=Decimal("80000.00"),
        required_documents=["id_card", "income_proof"],
    ),
}
