"""Webhook retries scheduled in the outbox row, and a dispatcher every minute that sends what is due."""

import django.utils.timezone
from django.db import migrations, models


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Deliver due webhooks",
        defaults={"task": "loans.tasks.webhook_dispatch_task", "interval": every_minute, "queue": "notifications"},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="Deliver due webhooks").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0009_partner_rate_limit_valid"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")), fields=["next_attempt_at"], name="webhook_delivery_due"
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
