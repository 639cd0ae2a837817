from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from collection import sweep
from lender.errors import InvalidInput


class Command(BaseCommand):
    help = "Run the overdue sweep for a business date (missed days first, in order); safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today)")
        parser.add_argument("--celery", action="store_true", help="fan the chunks out to the Celery workers")

    def handle(self, *args, **options):
        try:
            business_date = date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, not {options['date']!r}", returncode=2) from None
        if options["celery"]:
            from collection.tasks import sweep_run_task

            try:
                sweep.sweep_dates(business_date=business_date)
            except InvalidInput as e:
                raise CommandError(e.message, returncode=2) from None
            sweep_run_task.delay(business_date.isoformat())
            self.stdout.write(f"sweep up to {business_date} queued")
            return
        try:
            done = sweep.sweep_run(business_date=business_date)
        except InvalidInput as e:
            raise CommandError(e.message, returncode=2) from None
        self.stdout.write(f"swept {', '.join(d.isoformat() for d in done) or 'nothing (already done)'}")
