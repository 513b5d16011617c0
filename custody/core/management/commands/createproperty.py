from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from custody.properties.models import Jurisdiction, Property


class Command(BaseCommand):
    help = "Create a property (hotel). Give it staff with `custody createuser --property CODE --role ROLE`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--code", required=True, help="short identifier, e.g. harbour-view")
        parser.add_argument("--name", required=True, help="display name")
        parser.add_argument("--timezone", required=True, help="IANA time zone, e.g. Asia/Shanghai")
        parser.add_argument("--jurisdiction", required=True, choices=Jurisdiction.values, help="country code")
        parser.add_argument("--address", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        prop = Property(
            code=options["code"],
            name=options["name"],
            timezone=options["timezone"],
            jurisdiction=options["jurisdiction"],
            address=options["address"],
        )
        try:
            prop.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        prop.save()
        self.stdout.write(f"Property {prop.code} created.")
