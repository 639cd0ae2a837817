import math
from decimal import Decimal

import numpy as np
import pytest

from loans import services as loan_services
from loans.models import LoanStatus
from risk import features, monitoring, scorecard, services, synthetic, training
from risk.models import CreditScore, Decision, ListEntry, RuleHit
from tests.loans.factories import BorrowerFactory, ProductFactory

D = Decimal


def test_features_are_derived_from_raw_values_and_missing_ones_are_named():
    raw = synthetic.generate(1, seed=3)[0]
    values = features.derived(raw)
    expected = (raw["monthly_obligations"] + raw["new_monthly_payment"]) / raw["monthly_income"]
    assert values["debt_to_income"] == pytest.approx(min(expected, 10.0))
    assert len(features.feature_vector(raw)) == len(features.FEATURES)
    del raw["monthly_income"]
    with pytest.raises(features.FeatureError) as excinfo:
        features.feature_vector(raw)
    assert excinfo.value.field == "monthly_income"


def test_unknown_category_becomes_missing_not_a_wrong_code():
    raw = dict(synthetic.generate(1, seed=3)[0], employment_kind="astronaut")
    row = features.feature_vector(raw)
    assert math.isnan(row[features.FEATURE_NAMES.index("employment_kind")])


def test_generator_and_training_are_deterministic():
    rows = synthetic.generate(1500, seed=9)
    assert rows == synthetic.generate(1500, seed=9)
    dataset = training.dataset_from_raw(rows)
    first, second = training.train(dataset, seed=9, rounds=60), training.train(dataset, seed=9, rounds=60)
    assert first.sha256 == second.sha256
    assert training.train(dataset, seed=10, rounds=60).sha256 != first.sha256
    assert first.metrics["auc"] > 0.6  # the generator's links are learnable even from 1,500 rows


def test_monotone_constraint_holds_for_overdue_history(trained):
    dataset, result = trained
    base = np.array([features.feature_vector(r) for r in synthetic.generate(50, seed=77)])
    column = features.FEATURE_NAMES.index("worst_days_past_due")
    import xgboost as xgb

    def predict(matrix):
        return result.booster.predict(
            xgb.DMatrix(matrix, feature_names=dataset.names, feature_types=dataset.types, enable_categorical=True)
        )

    previous = None
    for days in (0, 10, 30, 60, 120):
        matrix = base.copy()
        matrix[:, column] = days
        current = predict(matrix)
        if previous is not None:
            assert np.all(current >= previous - 1e-7)
        previous = current


def test_points_scale_and_grades():
    assert scorecard.points(1 / 51) == 600  # 50:1 odds
    assert scorecard.points(1 / 101) == 620  # 100:1 doubles the odds: +20
    assert scorecard.grade(620) == "A" and scorecard.grade(559) == "D" and scorecard.grade(100) == "E"
    assert scorecard.score_100(580) == 70


def test_psi_matches_a_hand_computed_figure():
    # (0.10-0.25)ln(0.4)+(0.20-0.25)ln(0.8)+(0.30-0.25)ln(1.2)+(0.40-0.25)ln(1.6) = 0.228218
    assert monitoring.psi([0.25] * 4, [0.10, 0.20, 0.30, 0.40]) == pytest.approx(0.228218, abs=1e-6)
    assert monitoring.psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert monitoring.flag(0.228) == "watch" and monitoring.flag(0.3) == "shift" and monitoring.flag(0.05) == "stable"
    assert monitoring.shares_by_edges([1, 2, 3, None], [1.5, 2.5]) == [0.25, 0.25, 0.25, 0.25]


@pytest.fixture
def submit(db):
    def make(product=None, borrower=None, amount="20000.00", **kwargs):
        product = product or ProductFactory()
        borrower = borrower or BorrowerFactory(monthly_income=D("15000.00"), employment_years=6)
        return loan_services.loan_submit(
            borrower_id=borrower.pk, product_id=product.pk, amount=D(amount), term_months=12,
            method="equal_installment", decide=False, **kwargs,
        )  # fmt: skip

    return make


def test_contributions_plus_bias_equal_the_margin_and_scores_reproduce(active_model, submit):
    loan = submit()
    score = services.application_score(loan=loan, stage="submission")
    assert sum(score.contributions) + score.bias == pytest.approx(score.margin, abs=1e-4)
    assert score.probability == pytest.approx(1 / (1 + math.exp(-score.margin)), rel=1e-6)
    assert score.points == scorecard.points(score.probability) and score.grade == scorecard.grade(score.points)
    assert len(score.reasons) <= 4 and all(r["contribution"] > 0 for r in score.reasons)
    assert [r["contribution"] for r in score.reasons] == sorted(
        (r["contribution"] for r in score.reasons), reverse=True
    )
    assert all(r["text_en"] and r["text_zh"] for r in score.reasons)
    again = services.score_reproduce(CreditScore.objects.get(pk=score.pk))
    assert again["probability"] == pytest.approx(score.probability, abs=1e-12)
    assert again["reasons"] == score.reasons


def decide(loan):
    return services.application_decide(loan_id=loan.pk)


