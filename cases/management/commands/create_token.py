from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import services
from cases.errors import InvalidInput


class Command(BaseCommand):
    help = (
        "Create an API token for an existing user, optionally with scopes (e.g. --scope "
        "feedback for the training-data export). Prints the token alone on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--scope", action="append", default=[], choices=services.TOKEN_SCOPES)
        parser.add_argument("--name", default="")

    def handle(
        self, *args: Any, username: str, scope: list[str], name: str, **options: Any
    ) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        try:
            key = services.api_token_create(user=user, name=name, scopes=scope)
        except InvalidInput as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Token for {username} with scopes {scope or 'none'}, shown once:")
        self.stdout.write(key)
