from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from lender.errors import AuthorityError, InvalidInput
from loans import services
from loans.management.commands.seed_demo import PNG
from loans.models import LoanDocument, LoanStatus
from tests.loans.factories import BorrowerFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def application():
    product = ProductFactory(required_documents=["id_card", "income_proof"])
    loan = services.loan_submit(
        borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("10000.00"), term_months=12,
        method="equal_installment", decide=False,
    )  # fmt: skip
    return services.loan_refer(loan_id=loan.pk)


def upload(loan, kind, data=PNG, name="scan.png", by=None):
    return services.document_upload(loan_id=loan.pk, kind=kind, upload=ContentFile(data, name=name), by=by)


def test_approval_is_blocked_until_every_required_document_is_verified(application, officer):
    with pytest.raises(InvalidInput, match="Resident ID card, Proof of income") as excinfo:
        services.loan_approve(loan_id=application.pk, by=officer)
    assert excinfo.value.extra["field"] == "documents"
    id_card = upload(application, "id_card", by=officer)
    services.document_verify(document_id=id_card.pk, by=officer)
    upload(application, "income_proof", data=b"%PDF-1.4 payslip", name="payslip.pdf", by=officer)
    with pytest.raises(InvalidInput, match="Proof of income"):
        services.loan_approve(loan_id=application.pk, by=officer)
    proof = LoanDocument.objects.get(kind="income_proof")
    assert proof.content_type == "application/pdf" and not proof.is_verified
    services.document_verify(document_id=proof.pk, by=officer)
    assert services.loan_approve(loan_id=application.pk, by=officer).status == LoanStatus.APPROVED


@pytest.mark.parametrize(
    "data, name, message",
    [(b"MZ\x90\x00 not a scan", "virus.pdf", "PDF, PNG or JPEG"), (b"", "empty.png", "Choose a file")],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(application, officer, data, name, message):
    with pytest.raises(InvalidInput, match=message):
        upload(application, "id_card", data=data, name=name, by=officer)
    assert not LoanDocument.objects.exists()


def test_unknown_kind_and_unauthorised_users_are_refused(application, officer, make_staff):
    with pytest.raises(InvalidInput):
        upload(application, "passport", by=officer)
    with pytest.raises(AuthorityError):
        upload(application, "id_card", by=make_staff("collector"))
    assert not LoanDocument.objects.exists()
