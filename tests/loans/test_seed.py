import pytest
from django.core.management import call_command

from loans.models import Borrower, Loan, LoanApproval, LoanProduct, LoanStatus


@pytest.mark.django_db
def test_demo_seed_is_deterministic_and_idempotent():
    call_command("seed_demo", "--quiet")
    counts = (LoanProduct.objects.count(), Borrower.objects.count(), Loan.objects.count())
    statuses = dict(Loan.objects.values_list("reference", "status"))
    assert counts == (4, 200, 200)
    pre_disbursement = {S for S in LoanStatus.values if S not in ("active", "overdue", "closed", "written_off")}
    assert set(statuses.values()) == pre_disbursement
    assert LoanApproval.objects.filter(is_open=True).exists()  # some wait for a countersign
    call_command("seed_demo", "--quiet")
    assert (LoanProduct.objects.count(), Borrower.objects.count(), Loan.objects.count()) == counts
    assert dict(Loan.objects.values_list("reference", "status")) == statuses
