"""Product admins run the partner channels in Django admin: partners, API keys, webhooks, the call log."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here on purpose: a later change of roles is a new migration, not an edit of this one.
PRODUCT_ADMIN_PERMISSIONS = [
    "add_partner", "change_partner", "view_partner",
    "add_partnerapikey", "change_partnerapikey", "view_partnerapikey",
    "change_webhookendpoint", "view_webhookendpoint",
    "change_webhookdelivery", "view_webhookdelivery",
    "view_apicalllog",
]  # fmt: skip


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.get(name="product admin")
    for codename in PRODUCT_ADMIN_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label="loans", codename=codename))


def backwards(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.get(name="product admin")
    group.permissions.remove(
        *group.permissions.filter(content_type__app_label="loans", codename__in=PRODUCT_ADMIN_PERMISSIONS)
    )


class Migration(migrations.Migration):
    dependencies = [("loans", "0010_webhook_retry_schedule"), ("lender", "0005_portfolio_permission")]
    operations = [migrations.RunPython(forwards, backwards)]
