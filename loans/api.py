"""The public REST API for partner channels (/api/v1/): quotes, applications, loans, repayments, webhooks."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import redis
from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, permissions, serializers, status, throttling
from rest_framework.response import Response
from rest_framework.views import APIView

from lender.db import fetch_one
from lender.errors import InvalidInput
from lender.history import history_context
from lender.money import FEN, RATE_QUANTUM
from loans import allocation, services
from loans.models import BorrowerKind, Loan, LoanProduct, RepaymentMethod, rate_limit_parse
from loans.services import partners

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Authentication, scopes, throttling, call log
# ---------------------------------------------------------------------------------------------


class PartnerPrincipal:
    """The authenticated caller: a partner's API key (not a staff user)."""

    is_authenticated = True
    is_active = True
    is_staff = False
    pk = None

    def __init__(self, key):
        self.key, self.partner = key, key.partner

    def has_perm(self, perm, obj=None):
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer lk_...` (or `X-API-Key: lk_...`)."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        raw = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Key", "")
        if not raw:
            return None
        key = partners.partner_key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        return PartnerPrincipal(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "loans.api.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A partner API key: `lk_<prefix>_<secret>`."}


class HasScope(permissions.BasePermission):
    message = "This API key does not have the scope this call needs."

    def has_permission(self, request, view):
        principal = request.user
        return isinstance(principal, PartnerPrincipal) and view.scope in principal.key.scopes


class PerKeyThrottle(throttling.BaseThrottle):
    """Throttled per API key at the partner's rate (429 with Retry-After).

    A fixed window counted in Redis with INCR (atomic across workers and machines, one round trip,
    constant size), instead of DRF's cached list of timestamps that every call reads and rewrites.
    If Redis cannot be reached the call is let through and the failure logged: a partner's
    repayment matters more than its rate limit.
    """

    def allow_request(self, request, view):
        principal = request.user
        if not isinstance(principal, PartnerPrincipal):
            return True
        limit, seconds = rate_limit_parse(principal.partner.rate_limit)
        now = time.time()
        window = int(now // seconds)
        counter = f"lender:throttle:{principal.key.prefix}:{seconds}:{window}"
        try:
            pipe = _throttle_redis().pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, seconds + 1)
            count = pipe.execute()[0]
        except redis.RedisError:
            logger.exception("throttle counter unavailable; call allowed")
            return True
        self._wait = (window + 1) * seconds - now
        return count <= limit

    def wait(self):
        return max(1.0, self._wait)


_redis_clients: dict[str, redis.Redis] = {}


def _throttle_redis() -> redis.Redis:
    url = settings.THROTTLE_REDIS_URL
    if url not in _redis_clients:  # one client (and connection pool) per worker process
        _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    return _redis_clients[url]


class ApiCallLogMiddleware:
    """Every API call logged with key, path, status and latency."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/v1/"):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        principal = getattr(request, "api_principal", None)
        partners.api_call_record(
            key=principal.key if principal else None, method=request.method, path=request.path,
            status=response.status_code, latency_ms=(time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return response


class PartnerApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [PerKeyThrottle]
    scope = "read"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request._request.api_principal = request.user  # for the call log
        partners.partner_key_touch(key=request.user.key)

    @property
    def partner(self):
        return self.request.user.partner


# ---------------------------------------------------------------------------------------------
# Serializers
# ---------------------------------------------------------------------------------------------

MONEY = {"max_digits": 14, "decimal_places": 2}


class InstallmentOut(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    principal = serializers.DecimalField(**MONEY)
    interest = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY)


class QuoteIn(serializers.Serializer):
    product = serializers.SlugField(help_text="The product's code.")
    amount = serializers.DecimalField(min_value=Decimal("0.01"), **MONEY)
    term_months = serializers.IntegerField(min_value=1, max_value=600)
    method = serializers.ChoiceField(choices=RepaymentMethod.choices)


class QuoteOut(serializers.Serializer):
    product = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    term_months = serializers.IntegerField()
    method = serializers.CharField()
    fee = serializers.DecimalField(**MONEY)
    net_disbursed = serializers.DecimalField(**MONEY)
    total_interest = serializers.DecimalField(**MONEY)
    total_repayable = serializers.DecimalField(**MONEY)
    apr = serializers.DecimalField(max_digits=9, decimal_places=6, help_text="Annual rate, IRR of the cash flows.")
    schedule = InstallmentOut(many=True)


class BorrowerIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=BorrowerKind.choices)
    full_name = serializers.CharField(max_length=100)
    id_number = serializers.CharField(max_length=18)
    phone = serializers.CharField(max_length=20)
    employment_kind = serializers.CharField(max_length=20, required=False)
    employment_years = serializers.IntegerField(min_value=0, max_value=80, required=False)
    monthly_income = serializers.DecimalField(min_value=Decimal("0"), required=False, **MONEY)
    monthly_obligations = serializers.DecimalField(min_value=Decimal("0"), required=False, **MONEY)
    school = serializers.CharField(max_length=120, required=False)
    is_key_university = serializers.BooleanField(required=False)
    degree_level = serializers.CharField(max_length=20, required=False)
    company_name = serializers.CharField(max_length=200, required=False)
    credit_code = serializers.CharField(max_length=18, required=False)
    business_years = serializers.IntegerField(min_value=0, max_value=200, required=False)
    annual_revenue = serializers.DecimalField(min_value=Decimal("0"), required=False, **MONEY)
    monthly_bank_inflow = serializers.DecimalField(min_value=Decimal("0"), required=False, **MONEY)


class ApplicationIn(QuoteIn):
    borrower = BorrowerIn(required=False, help_text="A new borrower's data...")
    borrower_id_number = serializers.CharField(max_length=18, required=False, help_text="...or an existing borrower.")
    purpose = serializers.CharField(max_length=200, required=False, default="")
    channel = serializers.CharField(max_length=40, required=False, default="partner")
    device_id = serializers.CharField(max_length=64, required=False, default="")

    def validate(self, data):
        if bool(data.get("borrower")) == bool(data.get("borrower_id_number")):
            raise serializers.ValidationError({"borrower": "Give either borrower or borrower_id_number."})
        return data


class DecisionOut(serializers.Serializer):
    outcome = serializers.CharField(allow_null=True)
    score_band = serializers.CharField(required=False, help_text="Only for partners allowed to see it.")
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


class ApplicationOut(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    product = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    term_months = serializers.IntegerField()
    method = serializers.CharField()
    quoted_apr = serializers.DecimalField(max_digits=9, decimal_places=6)
    submitted_at = serializers.DateTimeField()
    decision = DecisionOut()


class RepaymentOut(serializers.Serializer):
    external_reference = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    paid_on = serializers.DateField()
    status = serializers.CharField()
    kind = serializers.CharField()
    principal = serializers.DecimalField(**MONEY)
    interest = serializers.DecimalField(**MONEY)
    fee = serializers.DecimalField(**MONEY)
    penalty = serializers.DecimalField(**MONEY)


class LoanInstallmentOut(InstallmentOut):
    penalty = serializers.DecimalField(**MONEY)
    paid = serializers.DecimalField(**MONEY)
    outstanding = serializers.DecimalField(**MONEY)


class OutstandingOut(serializers.Serializer):
    principal = serializers.DecimalField(**MONEY)
    interest = serializers.DecimalField(**MONEY)
    fee = serializers.DecimalField(**MONEY)
    penalty = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY)


class LoanOut(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    apr = serializers.DecimalField(max_digits=9, decimal_places=6, allow_null=True)
    disbursed_on = serializers.DateField(allow_null=True)
    days_past_due = serializers.IntegerField()
    outstanding = OutstandingOut()
    schedule = LoanInstallmentOut(many=True)
    repayments = RepaymentOut(many=True)


class RepaymentIn(serializers.Serializer):
    amount = serializers.DecimalField(min_value=Decimal("0.01"), **MONEY)
    paid_on = serializers.DateField()
    payment_reference = serializers.CharField(max_length=64, help_text="The payment's own reference.")


class WebhookIn(serializers.Serializer):
    url = serializers.URLField(max_length=500)


class WebhookOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    secret = serializers.CharField(help_text="Shown once: sign-check every delivery with it.")


PROBLEM = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(required=False),
    },
)
ERRORS = {(code, "application/problem+json"): OpenApiResponse(PROBLEM, description=text) for code, text in (
    (400, "Invalid input (a message per field)"), (401, "No or bad API key"), (403, "Scope missing"),
    (404, "Not found"), (409, "Wrong state, or the same Idempotency-Key still in progress"),
    (415, "The request body is not JSON (or form data) that can be read"),
    (422, "Idempotency-Key reused with a different request"), (429, "Throttled (see Retry-After)"),
)}  # fmt: skip


def _errors(*codes, body: bool = True):
    """Problem responses of an operation; every operation that takes a body can also answer 415."""
    codes = (*codes, 415) if body else codes
    return {(c, "application/problem+json"): ERRORS[(c, "application/problem+json")] for c in codes}


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


def _product(code: str) -> LoanProduct:
    product = fetch_one(LoanProduct, '"code" = %s', [code])  # every quote: without query compilation
    if product is None:
        raise InvalidInput(f"No product {code!r}.", field="product")
    return product


def _text(value: Decimal, quantum: Decimal = FEN) -> str:
    """A Decimal as the schema's DecimalFields render it: to their places, fixed-point."""
    return f"{value.quantize(quantum):f}"


# The two hottest answers are built as the serializers would render them (a test holds them equal),
# without the serializers' per-call field copies: for a quote that was a quarter of its Python time.
def _quote_out(quote) -> dict:
    """A quote rendered as QuoteOut."""
    return {
        "product": quote.product.code, "amount": _text(quote.amount), "term_months": quote.term_months,
        "method": quote.method, "fee": _text(quote.fee), "net_disbursed": _text(quote.net_disbursed),
        "total_interest": _text(quote.total_interest), "total_repayable": _text(quote.total_repayable),
        "apr": _text(quote.apr, RATE_QUANTUM),
        "schedule": [{"number": r.number, "due_date": r.due_date.isoformat(), "principal": _text(r.principal),
                      "interest": _text(r.interest), "total": _text(r.total)} for r in quote.installments],
    }  # fmt: skip


def _repayment_out(repayment, payment_reference: str) -> dict:
    """A repayment rendered as RepaymentOut, under the partner's own payment reference."""
    return {
        "external_reference": payment_reference, "amount": _text(repayment.amount),
        "paid_on": repayment.paid_on.isoformat(), "status": repayment.status, "kind": repayment.kind,
        "principal": _text(repayment.principal_amount), "interest": _text(repayment.interest_amount),
        "fee": _text(repayment.fee_amount), "penalty": _text(repayment.penalty_amount),
    }  # fmt: skip


class QuoteApi(PartnerApi):
    scope = "quote"

    @extend_schema(request=QuoteIn, responses={200: QuoteOut, **_errors(400, 401, 403, 429)}, operation_id="quote")
    def post(self, request):
        data = QuoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        quote = services.loan_quote(
            product=_product(v["product"]), amount=v["amount"], term_months=v["term_months"], method=v["method"]
        )
        return Response(_quote_out(quote))


def _my_loan(partner, reference: str) -> Loan:
    return get_object_or_404(Loan.objects.select_related("product", "borrower"), reference=reference, partner=partner)


def _application_out(loan: Loan, partner) -> dict:
    decision = getattr(loan, "decision", None)
    out = {"outcome": decision.outcome if decision else None}
    if partner.can_see_reasons:
        score = loan.scores.order_by("-created_at").first()
        out["score_band"] = score.grade if score else "unscored"
        out["reasons"] = [r["text_en"] for r in score.reasons] if score else []
    return {
        "reference": loan.reference, "status": loan.status, "product": loan.product.code, "amount": loan.amount,
        "term_months": loan.term_months, "method": loan.method, "quoted_apr": loan.quoted_apr,
        "submitted_at": loan.submitted_at, "decision": out,
    }  # fmt: skip


class ApplicationCreateApi(PartnerApi):
    scope = "apply"

    @extend_schema(request=ApplicationIn, responses={201: ApplicationOut, **_errors(400, 401, 403, 429)},
                   operation_id="application_create")  # fmt: skip
    def post(self, request):
        data = ApplicationIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        product = _product(v["product"])
        with transaction.atomic(), history_context(partner=self.partner.code, url=request.path):
            if v.get("borrower"):
                fields = dict(v["borrower"])
                existing = services.borrower_find_by_id_number(id_number=fields["id_number"])
                borrower = existing or services.borrower_create(by=None, **fields)
            else:
                borrower = services.borrower_find_by_id_number(id_number=v["borrower_id_number"])
                if borrower is None:
                    raise InvalidInput("No borrower with this ID number.", field="borrower_id_number")
            loan = services.loan_submit(
                borrower_id=borrower.pk, product_id=product.pk, amount=v["amount"], term_months=v["term_months"],
                method=v["method"], purpose=v["purpose"], channel=v["channel"], device_id=v["device_id"],
                partner_id=self.partner.pk,
            )  # fmt: skip
        return Response(ApplicationOut(_application_out(loan, self.partner)).data, status=status.HTTP_201_CREATED)


class ApplicationApi(PartnerApi):
    scope = "read"

    @extend_schema(responses={200: ApplicationOut, **_errors(401, 403, 404, 429, body=False)},
                   operation_id="application_read")  # fmt: skip
    def get(self, request, reference):
        return Response(ApplicationOut(_application_out(_my_loan(self.partner, reference), self.partner)).data)


class ApplicationWithdrawApi(PartnerApi):
    scope = "apply"

    @extend_schema(request=None, responses={200: ApplicationOut, **_errors(401, 403, 404, 409, 429)},
                   operation_id="application_withdraw")  # fmt: skip
    def post(self, request, reference):
        loan = _my_loan(self.partner, reference)
        loan = services.loan_withdraw(loan_id=loan.pk, note=f"Withdrawn by {self.partner.name} through the API.")
        return Response(ApplicationOut(_application_out(loan, self.partner)).data)


def _loan_out(loan: Loan) -> dict:
    installments = list(loan.installments.all())
    today = timezone.localdate()
    outstanding = dict.fromkeys(allocation.COMPONENTS, Decimal("0.00"))
    for row in installments:
        outstanding["principal"] += row.principal_due - row.principal_paid
        outstanding["fee"] += row.fee_due - row.fee_paid
        outstanding["penalty"] += row.penalty_due - row.penalty_paid
        if row.due_date <= today:
            outstanding["interest"] += row.interest_due - row.interest_paid
    outstanding["total"] = sum(outstanding.values(), Decimal("0.00"))
    return {
        "reference": loan.reference, "status": loan.status, "amount": loan.amount, "apr": loan.apr,
        "disbursed_on": loan.disbursed_on, "days_past_due": loan.days_past_due, "outstanding": outstanding,
        "schedule": [{"number": r.number, "due_date": r.due_date, "principal": r.principal_due,
                      "interest": r.interest_due, "total": r.principal_due + r.interest_due, "penalty": r.penalty_due,
                      "paid": r.total_paid, "outstanding": r.total_outstanding} for r in installments],
        "repayments": [{"external_reference": r.external_reference, "amount": r.amount, "paid_on": r.paid_on,
                        "status": r.status, "kind": r.kind, "principal": r.principal_amount,
                        "interest": r.interest_amount, "fee": r.fee_amount, "penalty": r.penalty_amount}
                       for r in loan.repayments.all()],
    }  # fmt: skip


class LoanApi(PartnerApi):
    scope = "read"

    @extend_schema(responses={200: LoanOut, **_errors(401, 403, 404, 429, body=False)}, operation_id="loan_read")
    def get(self, request, reference):
        return Response(LoanOut(_loan_out(_my_loan(self.partner, reference))).data)


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
    description="Unique per repayment; the same key and body replay the first response for 24 h.",
)  # fmt: skip


class RepaymentCreateApi(PartnerApi):
    scope = "repay"

    @extend_schema(parameters=[IDEMPOTENCY_HEADER], request=RepaymentIn,
                   responses={201: RepaymentOut, 200: RepaymentOut, **_errors(400, 401, 403, 404, 409, 422, 429)},
                   operation_id="repayment_create")  # fmt: skip
    def post(self, request, reference):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 200:
            raise InvalidInput("The Idempotency-Key header is required (at most 200 characters).",
                               field="Idempotency-Key")  # fmt: skip
        fingerprint = partners.request_fingerprint(method="POST", path=request.path, body=request.body)
        state, record = partners.idempotency_begin(partner=self.partner, key=key, fingerprint=fingerprint)
        if state == "conflict":
            raise IdempotencyConflict()
        if state == "in_progress":
            raise IdempotencyInProgress()
        if state == "replay":
            content_type = "application/problem+json" if record.response_status >= 400 else None
            response = Response(record.response_body, status=record.response_status, content_type=content_type)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            # The repayment and the answer to replay, committed together.
            with transaction.atomic(), history_context(partner=self.partner.code, url=request.path):
                status_code, body = self._record(reference, request.data)
                partners.idempotency_finish(record=record, status=status_code, body=body)
        except Exception as error:
            from lender.api import problem_for

            problem = problem_for(error)
            if problem is None:
                partners.idempotency_finish(record=record, status=500, body=None)
                raise
            partners.idempotency_finish(record=record, status=problem.status_code, body=problem.data)
            return problem
        return Response(body, status=status_code)

    def _record(self, reference, payload):
        # Found and locked in one statement; the service records in this transaction.
        loan = services.loan_lock_of_partner(reference=reference, partner_id=self.partner.pk)
        if loan is None:
            raise Http404
        data = RepaymentIn(data=payload)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        repayment, created = services.repayment_record_in_transaction(
            loan=loan, amount=v["amount"], paid_on=v["paid_on"],
            external_reference=f"{self.partner.code}:{v['payment_reference']}", channel=self.partner.code,
        )  # fmt: skip
        body = _repayment_out(repayment, v["payment_reference"])
        return (status.HTTP_201_CREATED if created else status.HTTP_200_OK), body


class WebhookCreateApi(PartnerApi):
    scope = "read"

    @extend_schema(request=WebhookIn, responses={201: WebhookOut, **_errors(400, 401, 403, 429)},
                   operation_id="webhook_register")  # fmt: skip
    def post(self, request):
        data = WebhookIn(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = partners.webhook_register(partner=self.partner, url=data.validated_data["url"])
        return Response({"id": endpoint.pk, "url": endpoint.url, "secret": secret}, status=status.HTTP_201_CREATED)


class IdempotencyConflict(exceptions.APIException):
    status_code, default_code = 422, "idempotency_conflict"
    default_detail = "This Idempotency-Key was used with a different request."


class IdempotencyInProgress(exceptions.APIException):
    status_code, default_code = 409, "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."

    def __init__(self):
        super().__init__()
        self.wait = 1