def test_cutoffs_approve_refer_and_decline(active_model, submit, policy):
    product = ProductFactory()
    policy(product)
    approved = decide(submit(product=product))
    assert approved.outcome == "approve" and approved.loan.status == LoanStatus.APPROVED and approved.score
    policy(product, approve_min_points=999, decline_below_points=0)
    referred = decide(submit(product=product))
    assert referred.outcome == "refer" and referred.loan.status == LoanStatus.IN_REVIEW
    policy(product, approve_min_points=999, decline_below_points=999)
    declined = decide(submit(product=product))
    assert declined.outcome == "decline" and declined.loan.status == LoanStatus.REJECTED
    assert "below the product's cut-off" in declined.reason


def test_quality_control_sample_is_reproducible(active_model, submit, policy):
    product = ProductFactory()
    policy(product, qc_sample_rate=Decimal("1.000"))
    decision = decide(submit(product=product))
    assert decision.outcome == "refer" and decision.is_qc_sample
    assert decision.qc_draw == services.qc_draw(decision.loan_id)


def test_decision_task_is_safe_to_run_twice(active_model, submit, policy):
    product = ProductFactory()
    policy(product)
    loan = submit(product=product)
    assert decide(loan) is not None
    assert decide(loan) is None
    assert Decision.objects.filter(loan=loan).count() == 1 and CreditScore.objects.filter(loan=loan).count() == 1


@pytest.mark.parametrize(
    "rule", ["blacklist", "age", "open_application", "velocity", "product_limits", "debt_to_income"]
)
def test_each_hard_rule_declines_with_its_reason(active_model, submit, policy, rule):
    product = ProductFactory()
    policy(product, max_applications_24h=2, min_age=18, max_age=65)
    borrower = BorrowerFactory(monthly_income=D("15000.00"))
    if rule == "blacklist":
        ListEntry.objects.create(kind="blacklist", identifier_hash=borrower.phone_hash, reason="fraud ring")
    elif rule == "age":
        policy(product, min_age=18, max_age=19)
    elif rule == "open_application":
        first = submit(product=product, borrower=borrower)
        loan_services.loan_refer(loan_id=first.pk)
    elif rule == "velocity":
        other = ProductFactory()
        submit(product=other, borrower=borrower)
        submit(product=ProductFactory(), borrower=borrower)
    elif rule == "debt_to_income":
        borrower = BorrowerFactory(monthly_income=D("2000.00"), monthly_obligations=D("1500.00"))
    loan = submit(product=product, borrower=borrower, device_id="dev-1")
    if rule == "product_limits":
        loan_services.product_upsert(code=product.code, amount_max=D("10000.00"))
    decision = decide(loan)
    assert decision.outcome == "decline" and decision.loan.status == LoanStatus.REJECTED
    assert rule in set(RuleHit.objects.filter(loan=loan).values_list("rule", flat=True))


def test_whitelist_skips_the_review_band(active_model, submit, policy):
    product = ProductFactory()
    policy(product, approve_min_points=999, decline_below_points=0, qc_sample_rate=Decimal("1.000"))
    borrower = BorrowerFactory(monthly_income=D("15000.00"))
    ListEntry.objects.create(kind="whitelist", identifier_hash=borrower.id_number_hash, reason="payroll client")
    decision = decide(submit(product=product, borrower=borrower))
    assert decision.outcome == "approve" and decision.is_whitelisted


def test_application_that_cannot_be_scored_stays_in_review(active_model, submit, policy, monkeypatch):
    product = ProductFactory()
    policy(product)
    loan = submit(product=product)
    real = services.selectors.application_raw
    monkeypatch.setattr(services.selectors, "application_raw", lambda loan: {**real(loan), "employment_kind": None})
    decision = decide(loan)
    assert decision.outcome == "refer" and "employment kind" in decision.reason
    assert decision.loan.status == LoanStatus.IN_REVIEW


def test_score_is_recomputed_at_approval_and_changes_with_the_data(active_model, submit, policy, credit_manager):
    product = ProductFactory()
    policy(product, approve_min_points=999)
    loan = submit(product=product)
    first = decide(loan).score
    loan_services.borrower_update(borrower_id=loan.borrower_id, by=None, monthly_income=D("3000.00"))
    loan_services.loan_approve(loan_id=loan.pk, by=credit_manager)
    at_approval = CreditScore.objects.get(loan=loan, stage="approval")
    assert at_approval.approval.approver == credit_manager
    assert at_approval.probability > first.probability
    assert at_approval.raw_values["monthly_income"] == 3000.0


def test_without_a_model_approval_records_no_score(db, submit, credit_manager):
    loan = submit()
    loan_services.loan_refer(loan_id=loan.pk)
    loan_services.loan_approve(loan_id=loan.pk, by=credit_manager)
    assert not CreditScore.objects.exists()


def test_an_application_whose_decision_task_was_lost_is_decided_by_the_beat_task(active_model, submit, policy):
    from datetime import timedelta

    from django.utils import timezone

    from loans.models import Loan
    from loans.tasks import application_decide_pending_task

    product = ProductFactory()
    policy(product)
    lost, fresh = submit(product=product), submit(product=product, borrower=BorrowerFactory())
    Loan.objects.filter(pk=lost.pk).update(submitted_at=timezone.now() - timedelta(minutes=6))
    assert application_decide_pending_task() == 1  # tasks run inline in unit tests
    assert Decision.objects.filter(loan=lost).exists() and not Decision.objects.filter(loan=fresh).exists()
    assert application_decide_pending_task() == 0
