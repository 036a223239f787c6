"""End to end: a real `qcluster` process against the test database runs the scheduled SLA
sweep and delivers a decision webhook to a real receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from cases.models import AuditEvent, DeliveryStatus, WebhookDelivery
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from cases.tests.receiver import receiver
from routing.models import QueueEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent


def _cluster_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": url,
        "DEBUG": "false",
        "LOOPGATE_WORKERS": "1",
        "LOOPGATE_DATA_DIR": str(ROOT / "var" / "e2e"),
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


def _wait_for(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_qcluster_runs_the_sla_sweep_and_delivers_a_webhook(client_for: Any, monkeypatch: Any):
    from django_q.conf import Conf
    from django_q.models import Schedule

    monkeypatch.setattr(Conf, "SYNC", False)  # the test settings run tasks inline
    CaseTypeFactory(slug="refund")
    with receiver() as hook:
        source = SourceFactory(name="shop")
        source.callback_url = hook.url
        source.save(update_fields=["callback_url"])
        bot = client_for(source.api_key)
        approved = bot.post(
            "/api/v1/cases/", case_payload(external_id="auto", confidence=0.99), format="json"
        ).json()
        waiting = bot.post(
            "/api/v1/cases/", case_payload(external_id="late", confidence=0.8), format="json"
        ).json()
        past = timezone.now() - timedelta(minutes=1)
        QueueEntry.objects.filter(case_id=waiting["id"]).update(
            sla_due_at=past, sla_warn_at=past - timedelta(minutes=5)
        )
        Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1))

        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=_cluster_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            delivered = _wait_for(lambda: len(hook.requests) >= 1, timeout=60)
            swept = _wait_for(
                lambda: AuditEvent.objects.filter(kind="sla.breached").exists(), timeout=90
            )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                output, _ = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()

    log = output.decode(errors="replace")[-3000:]
    assert delivered, log
    assert swept, log
    assert WebhookDelivery.objects.get(case_id=approved["id"]).status == DeliveryStatus.DELIVERED
    assert hook.requests[0].headers["X-Loopgate-Event"] == "case.decided"
    breach = AuditEvent.objects.get(kind="sla.breached")
    assert str(breach.case_id) == waiting["id"]
    assert QueueEntry.objects.filter(case_id=waiting["id"], queue__slug="supervisor").exists()
