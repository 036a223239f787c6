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
            return None
        if not text.strip():
            raise forms.ValidationError("Enter the corrected output as JSON.")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None


class ReassignForm(forms.Form):
    reviewer = forms.CharField(max_length=150)
