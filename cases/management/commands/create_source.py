from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import services
from cases.errors import InvalidInput


class Command(BaseCommand):
    help = "Create a source (a system that posts cases). Prints its token alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--callback-url", default="", help="Where decision webhooks go.")

    def handle(self, *args: Any, name: str, callback_url: str, **options: Any) -> None:
        try:
            source, key = services.source_create(name=name, callback_url=callback_url, actor=None)
        except InvalidInput as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Created source {source.name!r} (id {source.pk}). Its token, shown once:"
        )
        self.stdout.write(key)
