"""Credit and collections managers see the portfolio dashboard."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="loans", codename="view_portfolio")
    for name in ("credit manager", "collections manager"):
        Group.objects.get(name=name).permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("lender", "0004_staffprofile_language"),
        ("loans", "0005_loandocument_alter_loan_options_and_more"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
