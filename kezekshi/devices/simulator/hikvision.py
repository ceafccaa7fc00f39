"""A fake Hikvision face terminal: the ISAPI a real one serves (with real digest auth),
its own person/card/face table, and the pushes it makes to the server.

    manage.py simulate_device --protocol hikvision --listen 127.0.0.1:8081 \
        --server http://127.0.0.1:8000 --serial DS-K1T671-0001 --secret <device secret>

The push URL is ``--push-url`` when the command offers it, otherwise it is built from
``--server``, ``--serial`` and ``--secret`` exactly as the portal shows it. Tests start a
``HikvisionTerminal`` on port 0 in-process and point a ``Link`` at ``terminal.address``.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import parse_http_list, parse_keqv_list

from kezekshi.devices.hikvision import push_path, xml_fields

DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "Kezekshi-2026"  # noqa: S105 (a simulator's factory password)
REALM = "DS-K1T671M"
MAX_BODY = 8 * 1024 * 1024
BOUNDARY = "MIME_boundary"
ALLOWED_MINORS = {0x01: "card", 0x26: "fingerprint", 0x4B: "face"}


@functools.cache
def tiny_jpeg() -> bytes:
    """A small real JPEG, as the terminal attaches to an event or we send as a face."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 40), (200, 170, 150)).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def _ok(**extra: Any) -> dict[str, Any]:
    return {"statusCode": 1, "statusString": "OK", "subStatusCode": "ok", **extra}


def _bad(sub: str, status_code: int = 6, text: str = "Invalid Content") -> dict[str, Any]:
    return {"statusCode": status_code, "statusString": text, "subStatusCode": sub}


def event_json(
    *,
    serial_no: int,
    when: str,
    minor: int = 0x4B,
    employee_no: str = "",
    card_no: str = "",
    name: str = "",
    attendance: str = "checkIn",
    remote_check: bool = False,
    pictures: int = 1,
    major: int = 5,
) -> dict[str, Any]:
    """An AccessControllerEvent as a DS-K1T terminal pushes it (ISAPI JSON)."""
    event: dict[str, Any] = {
        "deviceName": "Access Controller",
        "majorEventType": major,
        "subEventType": minor,
        "name": name,
        "cardNo": card_no,
        "cardType": 1 if card_no else 0,
        "cardReaderKind": 1,
        "cardReaderNo": 1,
        "doorNo": 1,
        "employeeNoString": employee_no,
        "serialNo": serial_no,
        "userType": "normal",
        "currentVerifyMode": "cardOrFace",
        "attendanceStatus": attendance,
        "statusValue": 0,
        "mask": "no",
        "picturesNumber": pictures,
        "purePwdVerifyEnable": True,
    }
    if remote_check:
        event["remoteCheck"] = True
    return {
        "ipAddress": "192.168.1.64",
        "portNo": 80,
        "protocol": "HTTP",
        "macAddress": "bc:ba:c2:00:00:01",
        "channelID": 1,
        "dateTime": when,
        "activePostCount": 1,
        "eventType": "AccessControllerEvent",
        "eventState": "active",
        "eventDescription": "Access Controller Event",
        "AccessControllerEvent": event,
    }


def multipart_body(
    document: dict[str, Any], *, picture: bytes | None = None, part: str = "AccessControllerEvent"
) -> tuple[str, bytes]:
    """(Content-Type, body) of a push exactly as the terminal frames it."""
    text = json.dumps(document, ensure_ascii=False).encode()
    chunks = [
        f"--{BOUNDARY}\r\n".encode(),
        f'Content-Disposition: form-data; name="{part}"\r\n'.encode(),
        b"Content-Type: application/json\r\n",
        f"Content-Length: {len(text)}\r\n\r\n".encode(),
        text,
        b"\r\n",
    ]
    if picture is not None:
        chunks += [
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="Picture"; filename="Picture.jpg"\r\n',
            b"Content-Type: image/jpeg\r\n",
            f"Content-Length: {len(picture)}\r\n".encode(),
            b"Content-ID: pictureImage\r\n\r\n",
            picture,
            b"\r\n",
        ]
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return f"multipart/form-data; boundary={BOUNDARY}", b"".join(chunks)


