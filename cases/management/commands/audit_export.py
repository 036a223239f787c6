from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from cases.audit_chain import FORMATS, AuditExport, ExportFilter


def _moment(value: str | None, name: str) -> Any:
    if value is None:
        return None
    moment = parse_datetime(value)
    if moment is None or moment.tzinfo is None:
        raise CommandError(f"--{name} needs an ISO 8601 timestamp with a time zone")
    return moment


class Command(BaseCommand):
    help = (
        "Export audit records as CSV or JSON Lines (streamed; the last line is a manifest). "
        "With --output, also writes <output>.manifest.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument("--since")
        parser.add_argument("--until")
        parser.add_argument("--case")
        parser.add_argument("--source")
        parser.add_argument("--actor")
        parser.add_argument("--kind", action="append", default=[])
        parser.add_argument("--output", help="A file path (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        f = ExportFilter(
            since=_moment(options["since"], "since"),
            until=_moment(options["until"], "until"),
            case=options["case"],
            source=options["source"],
            actor=options["actor"],
            kinds=tuple(options["kind"]),
        )
        export = AuditExport(f, options["format"])
        if not options["output"]:
            out = sys.stdout.buffer
            for line in export:
                out.write(line)
            out.flush()
            return
        path = Path(options["output"])
        with path.open("wb") as handle:
            for line in export:
                handle.write(line)
        assert export.manifest is not None
        manifest_path = path.with_name(path.name + ".manifest.json")
        manifest_path.write_text(json.dumps(export.manifest, indent=2, sort_keys=True) + "\n")
        self.stderr.write(
            f"Exported {export.manifest['count']} records to {path} "
            f"(sha256 {export.manifest['sha256']}); manifest in {manifest_path}"
        )
