from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from cases.audit_chain import audit_chain_verify


class Command(BaseCommand):
    help = "Walk the audit hash chain; print 'intact' with the count, or the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if report.intact:
            self.stdout.write(self.style.SUCCESS(str(report)))
            return
        self.stderr.write(self.style.ERROR(str(report)))
        sys.exit(1)
