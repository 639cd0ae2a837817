"""Train a credit model on the synthetic portfolio (default) or on any CSV with a binary target."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from loans.models import ProductKind
from risk import features, services, synthetic, training
from risk.models import ScoringModel


def _monotone(pairs: list[str]) -> dict[str, int]:
    result = {}
    for pair in pairs:
        name, _, sign = pair.partition("=")
        if sign not in ("+1", "1", "-1", "0"):
            raise CommandError(f"--monotone takes COLUMN=+1, COLUMN=-1 or COLUMN=0, not {pair!r}", returncode=2)
        result[name] = int(sign)
    return result


class Command(BaseCommand):
    help = "Train, evaluate and register an XGBoost credit model."

    def add_arguments(self, parser):
        parser.add_argument("--csv", help="train on this CSV instead of the synthetic portfolio")
        parser.add_argument("--target", help="the CSV's binary target column")
        parser.add_argument("--positive", help="the target value that means a bad outcome (default)")
        parser.add_argument("--rows", type=int, default=20000, help="synthetic rows (default 20000)")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--cv", type=int, default=0, help="also report K-fold cross-validated metrics")
        parser.add_argument("--report", help="write a JSON report to this path")
        parser.add_argument("--activate", action="store_true", help="make it the active model (CSV models)")
        parser.add_argument("--product-kind", default="", choices=["", *ProductKind.values])
        parser.add_argument("--monotone", action="append", default=[], help="COLUMN=+1|-1|0, repeatable")
        parser.add_argument("--if-no-active", action="store_true", help="do nothing when a model is already active")

    def handle(self, *args, **o):
        if o["if_no_active"] and ScoringModel.objects.filter(is_active=True, product_kind=o["product_kind"]).exists():
            self.stdout.write("an active model exists; nothing trained")
            return
        monotone = _monotone(o["monotone"])
        progress = self.stdout.write if sys.stdout.isatty() or o["verbosity"] > 1 else None
        try:
            if o["csv"]:
                if not o["target"] or o["positive"] is None:
                    raise CommandError("--csv needs --target COLUMN and --positive VALUE", returncode=2)
                dataset = training.dataset_from_csv(
                    o["csv"], target=o["target"], positive=o["positive"], monotone=monotone
                )
                activate = o["activate"]
                if activate and dataset.names != list(features.FEATURE_NAMES):
                    raise CommandError(
                        "--activate: the CSV's columns are not the application features, so the model could not "
                        "score applications; train without --activate to register it for study",
                        returncode=2,
                    )
            else:
                if o["rows"] < 100:
                    raise CommandError("--rows must be at least 100", returncode=2)
                unknown = set(monotone) - set(features.FEATURE_NAMES)
                if unknown:
                    raise CommandError(f"--monotone names unknown features: {', '.join(sorted(unknown))}", returncode=2)
                self.stdout.write(f"generating {o['rows']} synthetic applications (seed {o['seed']})")
                dataset = training.dataset_from_raw(synthetic.generate(o["rows"], seed=o["seed"]), monotone=monotone)
                activate = True
            if o["cv"] == 1 or o["cv"] < 0:
                raise CommandError("--cv needs at least 2 folds", returncode=2)
            result = training.train(dataset, seed=o["seed"], cv=o["cv"], progress=progress)
        except training.DataError as e:
            raise CommandError(str(e), returncode=2) from None
        model = services.model_register(
            result=result, dataset=dataset, product_kind=o["product_kind"], activate=activate
        )
        report = {
            "model_version": model.version,
            "is_active": model.is_active,
            "file_sha256": model.file_sha256,
            "training_fingerprint": model.training_fingerprint,
            **model.metrics,
        }
        self.stdout.write(
            f"model {model.version}: AUC {report['auc']:.4f}, KS {report['ks']:.4f}, Gini {report['gini']:.4f}, "
            f"Brier {report['brier']:.4f} on {len(result.test_scores)} held-out rows "
            f"({report['n_rows']} rows, {report['positive_rate']:.1%} positive); "
            + ("active" if model.is_active else "registered, not active")
        )
        if o["cv"]:
            self.stdout.write(f"{o['cv']}-fold CV: AUC {report['cv_auc_mean']:.4f} ± {report['cv_auc_std']:.4f}")
        if o["report"]:
            with open(o["report"], "w") as handle:
                json.dump(report, handle, indent=2)
