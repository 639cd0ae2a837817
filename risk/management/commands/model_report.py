"""Monitor the active model: AUC and KS on matured loans, PSI of the score and of each feature."""

from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import F, Min
from django.utils import timezone

from loans.models import Installment, LoanStatus
from loans.schedules import add_months
from risk import monitoring, training
from risk.models import CreditScore, ScoreStage, ScoringModel


class Command(BaseCommand):
    help = "AUC/KS on matured loans and population stability (PSI) of the score and features."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="a model version (default: the active model for all kinds)")
        parser.add_argument("--days", type=int, default=90, help="recent applications: the last N days")

    def handle(self, *args, model=None, days=90, **options):
        if days < 1:
            raise CommandError("--days must be at least 1", returncode=2)
        query = ScoringModel.objects.filter(version=model) if model else ScoringModel.objects.filter(is_active=True)
        scoring_model = query.order_by("product_kind").first()
        if scoring_model is None:
            raise CommandError(f"no model {model or '(active)'} in the registry", returncode=2)
        self.stdout.write(f"model {scoring_model.version} (trained AUC {scoring_model.metrics.get('auc', 0):.4f})")
        self._performance(scoring_model)
        self._stability(scoring_model, days)

    def _performance(self, model):
        today = timezone.localdate()
        window = settings.MONITORING_WINDOW_MONTHS
        scores = (
            CreditScore.objects.filter(model=model, stage=ScoreStage.SUBMISSION, loan__disbursed_on__isnull=False)
            .select_related("loan")
            .order_by("loan_id", "-created_at")
            .distinct("loan_id")
        )
        probabilities, outcomes = [], []
        for score in scores:
            loan = score.loan
            matured_on = add_months(loan.disbursed_on, window)
            if matured_on > today and loan.status != LoanStatus.WRITTEN_OFF:
                continue
            oldest_unpaid = (
                Installment.objects.filter(loan=loan, due_date__lte=matured_on)
                .exclude(principal_paid=F("principal_due"), interest_paid=F("interest_due"))
                .aggregate(d=Min("due_date"))["d"]
            )
            bad = loan.status == LoanStatus.WRITTEN_OFF or (
                oldest_unpaid is not None
                and (min(today, matured_on) - oldest_unpaid).days >= settings.MONITORING_BAD_DAYS
            )
            probabilities.append(score.probability)
            outcomes.append(int(bad))
        if len(set(outcomes)) < 2:
            self.stdout.write(
                f"performance: {len(outcomes)} matured loans (window {window} months); both good and bad loans are "
                "needed for AUC and KS"
            )
            return
        metrics = training.evaluate(np.array(outcomes), np.array(probabilities))
        self.stdout.write(
            f"performance on {len(outcomes)} matured loans (bad = {settings.MONITORING_BAD_DAYS}+ days past due within "
            f"{window} months): AUC {metrics['auc']:.4f}, KS {metrics['ks']:.4f}, bad rate {np.mean(outcomes):.1%}"
        )

    def _stability(self, model, days):
        since = timezone.now() - timedelta(days=days)
        recent = list(
            CreditScore.objects.filter(model=model, stage=ScoreStage.SUBMISSION, created_at__gte=since).values_list(
                "probability", "feature_values"
            )
        )
        if not recent:
            self.stdout.write(f"stability: no applications scored by this model in the last {days} days")
            return
        baseline = model.baseline
        edges = baseline["probabilities"]
        expected = monitoring.shares_by_edges(baseline["score_sample"], edges)
        actual = monitoring.shares_by_edges([p for p, _ in recent], edges)
        value = monitoring.psi(expected, actual)
        self.stdout.write(f"PSI score: {value:.4f} {monitoring.flag(value)} ({len(recent)} recent applications)")
        for index, name in enumerate(model.feature_spec["names"]):
            base = baseline["features"][name]
            column = [row[index] for _, row in recent]
            if base["kind"] == "c":
                expected = base["shares"] + [base["missing"]]
                actual = monitoring.shares_by_category(column, base["categories"])
            else:
                expected = monitoring.shares_by_edges(base["sample"], base["edges"])
                actual = monitoring.shares_by_edges(column, base["edges"])
            value = monitoring.psi(expected, actual)
            self.stdout.write(f"PSI {name}: {value:.4f} {monitoring.flag(value)}")
