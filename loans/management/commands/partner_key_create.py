"""Create an API key for a partner and print it once (it is stored only as a hash)."""

from django.core.management.base import BaseCommand, CommandError

from lender.errors import InvalidInput
from loans.models import API_SCOPES, Partner
from loans.services import partners


class Command(BaseCommand):
    help = "Create an API key for a partner; the key is printed once and never stored in clear."

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="the partner's code")
        parser.add_argument("--scopes", required=True, help=f"comma-separated, among {','.join(API_SCOPES)}")

    def handle(self, *args, **o):
        partner = Partner.objects.filter(code=o["partner"], is_active=True).first()
        if partner is None:
            raise CommandError(f"no active partner with code {o['partner']!r}", returncode=2)
        scopes = [s.strip() for s in o["scopes"].split(",") if s.strip()]
        try:
            key, raw = partners.partner_key_create(partner_id=partner.pk, scopes=scopes)
        except InvalidInput as error:
            raise CommandError(error.message, returncode=2) from None
        self.stderr.write(f"API key {key.prefix} for {partner.name}, scopes {', '.join(key.scopes)} (shown once):")
        self.stdout.write(raw)
