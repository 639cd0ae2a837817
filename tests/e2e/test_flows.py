"""What officers, collectors and managers do all day, in a real browser."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from collection import sweep
from collection.models import CollectionCase, PromiseToPay
from lender import roles
from lender.services import staff_user_create
from loans import services
from loans.management.commands.seed_demo import PNG
from loans.models import Loan, LoanStatus
from risk import services as risk_services
from risk import synthetic, training
from risk.models import ProductPolicy
from tests.e2e.conftest import PASSWORD, sign_in
from tests.loans.factories import BorrowerFactory, ProductFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module")
def small_model():
    dataset = training.dataset_from_raw(synthetic.generate(2000, seed=8))
    return dataset, training.train(dataset, seed=8, rounds=80)


@pytest.fixture
def staff():
    def make(username, role, limit="0.00"):
        return staff_user_create(username=username, password=PASSWORD, roles=[role], approval_limit=Decimal(limit))

    return make


@pytest.fixture
def referred_application(small_model, settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    dataset, result = small_model
    risk_services.model_register(result=result, dataset=dataset, activate=True)

    def make(amount, officer):
        product = ProductFactory(required_documents=["id_card"], amount_max=Decimal("300000.00"))
        ProductPolicy.objects.create(product=product, approve_min_points=999, decline_below_points=0)
        loan = services.loan_submit(
            borrower_id=BorrowerFactory(monthly_income=Decimal("30000.00")).pk, product_id=product.pk,
            amount=Decimal(amount), term_months=12, method="equal_installment", decide=False,
        )  # fmt: skip
        decision = risk_services.application_decide(loan_id=loan.pk)
        assert decision.outcome == "refer" and decision.score is not None
        document = services.document_upload(loan_id=loan.pk, kind="id_card", upload=ContentFile(PNG, name="id.png"),
                                            by=officer)  # fmt: skip
        services.document_verify(document_id=document.pk, by=officer)
        return loan

    return make


def test_officer_claims_and_approves_and_sees_the_score_explanation(
    page, live_server, staff, referred_application, shot
):
    officer = staff("olivia", roles.LOAN_OFFICER, "50000.00")
    loan = referred_application("30000.00", officer)
    sign_in(page, live_server, "olivia")
    assert "Review queue" in page.inner_text("h1")
    row = page.locator("#review-table tr", has_text=loan.reference)
    row.get_by_role("button", name="Claim").click()
    page.wait_for_load_state("networkidle")
    assert "yours to review" in page.inner_text("#messages")
    shot(page, "review-queue")
    page.click(f"text={loan.reference}")
    page.wait_for_selector("#reasons-chart")
    page.wait_for_function("document.getElementById('reasons-chart').width > 0")
    assert page.locator("#reasons li").count() >= 1
    assert page.inner_text("#grade") in "ABCDE"
    shot(page, "application")
    page.fill("#approve-form textarea[name=note]", "Stable salary, low debt.")
    page.click("#approve-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"{loan.reference} is approved." in page.inner_text("#messages")
    assert Loan.objects.get(pk=loan.pk).status == LoanStatus.APPROVED
    assert loan.scores.filter(stage="approval").exists()  # re-scored on approval


def test_above_the_limit_a_credit_manager_countersigns(page, live_server, staff, referred_application, shot):
    officer = staff("oscar", roles.LOAN_OFFICER, "50000.00")
    staff("carla", roles.CREDIT_MANAGER, "500000.00")
    loan = referred_application("80000.00", officer)
    sign_in(page, live_server, "oscar")
    page.goto(f"{live_server.url}/applications/{loan.pk}/")
    assert "Above your approval limit" in page.inner_text("#countersign-needed")
    page.fill("#propose-form textarea[name=note]", "Good file; above my limit.")
    page.click("#propose-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Sent for countersign" in page.inner_text("#messages")
    page.click("text=Log out")
    sign_in(page, live_server, "carla")
    page.goto(f"{live_server.url}/countersign/")
    shot(page, "countersign-queue")
    page.click(f"text={loan.reference}")
    page.click("#approve-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"{loan.reference} is approved." in page.inner_text("#messages")
    assert [a.kind for a in Loan.objects.get(pk=loan.pk).approvals.all()] == ["proposal", "countersign"]


def test_collector_logs_a_contact_and_a_promise_from_the_worklist(page, live_server, staff, shot):
    collector = staff("cathy", roles.COLLECTOR)
    manager = staff("cm", roles.CREDIT_MANAGER, "500000.00")
    product = ProductFactory(grace_days=0)
    loan = services.loan_submit(
        borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("12000.00"), term_months=12,
        method="equal_installment", decide=False,
    )  # fmt: skip
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=manager)
    services.loan_disburse(loan_id=loan.pk, by=manager, on=date(2026, 1, 15))
    sweep.sweep_run(business_date=date(2026, 2, 25))
    case = CollectionCase.objects.get(loan=loan)
    assert case.assigned_to == collector
    sign_in(page, live_server, "cathy")
    assert "My worklist" in page.inner_text("h1")
    page.click(f"#worklist-table >> text={loan.reference}")
    page.wait_for_selector("#contact-form")
    address = page.url
    page.select_option("#contact-form select[name=outcome]", "promise_to_pay")
    page.fill("#contact-form input[name=promise_amount]", "500.00")
    page.fill("#contact-form input[name=promise_date]", (date.today() + timedelta(days=3)).isoformat())
    page.fill("#contact-form textarea[name=note]", "Will pay on Friday after salary.")
    page.click("#contact-form button[type=submit]")
    page.wait_for_function("document.querySelector('#promises').innerText.includes('500.00')")
    assert page.url == address  # logged inline, without leaving the worklist
    assert "Will pay on Friday" in page.inner_text("#contacts")
    shot(page, "worklist")
    assert PromiseToPay.objects.get(case=case).amount == Decimal("500.00")


def test_manager_opens_the_dashboard_and_the_charts_render(page, live_server, staff, shot):
    staff("mira", roles.COLLECTIONS_MANAGER)
    manager = staff("cm2", roles.CREDIT_MANAGER, "500000.00")
    product = ProductFactory()
    loan = services.loan_submit(
        borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("9000.00"), term_months=9,
        method="equal_installment", decide=False,
    )  # fmt: skip
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=manager)
    services.loan_disburse(loan_id=loan.pk, by=manager, on=date(2026, 1, 15))
    sign_in(page, live_server, "mira")
    page.goto(f"{live_server.url}/portfolio/")
    page.wait_for_function("window.portfolioCharts && window.portfolioCharts.length === 4")
    for canvas in ("funnel-chart", "bucket-chart", "vintage-chart", "roll-chart"):
        assert page.evaluate(f"document.getElementById('{canvas}').width") > 0
    assert "¥9,000.00" in page.inner_text("#outstanding")
    shot(page, "portfolio")
    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename.startswith("portfolio-")
