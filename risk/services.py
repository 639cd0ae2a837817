"""Writes of the risk app: the model registry, scoring, the automatic decision, credit limits."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import numpy as np
import xgboost as xgb
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lender.audit import audit
from lender.errors import InvalidInput
from lender.history import history_context
from lender.money import format_cny
from loans.models import CreditLine, Loan, LoanStatus, ProductKind
from loans.products import product_check_application
from loans.services import loan_reject
from loans.services.applications import _lock
from risk import features, registry, scorecard, selectors, training
from risk.models import (
    CreditLimitChange,
    CreditScore,
    Decision,
    DecisionOutcome,
    ListEntry,
    ListKind,
    ProductPolicy,
    RuleHit,
    ScoreStage,
    ScoringModel,
)

TOP_REASONS = 4


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def model_register(
    *, result: training.TrainResult, dataset: training.Dataset, by=None, product_kind: str = "", activate: bool = False
) -> ScoringModel:
    """Store the model file and its registry row; activate it only when asked."""
    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    source = "gen" if dataset.source == "generator" else "csv"
    version = f"{source}-{stamp}-{result.sha256[:8]}"
    path = registry.model_write(version, result.model_bytes)
    baseline = {
        "probabilities": _quantile_edges(np.array(result.test_scores)),
        "score_sample": result.test_scores[:5000],
        "features": {
            name: _feature_baseline(dataset.X[:, i], kind)
            for i, (name, kind) in enumerate(zip(dataset.names, dataset.types))
        },
    }
    model = ScoringModel.objects.create(
        version=version,
        product_kind=product_kind,
        file_path=str(path),
        file_sha256=result.sha256,
        feature_spec=dataset.spec,
        training_fingerprint=dataset.fingerprint,
        metrics={
            **result.metrics,
            **result.cv,
            "n_rows": int(len(dataset.y)),
            "positive_rate": float(dataset.y.mean()),
            "best_iteration": result.best_iteration,
        },  # fmt: skip
        baseline=baseline,
        trained_by=by if by is not None and by.is_authenticated else None,
    )
    audit(target=model, action="model_registered", actor=by, message=version, metrics=model.metrics)
    if activate:
        model_activate(model_id=model.pk, by=by)
        model.refresh_from_db()
    return model


def _quantile_edges(values: np.ndarray, bins: int = 10) -> list[float]:
    return [float(x) for x in np.unique(np.quantile(values, np.linspace(0, 1, bins + 1))[1:-1])]


def _feature_baseline(column: np.ndarray, kind: str) -> dict:
    present = column[~np.isnan(column)]
    if kind == "c":
        values, counts = np.unique(present, return_counts=True)
        return {"kind": "c", "categories": [float(v) for v in values], "missing": float(np.isnan(column).mean()),
                "shares": [float(c) / len(column) for c in counts]}  # fmt: skip
    edges = _quantile_edges(present) if len(present) else []
    return {"kind": "q", "edges": edges, "sample": [float(x) if not math.isnan(x) else None for x in column[:5000]]}


@transaction.atomic
def model_activate(*, model_id: int, by=None) -> ScoringModel:
    """Make this version the active one for its product kind (activation and rollback alike)."""
    model = ScoringModel.objects.select_for_update().get(pk=model_id)
    registry.booster_for(model.file_path, model.file_sha256)  # refuse a missing or altered file
    if model.feature_spec.get("names") != list(features.FEATURE_NAMES):
        raise InvalidInput(
            "This model was trained on other columns than the application features; it can be registered and "
            "studied, not used to score applications.",
            field="model",
        )
    previous = ScoringModel.objects.select_for_update().filter(product_kind=model.product_kind, is_active=True)
    replaced = [m.version for m in previous if m.pk != model.pk]
    previous.exclude(pk=model.pk).update(is_active=False)
    model.is_active, model.activated_at = True, timezone.now()
    model.save(update_fields=["is_active", "activated_at"])
    audit(target=model, action="model_activated", actor=by, message=f"replaces {', '.join(replaced) or 'none'}")
    return model


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def score_row(model: ScoringModel, row: list[float]) -> tuple[float, float]:
    """(probability, margin) of one prepared feature row with the model's booster."""
    booster = registry.booster_for(model.file_path, model.file_sha256)
    margin = float(booster.inplace_predict(np.array([row], dtype=np.float64), predict_type="margin")[0])
    return 1.0 / (1.0 + math.exp(-margin)), margin


