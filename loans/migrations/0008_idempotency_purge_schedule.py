"""Purge idempotency records older than 48 hours, nightly (partners are promised at least 24 hours)."""

from django.db import migrations


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="4", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name="Purge old idempotency keys",
        defaults={"task": "loans.tasks.idempotency_purge_task", "crontab": crontab, "queue": "batch"},
    )


class Migration(migrations.Migration):
    dependencies = [("loans", "0007_partners"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
