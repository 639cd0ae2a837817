from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from collection import sweep
from collection.models import CollectionCase
from lender import roles
from loans import services
from loans.management.commands.seed_demo import PNG
from tests.loans.factories import BorrowerFactory, ProductFactory

D = Decimal


@pytest.fixture
def people(make_staff):
    return {
        "officer": make_staff(roles.LOAN_OFFICER, "50000.00"),
        "credit_manager": make_staff(roles.CREDIT_MANAGER, "500000.00"),
        "collector": make_staff(roles.COLLECTOR),
        "collections_manager": make_staff(roles.COLLECTIONS_MANAGER),
        "product_admin": make_staff(roles.PRODUCT_ADMIN, is_staff=True),
    }


def make_application(product, amount="30000.00", by=None):
    loan = services.loan_submit(
        borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=D(amount), term_months=12,
        method="equal_installment", decide=False,
    )  # fmt: skip
    return services.loan_refer(loan_id=loan.pk)


def verify_documents(loan, by):
    for kind in loan.product.required_documents:
        document = services.document_upload(loan_id=loan.pk, kind=kind, upload=ContentFile(PNG, name="x.png"), by=by)
        services.document_verify(document_id=document.pk, by=by)


@pytest.fixture
def world(people):
    """An application in review, an approved loan, an active loan and an overdue loan with a case."""
    product = ProductFactory(required_documents=["id_card"])
    application = make_application(product)
    verify_documents(application, people["officer"])
    approved = make_application(product, "12000.00")
    verify_documents(approved, people["officer"])
    services.loan_approve(loan_id=approved.pk, by=people["credit_manager"])
    active = make_application(product, "12000.00")
    verify_documents(active, people["officer"])
    services.loan_approve(loan_id=active.pk, by=people["credit_manager"])
    services.loan_disburse(loan_id=active.pk, by=people["credit_manager"], on=date(2026, 1, 15))
    sweep.sweep_run(business_date=date(2026, 2, 15) + timedelta(days=20))
    case = CollectionCase.objects.get(loan=active)
    return {
        "application": application,
        "approved": approved,
        "active": active,
        "case": case,
        "document": application.documents.first(),
        **people,
    }
