"""API errors as problem details (RFC 9457): application/problem+json with type, title, status, detail."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from lender.errors import LenderError

PROBLEM_TYPE = "https://lender.example.cn/problems/"
TITLES = {400: "Invalid input", 401: "Not authenticated", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 415: "Unsupported media type", 422: "Unprocessable request", 429: "Too many requests",
          500: "Server error"}  # fmt: skip


def problem(status: int, code: str, detail: str, errors: dict | None = None, headers: dict | None = None) -> Response:
    body = {"type": PROBLEM_TYPE + code, "title": TITLES.get(status, "Error"), "status": status, "detail": detail,
            "code": code}  # fmt: skip
    if errors:
        body["errors"] = errors
    return Response(body, status=status, headers=headers, content_type="application/problem+json")


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {k: [str(m) for m in (v if isinstance(v, list) else [v])] if not isinstance(v, dict) else _field_errors(v)
                for k, v in detail.items()}  # fmt: skip
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def problem_for(exc) -> Response | None:
    """The problem response for an exception, or None for an unexpected one (a 500)."""
    if isinstance(exc, LenderError):
        field = exc.extra.get("field")
        return problem(exc.http_status, exc.code, exc.message, {field: [exc.message]} if field else None)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return problem(400, "invalid_input", "Invalid input.", errors)
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        first = next(iter(errors.values()), ["Invalid input."])
        return problem(400, "invalid_input", f"Invalid input: {first[0] if isinstance(first, list) else first}",
                       errors)  # fmt: skip
    if isinstance(exc, Http404 | exceptions.NotFound):
        return problem(404, "not_found", "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return problem(403, "permission_denied", "You do not have permission to do this.")
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1) + (1 if exc.wait and exc.wait % 1 else 0)
        return problem(429, "throttled", f"Too many requests; retry in {wait} s.", headers={"Retry-After": str(wait)})
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return problem(exc.status_code, code, str(exc.detail), headers=headers or None)
    return None


def exception_handler(exc, context):
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request = context.get("request")
        view = context.get("view")
        header = view.get_authenticate_header(request) if view and request else None
        exc.auth_header = header
        if header is None:
            exc.status_code = 401
    return problem_for(exc)


def _json_problem(status: int, code: str, detail: str) -> JsonResponse:
    body = {"type": PROBLEM_TYPE + code, "title": TITLES[status], "status": status, "detail": detail, "code": code}
    return JsonResponse(body, status=status, content_type="application/problem+json")


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return _json_problem(404, "not_found", "No such endpoint.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return _json_problem(500, "server_error", "Something went wrong on our side; the request was not applied.")
    from django.views.defaults import server_error

    return server_error(request)
