from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import services
from cases.errors import InvalidInput
from cases.roles import Role


class Command(BaseCommand):
    help = "Create a person in a role. Prints an API token for them alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="Prompted for when omitted.")
        parser.add_argument("--email", default="")

    def handle(
        self, *args: Any, username: str, role: str, password: str | None, email: str, **options: Any
    ) -> None:
        if password is None:
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("The passwords differ.")
        if not password:
            raise CommandError("A password is required.")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        try:
            user, key = services.reviewer_create(
                username=username, role=Role(role), password=password, email=email
            )
        except InvalidInput as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created {role} {user.get_username()!r}. API token, shown once:")
        self.stdout.write(key)
