"""ZKTeco PUSH endpoints (``/iclock/...``, also spelled ``....aspx``): plain Django views,
because the wire format is the vendor's. Each view parses, finds the terminal by its
serial number, calls ``zkteco.services`` and answers in text/plain with a ``Date``
header (terminals set their clock from it).

Refusals: an unknown serial number waits for approval (403), a disabled terminal or a
cookie token of another terminal 403, a paired access terminal without its token 401,
an oversized body 413, an unknown table 400, a storage failure 500 and lines ingest
would not take 503 (the terminal sends again; nothing was acknowledged).

The access dialect proves itself with its cookie token (MD5 of registry code, serial
and session): once a terminal has a registry code, every request must carry it. The
code and the session are handed out without a token only once, to the approved
terminal's first handshake (``registry`` until ``push`` gave it its session); after
that ``registry`` and ``push`` answer a terminal that shows its token, and a factory-
reset terminal is paired again by resetting its pairing in the portal. The attendance
dialect has no token: the address it calls from is watched instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from kezekshi.devices.zkteco import protocol, services
from kezekshi.devices.zkteco.services import Terminal

logger = logging.getLogger("kezekshi.devices.zkteco")

MAX_BODY = 2 * 1024 * 1024
SERIAL = re.compile(r"[A-Za-z0-9_.-]{1,100}")
Handler = Callable[[HttpRequest, Terminal, bytes], HttpResponse]
View = Callable[[HttpRequest], HttpResponse]


def reply(text: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(text, content_type="text/plain; charset=utf-8", status=status)
    response["Date"] = http_date()
    return response


def refuse(text: str, status: int) -> HttpResponse:
    return reply(text.rstrip("\n") + "\n", status)


def _max_body() -> int:
    return int(getattr(settings, "ZKTECO_MAX_BODY", MAX_BODY))


def _remote_addr(request: HttpRequest) -> str | None:
    address = request.META.get("REMOTE_ADDR") or None
    return address if address and re.fullmatch(r"[0-9A-Fa-f:.]{2,45}", address) else None


def _params(request: HttpRequest) -> dict[str, str]:
    """The query parameters but the serial number (what a terminal says of itself)."""
    return {
        str(key).replace("\x00", ""): str(value).replace("\x00", "")
        for key, value in request.GET.items()
        if key != "SN"
    }


def terminal_endpoint(
    name: str, methods: tuple[str, ...] = ("GET", "POST")
) -> Callable[[Handler], View]:
    """Wrap a handler with what every endpoint does first: method, body size, serial
    number, approval, activity, the access dialect's token, last seen, storage errors."""

    def wrap(handler: Handler) -> View:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest) -> HttpResponse:
            if request.method not in methods:
                return refuse(_("Method not allowed."), 405)
            limit = _max_body()
            declared = request.META.get("CONTENT_LENGTH") or "0"
            if declared.isdecimal() and int(declared) > limit:
                return refuse(_("The body is too large."), 413)
            try:
                body = request.body
            except RequestDataTooBig:
                return refuse(_("The body is too large."), 413)
            if len(body) > limit:
                return refuse(_("The body is too large."), 413)
            serial = request.GET.get("SN", "").strip()
            if not SERIAL.fullmatch(serial):
                return refuse(_("Send the terminal's serial number: ?SN=..."), 400)
            try:
                device = services.find_terminal(serial)
                params = _params(request)
                if device is None:
                    info = dict(params)
                    if name in ("registry", "push") or params.get("table") == "options":
                        info.update(protocol.device_info(body.decode("utf-8", "replace")))
                    services.note_unknown(
                        serial=serial,
                        protocol_name=services.guess_protocol(path=name, params=params),
                        remote_addr=_remote_addr(request),
                        info=info,
                    )
                    logger.info("zkteco SN=%s: unknown terminal, waiting for approval", serial)
                    return refuse(_("Unknown terminal: waiting for approval."), 403)
                if not device.is_active or not device.school.is_active:
                    return refuse(_("This terminal is disabled."), 403)
                terminal = Terminal(device, device.link)
                if terminal.dialect == protocol.ACC:
                    refusal = _check_token(name, terminal, request.COOKIES.get("token"))
                    if refusal is not None:
                        return refusal
                else:
                    services.note_address(terminal, _remote_addr(request))
                services.touch(device)
                return handler(request, terminal, body)
            except DatabaseError:
                logger.exception("zkteco SN=%s %s: storage failed", serial, name)
                return refuse(_("Storage failed; send it again."), 500)
            except services.NotStored:
                return refuse(_("Some records could not be stored; send them again."), 503)

        return view

    return wrap


