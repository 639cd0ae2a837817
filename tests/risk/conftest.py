from decimal import Decimal

import pytest

from risk import services, synthetic, training


@pytest.fixture(scope="session")
def trained():
    """One small model for the whole session (3,000 synthetic rows)."""
    dataset = training.dataset_from_raw(synthetic.generate(3000, seed=5))
    return dataset, training.train(dataset, seed=5, rounds=200)


@pytest.fixture
def active_model(db, trained, settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    dataset, result = trained
    return services.model_register(result=result, dataset=dataset, activate=True)


@pytest.fixture
def policy(db):
    from risk.models import ProductPolicy

    def make(product, **fields):
        values = dict(approve_min_points=0, decline_below_points=0, qc_sample_rate=Decimal("0"))
        values.update(fields)
        return ProductPolicy.objects.update_or_create(product=product, defaults=values)[0]

    return make
