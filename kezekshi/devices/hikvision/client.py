"""Calling a Hikvision terminal's ISAPI: digest auth, JSON (``?format=json``), 5 s timeouts.

Every failure is an ``IsapiError`` with the HTTP status (0 when the terminal could not be
reached) and the ``subStatusCode`` the terminal gave, so the executor can tell "try again
later" (unreachable) from "the terminal refused this command" (anything else).

Digest auth is the stdlib's ``HTTPDigestAuthHandler``, answering one challenge per call
and never retrying a refused password: a Hikvision terminal locks out an address after a
handful of failed logins, which would stop every later sync.

The address is typed in by a school admin, so it is checked like any address the server
is asked to call (``check_address``): a terminal on a network, never this machine, a
link-local or multicast address or a cloud's metadata service. The check is made when
the address is saved, again before every call, and once more on the very address the
socket connects to (a name that resolved to a LAN address at the first check cannot
point elsewhere at the third). Redirects are not followed and no proxy is used. What a
terminal answers never reaches the portal as text: an error keeps our own summary, the
HTTP status and the terminal's ``subStatusCode`` as a short code.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import re
import secrets
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _

from kezekshi.core.errors import ServiceError
from kezekshi.devices.hikvision import xml_fields

TIMEOUT = 5.0
MAX_ANSWER = 4 * 1024 * 1024
NAME_LENGTH = 32  # what the terminals' user table holds
# The face library every terminal has (the "blacklist" in Hikvision's words is the list of
# faces that open the door).
FACE_LIBRARY = {"faceLibType": "blackFD", "FDID": "1"}
DEFAULT_BEGIN = "2000-01-01T00:00:00"
DEFAULT_END = "2037-12-31T23:59:59"


MAX_ADDRESS = 200  # Link.address
HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}\.)*[a-z0-9-]{0,62}[a-z0-9]\.?$|^[a-z0-9]$")
# The instance metadata services of the clouds a server may run in (AWS, GCP, Azure,
# Yandex, DigitalOcean, Oracle... answer on 169.254.169.254, refused as link-local anyway).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(ip)
    for ip in (
        "169.254.169.254",  # most clouds
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud Classic
    )
)
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # 0.x.x.x reaches this machine on Linux
SHORT_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,48}$")


class AddressRefused(ServiceError):
    """A terminal address the server must not call: ``code`` ``invalid_address``."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_address", message, status=422)


def _loopback_allowed() -> bool:
    """Development and tests run the simulated terminal on this machine: the setting
    ``ISAPI_ALLOW_LOOPBACK`` (off unless set) lets the client call 127.0.0.1."""
    from django.conf import settings

    return bool(getattr(settings, "ISAPI_ALLOW_LOOPBACK", False))


def refused_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the server must not call this IP address. The school LANs (10/8,
    172.16/12, 192.168/16, IPv6 unique-local) are where terminals live: allowed."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return refused_ip(mapped)
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip in METADATA_ADDRESSES:
        return True
    if ip.is_loopback:
        return not _loopback_allowed()
    return (
        ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved  # 240/4 with the broadcast address; ::/8 (IPv4-compatible)
        or (isinstance(ip, ipaddress.IPv4Address) and ip in THIS_NETWORK)
    )


