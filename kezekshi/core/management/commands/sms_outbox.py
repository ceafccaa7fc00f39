from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from kezekshi.core.models import SmsMessage
from kezekshi.core.validators import normalize_phone


class Command(BaseCommand):
    help = "Print the last SMS sent to a phone number (development outbox)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phone", help="a Kazakh mobile number, e.g. +77011234567")
        parser.add_argument("--all", action="store_true", help="print every message, newest first")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            phone = normalize_phone(options["phone"])
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from exc
        messages = SmsMessage.objects.filter(phone=phone)
        if not options["all"]:
            messages = messages[:1]
        if not messages:
            raise CommandError(f"No SMS has been sent to {phone}.")
        for message in messages:
            when = timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M:%S")
            self.stdout.write(f"{when} {message.phone} [{message.status}] {message.text}")
