"""Refresh the portfolio dashboard's cached figures every four minutes (editable in admin)."""

from django.db import migrations


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=4, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Refresh the portfolio dashboard",
        defaults={"task": "loans.tasks.portfolio_refresh_task", "interval": interval, "queue": "batch"},
    )


class Migration(migrations.Migration):
    dependencies = [("collection", "0002_ladder_groups_schedules")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