def _resolve(host: str, port: int) -> list[str]:
    """Every IP address ``host`` resolves to (an IP address resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _check_ips(host: str, port: int) -> list[str]:
    """The addresses of ``host``, all of them allowed; ``AddressRefused`` otherwise."""
    try:
        ips = _resolve(host, port)
    except (OSError, UnicodeError):
        raise AddressRefused(_("The terminal's address cannot be found.")) from None
    if not ips:
        raise AddressRefused(_("The terminal's address cannot be found."))
    for ip in ips:
        try:
            refused = refused_ip(ipaddress.ip_address(ip.split("%", 1)[0]))
        except ValueError:
            refused = True
        if refused:
            raise AddressRefused(
                _(
                    "This address is not a terminal on a network: this server, link-local, "
                    "multicast and cloud metadata addresses are refused."
                )
            )
    return ips


def check_address(address: str) -> str:
    """The terminal's address as the base URL the client calls: ``http(s)://host[:port]``
    with nothing else (no user:password, path, query or fragment), whose host resolves
    only to addresses the server may call. Raises ``AddressRefused`` (a ``ServiceError``,
    code ``invalid_address``, status 422) with a message for the admin."""
    badly_written = AddressRefused(_("Give the terminal's address as http://host:port."))
    text = address.strip()
    if text.endswith("/") and not text.endswith("//"):
        text = text[:-1]
    if not text or len(text) > MAX_ADDRESS or not text.isascii() or not text.isprintable():
        raise badly_written
    if any(char in text for char in " \\@?#"):
        raise badly_written
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise badly_written from None
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        raise badly_written
    if not host or parts.username is not None or parts.password is not None or port == 0:
        raise badly_written
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        if not HOST_NAME.match(host) or host.replace(".", "").isdigit():
            raise badly_written from None  # 2130706433, 127.1: no host names of ours
    if isinstance(literal, ipaddress.IPv6Address) and literal.scope_id:
        raise badly_written
    _check_ips(host, port or (443 if scheme == "https" else 80))
    netloc = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    return f"{scheme}://{netloc}" + (f":{port}" if port is not None else "")


class IsapiError(Exception):
    """A call the terminal did not carry out. ``status`` 0: it could not be reached."""

    def __init__(self, status: int, sub_status: str, message: str) -> None:
        super().__init__(f"ISAPI {status or 'unreachable'} {sub_status}: {message}")
        self.status = status
        self.sub_status = sub_status
        self.message = message

    @property
    def unreachable(self) -> bool:
        return self.status == 0


def clean_name(name: str, limit: int = NAME_LENGTH) -> str:
    """A name the terminal can hold: no control or format characters, at most 32 (device
    sync already sends such names; checked again here, where the bytes leave)."""
    from kezekshi.devices.sync import sanitise_name

    return sanitise_name(name, limit=limit)


def local_text(value: str | None, default: str) -> str:
    """An ISO moment as the terminal's local wall time (``timeType: local``)."""
    if not value:
        return default
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        from zoneinfo import ZoneInfo

        from django.conf import settings

        moment = moment.astimezone(ZoneInfo(settings.SCHOOL_TIME_ZONE)).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


class _OneChallengeDigest(urllib.request.HTTPDigestAuthHandler):
    """Answers a digest challenge once; a second 401 (a wrong password) is final unless
    the terminal only says the nonce went stale."""

    def http_error_401(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        challenge = headers.get("www-authenticate", "") or ""
        answered = req.get_header("Authorization") is not None
        if answered and "stale=true" not in challenge.lower().replace('"', ""):
            return None  # the default handler raises HTTPError with the terminal's body
        return super().http_error_401(req, fp, code, msg, headers)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A terminal does not redirect; an answer that does is the terminal's refusal (the
    3xx status), never followed to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class _CheckedConnection:
    """Connects only to an allowed address of the host, the one that was checked (a
    host name cannot resolve to a LAN address for the check and to 127.0.0.1 for the
    connection)."""

    host: str
    port: int

    def _connect_checked(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None, **kw: Any
    ) -> socket.socket:
        host, port = address
        try:
            ips = _check_ips(host, port)
        except AddressRefused as refused:
            raise _RefusedConnection(str(refused.message)) from None
        error: OSError | None = None
        for ip in ips:
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError("no address")


class _RefusedConnection(OSError):
    """Raised instead of connecting to an address the server must not call."""


