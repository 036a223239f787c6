from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cases.models import Case
from cases.services import case_redact


class Command(BaseCommand):
    help = (
        "Remove the personal payload (input, output, context, metadata) of cases decided "
        "more than the retention period ago. The audit trail stays intact and verifiable; "
        "each redaction is itself an audited event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention in days (default: LOOPGATE_RETENTION_DAYS).",
        )
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--limit", type=int, default=10_000)

    def handle(
        self, *args: Any, days: int | None, dry_run: bool, limit: int, **options: Any
    ) -> None:
        days = days if days is not None else settings.LOOPGATE_RETENTION_DAYS
        if days is None:
            raise CommandError("No retention period: pass --days or set LOOPGATE_RETENTION_DAYS.")
        if days < 1:
            raise CommandError("--days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        expired = Case.objects.final().filter(decided_at__lt=cutoff, redacted_at__isnull=True)
        if dry_run:
            self.stdout.write(
                f"{expired.count()} case(s) would be redacted (decided before {cutoff:%Y-%m-%d})."
            )
            return
        count = 0
        for case in expired.order_by("decided_at")[:limit].iterator(chunk_size=500):
            case_redact(
                case=case, actor=None, reason=f"retention: decided more than {days} days ago"
            )
            count += 1
        self.stdout.write(f"Redacted {count} case(s) decided before {cutoff:%Y-%m-%d}.")
