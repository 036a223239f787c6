"""Chain the audit events written before the chain existed, in id order."""

import hashlib
import json
from datetime import UTC

from django.db import migrations

GENESIS_HASH = "0" * 64


def _canonical(event):
    return json.dumps(
        {
            "seq": event.seq,
            "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "kind": event.kind,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "case_id": str(event.case_id) if event.case_id else None,
            "reason": event.reason,
            "data": event.data,
            "remote_addr": event.remote_addr,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def forwards(apps, schema_editor):
    AuditEvent = apps.get_model("cases", "AuditEvent")
    prev, seq = GENESIS_HASH, 0
    for event in AuditEvent.objects.filter(seq__isnull=True).order_by("id").iterator():
        seq += 1
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = hashlib.sha256(prev.encode() + _canonical(event)).hexdigest()
        AuditEvent.objects.filter(pk=event.pk).update(
            seq=event.seq, prev_hash=event.prev_hash, hash=event.hash
        )


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_audit_chain_fields")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
