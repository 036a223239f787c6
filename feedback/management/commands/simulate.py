from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from feedback.simulation import SimulationConfig, cleanup_hint, simulate


class Command(BaseCommand):
    help = (
        "Simulate the loop through the real API: a miscalibrated model, reviewers, and "
        "periodic calibration; prints per-round figures and fixed vs calibrated thresholds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = SimulationConfig()
        parser.add_argument(
            "--cases",
            type=int,
            default=defaults.cases,
            help="Cases per arm (fixed and calibrated).",
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--rounds", type=int, default=defaults.rounds)
        parser.add_argument("--calibrate-every", type=int, default=defaults.calibrate_every)
        parser.add_argument(
            "--skew",
            type=float,
            default=defaults.skew,
            help="confidence = p ** skew (>1 under-confident, <1 over).",
        )
        parser.add_argument("--reviewer-accuracy", type=float, default=defaults.reviewer_accuracy)
        parser.add_argument("--minutes-per-case", type=float, default=defaults.minutes_per_case)
        parser.add_argument("--target-error", type=float, default=defaults.target_error)

    def handle(self, *args: Any, **options: Any) -> None:
        config = SimulationConfig(
            cases=options["cases"],
            seed=options["seed"],
            rounds=options["rounds"],
            calibrate_every=options["calibrate_every"],
            skew=options["skew"],
            reviewer_accuracy=options["reviewer_accuracy"],
            minutes_per_case=options["minutes_per_case"],
            target_error=options["target_error"],
        )
        results = simulate(config, self.stdout.write)
        fixed, calibrated = results["fixed"], results["calibrated"]
        self.stdout.write("")
        self.stdout.write(f"{'':<24}{'fixed':>12}{'calibrated':>12}")
        for label, attribute, fmt in (
            ("escalation rate", "escalation_rate", "{:.1%}"),
            ("post-automation error", "post_automation_error", "{:.2%}"),
            ("override rate", "override_rate", "{:.1%}"),
        ):
            self.stdout.write(
                f"{label:<24}{fmt.format(getattr(fixed, attribute)):>12}"
                f"{fmt.format(getattr(calibrated, attribute)):>12}"
            )
        self.stdout.write(
            f"{'human minutes':<24}{fixed.total('minutes'):>12.0f}"
            f"{calibrated.total('minutes'):>12.0f}"
        )
        self.stdout.write(
            f"{'final threshold':<24}{fixed.rounds[-1].threshold:>12.2f}"
            f"{calibrated.rounds[-1].threshold:>12.2f}"
        )
        self.stdout.write(cleanup_hint())
