"""Fill an empty installation with demo people, sources and cases.

Each installed app may contribute through a ``demo`` module with a ``seed(out)`` function;
they run in INSTALLED_APPS order, so lower apps seed first. Safe to run twice."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create demo users for each role, a demo source, case types and cases."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for app in apps.get_app_configs():
                try:
                    module = import_module(f"{app.name}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{app.name}.demo":
                        raise
                    continue
                module.seed(self.stdout)
