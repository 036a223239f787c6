from __future__ import annotations

import json
from typing import Any

from django import forms

from reviews.models import Action


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=Action.choices, widget=forms.RadioSelect)
    reason_code = forms.CharField(required=False, max_length=64)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    final_output = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 12}))

    def clean_final_output(self) -> Any:
        text = self.cleaned_data.get("final_output", "")
        if self.data.get("action") != Action.EDIT:
            return None  # comparisons carry their preference in their own fields
        if not text.strip():
            raise forms.ValidationError("Enter the corrected output as JSON.")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None


class ReassignForm(forms.Form):
    reviewer = forms.CharField(max_length=150)


class AuditFilterForm(forms.Form):
    since = forms.DateTimeField(required=False, help_text="e.g. 2026-11-01 00:00 (UTC)")
    until = forms.DateTimeField(required=False)
    case = forms.UUIDField(required=False, label="Case id")
    source = forms.CharField(required=False, max_length=100)
    actor = forms.CharField(required=False, max_length=150, help_text="A username, or system")
    kind = forms.CharField(
        required=False, max_length=64, label="Event type", help_text="e.g. case.decided"
    )
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("jsonl", "JSON Lines")], required=False)
    case_lookup = forms.CharField(
        required=False, max_length=255, label="Find a case (id or external id)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "Must be after 'since'.")
        return data

    def export_filter(self) -> Any:
        from cases.audit_chain import ExportFilter

        data = self.cleaned_data
        return ExportFilter(
            since=data.get("since"),
            until=data.get("until"),
            case=str(data["case"]) if data.get("case") else None,
            source=data.get("source") or None,
            actor=data.get("actor") or None,
            kinds=(data["kind"],) if data.get("kind") else (),
        )