def explain_row(model: ScoringModel, row: list[float]) -> tuple[list[float], float]:
    """TreeSHAP contributions (xgboost's pred_contribs) of each feature, and the bias."""
    booster = registry.booster_for(model.file_path, model.file_sha256)
    spec = model.feature_spec
    matrix = xgb.DMatrix(
        np.array([row], dtype=np.float64), feature_names=spec["names"], feature_types=spec["types"],
        enable_categorical=True, missing=np.nan,
    )  # fmt: skip
    contributions = booster.predict(matrix, pred_contribs=True)[0]
    return [float(c) for c in contributions[:-1]], float(contributions[-1])


def points_for(probability: float) -> int:
    return scorecard.points(
        probability, base_points=settings.SCORE_BASE_POINTS, base_odds=settings.SCORE_BASE_ODDS, pdo=settings.SCORE_PDO
    )


def reasons_from(names: list[str], contributions: list[float], values: dict) -> list[dict]:
    """The features that raised the risk most, with readable texts (English and Chinese)."""
    ranked = sorted(((c, n) for n, c in zip(names, contributions) if c > 0), key=lambda item: item[0], reverse=True)[
        :TOP_REASONS
    ]
    reasons = []
    for contribution, name in ranked:
        english, chinese = features.REASON_TEXT.get(name, (name, name))
        value = values.get(name)
        if isinstance(value, float) and math.isnan(value):
            value = None
        reasons.append({"feature": name, "contribution": round(contribution, 6), "value": value, "text_en": english,
                        "text_zh": chinese})  # fmt: skip
    return reasons


def score_raw(model: ScoringModel, raw: dict) -> dict:
    """Probability, points, grade and reasons of raw application values; raises FeatureError."""
    row = features.feature_vector(raw, model.feature_spec.get("categories"))
    probability, margin = score_row(model, row)
    contributions, bias = explain_row(model, row)
    values = features.derived(raw)
    points = points_for(probability)
    return {
        "probability": probability,
        "margin": margin,
        "bias": bias,
        "points": points,
        "grade": scorecard.grade(points),
        "feature_values": [None if isinstance(v, float) and math.isnan(v) else v for v in row],
        "contributions": contributions,
        "reasons": reasons_from(model.feature_spec["names"], contributions, values),
    }


def application_score(*, loan: Loan, stage: str, model: ScoringModel | None = None) -> CreditScore | None:
    """Score an application with the active model and store it (None when no model is active).

    Raises features.FeatureError naming the missing field.
    """
    model = model or selectors.active_model_for(loan.product.kind)
    if model is None:
        return None
    raw = selectors.application_raw(loan)
    result = score_raw(model, raw)
    return CreditScore.objects.create(loan=loan, model=model, stage=stage, raw_values=raw, **_stored(result))


def _stored(result: dict) -> dict:
    return {k: result[k] for k in ("probability", "margin", "bias", "points", "grade", "feature_values",
                                   "contributions", "reasons")}  # fmt: skip


def score_reproduce(score: CreditScore) -> dict:
    """Re-run a stored score from its stored inputs with its model (for audits)."""
    return score_raw(score.model, score.raw_values)


# ---------------------------------------------------------------------------------------------
# The automatic decision
# ---------------------------------------------------------------------------------------------


def _policy(loan: Loan) -> ProductPolicy:
    policy = getattr(loan.product, "policy", None)
    return policy if policy is not None else ProductPolicy(product=loan.product)


def _listed(kind: str, loan: Loan) -> bool:
    hashes = [loan.borrower.id_number_hash, loan.borrower.phone_hash]
    return ListEntry.objects.filter(kind=kind, identifier_hash__in=hashes).exists()


