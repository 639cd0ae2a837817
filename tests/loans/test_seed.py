import pytest
from django.core.management import call_command

from loans.models import Borrower, CreditLine, Loan, LoanApproval, LoanProduct, LoanStatus, Repayment


@pytest.mark.django_db
def test_demo_seed_is_deterministic_and_idempotent():
    call_command("seed_demo", "--quiet")
    counts = (LoanProduct.objects.count(), Borrower.objects.count(), Loan.objects.count())
    statuses = dict(Loan.objects.values_list("reference", "status"))
    assert counts[:2] == (4, 200) and counts[2] > 200
    assert set(statuses.values()) == set(LoanStatus.values)  # every state of the lifecycle
    assert LoanApproval.objects.filter(is_open=True).exists()  # some wait for a countersign
    kinds = set(Repayment.objects.values_list("kind", "status"))
    assert {("regular", "posted"), ("prepayment", "posted"), ("settlement", "posted"), ("regular", "reversed")} <= kinds
    assert CreditLine.objects.filter(used__gt=0).exists()
    call_command("seed_demo", "--quiet")
    assert (LoanProduct.objects.count(), Borrower.objects.count(), Loan.objects.count()) == counts
    assert dict(Loan.objects.values_list("reference", "status")) == statuses
