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