class _CheckedHTTPConnection(_CheckedConnection, http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = self._connect_checked


class _CheckedHTTPSConnection(_CheckedConnection, http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = self._connect_checked


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):  # type: ignore[no-untyped-def]
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):  # type: ignore[no-untyped-def]
        return self.do_open(
            _CheckedHTTPSConnection,
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


def _opener(digest: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """No proxies (``ProxyHandler({})`` ignores HTTP_PROXY), no redirects, connections
    only to checked addresses, and the digest handler."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _NoRedirects(),
        _CheckedHTTPHandler(),
        _CheckedHTTPSHandler(),
        digest,
    )


def _unreachable(reason: Any) -> IsapiError:
    """Our own summary of why the terminal could not be reached (no text from it)."""
    if isinstance(reason, _RefusedConnection):
        return IsapiError(0, "addressRefused", "the address is not one the server may call")
    if isinstance(reason, TimeoutError):
        return IsapiError(0, "unreachable", "no answer in time")
    if isinstance(reason, ConnectionRefusedError):
        return IsapiError(0, "unreachable", "connection refused")
    if isinstance(reason, socket.gaierror):
        return IsapiError(0, "unreachable", "the address cannot be found")
    if isinstance(reason, http.client.HTTPException):
        return IsapiError(0, "unreachable", "not an HTTP answer")
    import ssl

    if isinstance(reason, ssl.SSLError):
        return IsapiError(0, "unreachable", "TLS failed")
    return IsapiError(0, "unreachable", type(reason).__name__)


class IsapiClient:
    """One terminal's ISAPI. Not shared between threads (the digest state is per client)."""

    def __init__(self, address: str, username: str, password: str, *, timeout: float = TIMEOUT):
        self.address = address.strip().rstrip("/")
        if "://" not in self.address:
            self.address = "http://" + self.address
        self.username = username
        self.password = password
        self.timeout = timeout

    @classmethod
    def for_link(cls, link: Any) -> IsapiClient:
        if not link.address:
            raise IsapiError(0, "noAddress", "the terminal's address is not set")
        return cls(link.address, link.username, link.password)

    # --- transport ----------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One ISAPI call; the terminal's JSON answer (or the fields of its XML answer)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        try:
            base = check_address(self.address)  # again: what was saved may resolve elsewhere now
        except AddressRefused:
            raise IsapiError(
                0, "addressRefused", "the address is not one the server may call"
            ) from None
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, base, self.username, self.password)
        opener = _opener(_OneChallengeDigest(passwords))
        request = urllib.request.Request(  # noqa: S310 (checked: http(s) to a terminal)
            base + path, data=data, method=method
        )
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                text = answer.read(MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            text = exc.read(MAX_ANSWER) if exc.fp is not None else b""
            raise _refusal(exc.code, text) from None
        except urllib.error.URLError as exc:
            raise _unreachable(exc.reason) from None
        except UnicodeEncodeError:
            raise IsapiError(401, "badCredentials", "digest needs an ASCII password") from None
        except (http.client.HTTPException, OSError) as exc:
            raise _unreachable(exc) from None
        answer_fields = _parse(text)
        status_code = answer_fields.get("statusCode")
        if status_code is not None and str(status_code) not in ("1", "0"):
            raise _refusal(200, text)
        return answer_fields

    # --- what the executor and the receiver use ----------------------------------------

    def capabilities(self) -> dict[str, Any]:
        return self.call("GET", "/ISAPI/AccessControl/capabilities?format=json")

    def user_upsert(
        self,
        employee_no: str,
        name: str,
        *,
        valid_from: str | None = None,
        valid_until: str | None = None,
        doors: list[int] | None = None,
    ) -> None:
        """Add the person or change them (``UserInfo/SetUp``), valid between the dates,
        allowed through ``doors`` on the terminal's always-open plan template 1."""
        doors = doors or [1]
        self.call(
            "PUT",
            "/ISAPI/AccessControl/UserInfo/SetUp?format=json",
            body={
                "UserInfo": {
                    "employeeNo": employee_no,
                    "name": clean_name(name),
                    "userType": "normal",
                    "Valid": {
                        "enable": True,
                        "beginTime": local_text(valid_from, DEFAULT_BEGIN),
                        "endTime": local_text(valid_until, DEFAULT_END),
                        "timeType": "local",
                    },
                    "doorRight": ",".join(str(door) for door in doors),
                    "RightPlan": [{"doorNo": door, "planTemplateNo": "1"} for door in doors],
                }
            },
        )

    def user_delete(self, employee_no: str) -> None:
        self.call(
            "PUT",
            "/ISAPI/AccessControl/UserInfo/Delete?format=json",
            body={"UserInfoDelCond": {"EmployeeNoList": [{"employeeNo": employee_no}]}},
        )

    def card_upsert(self, employee_no: str, card_no: str) -> None:
        self.call(
            "PUT",
            "/ISAPI/AccessControl/CardInfo/SetUp?format=json",
            body={
                "CardInfo": {"employeeNo": employee_no, "cardNo": card_no, "cardType": "normalCard"}
            },
        )

    def card_delete(self, employee_no: str) -> None:
        """Remove every card the person holds on the terminal."""
        self.call(
            "PUT",
            "/ISAPI/AccessControl/CardInfo/Delete?format=json",
            body={"CardInfoDelCond": {"EmployeeNoList": [{"employeeNo": employee_no}]}},
        )

    def face_upsert(self, employee_no: str, jpeg: bytes) -> None:
        """Put the person's face photo in the terminal's face library (added or replaced:
        ``FDSetUp``; the multipart body is what ``FaceDataRecord`` takes)."""
        record = json.dumps({**FACE_LIBRARY, "FPID": employee_no}).encode()
        boundary = "kezekshi" + secrets.token_hex(12)
        body = b"".join(
            [
                f"--{boundary}\r\n".encode(),
                b'Content-Disposition: form-data; name="FaceDataRecord"\r\n',
                b"Content-Type: application/json\r\n",
                f"Content-Length: {len(record)}\r\n\r\n".encode(),
                record,
                f"\r\n--{boundary}\r\n".encode(),
                b'Content-Disposition: form-data; name="img"; filename="face.jpg"\r\n',
                b"Content-Type: image/jpeg\r\n",
                f"Content-Length: {len(jpeg)}\r\n\r\n".encode(),
                jpeg,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        self.call(
            "PUT",
            "/ISAPI/Intelligent/FDLib/FDSetUp?format=json",
            raw=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    def face_delete(self, employee_no: str) -> None:
        self.call(
            "PUT",
            "/ISAPI/Intelligent/FDLib/FDSearch/Delete?format=json&FDID=1&faceLibType=blackFD",
            body={"FPID": [{"value": employee_no}]},
        )

    def user_count(self) -> tuple[int, int]:
        """(persons held, persons with a face) as the terminal counts them."""
        answer = self.call("GET", "/ISAPI/AccessControl/UserInfo/Count?format=json")
        count = answer.get("UserInfoCount") or {}
        try:
            return int(count.get("userNumber", 0)), int(count.get("bindFaceUserNumber", 0))
        except (TypeError, ValueError):
            raise IsapiError(200, "badAnswer", "UserInfoCount is not a number") from None

    def open_door(self, door: int = 1) -> None:
        self.call(
            "PUT",
            f"/ISAPI/AccessControl/RemoteControl/door/{int(door)}",
            raw=b"<RemoteControlDoor><cmd>open</cmd></RemoteControlDoor>",
            content_type="application/xml",
        )

    def reboot(self) -> None:
        self.call("PUT", "/ISAPI/System/reboot")

    def configure_push(self, url: str) -> None:
        """Point the terminal's HTTP listening host 1 at ``url`` (our push URL)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        is_ip = host.replace(".", "").isdigit() or ":" in host
        addressing = (
            f"<addressingFormatType>ipaddress</addressingFormatType>"
            f"<ipAddress>{escape(host)}</ipAddress>"
            if is_ip
            else f"<addressingFormatType>hostname</addressingFormatType>"
            f"<hostName>{escape(host)}</hostName>"
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<HttpHostNotification version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
            f"<id>1</id><url>{escape(parts.path or '/')}</url>"
            f"<protocolType>{'HTTPS' if https else 'HTTP'}</protocolType>"
            "<parameterFormatType>JSON</parameterFormatType>"
            f"{addressing}<portNo>{port}</portNo>"
            "<httpAuthenticationMethod>none</httpAuthenticationMethod>"
            "</HttpHostNotification>"
        )
        self.call(
            "PUT",
            "/ISAPI/Event/notification/httpHosts/1",
            raw=body.encode(),
            content_type="application/xml",
        )

    def remote_check(self, serial_no: int, allowed: bool, message: str) -> None:
        """Answer a terminal that asked us whether to open (remote check)."""
        self.call(
            "PUT",
            "/ISAPI/AccessControl/remoteCheck?format=json",
            body={
                "RemoteCheck": {
                    "serialNo": serial_no,
                    "checkResult": "success" if allowed else "failed",
                    "info": clean_name(message, 64),
                }
            },
        )


def _parse(text: bytes) -> dict[str, Any]:
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped.startswith(b"{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    if stripped.startswith(b"<"):
        return dict(xml_fields(stripped))
    return {}


def _short_code(value: Any) -> str:
    """The terminal's ``subStatusCode`` if it looks like one, else nothing: free text
    from the terminal is not kept (it would show in the portal)."""
    text = str(value or "").strip()
    return text if SHORT_CODE.match(text) else ""


def _refusal(status: int, text: bytes) -> IsapiError:
    """A refusal as our summary, the status and the terminal's short code."""
    fields = _parse(text)
    sub = _short_code(fields.get("subStatusCode")) or _short_code(fields.get("statusString"))
    if status == 401:
        return IsapiError(401, sub or "unauthorized", "the terminal refused the user or password")
    if 300 <= status < 400:
        return IsapiError(status, "redirect", "the terminal answered with a redirect")
    return IsapiError(status, sub or "error", "the terminal refused the call")