def _check_token(name: str, terminal: Terminal, token: str | None) -> HttpResponse | None:
    """None when an access-dialect request may go on, else the refusal."""
    if token and not services.token_matches(terminal, token):
        logger.warning("zkteco SN=%s: a token of another terminal", terminal.serial)
        return refuse(_("The token does not belong to this serial number."), 403)
    link = terminal.link
    if token or not link.registry_code:
        return None  # its token, or not paired yet: the handshake starts with registry
    if not link.session_id and name in ("registry", "push"):
        return None  # the first handshake, not finished yet
    logger.warning("zkteco SN=%s %s: no token", terminal.serial, name)
    if name in ("registry", "push"):
        return refuse(
            _("This terminal is already paired: send its token, or reset its pairing in "
              "the portal."),
            403,
        )  # fmt: skip
    return refuse(_("This terminal is paired: send its token (cookie token=...)."), 401)


def _ack(count: int) -> HttpResponse:
    if getattr(settings, "ZKTECO_ACK_COUNT", False):
        return reply(f"OK: {count}\n")
    return reply("OK\n")


def _log_bad(terminal: Terminal, table: str, bad: list[protocol.Bad], lines: int) -> None:
    """Malformed lines: their number and the field that failed, never their content
    (names, pins and card numbers stay out of the logs)."""
    if not bad:
        return
    for number, name in bad[:5]:
        logger.warning("zkteco SN=%s %s: line %d skipped: bad %s", terminal.serial, table,
                       number, name)  # fmt: skip
    logger.warning("zkteco SN=%s %s: %d of %d lines malformed, skipped", terminal.serial, table,
                   len(bad), lines)  # fmt: skip


