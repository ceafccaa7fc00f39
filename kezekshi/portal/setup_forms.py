"""Forms of the access set-up pages and of a person's credentials.

The forms only parse and check the shape of the input; the rules (same school, lanes,
overlapping windows, a card already in use) are the services' and come back as errors.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kezekshi.access.models import AccessGroup, AccessSettings, Device, Direction, Door, Zone
from kezekshi.core.models import School
from kezekshi.people.models import Person

WEEKDAYS = [
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
]
_SPAN = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–—]\s*(\d{1,2})[:.](\d{2})\s*$")


class NamesForm(forms.Form):
    name_kk = forms.CharField(label=_("Name in Kazakh"), max_length=200)
    name_ru = forms.CharField(label=_("Name in Russian"), max_length=200)
    name_en = forms.CharField(label=_("Name in English"), max_length=200, required=False)


class ZoneForm(NamesForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=Zone.Kind.choices)
    parent = forms.ModelChoiceField(
        label=_("Lies inside"),
        queryset=Zone.objects.none(),
        required=False,
        empty_label=_("— entered from outside —"),
    )

    def __init__(self, *args: Any, school: School, exclude: Zone | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        zones = Zone.objects.filter(school=school)
        if exclude is not None:
            zones = zones.exclude(pk=exclude.pk)
        self.fields["parent"].queryset = zones  # type: ignore[attr-defined]


class DoorForm(NamesForm):
    zone = forms.ModelChoiceField(label=_("Leads into zone"), queryset=Zone.objects.none())
    lanes = forms.IntegerField(label=_("Lanes"), min_value=1, max_value=32, initial=1)
    is_exit = forms.BooleanField(
        label=_("Leads outside (evacuation opens it; counts for attendance)"),
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["zone"].queryset = Zone.objects.filter(school=school)  # type: ignore[attr-defined]


class DeviceForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Device.Kind.choices)
    door = forms.ModelChoiceField(
        label=_("Door"), queryset=Door.objects.none(), required=False, empty_label=_("— none —")
    )
    lane = forms.IntegerField(label=_("Lane"), min_value=1, max_value=32, initial=1)
    direction = forms.ChoiceField(
        label=_("Direction"),
        choices=[("", _("The device says it with each pass")), *Direction.choices],
        required=False,
    )
    serial_number = forms.CharField(label=_("Serial number"), max_length=100, required=False)

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["door"].queryset = Door.objects.filter(school=school)  # type: ignore[attr-defined]


class GroupForm(NamesForm):
    members = forms.ChoiceField(label=_("Members"), choices=AccessGroup.Members.choices)
    persons = forms.ModelMultipleChoiceField(
        label=_("Persons (for a group of listed persons)"),
        queryset=Person.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    doors = forms.ModelMultipleChoiceField(
        label=_("Doors"), queryset=Door.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    valid_from = forms.DateField(
        label=_("Valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_until = forms.DateField(
        label=_("Valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    open_on_days_off = forms.BooleanField(label=_("Also on holidays and days off"), required=False)

    def __init__(
        self, *args: Any, school: School, group: AccessGroup | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["doors"].queryset = Door.objects.filter(school=school)  # type: ignore[attr-defined]
        # Staff and pupils only: a listed group admits people of the school, not guardians.
        # A blocked person cannot be added, but the group's blocked members stay choices:
        # saving the group must not silently drop them (they would then be refused).
        allowed = Q(blocked_at__isnull=True)
        if group is not None and group.pk is not None:
            allowed |= Q(pk__in=group.persons.values("pk"))
        people = (
            Person.objects.filter(school=school)
            .filter(Q(staff__isnull=False) | Q(pupil__isnull=False))
            .filter(allowed)
        )
        persons = self.fields["persons"]
        persons.queryset = people.order_by("last_name", "first_name")  # type: ignore[attr-defined]
        persons.label_from_instance = _person_choice  # type: ignore[attr-defined]


def _person_choice(person: Person) -> str:
    """A listed person as the group form offers them; a blocked member is marked."""
    if person.blocked_at is not None:
        return f"{person} ({_('blocked')})"
    return str(person)


def parse_windows(text: str) -> list[tuple[dt.time, dt.time]]:
    """``"08:00-13:30, 14:00-19:00"`` as time pairs; an empty text is a closed day."""
    windows = []
    for part in filter(None, (piece.strip() for piece in re.split(r"[,;\n]", text or ""))):
        match = _SPAN.match(part)
        if not match:
            raise forms.ValidationError(
                _("Write windows like 08:00-13:30, separated by commas."), code="invalid_window"
            )
        h1, m1, h2, m2 = (int(value) for value in match.groups())
        try:
            windows.append((dt.time(h1, m1), dt.time(h2, m2)))
        except ValueError as exc:
            raise forms.ValidationError(
                _("%(text)s is not a time of day.") % {"text": part}, code="invalid_time"
            ) from exc
    return windows


def format_windows(windows: list[tuple[dt.time, dt.time]]) -> str:
    return ", ".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in windows)


class WeekForm(forms.Form):
    """The group's windows, one line per weekday; an empty line closes that day."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day, label in enumerate(WEEKDAYS):
            self.fields[f"day{day}"] = forms.CharField(
                label=label,
                required=False,
                max_length=300,
                widget=forms.TextInput(attrs={"placeholder": "08:00-13:30"}),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        week = {}
        for day in range(7):
            try:
                week[day] = parse_windows(data.get(f"day{day}", ""))
            except forms.ValidationError as exc:
                self.add_error(f"day{day}", exc)
        data["week"] = week
        return data


class SettingsForm(forms.ModelForm):
    class Meta:
        model = AccessSettings
        fields = [
            "anti_passback_minutes",
            "permit_grade_from",
            "permit_grade_to",
            "late_grace_minutes",
            "absence_alert_days",
            "notify_repeat_minutes",
        ]


# --- credentials ----------------------------------------------------------------------


class CardForm(forms.Form):
    uid = forms.CharField(
        label=_("Card number"),
        max_length=40,
        help_text=_("As the reader or the card shows it: 123,45678 · 8106606 · 04:A2:1B:7C."),
    )
    valid_until = forms.DateField(
        label=_("Valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class BlockForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
    lost = forms.BooleanField(label=_("The card is lost"), required=False)


class ReplaceForm(forms.Form):
    new_uid = forms.CharField(label=_("New card number"), max_length=40)
    reason = forms.CharField(label=_("Reason"), max_length=200, initial=_("Lost"), required=False)


class PinForm(forms.Form):
    pin = forms.RegexField(
        label=_("PIN"),
        regex=r"^\d{6,8}$",
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        error_messages={"invalid": _("A PIN has 6 to 8 digits.")},
    )
