from datetime import date
from decimal import Decimal

import pytest

from loans import services as loan_services
from loans.models import CreditLine
from risk import services
from risk.models import CreditLimitChange
from tests.loans.factories import BorrowerFactory, ProductFactory

D = Decimal


@pytest.mark.django_db
def test_student_ceilings_rise_with_degree_and_key_university():
    product = ProductFactory(kind="student", amount_min=D("500.00"), amount_max=D("50000.00"))
    limits = {}
    for degree in ("undergraduate", "master"):
        for key in (False, True):
            borrower = BorrowerFactory.build(kind="student", degree_level=degree, is_key_university=key)
            limits[degree, key] = services.credit_limit_for(borrower=borrower, product=product, grade="A")
    assert limits["undergraduate", False] < limits["master", False]
    assert limits["undergraduate", False] < limits["undergraduate", True]
    assert limits["undergraduate", False] == D("8000")


@pytest.mark.django_db
def test_small_business_limit_from_revenue_and_inflow_within_500k():
    product = ProductFactory(kind="small_business", amount_min=D("10000.00"), amount_max=D("500000.00"))
    rich = BorrowerFactory.build(kind="small_business", annual_revenue=D("90000000"), monthly_bank_inflow=D("9000000"))
    modest = BorrowerFactory.build(kind="small_business", annual_revenue=D("600000"), monthly_bank_inflow=D("30000"))
    assert services.credit_limit_for(borrower=rich, product=product, grade="A") == D("500000.00")
    assert services.credit_limit_for(borrower=modest, product=product, grade="A") == D("90000")  # 3 x inflow
    assert services.credit_limit_for(borrower=modest, product=product, grade="C") == D("67500")


@pytest.mark.django_db
def test_revolving_limit_from_income_and_grade_within_the_ceiling():
    product = ProductFactory(kind="revolving", amount_min=D("50.00"), amount_max=D("200000.00"),
                             allowed_methods=["bullet"], term_min_months=1, term_max_months=12)  # fmt: skip
    borrower = BorrowerFactory.build(monthly_income=D("12345.00"))
    assert services.credit_limit_for(borrower=borrower, product=product, grade="B") == D("61700")
    assert services.credit_limit_for(borrower=borrower, product=product, grade="E") == D("0.00")


def test_increase_share_runs_from_30_to_50_percent():
    assert services.increase_share(70) == D("0.3000") and services.increase_share(100) == D("0.5000")
    assert D("0.30") < services.increase_share(85) < D("0.50")


@pytest.fixture
def line(db, active_model):
    product = ProductFactory(kind="revolving", amount_min=D("50.00"), amount_max=D("25000.00"), allowed_methods=["bullet"],
                             term_min_months=1, term_max_months=12, annual_rate=D("0.18"))  # fmt: skip
    borrower = BorrowerFactory(monthly_income=D("40000.00"), employment_years=15)
    line = loan_services.credit_line_open(borrower_id=borrower.pk, product_id=product.pk, limit=D("20000.00"))
    loan_services.credit_line_draw(credit_line_id=line.pk, amount=D("1000.00"), term_months=1, method="bullet",
                                   on=date(2026, 1, 5))  # fmt: skip
    return line


def test_limit_review_raises_good_lines_within_the_ceiling_once(line, settings):
    settings.LIMIT_INCREASE_MIN_SCORE = 0  # every score qualifies: the raise is 30% + 20% x score/100
    change = services.credit_line_review(credit_line_id=line.pk)
    assert change is not None and change.before == D("20000.00")
    assert change.after == D("25000.00")  # +30-50% is at least 26,000: held at the product ceiling
    line.refresh_from_db()
    assert line.limit == D("25000.00")
    assert services.credit_line_review(credit_line_id=line.pk) is None  # a second run changes nothing
    assert CreditLimitChange.objects.count() == 1


def test_limit_review_skips_a_borrower_with_a_bad_record(line, settings):
    settings.LIMIT_INCREASE_MIN_SCORE = 0
    loan = line.draws.get()
    loan_services.loan_mark_overdue(loan_id=loan.pk)
    assert services.credit_line_review(credit_line_id=line.pk) is None
    assert CreditLine.objects.get(pk=line.pk).limit == D("20000.00")


def test_limit_review_needs_the_threshold(line, settings):
    settings.LIMIT_INCREASE_MIN_SCORE = 101
    assert services.credit_line_review(credit_line_id=line.pk) is None


@pytest.mark.django_db
def test_a_revolving_line_opens_with_the_limit_its_score_earns(active_model):
    product = ProductFactory(kind="revolving", amount_min=D("50.00"), amount_max=D("200000.00"), allowed_methods=["bullet"],
                             term_min_months=1, term_max_months=12, annual_rate=D("0.18"))  # fmt: skip
    borrower = BorrowerFactory(monthly_income=D("10000.00"))
    loan = loan_services.loan_submit(borrower_id=borrower.pk, product_id=product.pk, amount=D("5000.00"),
                                     term_months=1, method="bullet", decide=False)  # fmt: skip
    with pytest.raises(Exception, match="no credit score"):
        services.credit_line_open_scored(loan_id=loan.pk)
    score = services.application_score(loan=loan, stage="submission")
    line = services.credit_line_open_scored(loan_id=loan.pk)
    expected = services.credit_limit_for(borrower=borrower, product=product, grade=score.grade)
    assert line.limit == expected and line.limit == D("10000.00") * services.GRADE_INCOME_MULTIPLE[score.grade]
    assert CreditLimitChange.objects.get(credit_line=line).after == expected
