"""DRF glue: domain errors and validation errors as JSON with a code, a message and extras."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from lender.errors import LenderError


def exception_handler(exc, context):
    if isinstance(exc, LenderError):
        return Response({"code": exc.code, "message": exc.message, "extra": exc.extra}, status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response({"code": "invalid_input", "message": "Invalid input.", "extra": detail}, status=400)
    return drf_exception_handler(exc, context)
