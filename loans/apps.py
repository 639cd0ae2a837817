from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = "Loans"

    def ready(self):
        from loans import signals  # noqa: F401  (registers the webhook signal)
