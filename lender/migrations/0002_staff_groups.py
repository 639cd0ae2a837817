"""Create the staff groups and their permissions (DESIGN.md, People and permissions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen here on purpose: a later change of roles is a new migration, not an edit of this one.
GROUPS = {
    "loan officer": [
        "loans.view_loan",
        "loans.view_borrower",
        "loans.add_borrower",
        "loans.change_borrower",
        "loans.view_loanproduct",
        "loans.approve_loan",
        "loans.reject_loan",
    ],
    "credit manager": [
        "loans.view_loan",
        "loans.view_borrower",
        "loans.add_borrower",
        "loans.change_borrower",
        "loans.view_loanproduct",
        "loans.approve_loan",
        "loans.approve_senior",
        "loans.reject_loan",
        "loans.disburse_loan",
        "loans.view_borrower_pii",
    ],
    "collector": ["loans.view_loan", "loans.view_borrower"],
    "collections manager": ["loans.view_loan", "loans.view_borrower", "loans.write_off_loan"],
    "product admin": [
        "loans.view_loan",
        "loans.add_loanproduct",
        "loans.change_loanproduct",
        "loans.view_loanproduct",
        "loans.add_borrower",
        "loans.change_borrower",
        "loans.view_borrower",
    ],
}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lender", "0001_initial"),
        ("loans", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
