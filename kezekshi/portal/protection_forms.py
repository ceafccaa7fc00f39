"""Forms of the data-protection officer's pages: disclosures and breaches."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kezekshi.core.models import School
from kezekshi.core.validators import normalize_phone, validate_iin
from kezekshi.people.models import Person, Pupil, SchoolClass, iin_digest

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def person_by_iin(school: School, value: str) -> Person | None:
    return Person.objects.filter(school=school, iin_digest=iin_digest(value)).first()


class DisclosureForm(forms.Form):
    iin = forms.CharField(label=_("IIN of the person whose data were given"), max_length=12)
    body = forms.CharField(label=_("State body"), max_length=300)
    legal_ground = forms.CharField(
        label=_("Legal ground"),
        max_length=300,
        help_text=_("The law and article under which the body asked, e.g. CPC art. 122."),
    )
    request_number = forms.CharField(label=_("Number of the body's request"), max_length=100)
    data_sent = forms.CharField(label=_("Data sent"), widget=forms.Textarea(attrs={"rows": 3}))
    disclosed_on = forms.DateField(label=_("Date of disclosure"), widget=DATE_INPUT)
    visible_to_subject = forms.BooleanField(
        label=_("The subject may see this disclosure in the parents' app"),
        required=False,
        initial=True,
        help_text=_("Untick only when the body has lawfully asked to keep it from the subject."),
    )

    def __init__(self, school: School, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.school = school
        self.person: Person | None = None

    def clean_iin(self) -> str:
        value = validate_iin(self.cleaned_data["iin"])
        self.person = person_by_iin(self.school, value)
        if self.person is None:
            raise ValidationError(_("No person with this IIN in the school's records."))
        return value

    def clean_disclosed_on(self) -> Any:
        value = self.cleaned_data["disclosed_on"]
        if value > timezone.localdate():
            raise ValidationError(_("The date of a disclosure cannot be in the future."))
        return value


class BreachForm(forms.Form):
    detected_at = forms.DateTimeField(
        label=_("Detected at"), widget=DATETIME_INPUT, input_formats=["%Y-%m-%dT%H:%M"]
    )
    description = forms.CharField(
        label=_("What happened"), widget=forms.Textarea(attrs={"rows": 4})
    )
    measures = forms.CharField(label=_("Measures taken"), widget=forms.Textarea(attrs={"rows": 3}))
    responsible_name = forms.CharField(label=_("Responsible person"), max_length=200)
    responsible_phone = forms.CharField(label=_("Responsible person's phone"), max_length=20)
    responsible_email = forms.EmailField(label=_("Responsible person's e-mail"), required=False)
    affected_ids = forms.CharField(
        label=_("Affected persons: IINs or personal account numbers"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("One per line, or separated by commas or spaces."),
    )
    affected_class = forms.ModelChoiceField(
        label=_("And every pupil of a class"),
        queryset=SchoolClass.objects.none(),
        required=False,
    )

    def __init__(self, school: School, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.school = school
        self.fields["affected_class"].queryset = SchoolClass.objects.filter(school=school)  # type: ignore[attr-defined]
        self._affected: dict[int, Person] = {}

    @property
    def affected(self) -> list[Person]:
        return list(self._affected.values())

    def clean_detected_at(self) -> Any:
        value = self.cleaned_data["detected_at"]
        if value > timezone.now():
            raise ValidationError(_("The time of detection cannot be in the future."))
        return value

    def clean_responsible_phone(self) -> str:
        return normalize_phone(self.cleaned_data["responsible_phone"])

    def clean_affected_ids(self) -> str:
        raw = self.cleaned_data["affected_ids"]
        unknown = []
        for token in filter(None, re.split(r"[\s,;]+", raw)):
            person = self._find(token)
            if person is None:
                unknown.append(token)
            else:
                self._affected.setdefault(person.pk, person)
        if unknown:
            raise ValidationError(
                _("Not found in the school's records: %(values)s"),
                params={"values": ", ".join(unknown[:20])},
            )
        return str(raw)

    def _find(self, token: str) -> Person | None:
        if len(token) == 12 and token.isdigit():
            try:
                return person_by_iin(self.school, validate_iin(token))
            except ValidationError:
                return None
        if len(token) == 11 and token.isdigit():
            pupil = Pupil.objects.filter(school=self.school, account_number=token).first()
            return pupil.person if pupil else None
        return None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        school_class = data.get("affected_class")
        if school_class is not None:
            for pupil in school_class.pupils.filter(is_active=True).select_related("person"):
                self._affected.setdefault(pupil.person.pk, pupil.person)
        if not self.errors and not self._affected:
            raise ValidationError(_("Name at least one affected person."))
        return data
