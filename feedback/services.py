"""Writes of the feedback loop: turning a calibration recommendation into a policy draft."""

from __future__ import annotations

from django.contrib.auth.models import User

from cases.auditing import audited_transaction
from cases.errors import InvalidInput
from cases.models import CaseType
from routing.models import PolicyVersion
from routing.services import policy_draft_create


@audited_transaction()
def calibration_draft_create(
    *, case_type: CaseType, threshold: float, actor: User | None, note: str = ""
) -> PolicyVersion:
    """A draft of the case type's policy with the recommended auto-approve threshold. It is
    not in force until someone dry-runs and publishes it (audited like any policy change)."""
    if not 0 < threshold <= 1:
        raise InvalidInput(
            "The threshold must be above 0 and at most 1.", fields={"threshold": ["Out of range."]}
        )
    return policy_draft_create(
        actor=actor,
        case_type=case_type,
        values={"auto_approve_threshold": threshold},
        note=note or f"Calibration: auto-approve at {threshold:.2f}",
    )
