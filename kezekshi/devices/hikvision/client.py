"""Calling a Hikvision terminal's ISAPI: digest auth, JSON (``?format=json``), 5 s timeouts.

Every failure is an ``IsapiError`` with the HTTP status (0 when the terminal could not be
reached) and the ``subStatusCode`` the terminal gave, so the executor can tell "try again
later" (unreachable) from "the terminal refused this command" (anything else).

Digest auth is the stdlib's ``HTTPDigestAuthHandler``, answering one challenge per call
and never retrying a refused password: a Hikvision terminal locks out an address after a
handful of failed logins, which would stop every later sync.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import secrets
import urllib.error
import urllib.request
from typing import Any
from xml.sax.saxutils import escape

from kezekshi.devices.hikvision import xml_fields

TIMEOUT = 5.0
MAX_ANSWER = 4 * 1024 * 1024
NAME_LENGTH = 32  # what the terminals' user table holds
# The face library every terminal has (the "blacklist" in Hikvision's words is the list of
# faces that open the door).
FACE_LIBRARY = {"faceLibType": "blackFD", "FDID": "1"}
DEFAULT_BEGIN = "2000-01-01T00:00:00"
DEFAULT_END = "2037-12-31T23:59:59"


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


class IsapiClient:
    """One terminal's ISAPI. Not shared between threads (the digest state is per client)."""

    def __init__(self, address: str, username: str, password: str, *, timeout: float = TIMEOUT):
        self.address = address.rstrip("/")
        if not self.address.startswith(("http://", "https://")):
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
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, self.address, self.username, self.password)
        opener = urllib.request.build_opener(_OneChallengeDigest(passwords))
        request = urllib.request.Request(  # noqa: S310 (the address is the school's terminal)
            self.address + path, data=data, method=method
        )
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                text = answer.read(MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            text = exc.read(MAX_ANSWER) if exc.fp is not None else b""
            raise _refusal(exc.code, text) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise IsapiError(0, "unreachable", str(reason)) from None
        except (http.client.HTTPException, OSError) as exc:
            raise IsapiError(0, "unreachable", str(exc) or type(exc).__name__) from None
        except UnicodeEncodeError:
            raise IsapiError(401, "badCredentials", "digest needs an ASCII password") from None
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


def _refusal(status: int, text: bytes) -> IsapiError:
    fields = _parse(text)
    sub = str(fields.get("subStatusCode") or fields.get("statusString") or "")
    message = str(fields.get("errorMsg") or fields.get("statusString") or "")
    if status == 401 and not sub:
        sub, message = "unauthorized", message or "the terminal refused the user name or password"
    return IsapiError(status, sub or "error", message or f"HTTP {status}")