def heartbeat_xml(when: str) -> bytes:
    """The XML heartbeat (``EventNotificationAlert``) a terminal sends when idle."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">\r\n'
        "<ipAddress>192.168.1.64</ipAddress>\r\n<portNo>80</portNo>\r\n"
        "<protocol>HTTP</protocol>\r\n<macAddress>bc:ba:c2:00:00:01</macAddress>\r\n"
        f"<channelID>1</channelID>\r\n<dateTime>{when}</dateTime>\r\n"
        "<activePostCount>1</activePostCount>\r\n<eventType>heartBeat</eventType>\r\n"
        "<eventState>active</eventState>\r\n<eventDescription>heartBeat</eventDescription>\r\n"
        "</EventNotificationAlert>\r\n"
    ).encode()


def local_now() -> str:
    """The terminal's clock: Almaty wall time with its offset, as ISAPI writes it."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=5)))
    return now.isoformat(timespec="seconds")


class HikvisionTerminal:
    """A terminal on ``host:port`` (port 0: any free one). ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        serial: str = "DS-K1T671-SIM",
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        state_path: str | None = None,
        push_url: str | None = None,
    ) -> None:
        self.serial = serial
        self.username = username
        self.password = password
        self.state_path = Path(state_path) if state_path else None
        self.push_url = push_url
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, str] = {}  # card number -> employeeNo
        self.faces: dict[str, str] = {}  # employeeNo -> sha256 of the photo
        self.serial_no = 0
        self.remote_checks: list[dict[str, Any]] = []
        self.doors_opened: list[int] = []
        self.http_host: dict[str, str] = {}
        self.challenges = 0
        self.refused_logins = 0
        self.reboots = 0
        self.sent: collections.deque[tuple[int, str, bytes]] = collections.deque(maxlen=200)
        self._nonces: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._changed = threading.Condition(self.lock)
        self._load()
        terminal = self

        class Handler(_Handler):
            owner = terminal

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    def start(self) -> HikvisionTerminal:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HikvisionTerminal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state --------------------------------------------------------------------------

    def _load(self) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        state = json.loads(self.state_path.read_text())
        self.users = state.get("users", {})
        self.cards = state.get("cards", {})
        self.faces = state.get("faces", {})
        self.serial_no = int(state.get("serial_no", 0))

    def _save(self) -> None:
        self._changed.notify_all()
        if self.state_path is None:
            return
        state = {
            "users": self.users,
            "cards": self.cards,
            "faces": self.faces,
            "serial_no": self.serial_no,
        }
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, ensure_ascii=False, indent=1))
        temporary.replace(self.state_path)

    def wait_for(self, check: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``check()`` holds (e.g. a remote-check answer arrived)."""
        with self._changed:
            return self._changed.wait_for(check, timeout=timeout)

    # --- digest auth --------------------------------------------------------------------

    def challenge(self) -> str:
        nonce = secrets.token_hex(16)
        with self.lock:
            self.challenges += 1
            self._nonces[nonce] = None
            while len(self._nonces) > 256:
                self._nonces.popitem(last=False)
        return f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm="MD5"'

    def authorised(self, method: str, uri: str, header: str) -> bool:
        if not header.lower().startswith("digest "):
            return False
        fields = parse_keqv_list(parse_http_list(header[7:]))
        if fields.get("username") != self.username or fields.get("realm") != REALM:
            return False
        nonce = fields.get("nonce", "")
        with self.lock:
            if nonce not in self._nonces:
                return False
        if fields.get("uri") != uri or fields.get("qop") != "auth":
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = md5(f"{method}:{uri}")
        expected = md5(
            f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}"
        )
        return secrets.compare_digest(expected, fields.get("response", ""))

    # --- ISAPI --------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
        route = path.split("?", 1)[0]
        with self.lock:
            handler = ROUTES.get((method, route))
            if handler is None and route.startswith("/ISAPI/AccessControl/RemoteControl/door/"):
                handler = HikvisionTerminal._open_door
            if handler is None:
                return 404, _bad("notSupport", 4, "Invalid Operation")
            return handler(self, path, body, content_type)

    def _json(self, body: bytes) -> dict[str, Any] | None:
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def _capabilities(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        return 200, {"AcsCap": {"isSupportRemoteCheck": True, "UserInfo": {"maxRecordNum": 3000}}}

    def _user_setup(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        parsed = self._json(body)
        info = (parsed or {}).get("UserInfo")
        if not isinstance(info, dict) or not str(info.get("employeeNo") or ""):
            return 400, _bad("badJsonContent")
        employee = str(info["employeeNo"])
        name = str(info.get("name", ""))
        if len(employee) > 32 or len(name) > 32 or any(ord(ch) < 32 for ch in name):
            return 400, _bad("badParameters")
        self.users[employee] = {
            "name": name,
            "Valid": info.get("Valid", {}),
            "doorRight": info.get("doorRight", "1"),
            "RightPlan": info.get("RightPlan", []),
        }
        self._save()
        return 200, _ok()

    def _user_delete(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        condition = ((self._json(body) or {}).get("UserInfoDelCond")) or {}
        numbers = [str(row.get("employeeNo")) for row in condition.get("EmployeeNoList", [])]
        for employee in numbers:
            self.users.pop(employee, None)
            self.faces.pop(employee, None)
            for card in [c for c, e in self.cards.items() if e == employee]:
                del self.cards[card]
        self._save()
        return 200, _ok()

    def _user_count(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        return 200, {
            "UserInfoCount": {
                "userNumber": len(self.users),
                "bindFaceUserNumber": len(self.faces),
                "bindCardUserNumber": len(set(self.cards.values())),
            }
        }

    def _card_setup(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        info = (self._json(body) or {}).get("CardInfo")
        if not isinstance(info, dict):
            return 400, _bad("badJsonContent")
        employee, card = str(info.get("employeeNo", "")), str(info.get("cardNo", ""))
        if employee not in self.users:
            return 400, _bad("employeeNoNotExist")
        if not card.isdigit():
            return 400, _bad("badParameters")
        self.cards[card] = employee
        self._save()
        return 200, _ok()

    def _card_delete(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        condition = ((self._json(body) or {}).get("CardInfoDelCond")) or {}
        employees = {str(r.get("employeeNo")) for r in condition.get("EmployeeNoList", [])}
        numbers = {str(r.get("cardNo")) for r in condition.get("CardNoList", [])}
        for card, employee in list(self.cards.items()):
            if employee in employees or card in numbers:
                del self.cards[card]
        self._save()
        return 200, _ok()

    def _face_setup(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        parts = _parts(ct, body)
        record = self._json(parts.get("FaceDataRecord", b"")) or {}
        image = parts.get("img") or parts.get("FaceImage") or b""
        employee = str(record.get("FPID", ""))
        if employee not in self.users:
            return 400, _bad("employeeNoNotExist")
        if not image.startswith(b"\xff\xd8"):
            return 400, _bad("faceDataPicError")
        self.faces[employee] = hashlib.sha256(image).hexdigest()
        self._save()
        return 200, _ok()

    def _face_delete(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        parsed = self._json(body) or {}
        for row in parsed.get("FPID", []):
            self.faces.pop(str(row.get("value")), None)
        self._save()
        return 200, _ok()

    def _open_door(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        door = path.split("?", 1)[0].rsplit("/", 1)[-1]
        if dict(xml_fields(body)).get("cmd") != "open" or not door.isdigit():
            return 400, _bad("badXmlContent")
        self.doors_opened.append(int(door))
        self._save()
        return 200, _ok()

    def _reboot(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        self.reboots += 1
        return 200, _ok()

    def _http_host(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        fields = dict(xml_fields(body))
        if not fields.get("url"):
            return 400, _bad("badXmlContent")
        self.http_host = fields
        scheme = "https" if fields.get("protocolType") == "HTTPS" else "http"
        host = fields.get("ipAddress") or fields.get("hostName", "")
        self.push_url = f"{scheme}://{host}:{fields.get('portNo', '80')}{fields['url']}"
        return 200, _ok()

    def _remote_check(self, path: str, body: bytes, ct: str) -> tuple[int, Any]:
        check = (self._json(body) or {}).get("RemoteCheck")
        if not isinstance(check, dict) or check.get("checkResult") not in ("success", "failed"):
            return 400, _bad("badJsonContent")
        self.remote_checks.append(check)
        self._save()
        return 200, _ok()

    # --- pushes -------------------------------------------------------------------------

    def push(
        self,
        *,
        minor: int = 0x4B,
        employee_no: str = "",
        card_no: str = "",
        remote_check: bool = False,
        when: str | None = None,
        attendance: str = "checkIn",
    ) -> int:
        """Push one AccessControllerEvent (with a picture) to ``push_url``; the status."""
        with self.lock:
            self.serial_no += 1
            serial_no = self.serial_no
            name = self.users.get(employee_no, {}).get("name", "")
            self._save()
        document = event_json(
            serial_no=serial_no,
            when=when or local_now(),
            minor=minor,
            employee_no=employee_no,
            card_no=card_no,
            name=name,
            attendance=attendance,
            remote_check=remote_check,
        )
        content_type, body = multipart_body(document, picture=tiny_jpeg())
        self.sent.append((serial_no, content_type, body))
        return self._post(content_type, body)

    def heartbeat(self) -> int:
        return self._post("application/xml", heartbeat_xml(local_now()))

    def reboot(self, recent: int = 20) -> list[int]:
        """After a restart a terminal pushes its recent events again: statuses."""
        self.reboots += 1
        return [self._post(ct, body) for _serial, ct, body in list(self.sent)[-recent:]]

    def _post(self, content_type: str, body: bytes) -> int:
        if not self.push_url:
            raise RuntimeError("no push URL configured")
        request = urllib.request.Request(  # noqa: S310 (the configured server)
            self.push_url, data=body, method="POST", headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


def _parts(content_type: str, body: bytes) -> dict[str, bytes]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    found: dict[str, bytes] = {}
    if not message.is_multipart():
        return found
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            found[name] = payload if isinstance(payload, bytes) else b""
    return found


ROUTES: dict[tuple[str, str], Callable[..., tuple[int, Any]]] = {
    ("GET", "/ISAPI/AccessControl/capabilities"): HikvisionTerminal._capabilities,
    ("PUT", "/ISAPI/AccessControl/UserInfo/SetUp"): HikvisionTerminal._user_setup,
    ("POST", "/ISAPI/AccessControl/UserInfo/Record"): HikvisionTerminal._user_setup,
    ("PUT", "/ISAPI/AccessControl/UserInfo/Modify"): HikvisionTerminal._user_setup,
    ("PUT", "/ISAPI/AccessControl/UserInfo/Delete"): HikvisionTerminal._user_delete,
    ("GET", "/ISAPI/AccessControl/UserInfo/Count"): HikvisionTerminal._user_count,
    ("PUT", "/ISAPI/AccessControl/CardInfo/SetUp"): HikvisionTerminal._card_setup,
    ("POST", "/ISAPI/AccessControl/CardInfo/Record"): HikvisionTerminal._card_setup,
    ("PUT", "/ISAPI/AccessControl/CardInfo/Delete"): HikvisionTerminal._card_delete,
    ("PUT", "/ISAPI/Intelligent/FDLib/FDSetUp"): HikvisionTerminal._face_setup,
    ("POST", "/ISAPI/Intelligent/FDLib/FaceDataRecord"): HikvisionTerminal._face_setup,
    ("PUT", "/ISAPI/Intelligent/FDLib/FDSearch/Delete"): HikvisionTerminal._face_delete,
    ("PUT", "/ISAPI/System/reboot"): HikvisionTerminal._reboot,
    ("PUT", "/ISAPI/Event/notification/httpHosts/1"): HikvisionTerminal._http_host,
    ("PUT", "/ISAPI/AccessControl/remoteCheck"): HikvisionTerminal._remote_check,
}

USER_CHECK_401 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<userCheck>\r\n<statusValue>401</statusValue>\r\n'
    b"<statusString>Unauthorized</statusString>\r\n<isDefaultPassword>false</isDefaultPassword>\r\n"
    b"</userCheck>\r\n"
)


class _Handler(BaseHTTPRequestHandler):
    owner: HikvisionTerminal
    server_version = "App-webs/"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        terminal = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, _bad("messageTooLong"))
            return
        body = self.rfile.read(length) if length else b""
        header = self.headers.get("Authorization", "")
        if not terminal.authorised(self.command, self.path, header):
            if header:
                with terminal.lock:
                    terminal.refused_logins += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", terminal.challenge())
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(USER_CHECK_401)))
            self.end_headers()
            self.wfile.write(USER_CHECK_401)
            return
        status, answer = terminal.handle(
            self.command, self.path, body, self.headers.get("Content-Type", "")
        )
        self._answer(status, answer)

    def _answer(self, status: int, answer: Any) -> None:
        text = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_PUT = do_POST = do_DELETE = _serve


def run(options: dict[str, Any], out: Any) -> None:
    """``simulate_device --protocol hikvision``: serve the ISAPI on ``--listen``, push
    ``--passes`` events for the persons it holds (invalid-card events while it holds
    none), re-push them after ``--reboot``, then keep serving ``--polls`` × 10 s (0: stop at
    once) so the server can send its changes; Ctrl-C stops it earlier."""
    host, _sep, port = str(options.get("listen") or "127.0.0.1:8081").rpartition(":")
    serial = options.get("serial") or "DS-K1T671-SIM"
    push_url = options.get("push_url")
    if not push_url and options.get("secret"):
        push_url = str(options.get("server", "")).rstrip("/") + push_path(options["secret"], serial)
    terminal = HikvisionTerminal(
        serial=serial,
        host=host or "127.0.0.1",
        port=int(port),
        username=options.get("username") or DEFAULT_USER,
        password=options.get("password") or DEFAULT_PASSWORD,
        state_path=options.get("state"),
        push_url=push_url,
    ).start()
    out.write(
        f"ISAPI at {terminal.address} (user {terminal.username}, password {terminal.password})\n"
    )
    try:
        if terminal.push_url:
            out.write(f"pushing to {terminal.push_url}\n")
            out.write(f"heartbeat -> {terminal.heartbeat()}\n")
            pause = 1.0 / options["rate"] if options.get("rate") else 0.0
            for number in range(int(options.get("passes") or 0)):
                with terminal.lock:
                    held = sorted(terminal.users)
                if held:
                    employee = held[number % len(held)]
                    status = terminal.push(minor=0x4B, employee_no=employee)
                    out.write(f"face pass of {employee} -> {status}\n")
                else:
                    status = terminal.push(minor=0x09, card_no=str(1000000 + number))
                    out.write(f"unknown card -> {status}\n")
                time.sleep(pause)
            if options.get("reboot"):
                out.write(f"rebooted, pushed again -> {terminal.reboot()}\n")
        else:
            out.write("no push URL (give --secret or --push-url): serving the ISAPI only\n")
        deadline = time.monotonic() + int(options.get("polls") or 0) * 10
        while time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        terminal.stop()
        out.write(
            f"holding {len(terminal.users)} persons, {len(terminal.cards)} cards, "
            f"{len(terminal.faces)} faces\n"
        )
