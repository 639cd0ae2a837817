"""Credit managers may reverse repayments (issue 4)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="loans", codename="reverse_repayment")
    Group.objects.get(name="credit manager").permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [("lender", "0002_staff_groups"), ("loans", "0002_money_movement")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
