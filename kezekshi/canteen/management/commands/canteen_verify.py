"""Check the canteen ledger: debits equal credits, every transaction balances, every
cached wallet balance equals the sum of its entries. Non-zero exit when anything is off."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kezekshi.canteen.selectors import check_ledger
from kezekshi.core.models import School


class Command(BaseCommand):
    help = "Check the canteen ledger (debits = credits, cached balances = ledger sums)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--school", help="only this school (its BIN)")

    def handle(self, *args: Any, **options: Any) -> None:
        school = None
        if options["school"]:
            school = School.objects.filter(bin=options["school"]).first()
            if school is None:
                raise CommandError(f"No school with BIN {options['school']}.")
        result = check_ledger(school=school)
        self.stdout.write(
            f"{result.transactions} transactions, {result.entries} entries; "
            f"debits {result.debits}, credits {result.credits}"
        )
        for pk in result.unbalanced:
            self.stdout.write(f"  transaction {pk}: its entries do not sum to zero")
        for pk, cached, ledger in result.wrong_balances:
            self.stdout.write(f"  wallet {pk}: cached balance {cached}, ledger sum {ledger}")
        if not result.ok:
            raise CommandError("The canteen ledger does not add up (see above).")
        self.stdout.write(self.style.SUCCESS("The canteen ledger adds up."))
