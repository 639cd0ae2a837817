import http.server
import json
import threading
from datetime import date
from decimal import Decimal

import pytest

from lender import roles
from loans import services
from tests.loans.factories import BorrowerFactory, ProductFactory


@pytest.fixture
def collectors(make_staff):
    return {
        "collector": make_staff(roles.COLLECTOR),
        "manager": make_staff(roles.COLLECTIONS_MANAGER),
    }


@pytest.fixture
def disbursed(db, credit_manager):
    """A 12,000.00 loan at 12% over 12 months, disbursed on `on` (penalty 18%, 3 grace days by default)."""

    def make(on=date(2026, 1, 15), amount="12000.00", grace_days=3, **fields):
        product = ProductFactory(grace_days=grace_days, **fields)
        loan = services.loan_submit(
            borrower_id=BorrowerFactory().pk, product_id=product.pk, amount=Decimal(amount), term_months=12,
            method="equal_installment", decide=False,
        )  # fmt: skip
        services.loan_refer(loan_id=loan.pk)
        services.loan_approve(loan_id=loan.pk, by=credit_manager)
        return services.loan_disburse(loan_id=loan.pk, by=credit_manager, on=on)

    return make


class Gateway(http.server.BaseHTTPRequestHandler):
    """A local SMS gateway: fails the first `failures` requests with 503, then accepts."""

    failures = 0
    received: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Gateway.received.append((body, self.headers["Idempotency-Key"], self.headers["Authorization"]))
        status = 503 if len(Gateway.received) <= Gateway.failures else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    Gateway.received, Gateway.failures = [], 0
    server = http.server.HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.REMINDER_CHANNEL = "sms"
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.SMS_GATEWAY_KEY = "test-key"
    yield Gateway
    server.shutdown()
