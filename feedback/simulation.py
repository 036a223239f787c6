"""A simulation of the whole loop, through the real API.

A synthetic model posts cases whose true chance of being right is ``p`` but reports a
deliberately miscalibrated confidence (``p ** skew``: skew > 1 is under-confident, < 1
over-confident). Simulated reviewers with a given accuracy and minutes per case claim and
decide through the API. Every few rounds the calibration recommendation is applied as a new
policy version, the way an admin would click "create draft" and "publish". The ground truth
lives in the simulation only, so the post-automation error is measured, not estimated.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from rest_framework.test import APIClient

from cases.models import CaseType
from cases.roles import Role, role_group
from cases.services import case_type_create, reviewer_create, source_create
from feedback.selectors import calibration_report
from feedback.services import calibration_draft_create
from routing.models import Queue, QueueKind
from routing.services import policy_edit_and_publish, policy_publish, queue_save

# Each simulated deployment has its own queues, so it never touches real work.
QUEUE_KINDS = {
    "generalist": (QueueKind.GENERALIST, Role.GENERALIST),
    "expert": (QueueKind.EXPERT, Role.EXPERT),
    "audit": (QueueKind.AUDIT, Role.EXPERT),
}
WORKS = {Role.GENERALIST: ["generalist"], Role.EXPERT: ["expert", "audit"]}


@dataclass
class SimulationConfig:
    cases: int = 5000
    seed: int = 1
    rounds: int = 10
    calibrate_every: int = 2
    skew: float = 2.2  # confidence = p ** skew
    # Reviewers' own mistakes show up as "errors" in the labels, so the target error must sit
    # above their error rate for any threshold to qualify.
    reviewer_accuracy: float = 0.98
    minutes_per_case: float = 3.0
    target_error: float = 0.05
    generalists: int = 4
    experts: int = 2


@dataclass
class RoundFigures:
    round: int
    cases: int = 0
    escalated: int = 0
    auto_approved: int = 0
    auto_wrong: int = 0
    decisions: int = 0
    overrides: int = 0
    minutes: float = 0.0
    threshold: float = 0.0

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.cases if self.cases else 0.0

    @property
    def post_automation_error(self) -> float:
        return self.auto_wrong / self.auto_approved if self.auto_approved else 0.0

    @property
    def override_rate(self) -> float:
        return self.overrides / self.decisions if self.decisions else 0.0


@dataclass
class ArmResult:
    name: str
    rounds: list[RoundFigures] = field(default_factory=list)

    def total(self, attribute: str) -> float:
        return sum(getattr(r, attribute) for r in self.rounds)

    @property
    def escalation_rate(self) -> float:
        return self.total("escalated") / max(1, self.total("cases"))

    @property
    def post_automation_error(self) -> float:
        return self.total("auto_wrong") / max(1, self.total("auto_approved"))

    @property
    def override_rate(self) -> float:
        return self.total("overrides") / max(1, self.total("decisions"))


class Arm:
    """One simulated deployment: a case type, its policy, a source and reviewers."""

    def __init__(self, name: str, config: SimulationConfig, *, calibrate: bool) -> None:
        self.name, self.config, self.calibrate = name, config, calibrate
        self.rng = random.Random(f"{config.seed}")  # noqa: S311 - same cases in both arms
        self.run_id = uuid.uuid4().hex[:8]
        self.slug = f"sim-{name}-{self.run_id}"
        self.truth: dict[str, bool] = {}
        self.case_type = case_type_create(
            actor=None,
            slug=self.slug,
            name=f"Simulated ({name})",
            reason_codes=["wrong", "other"],
        )
        self.queues: dict[str, str] = {}
        for purpose, (kind, role) in QUEUE_KINDS.items():
            queue = queue_save(
                queue=Queue(
                    slug=f"{self.slug}-{purpose}",
                    kind=kind,
                    name=f"{self.slug} {purpose}",
                    role=role_group(role),
                ),
                actor=None,
            )
            self.queues[purpose] = queue.slug
        policy_edit_and_publish(
            actor=None,
            case_type=self.case_type,
            values={
                "mode": "exception",
                "auto_approve_threshold": 0.95,
                "expert_threshold": 0.70,
                "audit_sample_rate": 0.05,
                "rules": [],
                "generalist_queue": self.queues["generalist"],
                "expert_queue": self.queues["expert"],
                "audit_queue": self.queues["audit"],
                "fast_track_queue": "",
            },
            note="simulation start",
        )
        self.source, key = source_create(name=f"simulator-{name}-{self.run_id}")
        self.api = _client(key)
        self.reviewers: list[tuple[APIClient, Role]] = []
        for role, count in ((Role.GENERALIST, config.generalists), (Role.EXPERT, config.experts)):
            for n in range(count):
                _, token = reviewer_create(
                    username=f"sim-{role.value}-{n}-{self.run_id}", role=role, password=None
                )
                self.reviewers.append((_client(token), role))

    def _post_round(self, count: int, figures: RoundFigures) -> None:
        items = []
        for _ in range(count):
            p = self.rng.betavariate(5, 1)
            right = self.rng.random() < p
            external_id = uuid.uuid4().hex
            self.truth[external_id] = right
            items.append(
                {
                    "external_id": external_id,
                    "case_type": self.slug,
                    "input": {"question": f"q-{external_id[:6]}"},
                    "ai_output": {"answer": "yes" if right else "no"},
                    "confidence": round(min(0.999, p**self.config.skew), 4),
                }
            )
        for start in range(0, len(items), 1000):
            body = self.api.post(
                "/api/v1/cases/bulk/", {"cases": items[start : start + 1000]}, format="json"
            ).json()
            for result in body["results"]:
                case = result["case"]
                figures.cases += 1
                if case["status"] == "auto_approved":
                    figures.auto_approved += 1
                    figures.auto_wrong += not self.truth[case["external_id"]]
                else:
                    figures.escalated += 1

    def _review_all(self, figures: RoundFigures) -> None:
        accuracy = self.config.reviewer_accuracy
        busy = True
        while busy:
            busy = False
            for client, role in self.reviewers:
                for purpose in WORKS[role]:
                    claim = client.post(f"/api/v1/queues/{self.queues[purpose]}/claim/")
                    if claim.status_code != 200:
                        continue
                    busy = True
                    case = claim.json()["case"]
                    right = self.truth[case["external_id"]]
                    says_right = right if self.rng.random() < accuracy else not right
                    payload = (
                        {"action": "approve"}
                        if says_right
                        else {"action": "reject", "reason_code": "wrong"}
                    )
                    client.post(f"/api/v1/cases/{case['id']}/decision/", payload, format="json")
                    figures.decisions += 1
                    figures.overrides += not says_right
                    figures.minutes += max(0.2, self.rng.gauss(self.config.minutes_per_case, 1.0))
                    break

    def _apply_calibration(self) -> None:
        report = calibration_report(case_type=self.case_type, target_error=self.config.target_error)
        threshold = report.recommendation.threshold
        if threshold is None or abs(threshold - report.current_threshold) < 1e-9:
            return
        draft = calibration_draft_create(case_type=self.case_type, threshold=threshold, actor=None)
        policy_publish(version=draft, actor=None)

    def current_threshold(self) -> float:
        policy = CaseType.objects.get(pk=self.case_type.pk).routing_policy
        assert policy.current_version is not None
        return policy.current_version.auto_approve_threshold

    def run(self, report: Callable[[str], None]) -> ArmResult:
        result = ArmResult(self.name)
        per_round = max(1, self.config.cases // self.config.rounds)
        for number in range(1, self.config.rounds + 1):
            figures = RoundFigures(number, threshold=self.current_threshold())
            self._post_round(per_round, figures)
            self._review_all(figures)
            result.rounds.append(figures)
            report(
                f"{self.name:<10} round {number:>2}  threshold {figures.threshold:.2f}  "
                f"escalation {figures.escalation_rate:6.1%}  post-automation error "
                f"{figures.post_automation_error:6.2%}  overrides {figures.override_rate:6.1%}  "
                f"human minutes {figures.minutes:8.1f}"
            )
            if self.calibrate and number % self.config.calibrate_every == 0:
                self._apply_calibration()
        return result


def _client(key: str) -> APIClient:
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def simulate(config: SimulationConfig, report: Callable[[str], None]) -> dict[str, ArmResult]:
    arms = {
        "fixed": Arm("fixed", config, calibrate=False),
        "calibrated": Arm("calibrated", config, calibrate=True),
    }
    return {name: arm.run(report) for name, arm in arms.items()}


def cleanup_hint() -> str:
    return (
        "Simulated case types, sources and reviewers are named sim-*; they stay in the "
        "database (the audit trail is append-only)."
    )
