import random
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from loans import demo, services
from loans.models import Borrower, BorrowerKind, LoanProduct

_rng = random.Random(7)


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = LoanProduct
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Test product {n}")
    kind = "consumer_installment"
    amount_min = Decimal("1000.00")
    amount_max = Decimal("100000.00")
    term_min_months = 3
    term_max_months = 36
    allowed_methods = factory.LazyFunction(lambda: ["equal_installment", "equal_principal", "interest_first"])
    annual_rate = Decimal("0.120000")
    grace_days = 3
    senior_approval_threshold = Decimal("200000.00")


class BorrowerFactory(DjangoModelFactory):
    """Borrowers are created through the service, so identity is validated and indexed as in production."""

    class Meta:
        model = Borrower
        skip_postgeneration_save = True

    kind = BorrowerKind.INDIVIDUAL
    full_name = factory.Sequence(lambda n: f"Borrower {n}")
    id_number = factory.LazyFunction(lambda: demo.resident_id(_rng))
    phone = factory.LazyFunction(lambda: demo.mobile(_rng))
    monthly_income = Decimal("12000.00")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.borrower_create(by=None, **kwargs)
