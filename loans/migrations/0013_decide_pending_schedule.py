"""Every five minutes, queue the decision of any application whose decision task was lost."""

from django.db import migrations


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Decide applications left undecided",
        defaults={"task": "loans.tasks.application_decide_pending_task", "interval": every, "queue": "decisions"},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="Decide applications left undecided"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("loans", "0012_admin_names"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
