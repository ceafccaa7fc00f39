"""The school admin's terminal pages: health and sync status of each terminal, what a
terminal still waits for, claiming a terminal that called in by its serial number, and
the buttons (full resync, open the door, restart).

Terminals waiting for approval belong to no school and are listed to nobody: an admin
types the serial number read off the terminal (exact match) to approve or forget it.

Pages parse a form, call ``kezekshi.devices.setup`` and render; a refusal of the service
is shown on the form with the status it carries. A terminal's detail lists commands
with the persons they are about: a read of personal data, written to the audit log.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kezekshi.access.models import Device, Direction, Door
from kezekshi.accounts.decorators import staff_view
from kezekshi.accounts.roles import Perm
from kezekshi.core.errors import ServiceError
from kezekshi.core.models import School
from kezekshi.devices import health, setup
from kezekshi.devices.hikvision import push_path
from kezekshi.devices.models import Command, DecisionMode, PendingTerminal, Protocol
from kezekshi.portal.inputs import submitted
from kezekshi.portal.pages import school_of, school_page
from kezekshi.privacy import audit

MANAGE = staff_view(Perm.ACCESS_MANAGE)
# Commands listed on a terminal's page: the waiting and the failed, newest first.
SHOWN_COMMANDS = 200


class LinkForm(forms.Form):
    decision_mode = forms.ChoiceField(
        label=gettext_lazy("Who decides"), choices=DecisionMode.choices
    )
    address = forms.CharField(
        label=gettext_lazy("Address (http://host:port)"), max_length=200, required=False
    )
    username = forms.CharField(label=gettext_lazy("User name"), max_length=100, required=False)
    password = forms.CharField(
        label=gettext_lazy("Password"),
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Leave empty to keep the password stored."),
    )

    def __init__(self, *args: Any, hikvision: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not hikvision:
            for name in ("address", "username", "password"):
                del self.fields[name]


class ClaimForm(forms.Form):
    serial_number = forms.CharField(
        label=gettext_lazy("Serial number"),
        max_length=100,
        help_text=gettext_lazy("As the terminal's label or its menu shows it."),
    )


class ApproveForm(LinkForm):
    serial_number = forms.CharField(max_length=100, widget=forms.HiddenInput)
    name = forms.CharField(label=pgettext_lazy("of a terminal", "Name"), max_length=200)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Device.Kind.choices)
    door = forms.ModelChoiceField(label=gettext_lazy("Door"), queryset=Door.objects.none())
    lane = forms.IntegerField(label=gettext_lazy("Lane"), min_value=1, max_value=32, initial=1)
    direction = forms.ChoiceField(
        label=gettext_lazy("Direction"),
        choices=[("", gettext_lazy("The device says it with each pass")), *Direction.choices],
        required=False,
    )
    field_order = ["name", "kind", "door", "lane", "direction", "decision_mode"]

    def __init__(self, *args: Any, school: School, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["door"].queryset = Door.objects.filter(school=school)  # type: ignore[attr-defined]
        self.order_fields(self.field_order)


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return school_page(request, f"portal/devices/{template}", context, status=status)


def _device(request: HttpRequest, device_id: int) -> Device:
    return get_object_or_404(Device, pk=device_id, school=school_of(request))


@MANAGE
@require_GET
def terminals(request: HttpRequest) -> HttpResponse:
    """Every device of the school with its health and sync status, and the form that
    claims a terminal waiting for approval by its serial number."""
    return _page(
        request,
        "terminals.html",
        {
            "rows": health.terminal_status(school_of(request).pk),
            "claim": ClaimForm(),
            "silent_minutes": health.silent_after().total_seconds() // 60,
        },
    )


def _terminal_page(
    request: HttpRequest, device: Device, *, form: LinkForm | None = None, status: int = 200
) -> HttpResponse:
    [row] = health.terminal_status(device.school_id, device.pk)
    link = row.link
    hikvision = link is not None and link.protocol == Protocol.HIKVISION
    if form is None and link is not None:
        form = LinkForm(
            initial={
                "decision_mode": link.decision_mode,
                "address": link.address,
                "username": link.username,
            },
            hikvision=hikvision,
        )
    commands = list(
        Command.objects.filter(
            device=device,
            status__in=[Command.Status.PENDING, Command.Status.SENT, Command.Status.FAILED],
        )
        .select_related("person")
        .order_by("-id")[:SHOWN_COMMANDS]
    )
    named = {c.person_id for c in commands if c.person_id is not None}
    if named:
        audit.record_list(
            request=request, what="terminal_commands", device=device.pk, shown=len(named)
        )
    return _page(
        request,
        "terminal.html",
        {
            "row": row,
            "device": device,
            "link": link,
            "form": form,
            "commands": commands,
            "push_path": push_path(device.secret, device.serial_number) if hikvision else "",
        },
        status=status,
    )


@MANAGE
@require_http_methods(["GET", "POST"])
def terminal(request: HttpRequest, device_id: int) -> HttpResponse:
    """One terminal: its figures, the commands it waits for or that failed, and how we
    talk to it (a posted form changes the link)."""
    device = _device(request, device_id)
    if request.method != "POST":
        return _terminal_page(request, device)
    link = getattr(device, "link", None)
    if link is None:
        raise Http404
    form = LinkForm(request.POST, hikvision=link.protocol == Protocol.HIKVISION)
    saved, status = submitted(
        form,
        lambda data: setup.save_link(
            device=device,
            decision_mode=data["decision_mode"],
            address=data.get("address", ""),
            username=data.get("username", ""),
            password=data.get("password", ""),
        ),
        posted=True,
    )
    if saved is not None:
        messages.success(request, _("The terminal's settings are saved."))
        return redirect("portal:device_terminal", device_id=device.pk)
    return _terminal_page(request, device, form=form, status=status)


def _button(request: HttpRequest, device_id: int, action: Any, done: str) -> HttpResponse:
    device = _device(request, device_id)
    try:
        action(device=device)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done)
    return redirect("portal:device_terminal", device_id=device.pk)


@MANAGE
@require_POST
def terminal_resync(request: HttpRequest, device_id: int) -> HttpResponse:
    return _button(
        request,
        device_id,
        setup.resync,
        _("Everything is queued again; the terminal gets it at its next polls."),
    )


@MANAGE
@require_POST
def terminal_open(request: HttpRequest, device_id: int) -> HttpResponse:
    return _button(
        request, device_id, setup.open_door, _("The door opens at the terminal's next poll.")
    )


@MANAGE
@require_POST
def terminal_reboot(request: HttpRequest, device_id: int) -> HttpResponse:
    return _button(request, device_id, setup.reboot, _("The terminal restarts at its next poll."))


@MANAGE
@require_POST
def terminal_pair_again(request: HttpRequest, device_id: int) -> HttpResponse:
    return _button(
        request,
        device_id,
        setup.reset_pairing,
        _("The terminal pairs again at its next handshake."),
    )


def _claim_page(request: HttpRequest, form: ClaimForm, *, status: int) -> HttpResponse:
    return _page(request, "claim.html", {"form": form}, status=status)


def _approve_page(
    request: HttpRequest, pending: PendingTerminal, form: ApproveForm, *, status: int = 200
) -> HttpResponse:
    return _page(request, "approve.html", {"form": form, "pending": pending}, status=status)


@MANAGE
@require_http_methods(["GET", "POST"])
def pending_claim(request: HttpRequest) -> HttpResponse:
    """Claim a terminal waiting for approval: the admin types its serial number (exact
    match); the terminal's details and the approval form follow. A posted approval binds
    it to this school (a device on a door, with its link)."""
    school = school_of(request)
    if request.method != "POST":
        return _claim_page(request, ClaimForm(), status=200)
    if "name" not in request.POST:  # the serial number typed
        claim = ClaimForm(request.POST)
        pending, status = submitted(
            claim,
            lambda data: setup.waiting_terminal(serial_number=data["serial_number"]),
            posted=True,
            field="serial_number",
        )
        if pending is None:
            return _claim_page(request, claim, status=status)
        form = ApproveForm(
            initial={
                "serial_number": pending.serial_number,
                "name": pending.serial_number,
                "decision_mode": DecisionMode.DEVICE,
            },
            school=school,
            hikvision=pending.protocol == Protocol.HIKVISION,
        )
        return _approve_page(request, pending, form)
    try:
        pending = setup.waiting_terminal(serial_number=request.POST.get("serial_number", ""))
    except ServiceError as exc:
        claim = ClaimForm(request.POST)
        claim.is_valid()
        claim.add_error("serial_number", str(exc.message))
        return _claim_page(request, claim, status=exc.status)
    form = ApproveForm(
        request.POST, school=school, hikvision=pending.protocol == Protocol.HIKVISION
    )
    device, status = submitted(
        form,
        lambda data: setup.approve_terminal(
            school=school,
            serial_number=data["serial_number"],
            name=data["name"],
            kind=data["kind"],
            door=data["door"],
            lane=data["lane"],
            direction=data["direction"],
            decision_mode=data["decision_mode"],
            address=data.get("address", ""),
            username=data.get("username", ""),
            password=data.get("password", ""),
        ),
        posted=True,
    )
    if device is not None:
        messages.success(
            request,
            _("Terminal %(serial)s is now «%(name)s».")
            % {"serial": device.serial_number, "name": device.name},
        )
        return redirect("portal:device_terminal", device_id=device.pk)
    return _approve_page(request, pending, form, status=status)


@MANAGE
@require_POST
def pending_forget(request: HttpRequest) -> HttpResponse:
    """Forget a terminal waiting for approval, named by its exact serial number."""
    claim = ClaimForm(request.POST)
    forgotten, status = submitted(
        claim,
        lambda data: setup.forget_terminal(serial_number=data["serial_number"]),
        posted=True,
        field="serial_number",
    )
    if forgotten is None:
        return _claim_page(request, claim, status=status)
    messages.success(request, _("Terminal %(serial)s is forgotten.") % {"serial": forgotten})
    return redirect("portal:device_terminals")
