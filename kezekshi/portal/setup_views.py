"""The school admin's access set-up: zones, doors, devices, access groups, settings.

Pages parse a form, call ``kezekshi.access.setup`` and render; a refusal of the service
is shown on the form with the status it carries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.access import services, setup
from kezekshi.access.decisions import settings_for
from kezekshi.access.models import AccessGroup, Credential, Device, Door, Zone
from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.roles import Perm
from kezekshi.people.models import Person, Pupil
from kezekshi.portal.inputs import submitted
from kezekshi.portal.pages import school_of, school_page
from kezekshi.portal.setup_forms import (
    WEEKDAYS,
    BlockForm,
    CardForm,
    DeviceForm,
    DoorForm,
    GroupForm,
    PinForm,
    ReplaceForm,
    SettingsForm,
    WeekForm,
    ZoneForm,
    format_windows,
)
from kezekshi.privacy import audit
from kezekshi.privacy.blocking import sees_blocked

MANAGE = staff_view(Perm.ACCESS_MANAGE)


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return school_page(request, f"portal/setup/{template}", context, status=status)


def _week(group: AccessGroup) -> list[tuple[str, str]]:
    windows: dict[int, list[Any]] = {day: [] for day in range(7)}
    for window in group.windows.all():
        windows[window.weekday].append((window.starts_at, window.ends_at))
    return [(str(WEEKDAYS[day]), format_windows(spans)) for day, spans in windows.items()]


@MANAGE
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    groups = (
        AccessGroup.objects.filter(school=school)
        .prefetch_related("doors", "windows")
        .order_by("pk")
    )
    return _page(
        request,
        "overview.html",
        {
            "zones": Zone.objects.filter(school=school).select_related("parent"),
            "doors": Door.objects.filter(school=school).select_related("zone"),
            "groups": [(group, _week(group)) for group in groups],
            "device_count": Device.objects.filter(school=school).count(),
            "settings": settings_for(school.pk),
        },
    )


# --- zones and doors ------------------------------------------------------------------


def _zone_page(request: HttpRequest, zone: Zone | None) -> HttpResponse:
    school = school_of(request)
    initial = {}
    if zone is not None:
        initial = {
            "name_kk": zone.name_kk,
            "name_ru": zone.name_ru,
            "name_en": zone.name_en,
            "kind": zone.kind,
            "parent": zone.parent_id,
        }
    form = ZoneForm(request.POST or None, initial=initial, school=school, exclude=zone)
    saved, status = submitted(
        form,
        lambda data: setup.save_zone(school=school, zone=zone, **data),
        posted=request.method == "POST",
    )
    if saved is not None:
        messages.success(request, _("The zone is saved."))
        return redirect("portal:access_setup")
    return _page(request, "zone.html", {"form": form, "zone": zone}, status=status)


@MANAGE
@require_http_methods(["GET", "POST"])
def zone_new(request: HttpRequest) -> HttpResponse:
    return _zone_page(request, None)


@MANAGE
@require_http_methods(["GET", "POST"])
def zone_edit(request: HttpRequest, zone_id: int) -> HttpResponse:
    return _zone_page(request, get_object_or_404(Zone, pk=zone_id, school=school_of(request)))


def _door_page(request: HttpRequest, door: Door | None) -> HttpResponse:
    school = school_of(request)
    initial: dict[str, Any] = {}
    if door is not None:
        initial = {
            "name_kk": door.name_kk,
            "name_ru": door.name_ru,
            "name_en": door.name_en,
            "zone": door.zone_id,
            "lanes": door.lanes,
            "is_exit": door.is_exit,
        }
    form = DoorForm(request.POST or None, initial=initial, school=school)
    saved, status = submitted(
        form,
        lambda data: setup.save_door(school=school, door=door, **data),
        posted=request.method == "POST",
    )
    if saved is not None:
        messages.success(request, _("The door is saved."))
        return redirect("portal:access_setup")
    return _page(request, "door.html", {"form": form, "door": door}, status=status)


@MANAGE
@require_http_methods(["GET", "POST"])
def door_new(request: HttpRequest) -> HttpResponse:
    return _door_page(request, None)


@MANAGE
@require_http_methods(["GET", "POST"])
def door_edit(request: HttpRequest, door_id: int) -> HttpResponse:
    return _door_page(request, get_object_or_404(Door, pk=door_id, school=school_of(request)))


# --- devices --------------------------------------------------------------------------


@MANAGE
@require_GET
def devices(request: HttpRequest) -> HttpResponse:
    rows = Device.objects.filter(school=school_of(request)).select_related("door").order_by("name")
    return _page(request, "devices.html", {"devices": rows})


def _secret_page(request: HttpRequest, device: Device, secret: str, *, fresh: bool) -> HttpResponse:
    response = _page(
        request,
        "device_secret.html",
        {
            "device": device,
            "secret": secret,
            "fresh": fresh,
            "decide_path": "/api/v1/access/decide",
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@MANAGE
@never_cache
@require_http_methods(["GET", "POST"])
def device_new(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    form = DeviceForm(request.POST or None, school=school)
    added, status = submitted(
        form,
        lambda data: setup.add_device(school=school, **data),
        posted=request.method == "POST",
    )
    if added is not None:
        device, secret = added
        return _secret_page(request, device, secret, fresh=True)
    return _page(request, "device.html", {"form": form, "device": None}, status=status)


@MANAGE
@require_http_methods(["GET", "POST"])
def device_edit(request: HttpRequest, device_id: int) -> HttpResponse:
    school = school_of(request)
    device = get_object_or_404(Device, pk=device_id, school=school)
    initial = {
        "name": device.name,
        "kind": device.kind,
        "door": device.door_id,
        "lane": device.lane,
        "direction": device.direction,
        "serial_number": device.serial_number,
    }
    form = DeviceForm(request.POST or None, initial=initial, school=school)
    saved, status = submitted(
        form,
        lambda data: setup.change_device(device=device, **data),
        posted=request.method == "POST",
    )
    if saved is not None:
        messages.success(request, _("The device is saved."))
        return redirect("portal:access_devices")
    return _page(request, "device.html", {"form": form, "device": device}, status=status)


@MANAGE
@require_POST
def device_rotate(request: HttpRequest, device_id: int) -> HttpResponse:
    device = get_object_or_404(Device, pk=device_id, school=school_of(request))
    secret = setup.rotate_secret(device=device)
    return _secret_page(request, device, secret, fresh=False)


@MANAGE
@require_POST
def device_active(request: HttpRequest, device_id: int) -> HttpResponse:
    device = get_object_or_404(Device, pk=device_id, school=school_of(request))
    active = request.POST.get("active") == "1"
    setup.set_device_active(device=device, active=active)
    if active:
        messages.success(request, _("The device is switched on."))
    else:
        messages.success(request, _("The device is switched off: its calls are refused."))
    return redirect("portal:access_devices")


# --- access groups --------------------------------------------------------------------


def _group_page(
    request: HttpRequest,
    group: AccessGroup | None,
    *,
    week: WeekForm | None = None,
    status: int = 200,
) -> HttpResponse:
    school = school_of(request)
    initial: dict[str, Any] = {}
    if group is not None:
        initial = {
            "name_kk": group.name_kk,
            "name_ru": group.name_ru,
            "name_en": group.name_en,
            "members": group.members,
            "persons": list(group.persons.values_list("pk", flat=True)),
            "doors": list(group.doors.values_list("pk", flat=True)),
            "valid_from": group.valid_from,
            "valid_until": group.valid_until,
            "open_on_days_off": group.open_on_days_off,
        }
    editing = request.method == "POST" and week is None
    form = GroupForm(request.POST if editing else None, initial=initial, school=school, group=group)
    if editing:
        saved, status = submitted(
            form,
            lambda data: setup.save_group(school=school, group=group, **data),
            posted=True,
        )
        if saved is not None:
            messages.success(request, _("The access group is saved."))
            return redirect("portal:access_group", group_id=saved.pk)
    if group is not None and week is None:
        week = WeekForm(initial={f"day{day}": text for day, (_n, text) in enumerate(_week(group))})
    # The form lists every pupil and staff member by name: a read of personal data.
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        target=request.path,
        details={
            "list": "access_group_persons",
            "group": group.pk if group is not None else None,
            "shown": form.fields["persons"].queryset.count(),  # type: ignore[attr-defined]
        },
        request=request,
    )
    return _page(request, "group.html", {"form": form, "group": group, "week": week}, status=status)


@MANAGE
@require_http_methods(["GET", "POST"])
def group_new(request: HttpRequest) -> HttpResponse:
    return _group_page(request, None)


@MANAGE
@require_http_methods(["GET", "POST"])
def group_edit(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(
        AccessGroup.objects.prefetch_related("windows"), pk=group_id, school=school_of(request)
    )
    return _group_page(request, group)


@MANAGE
@require_POST
def group_week(request: HttpRequest, group_id: int) -> HttpResponse:
    school = school_of(request)
    group = get_object_or_404(AccessGroup, pk=group_id, school=school)
    week = WeekForm(request.POST)
    saved, status = submitted(
        week, lambda data: setup.set_week(group=group, week=data["week"]), posted=True
    )
    if saved is not None:
        messages.success(request, _("The weekly time windows are saved."))
        return redirect("portal:access_group", group_id=group.pk)
    return _group_page(request, group, week=week, status=status)


# --- settings -------------------------------------------------------------------------


@MANAGE
@require_http_methods(["GET", "POST"])
def access_settings(request: HttpRequest) -> HttpResponse:
    school = school_of(request)
    row = settings_for(school.pk)
    form = SettingsForm(request.POST or None, instance=row)
    saved, status = submitted(
        form,
        lambda data: setup.save_settings(school=school, **data),
        posted=request.method == "POST",
    )
    if saved is not None:
        messages.success(request, _("The access settings are saved."))
        return redirect("portal:access_setup")
    return _page(request, "settings.html", {"form": form}, status=status)


# --- a person's credentials (guards and admins) ---------------------------------------

CARDS = staff_view(Perm.ACCESS_CARDS)


def _holder(request: HttpRequest, person_id: int) -> Person:
    """A pupil or staff member of the school; a blocked one only for the safety roles."""
    school = school_of(request)
    person = get_object_or_404(
        Person.objects.select_related("pupil__school_class", "staff").filter(
            Q(pupil__isnull=False) | Q(staff__isnull=False)
        ),
        pk=person_id,
        school=school,
    )
    if person.blocked_at is not None and not sees_blocked(request.user, school):  # type: ignore[arg-type]
        raise Http404
    return person


def _until(day: dt.date | None) -> dt.datetime | None:
    """A card valid "until" a day is valid to the end of that day, school time."""
    if day is None:
        return None
    end = dt.datetime.combine(day, dt.time.max)
    return end.replace(tzinfo=ZoneInfo(settings.SCHOOL_TIME_ZONE))


def _credentials_page(
    request: HttpRequest,
    person: Person,
    *,
    card: CardForm | None = None,
    pin: PinForm | None = None,
    failed: tuple[int, forms.Form] | None = None,
    status: int = 200,
) -> HttpResponse:
    school = school_of(request)
    rows = (
        Credential.objects.filter(school=school, person=person)
        .select_related("replaced_by")
        .order_by("-created_at", "-pk")
    )
    lines = []
    for row in rows:
        block, replace = BlockForm(prefix=f"c{row.pk}"), ReplaceForm(prefix=f"c{row.pk}")
        if failed is not None and failed[0] == row.pk:
            if isinstance(failed[1], ReplaceForm):
                replace = failed[1]
            else:
                block = failed[1]  # type: ignore[assignment]
        lines.append((row, block, replace))
    audit.record(
        action=audit.Action.VIEW,
        actor=request.user,  # type: ignore[arg-type]
        school=school,
        person=person,
        target=request.path,
        details={"page": "credentials"},
        request=request,
    )
    return render(
        request,
        "portal/credentials/person.html",
        {
            "school": school,
            "person": person,
            "pupil": getattr(person, "pupil", None),
            "lines": lines,
            "card_form": card or CardForm(),
            "pin_form": pin or PinForm(),
            "active": Credential.Status.ACTIVE,
            "time_zone": settings.SCHOOL_TIME_ZONE,
        },
        status=status,
    )


@CARDS
@require_GET
def person_credentials(request: HttpRequest, person_id: int) -> HttpResponse:
    return _credentials_page(request, _holder(request, person_id))


@CARDS
@require_GET
def pupil_credentials(request: HttpRequest, pupil_id: int) -> HttpResponse:
    pupil = get_object_or_404(Pupil, pk=pupil_id, school=school_of(request))
    return _credentials_page(request, _holder(request, pupil.person_id))


@CARDS
@require_POST
def issue_card(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _holder(request, person_id)
    form = CardForm(request.POST)
    card, status = submitted(
        form,
        lambda data: services.issue_card(
            person=person,
            uid=data["uid"],
            by=request.user,  # type: ignore[arg-type]
            valid_until=_until(data["valid_until"]),
        ),
        posted=True,
        field="uid",
    )
    if card is not None:
        messages.success(request, _("Card …%(last)s is issued.") % {"last": card.value[-4:]})
        return redirect("portal:person_credentials", person_id=person.pk)
    return _credentials_page(request, person, card=form, status=status)


@CARDS
@require_POST
def set_pin(request: HttpRequest, person_id: int) -> HttpResponse:
    person = _holder(request, person_id)
    form = PinForm(request.POST)
    saved, status = submitted(
        form,
        lambda data: services.set_pin(person=person, pin=data["pin"], by=request.user),  # type: ignore[arg-type]
        posted=True,
        field="pin",
    )
    if saved is not None:
        messages.success(request, _("The PIN is set."))
        return redirect("portal:person_credentials", person_id=person.pk)
    return _credentials_page(request, person, pin=form, status=status)


def _credential(request: HttpRequest, credential_id: int) -> tuple[Credential, Person]:
    """A credential of a pupil or staff member of the school, with its holder."""
    credential = get_object_or_404(
        Credential.objects.filter(person__isnull=False), pk=credential_id, school=school_of(request)
    )
    return credential, _holder(request, credential.person_id)  # type: ignore[arg-type]


@CARDS
@require_POST
def block_credential(request: HttpRequest, credential_id: int) -> HttpResponse:
    credential, person = _credential(request, credential_id)
    form = BlockForm(request.POST, prefix=f"c{credential.pk}")
    if not form.is_valid():
        return _credentials_page(request, person, failed=(credential.pk, form), status=422)
    setup.block_card(
        credential=credential,
        by=request.user,  # type: ignore[arg-type]
        reason=form.cleaned_data["reason"],
        lost=form.cleaned_data["lost"],
    )
    messages.success(request, _("%(credential)s is blocked.") % {"credential": credential})
    return redirect("portal:person_credentials", person_id=person.pk)


@CARDS
@require_POST
def replace_card(request: HttpRequest, credential_id: int) -> HttpResponse:
    """A lost card: blocked at once and a new one issued to the same person, in one step."""
    credential, person = _credential(request, credential_id)
    form = ReplaceForm(request.POST, prefix=f"c{credential.pk}")
    new, status = submitted(
        form,
        lambda data: services.replace_card(
            credential=credential,
            new_uid=data["new_uid"],
            by=request.user,  # type: ignore[arg-type]
            reason=data["reason"] or _("Lost"),
        ),
        posted=True,
        field="new_uid",
    )
    if new is not None:
        messages.success(
            request,
            _("Card …%(old)s is blocked; card …%(new)s is issued instead.")
            % {"old": credential.value[-4:], "new": new.value[-4:]},
        )
        return redirect("portal:person_credentials", person_id=person.pk)
    return _credentials_page(request, person, failed=(credential.pk, form), status=status)