def hard_rules(loan: Loan, policy: ProductPolicy, raw: dict | None) -> list[tuple[str, str]]:
    """Every hard rule the application breaks, as (rule, reason)."""
    hits = []
    borrower = loan.borrower
    if _listed(ListKind.BLACKLIST, loan):
        hits.append(("blacklist", "The applicant's ID number or phone is on the blacklist."))
    age = selectors._age_on(borrower.birth_date, timezone.localdate())
    if not policy.min_age <= age <= policy.max_age:
        hits.append(("age", f"Age {age} is outside {policy.min_age}–{policy.max_age} for this product."))
    duplicate = (
        Loan.objects.filter(
            borrower=borrower, product=loan.product, status__in=(LoanStatus.IN_REVIEW, LoanStatus.APPROVED)
        )
        .exclude(pk=loan.pk)
        .exists()
    )
    if (
        duplicate
        or Loan.objects.filter(
            borrower=borrower, product=loan.product, status=LoanStatus.SUBMITTED, pk__lt=loan.pk
        ).exists()
    ):
        hits.append(("open_application", "The applicant already has an open application for this product."))
    since = timezone.now() - timedelta(hours=24)
    recent = Loan.objects.filter(submitted_at__gte=since).exclude(pk=loan.pk)
    checks = [("ID number", recent.filter(borrower=borrower)),
              ("phone", recent.filter(borrower__phone_hash=borrower.phone_hash))]  # fmt: skip
    if loan.device_id:
        checks.append(("device", recent.filter(device_id=loan.device_id)))
    for label, queryset in checks:
        count = queryset.count()
        if count >= policy.max_applications_24h:
            hits.append(("velocity", f"{count + 1} applications from the same {label} within 24 hours."))
    try:
        product_check_application(loan.product, amount=loan.amount, term_months=loan.term_months, method=loan.method)
    except InvalidInput as e:
        hits.append(("product_limits", e.message))
    if raw is not None:
        income = raw["monthly_income"]
        dti = (raw["monthly_obligations"] + raw["new_monthly_payment"]) / income if income > 0 else math.inf
        if dti > float(policy.max_debt_to_income):
            hits.append(
                ("debt_to_income", f"Debt-to-income {dti:.0%} is above the cap of {policy.max_debt_to_income:.0%}.")
            )
    return hits