@terminal_endpoint("cdata")
def cdata(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    if request.method == "GET":
        services.remember_info(terminal, _params(request))
        if terminal.dialect == protocol.ACC:
            return reply(protocol.acc_config(services.session(terminal)))
        return reply(protocol.att_options(terminal.serial))
    if request.GET.get("AuthType", "").lower() == "device":
        return _verify(terminal, body)
    table = request.GET.get("table", "")
    return upload(terminal, table, body, tablename=request.GET.get("tablename", ""))


def upload(terminal: Terminal, table: str, body: bytes, *, tablename: str = "") -> HttpResponse:
    """One ``POST cdata?table=...``: stored before it is acknowledged."""
    key = table.lower()
    if key in ("attlog", "rtlog"):
        received = timezone.now()
        parsed = protocol.parse_attlog(body) if key == "attlog" else protocol.parse_rtlog(body)
        _log_bad(terminal, table, parsed.bad, parsed.lines)
        skew = services.measure_clock(terminal, parsed.stamps, received)
        stored, skipped = services.store_passes(
            terminal, parsed.events, skew=skew, received=received, line_nos=parsed.line_nos
        )
        services.note_status(terminal, parsed.status)
        logger.info("zkteco SN=%s %s: %d lines, %d passes stored, %d skipped, %d status, "
                    "%d malformed, clock %+ds", terminal.serial, table, parsed.lines, stored,
                    skipped, len(parsed.status), len(parsed.bad),
                    int(skew.total_seconds()))  # fmt: skip
        return _ack(len(parsed.events) + len(parsed.status))
    if key == "rtstate":
        lines = protocol.lines_of(body)
        bad = services.note_state(terminal, lines)
        if bad:
            missing = [(n, "time") for n, line in enumerate(lines, 1) if "time=" not in line]
            _log_bad(terminal, table, missing, len(lines))
        return _ack(len(lines) - bad)
    if key == "operlog":
        log = protocol.parse_operlog(body)
        _log_bad(terminal, table, log.bad, len(protocol.lines_of(body)))
        services.note_operlog(terminal, log)
        return _ack(len(log.users) + log.fingerprints + log.faces + log.operations)
    if key == "options":
        services.remember_info(terminal, protocol.device_info(body.decode("utf-8", "replace")))
        return reply("OK\n")
    if key == "tabledata":
        return _table(terminal, tablename, body)
    if key == "attphoto":
        # Photos taken at each punch are not kept: passes need no pictures of children.
        return reply("OK\n")
    return refuse(_("Unknown table: %(table)s") % {"table": protocol.clean(table, limit=40)}, 400)


def _table(terminal: Terminal, tablename: str, body: bytes) -> HttpResponse:
    name = protocol.clean(tablename, limit=30)
    if not re.fullmatch(r"[A-Za-z]{1,30}", name):
        return refuse(_("Say which table: tablename=..."), 400)
    rows, bad = protocol.table_rows(body, name)
    _log_bad(terminal, f"tabledata {name}", bad, rows + len(bad))
    services.note_table(terminal, name, rows)
    return reply(f"{name}={rows}\n")


def _verify(terminal: Terminal, body: bytes) -> HttpResponse:
    lines = protocol.lines_of(body)
    fields = protocol.key_values(lines[0]) if lines else {}
    if not fields.get("pin") and not fields.get("cardno"):
        return refuse(_("Send pin= or cardno= to verify."), 400)
    verdict = services.verify(terminal, fields)
    tips = protocol.clean(verdict.message_kk, limit=100)
    answer = "AUTH=SUCCEED" if verdict.allowed else "AUTH=FAILED"
    return reply(f"{answer}\nTIPS={tips}\n")


@terminal_endpoint("getrequest", methods=("GET",))
def getrequest(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    info = request.GET.get("INFO")
    if info:
        services.remember_info(terminal, services.att_info(info))
    text = services.commands_for(terminal)
    return reply(text or "OK\n")


@terminal_endpoint("devicecmd", methods=("POST",))
def devicecmd(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    answers, bad, extra = protocol.parse_results(body)
    _log_bad(terminal, "devicecmd", bad, len(answers) + len(bad))
    services.results(terminal, answers)
    services.remember_info(terminal, extra)
    return reply("OK\n")


@terminal_endpoint("querydata", methods=("POST",))
def querydata(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    kind = request.GET.get("type", "").lower()
    if kind == "tabledata":
        return _table(terminal, request.GET.get("tablename", ""), body)
    if kind == "options":
        services.remember_info(terminal, protocol.device_info(body.decode("utf-8", "replace")))
        return reply("OK\n")
    return refuse(_("Unknown query type."), 400)


@terminal_endpoint("registry", methods=("POST",))
def registry(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    info = protocol.device_info(body.decode("utf-8", "replace"))
    pushver = request.GET.get("pushver")
    if pushver:
        info.setdefault("pushver", pushver)
    return reply(protocol.acc_registry(services.register(terminal, info)))


@terminal_endpoint("push")
def push(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    services.remember_info(terminal, protocol.device_info(body.decode("utf-8", "replace")))
    return reply(protocol.acc_config(services.session(terminal)))


@terminal_endpoint("ping", methods=("GET", "POST"))
def ping(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    return reply("OK\n")


@terminal_endpoint("rtdata", methods=("GET",))
def rtdata(request: HttpRequest, terminal: Terminal, body: bytes) -> HttpResponse:
    """``rtdata?type=time``: the server's time, packed, in UTC with our zone beside it."""
    now = timezone.now().astimezone(dt.UTC).replace(tzinfo=None)
    return reply(f"DateTime={protocol.zk_time(now)},ServerTZ=+0500\n")
