from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kezekshi.core.errors import ServiceError
from kezekshi.privacy import services


class Command(BaseCommand):
    help = "Draft a policy version from the project's template texts and publish it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--operator", required=True, help="the operator's legal name")
        parser.add_argument("--bin", required=True, help="the operator's BIN")

    def handle(self, *args: Any, **options: Any) -> None:
        draft = services.draft_policy(
            operator_name=options["operator"], operator_bin=options["bin"]
        )
        try:
            policy = services.publish_policy(policy=draft, by=None)
        except ServiceError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(f"Published policy version {policy.number} ({policy.content_hash}).")
