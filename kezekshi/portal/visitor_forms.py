"""Forms of the guard's pages: visitors, the watch list, pick-ups.

Times are typed and shown in the school's time zone; the views parse these forms under
``timezone.override`` so a "14:00" means 14:00 in Almaty.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kezekshi.access.models import Door, WatchEntry
from kezekshi.access.visitors import DEFAULT_WINDOW, exit_doors
from kezekshi.core.models import School
from kezekshi.core.validators import normalize_phone, validate_iin
from kezekshi.people.models import Person
from kezekshi.portal.protection_forms import DATE_INPUT, DATETIME_INPUT, person_by_iin


def _optional_phone(value: str) -> str:
    return normalize_phone(value) if value.strip() else ""


class VisitorForm(forms.Form):
    """The guard registers a visitor at the door. No ID document is asked for or kept."""

    full_name = forms.CharField(label=_("Full name"), max_length=300)
    phone = forms.CharField(label=_("Phone"), max_length=30)
    host = forms.CharField(label=_("Whom they visit"), max_length=300)
    purpose = forms.CharField(label=_("Why"), max_length=300)
    valid_from = forms.DateTimeField(label=_("Pass valid from"), widget=DATETIME_INPUT)
    valid_until = forms.DateTimeField(label=_("Pass valid until"), widget=DATETIME_INPUT)
    doors = forms.ModelMultipleChoiceField(
        label=_("Doors"),
        queryset=Door.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: the school's exit doors."),
    )

    def __init__(self, school: School, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        now = timezone.localtime().replace(second=0, microsecond=0)
        self.fields["valid_from"].initial = now
        self.fields["valid_until"].initial = now + DEFAULT_WINDOW
        doors = self.fields["doors"]
        doors.queryset = Door.objects.filter(school=school)  # type: ignore[attr-defined]
        doors.initial = list(exit_doors(school))

    def clean_phone(self) -> str:
        return _optional_phone(self.cleaned_data["phone"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("valid_from"), data.get("valid_until")
        if starts and ends and ends <= starts:
            self.add_error("valid_until", _("The pass must end after it starts."))
        return data


class ExpectedVisitorForm(forms.Form):
    """Staff announce a visitor: the guard finds them on the day's list."""

    full_name = forms.CharField(label=_("Full name"), max_length=300)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    purpose = forms.CharField(label=_("Why"), max_length=300)
    valid_from = forms.DateTimeField(label=_("Expected at"), widget=DATETIME_INPUT)
    hours = forms.IntegerField(label=_("For how many hours"), min_value=1, max_value=12, initial=2)

    def clean_phone(self) -> str:
        return _optional_phone(self.cleaned_data["phone"])

    def clean_valid_from(self) -> dt.datetime:
        value: dt.datetime = self.cleaned_data["valid_from"]
        if value < timezone.now() - dt.timedelta(hours=1):
            raise ValidationError(_("Choose a time that has not passed."))
        return value


class WatchEntryForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=300)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("For example: barred from collecting the child by a court order of …"),
    )
    valid_until = forms.DateField(label=_("Valid until"), widget=DATE_INPUT, required=False)
    iin = forms.CharField(
        label=_("IIN, if the person is in the school's records"),
        max_length=12,
        required=False,
        help_text=_("Links the entry to the person, so their own cards are stopped too."),
    )
    unlink = forms.BooleanField(label=_("Remove the link to the person"), required=False)

    def __init__(
        self, school: School, *args: Any, entry: WatchEntry | None = None, **kwargs: Any
    ) -> None:
        if entry is not None:
            kwargs.setdefault(
                "initial",
                {
                    "full_name": entry.full_name,
                    "phone": entry.phone,
                    "reason": entry.reason,
                    "valid_until": entry.valid_until,
                },
            )
        super().__init__(*args, **kwargs)
        self.school = school
        self.current: Person | None = entry.person if entry is not None else None
        self.person: Person | None = self.current
        if self.current is None:
            del self.fields["unlink"]

    def clean_phone(self) -> str:
        return _optional_phone(self.cleaned_data["phone"])

    def clean_iin(self) -> str:
        value = self.cleaned_data["iin"].strip()
        if not value:
            return ""
        value = validate_iin(value)
        self.person = person_by_iin(self.school, value)
        if self.person is None:
            raise ValidationError(_("No person with this IIN in the school's records."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("unlink") and not data.get("iin"):
            self.person = None
        return data
