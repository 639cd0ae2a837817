"""The default escalation ladder, collections permissions and the beat schedules (all editable in admin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LADDER = [
    (
        "M1",
        "collector",
        "SMS reminders and the call queue",
        "Remind the borrower of the amount and due date, ask when they will pay, offer the app or bank transfer.",
    ),
    (
        "M2",
        "collector",
        "A phone collector calls",
        "Explain the penalty interest accruing and the effect on their record; agree a promise to pay.",
    ),
    (
        "M3",
        "collections manager",
        "A senior collector or a field visit",
        "Arrange a visit or a firm plan; warn of legal action after 90 days.",
    ),
    (
        "M3+",
        "collections manager",
        "Legal action and a write-off recommendation",
        "Refer to legal; recommend write-off when nothing can be recovered.",
    ),
]
SCHEDULES = [
    # name, task, queue, crontab (minute, hour) or interval minutes
    ("Nightly overdue sweep", "collection.tasks.sweep_run_task", "batch", ("30", "0"), None),
    ("Plan the day's reminders", "collection.tasks.reminders_plan_task", "batch", ("0", "7"), None),
    ("Send due reminders", "collection.tasks.notifications_dispatch_task", "notifications", None, 5),
    ("Assign applications to review", "loans.tasks.review_assign_task", "decisions", None, 2),
    ("Escalate reviews past their SLA", "loans.tasks.review_escalate_task", "decisions", None, 15),
]
GROUP_PERMISSIONS = {
    "collector": ["collection.work_cases", "collection.view_collectioncase"],
    "collections manager": ["collection.work_cases", "collection.manage_cases", "collection.view_collectioncase"],
}


def forwards(apps, schema_editor):
    LadderStep = apps.get_model("collection", "LadderStep")
    for bucket, group, action, script in LADDER:
        LadderStep.objects.get_or_create(
            bucket=bucket,
            defaults={
                "assignee_group": group,
                "action": action,
                "script": script,
                "recommend_write_off": bucket == "M3+",
            },  # fmt: skip
        )
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUP_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, queue, cron, minutes in SCHEDULES:
        schedule = {}
        if cron:
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=cron[0], hour=cron[1], day_of_week="*", day_of_month="*", month_of_year="*",
                timezone="Asia/Shanghai",
            )  # fmt: skip
        else:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "queue": queue, **schedule})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("collection", "0001_initial"),
        ("lender", "0003_reverse_repayment_permission"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
