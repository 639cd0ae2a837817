from django.core.management.base import BaseCommand

from risk import services


class Command(BaseCommand):
    help = "Review every active credit line for a limit increase (safe to run twice)."

    def handle(self, *args, **options):
        raised = 0
        for line_id in services.credit_line_review_ids():
            change = services.credit_line_review(credit_line_id=line_id)
            if change is not None:
                raised += 1
                self.stdout.write(f"line {line_id}: {change.before} -> {change.after} ({change.reason})")
        self.stdout.write(f"{raised} lines raised")
