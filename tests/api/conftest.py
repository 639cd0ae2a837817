import http.server
import threading
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from loans import services
from loans.models import Partner
from loans.services import partners
from tests.loans.factories import BorrowerFactory, ProductFactory


@pytest.fixture
def partner(db):
    return Partner.objects.create(code="acme", name="Acme Pay")


@pytest.fixture
def api(partner):
    """An API client with a key that has every scope."""
    _, raw = partners.partner_key_create(partner_id=partner.pk, scopes=["quote", "apply", "read", "repay"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def product(db):
    return ProductFactory(code="cash-12", fee_kind="percent", fee_value=Decimal("1.00"))


@pytest.fixture
def partner_loan(partner, product, credit_manager):
    """An active loan that came through the partner."""
    loan = services.loan_submit(
        borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal("12000.00"), term_months=12,
        method="equal_installment", decide=False, partner_id=partner.pk,
    )  # fmt: skip
    services.loan_refer(loan_id=loan.pk)
    services.loan_approve(loan_id=loan.pk, by=credit_manager)
    return services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=date(2026, 1, 15))


class Receiver(http.server.BaseHTTPRequestHandler):
    failures = 0
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(500 if len(Receiver.received) <= Receiver.failures else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.failures = [], 0
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Receiver, f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