def qc_draw(loan_id: int) -> float:
    """A reproducible draw in [0, 1) for the quality-control sample: anyone can recompute it."""
    digest = hashlib.sha256(f"{settings.QC_SAMPLE_SEED}:{loan_id}".encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


@transaction.atomic
def application_decide(*, loan_id: int) -> Decision | None:
    """Decide a submitted application once: hard rules, score, cut-offs, QC sample (safe to run twice)."""
    loan = _lock(loan_id)
    if loan.status != LoanStatus.SUBMITTED or Decision.objects.filter(loan=loan).exists():
        return None
    policy = _policy(loan)
    try:
        raw = selectors.application_raw(loan)
    except (TypeError, ValueError):
        raw = None
    hits = hard_rules(loan, policy, raw)
    for rule, reason in hits:
        RuleHit.objects.create(loan=loan, rule=rule, reason=reason)
    if hits:
        loan_reject(loan_id=loan.pk, by=None, reason="policy", note="; ".join(reason for _, reason in hits))
        loan.refresh_from_db()
        return Decision.objects.create(loan=loan, outcome=DecisionOutcome.DECLINE, reason=hits[0][1])
    whitelisted = _listed(ListKind.WHITELIST, loan)
    model = selectors.active_model_for(loan.product.kind)
    if model is None:
        return _refer(loan, "No credit model is active: referred for manual review.", whitelisted=whitelisted)
    try:
        score = application_score(loan=loan, stage=ScoreStage.SUBMISSION, model=model)
    except features.FeatureError as e:
        return _refer(loan, f"Not scored: {e} Referred for manual review.", whitelisted=whitelisted)
    if score.points < policy.decline_below_points:
        reason = f"Score {score.points} is below the product's cut-off of {policy.decline_below_points}."
        loan_reject(loan_id=loan.pk, by=None, reason="score", note=reason)
        loan.refresh_from_db()
        return Decision.objects.create(loan=loan, outcome=DecisionOutcome.DECLINE, reason=reason, score=score)
    if score.points < policy.approve_min_points and not whitelisted:
        return _refer(
            loan, f"Score {score.points} is between the cut-offs ({policy.decline_below_points}–"
            f"{policy.approve_min_points - 1}): manual review.", score=score,
        )  # fmt: skip
    draw = qc_draw(loan.pk)
    if not whitelisted and draw < float(policy.qc_sample_rate):
        return _refer(
            loan, f"Quality-control sample (draw {draw:.4f} < rate {policy.qc_sample_rate}).", score=score, draw=draw,
            sampled=True,
        )  # fmt: skip
    reason = "Whitelisted applicant within policy." if whitelisted else f"Score {score.points} meets the cut-off."
    loan.auto_approve(description=reason)
    loan.decided_at, loan.decision_reason = timezone.now(), "auto_approved"
    loan.save()
    return Decision.objects.create(
        loan=loan, outcome=DecisionOutcome.APPROVE, reason=reason, score=score, is_whitelisted=whitelisted,
        qc_draw=None if whitelisted else draw,
    )  # fmt: skip


def _refer(loan, reason, *, score=None, whitelisted=False, draw=None, sampled=False) -> Decision:
    loan.refer(description=reason)
    loan.decided_at, loan.decision_reason = timezone.now(), "qc_sample" if sampled else "referred"
    loan.save()
    return Decision.objects.create(
        loan=loan, outcome=DecisionOutcome.REFER, reason=reason, score=score, is_whitelisted=whitelisted,
        qc_draw=draw, is_qc_sample=sampled,
    )  # fmt: skip


def approval_score(*, loan: Loan, approval) -> CreditScore | None:
    """Re-score at approval (whoever approves); None when no model is active or data are missing."""
    try:
        score = application_score(loan=loan, stage=ScoreStage.APPROVAL)
    except features.FeatureError:
        return None
    if score is not None:
        score.approval = approval
        score.save(update_fields=["approval"])
        previous = loan.scores.exclude(pk=score.pk).first()
        change = "" if previous is None else f" (was {previous.points} at {previous.get_stage_display().lower()})"
        audit(target=loan, action="scored_at_approval", actor=approval.approver,
              message=f"Score {score.points} ({score.grade}){change}.", score_id=score.pk)  # fmt: skip
    return score


# ---------------------------------------------------------------------------------------------
# Credit limits
# ---------------------------------------------------------------------------------------------

GRADE_INCOME_MULTIPLE = {"A": 6, "B": 5, "C": 4, "D": 2, "E": 0}
GRADE_SHARE = {
    "A": Decimal("1.00"),
    "B": Decimal("0.90"),
    "C": Decimal("0.75"),
    "D": Decimal("0.50"),
    "E": Decimal("0"),
}
STUDENT_CEILING = {"undergraduate": Decimal("8000"), "master": Decimal("15000"), "doctorate": Decimal("20000")}
KEY_UNIVERSITY_FACTOR = Decimal("1.5")
SMALL_BUSINESS_CEILING = Decimal("500000")


def _hundreds(amount: Decimal) -> Decimal:
    return ((amount / 100).quantize(Decimal("1"), rounding=ROUND_DOWN) * 100).quantize(Decimal("0.01"))


def credit_limit_for(*, borrower, product, grade: str) -> Decimal:
    """The initial limit for a borrower on a product, from the score grade and income or business."""
    if product.kind == ProductKind.STUDENT:
        ceiling = STUDENT_CEILING.get(borrower.degree_level, STUDENT_CEILING["undergraduate"])
        if borrower.is_key_university:
            ceiling *= KEY_UNIVERSITY_FACTOR
        limit = ceiling * GRADE_SHARE[grade]
    elif product.kind == ProductKind.SMALL_BUSINESS:
        revenue = borrower.annual_revenue or Decimal(0)
        inflow = borrower.monthly_bank_inflow or Decimal(0)
        limit = min(SMALL_BUSINESS_CEILING, revenue * Decimal("0.2"), inflow * 3) * GRADE_SHARE[grade]
    else:
        limit = borrower.monthly_income * GRADE_INCOME_MULTIPLE[grade]
    limit = min(_hundreds(limit), product.amount_max)
    return limit if limit >= product.amount_min else Decimal("0.00")


def _has_bad_record(borrower_id: int, months: int) -> bool:
    from django_fsm_log.models import StateLog

    since = timezone.now() - timedelta(days=30 * months)
    loans = Loan.objects.filter(borrower_id=borrower_id)
    if loans.filter(status__in=(LoanStatus.OVERDUE, LoanStatus.WRITTEN_OFF)).exists():
        return True
    ids = list(loans.values_list("pk", flat=True))
    return StateLog.objects.filter(
        content_type__app_label="loans", content_type__model="loan", object_id__in=ids,
        transition="mark_overdue", timestamp__gte=since,
    ).exists()  # fmt: skip


def increase_share(score_100: int) -> Decimal:
    """30% at the threshold rising to 50% at 100 (the business team's 30%–50%)."""
    threshold = settings.LIMIT_INCREASE_MIN_SCORE
    span = max(100 - threshold, 1)
    return (Decimal("0.30") + Decimal("0.20") * Decimal(score_100 - threshold) / span).quantize(Decimal("0.0001"))


@transaction.atomic
def credit_line_review(*, credit_line_id: int, by=None) -> CreditLimitChange | None:
    """Raise a line by 30–50% when its borrower scores at or above the threshold with a clean record.

    Safe to run twice: a line raised within the last 30 days is left alone. Every change is
    recorded with before and after.
    """
    line = CreditLine.objects.select_for_update().select_related("product", "borrower").get(pk=credit_line_id)
    if (
        line.status != "active"
        or line.limit_changes.filter(created_at__gte=timezone.now() - timedelta(days=30)).exists()
    ):
        return None
    if _has_bad_record(line.borrower_id, settings.LIMIT_INCREASE_CLEAN_MONTHS):
        return None
    model = selectors.active_model_for(line.product.kind)
    draw = line.draws.order_by("-pk").first()
    if model is None or draw is None:
        return None
    raw = selectors.application_raw(draw)
    try:
        result = score_raw(model, raw)
    except features.FeatureError:
        return None
    score = CreditScore.objects.create(credit_line=line, model=model, stage=ScoreStage.REVIEW, raw_values=raw,
                                       **_stored(result))  # fmt: skip
    on_scale = scorecard.score_100(score.points)
    if on_scale < settings.LIMIT_INCREASE_MIN_SCORE:
        return None
    share = increase_share(on_scale)
    after = min(_hundreds(line.limit * (1 + share)), line.product.amount_max)
    if after <= line.limit:
        return None
    change = CreditLimitChange.objects.create(
        credit_line=line, before=line.limit, after=after, score=score, changed_by=by,
        reason=f"Score {on_scale}/100 with no bad record in {settings.LIMIT_INCREASE_CLEAN_MONTHS} months: +{share:.0%}.",
    )  # fmt: skip
    with history_context(user=by.pk if by is not None else None):
        line.limit = after
        line.save(update_fields=["limit", "updated_at"])
    audit(target=line, action="credit_limit_raised", actor=by,
          message=f"{format_cny(change.before)} → {format_cny(change.after)}", before=str(change.before),
          after=str(change.after))  # fmt: skip
    return change


def credit_line_review_ids() -> list[int]:
    return list(CreditLine.objects.filter(status="active").order_by("pk").values_list("pk", flat=True))


@transaction.atomic
def credit_line_open_scored(*, loan_id: int, by=None) -> CreditLine:
    """Open a revolving line for an application's borrower with the initial limit its score earns.

    Raises InvalidInput when the application has no score or its grade earns no line.
    """
    from loans.services import credit_line_open

    loan = Loan.objects.select_related("borrower", "product").get(pk=loan_id)
    score = loan.scores.order_by("-created_at", "-pk").first()
    if score is None:
        raise InvalidInput("The application has no credit score: a line's limit is set from it.", field="loan")
    limit = credit_limit_for(borrower=loan.borrower, product=loan.product, grade=score.grade)
    if limit <= 0:
        raise InvalidInput(f"Grade {score.grade} earns no credit line on {loan.product.name}.", field="loan")
    line = credit_line_open(borrower_id=loan.borrower_id, product_id=loan.product_id, limit=limit, by=by)
    CreditLimitChange.objects.create(credit_line=line, before=Decimal("0.00"), after=limit, score=score, changed_by=by,
                                     reason=f"Initial limit from grade {score.grade} and income.")  # fmt: skip
    return line
