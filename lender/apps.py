from django.apps import AppConfig


class LenderConfig(AppConfig):
    name = "lender"
    verbose_name = "Back office"
