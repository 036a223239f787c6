"""The router: a pure function of (policy version, case) to a routing decision.

No database access: the policy arrives as a PolicySnapshot, the case as CaseFacts, and the
clock is the case's arrival time, so the same inputs always give the same decision.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from routing.business_hours import BusinessHours, add_working_minutes
from routing.conditions import describe, evaluate
from routing.sla import sla_warn_at
from routing.validators import AUTO_APPROVE

Outcome = Literal["auto_approved", "queued"]


@dataclass(frozen=True)
class PolicySnapshot:
    policy_key: str
    version_id: int | None
    number: int
    mode: str
    auto_approve_threshold: float
    expert_threshold: float
    audit_sample_rate: float
    high_risk_tags: frozenset[str]
    rules: tuple[Mapping[str, Any], ...]
    required_reviews: int
    sla_minutes: Mapping[str, int]
    fast_track_window_minutes: int
    generalist_queue: str
    expert_queue: str
    fast_track_queue: str
    audit_queue: str
    # Per-queue SLA overrides (queue slug -> priority -> minutes); the tighter one applies.
    queue_sla_minutes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # Per-queue business hours: SLA clocks of those queues only run inside them.
    queue_business_hours: Mapping[str, BusinessHours] = field(default_factory=dict)
    # A waiting case is at risk once this share of its SLA time has passed.
    at_risk_share: float = 0.8

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        policy_key: str,
        version_id: int | None,
        number: int,
        queue_sla_minutes: Mapping[str, Mapping[str, int]] | None = None,
        queue_business_hours: Mapping[str, BusinessHours] | None = None,
        at_risk_share: float = 0.8,
    ) -> PolicySnapshot:
        return cls(
            policy_key=policy_key,
            version_id=version_id,
            number=number,
            mode=config["mode"],
            auto_approve_threshold=float(config["auto_approve_threshold"]),
            expert_threshold=float(config["expert_threshold"]),
            audit_sample_rate=float(config["audit_sample_rate"]),
            high_risk_tags=frozenset(config["high_risk_tags"]),
            rules=tuple(config["rules"]),
            required_reviews=int(config["required_reviews"]),
            sla_minutes=dict(config["sla_minutes"]),
            fast_track_window_minutes=int(config["fast_track_window_minutes"]),
            generalist_queue=config["generalist_queue"],
            expert_queue=config["expert_queue"],
            fast_track_queue=config["fast_track_queue"] or "",
            audit_queue=config["audit_queue"] or "",
            queue_sla_minutes=queue_sla_minutes or {},
            queue_business_hours=queue_business_hours or {},
            at_risk_share=at_risk_share,
        )


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    case_type: str
    external_id: str
    confidence: float
    priority: str
    risk_tags: tuple[str, ...]
    metadata: Mapping[str, Any]
    input: Any
    ai_output: Any
    due_at: datetime | None
    received_at: datetime

    def as_mapping(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "priority": self.priority,
            "risk_tags": list(self.risk_tags),
            "case_type": self.case_type,
            "external_id": self.external_id,
            "metadata": self.metadata,
            "input": self.input,
            "ai_output": self.ai_output,
        }


@dataclass(frozen=True)
class RoutingDecision:
    outcome: Outcome
    queue: str | None
    reason: str
    rule: str
    priority: str
    required_reviews: int
    fast_tracked: bool
    sla_due_at: datetime | None
    sla_warn_at: datetime | None
    audit_sample: bool
    audit_queue: str | None
    audit_sla_due_at: datetime | None

    def snapshot(self, policy: PolicySnapshot) -> dict[str, Any]:
        """What is frozen on the case: later policy edits never re-explain it."""
        return {
            "outcome": self.outcome,
            "queue": self.queue,
            "reason": self.reason,
            "rule": self.rule,
            "policy": policy.policy_key,
            "policy_version": policy.number,
            "policy_version_id": policy.version_id,
            "required_reviews": self.required_reviews,
            "audit_sample": self.audit_sample,
            "audit_queue": self.audit_queue,
            "audit_sla_due_at": self.audit_sla_due_at.isoformat()
            if self.audit_sla_due_at
            else None,
            "sla_warn_at": self.sla_warn_at.isoformat() if self.sla_warn_at else None,
            "thresholds": {
                "auto_approve": policy.auto_approve_threshold,
                "expert": policy.expert_threshold,
            },
        }


def audit_draw(case_id: str) -> float:
    """A number in [0, 1) fixed by the case id: the same case always draws the same."""
    digest = hashlib.sha256(f"audit-sample:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def num(value: float) -> str:
    """0.7 -> '0.70', 0.625 -> '0.625', 0.69999 -> '0.69999': thresholds read as people
    write them, and never rounded into a number the comparison contradicts."""
    text = f"{value:.2f}"
    if float(text) == value:
        return text
    text = repr(value)
    if "e" in text or "n" in text:  # an exponent, nan or inf: spelled out by Decimal
        return format(Decimal(text), "f")
    return text  # plain decimal digits, as Decimal would write them


@dataclass
class _Draft:
    outcome: Outcome
    queue: str | None
    reason: str
    rule: str
    priority: str
    required_reviews: int
    from_rule: bool = False


def _by_rules(policy: PolicySnapshot, case: CaseFacts) -> _Draft | None:
    facts = case.as_mapping()
    for rule in policy.rules:
        if not evaluate(rule["when"], facts):
            continue
        action = rule["then"]
        target = action["route_to"]
        priority = action.get("set_priority", case.priority)
        reason = f"rule {rule['name']!r} matched ({describe(rule['when'])})"
        if priority != case.priority:
            reason += (
                f"; priority raised from {case.priority} to {priority}"
                if _rank(priority) > _rank(case.priority)
                else f"; priority set to {priority}"
            )
        return _Draft(
            outcome="auto_approved" if target == AUTO_APPROVE else "queued",
            queue=None if target == AUTO_APPROVE else target,
            reason=reason,
            rule=f"rule:{rule['name']}",
            priority=priority,
            required_reviews=int(action.get("required_reviews", policy.required_reviews)),
            from_rule=True,
        )
    return None


def _by_thresholds(policy: PolicySnapshot, case: CaseFacts) -> _Draft:
    conf, auto, expert = case.confidence, policy.auto_approve_threshold, policy.expert_threshold

    def draft(outcome: Outcome, queue: str | None, reason: str, rule: str) -> _Draft:
        return _Draft(outcome, queue, reason, rule, case.priority, policy.required_reviews)

    if policy.mode == "teacher":
        return draft(
            "auto_approved", None, "teacher mode: every case auto-executes", "mode:teacher"
        )
    risky = sorted(policy.high_risk_tags.intersection(case.risk_tags))
    if risky:
        tags = ", ".join(repr(tag) for tag in risky)
        return draft(
            "queued",
            policy.expert_queue,
            f"risk tag {tags} is high-risk: expert review regardless of confidence",
            "high_risk_tag",
        )
    if policy.mode == "exception" and conf >= auto:
        return draft(
            "auto_approved",
            None,
            f"confidence {num(conf)} is at or above the auto-approve threshold {num(auto)}",
            "threshold:auto_approve",
        )
    if conf < expert:
        return draft(
            "queued",
            policy.expert_queue,
            f"confidence {num(conf)} is below the expert threshold {num(expert)}",
            "threshold:expert",
        )
    if policy.mode == "validator":
        return draft(
            "queued",
            policy.generalist_queue,
            f"validator mode: every case is reviewed; confidence {num(conf)} is at or "
            f"above the expert threshold {num(expert)}",
            "mode:validator",
        )
    return draft(
        "queued",
        policy.generalist_queue,
        f"confidence {num(conf)} is between the expert threshold {num(expert)} and the "
        f"auto-approve threshold {num(auto)}",
        "threshold:generalist",
    )


def _rank(priority: str) -> int:
    return {"low": 0, "normal": 1, "high": 2, "urgent": 3}.get(priority, 1)


def _sla_due(policy: PolicySnapshot, queue: str | None, priority: str, case: CaseFacts) -> datetime:
    minutes = policy.sla_minutes[priority]
    override = policy.queue_sla_minutes.get(queue or "", {}).get(priority)
    if override:
        minutes = min(minutes, override)
    hours = policy.queue_business_hours.get(queue or "")
    due = _working_deadline(case.received_at, case.received_at.tzinfo, minutes, hours)
    return min(due, case.due_at) if case.due_at else due


@functools.lru_cache(maxsize=256)
def _working_deadline(
    start: datetime, tzinfo: Any, minutes: int, hours: BusinessHours | None
) -> datetime:
    # Cached: the cases of a bulk request arrive together and share a few deadlines. The key
    # holds the tzinfo, which a datetime's own equality and hash leave out (the result is
    # in start's time zone).
    return add_working_minutes(start, minutes, hours)


@functools.lru_cache(maxsize=256)
def _warning(
    received: datetime, tzinfo: Any, due: datetime, share: float, hours: BusinessHours | None
) -> datetime:
    return sla_warn_at(received=received, due=due, share=share, hours=hours)


def route(policy: PolicySnapshot, case: CaseFacts) -> RoutingDecision:
    """Decide where a case goes. Rules first (first match wins), then the mode's thresholds."""
    draft = _by_rules(policy, case) or _by_thresholds(policy, case)

    due_soon = case.due_at is not None and case.due_at - case.received_at <= timedelta(
        minutes=policy.fast_track_window_minutes
    )
    fast_tracked = draft.priority == "urgent" or due_soon
    if (
        due_soon
        and not draft.from_rule
        and draft.queue == policy.generalist_queue
        and policy.fast_track_queue
    ):
        minutes = max(0, int((case.due_at - case.received_at).total_seconds() // 60))  # type: ignore[operator]
        draft.queue = policy.fast_track_queue
        draft.reason += (
            f"; due in {minutes} min, within the fast-track window of "
            f"{policy.fast_track_window_minutes} min"
        )
        draft.rule += "+fast_track"

    queued = draft.outcome == "queued"
    sla_due_at = _sla_due(policy, draft.queue, draft.priority, case) if queued else None
    sla_warn = (
        _warning(
            case.received_at,
            case.received_at.tzinfo,
            sla_due_at,
            policy.at_risk_share,
            policy.queue_business_hours.get(draft.queue or ""),
        )
        if sla_due_at is not None
        else None
    )

    audit_sample = (
        draft.outcome == "auto_approved"
        and bool(policy.audit_queue)
        and audit_draw(case.case_id) < policy.audit_sample_rate
    )
    audit_sla = _sla_due(policy, policy.audit_queue, "low", case) if audit_sample else None
    if audit_sample:
        draft.reason += f"; sampled for audit (rate {num(policy.audit_sample_rate)})"
    return RoutingDecision(
        outcome=draft.outcome,
        queue=draft.queue,
        reason=draft.reason,
        rule=draft.rule,
        priority=draft.priority,
        required_reviews=draft.required_reviews,
        fast_tracked=fast_tracked and queued,
        sla_due_at=sla_due_at,
        sla_warn_at=sla_warn,
        audit_sample=audit_sample,
        audit_queue=policy.audit_queue if audit_sample else None,
        audit_sla_due_at=audit_sla,
    )
