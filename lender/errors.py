"""Domain errors: one base, a stable code and the HTTP status pages and the API show."""


class LenderError(Exception):
    code, http_status = "lender_error", 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message, self.extra = message, extra


class InvalidInput(LenderError):
    """Input breaks a business rule; `extra["field"]` names the field when there is one."""

    code, http_status = "invalid_input", 400


class StateError(LenderError):
    code, http_status = "invalid_state", 409


class AuthorityError(LenderError):
    code, http_status = "insufficient_authority", 403


class NotFound(LenderError):
    code, http_status = "not_found", 404
