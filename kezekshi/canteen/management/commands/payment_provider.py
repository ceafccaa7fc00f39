"""Register a payment provider, or change one, and print its new credentials once.

    manage.py payment_provider kaspi --name "Kaspi.kz" --protocol kaspi \
        --allow 194.187.247.0/24 --allow 10.0.0.5

Kaspi- and OSMP-style agents get a login and a random password (HTTP basic); a
CloudPayments-style acquirer gets a signing secret. ``--new-credentials`` makes new ones
for an existing provider (the old stop working at once); ``--deactivate`` stops a provider
and ``--activate`` starts it again (any other change leaves that as it was). Only a
digest of the password is kept; the secret is kept encrypted, since every signature
must be recomputed.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from kezekshi.canteen.models import PaymentProvider
from kezekshi.canteen.money import LARGEST, BadAmount, parse_amount
from kezekshi.canteen.payments.common import networks, password_digest


class Command(BaseCommand):
    help = "Register or change a payment provider (credentials are printed once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="short code, e.g. kaspi, qiwi, cloudpayments")
        parser.add_argument("--name")
        parser.add_argument("--protocol", choices=PaymentProvider.Protocol.values)
        parser.add_argument(
            "--allow", action="append", default=None, help="an allowed source address or network"
        )
        parser.add_argument("--max-amount", help="the largest single payment, e.g. 500000.00")
        parser.add_argument("--new-credentials", action="store_true")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--deactivate", action="store_true", help="stop the provider")
        state.add_argument("--activate", action="store_true", help="start it again")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        provider = PaymentProvider.objects.filter(code=options["code"]).first()
        created = provider is None
        if provider is None:
            if not options["protocol"]:
                raise CommandError("A new provider needs --protocol.")
            provider = PaymentProvider(
                code=options["code"], name=options["name"] or options["code"]
            )
        if options["protocol"]:
            provider.protocol = options["protocol"]
        if options["name"]:
            provider.name = options["name"]
        if options["allow"] is not None:
            text = "\n".join(options["allow"])
            try:
                networks(text)
            except ValueError as exc:
                raise CommandError(f"--allow: {exc}") from exc
            provider.allowed_networks = text
        if options["max_amount"] is not None:
            try:
                provider.max_amount = parse_amount(options["max_amount"])
            except BadAmount as exc:
                raise CommandError(
                    f"--max-amount must be a positive amount in tenge, at most {LARGEST}."
                ) from exc
        # An edit leaves the provider as it was: only these two change whether it works.
        if options["deactivate"]:
            provider.is_active = False
        elif options["activate"]:
            provider.is_active = True
        credentials = ""
        if created or options["new_credentials"]:
            if provider.protocol == PaymentProvider.Protocol.CLOUDPAYMENTS:
                provider.secret = secrets.token_urlsafe(32)
                credentials = f"signing secret: {provider.secret}"
            else:
                password = secrets.token_urlsafe(24)
                provider.username = provider.username or provider.code
                provider.password_digest = password_digest(password)
                credentials = f"login: {provider.username}  password: {password}"
        provider.full_clean()
        provider.save()
        self.stdout.write(
            f"{'Created' if created else 'Changed'} {provider.code} ({provider.protocol})."
        )
        if credentials:
            self.stdout.write(f"  {credentials}  (shown once; give it to the provider)")
