import pghistory.middleware
from django.utils import translation


class StaffLanguageMiddleware:
    """Each staff user reads the back office in the language they chose (English or Simplified Chinese)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        profile = getattr(user, "staff_profile", None) if user is not None and user.is_authenticated else None
        if profile is not None:
            translation.activate(profile.language)
            request.LANGUAGE_CODE = profile.language
        return self.get_response(request)


class HistoryMiddleware(pghistory.middleware.HistoryMiddleware):
    """Staff requests attach the acting user to row history; the partner API sets it per transaction.

    pghistory's middleware rewrites every write statement of a POST; the API's writes set the
    context once, in their own transaction, with the partner (lender.history).
    """

    def __call__(self, request):
        if request.path.startswith("/api/"):
            return self.get_response(request)
        return super().__call__(request)
