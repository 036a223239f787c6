from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from feedback.selectors import EXPORT_KINDS, FeedbackFilter, export_lines


class Command(BaseCommand):
    help = "Export training data as JSON Lines: labels, edits (SFT pairs) or preferences."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=EXPORT_KINDS, required=True)
        parser.add_argument("--case-type")
        parser.add_argument("--since")
        parser.add_argument("--until")
        parser.add_argument("--output", help="A file (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        moments = {}
        for name in ("since", "until"):
            value = options[name]
            moment = parse_datetime(value) if value else None
            if value and (moment is None or moment.tzinfo is None):
                raise CommandError(f"--{name} needs an ISO 8601 timestamp with a time zone")
            moments[name] = moment
        f = FeedbackFilter(case_type=options["case_type"], **moments)
        lines = export_lines(options["kind"], f)
        if not options["output"]:
            for line in lines:
                sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            return
        count = 0
        with Path(options["output"]).open("wb") as handle:
            for line in lines:
                handle.write(line)
                count += 1
        self.stderr.write(f"Wrote {count} {options['kind']} records to {options['output']}.")
