"""The gateway's link to the server: the mirror's sync, the upload of buffered passes, the
health report, and keeping the disk bounded — all run by ``run_edge``'s background thread.

Uploads are at least once and stored exactly once: a pass is marked done here only after
the server answered for it (stored, or refused for good), and the server stores each
``(device, record_no)`` once, so an answer lost on the way only means the same batch is
sent again. A pass the server has not answered for is never deleted.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Min
from django.utils import timezone

from kezekshi.access.device_auth import signed_headers
from kezekshi.access.ingest import MAX_BATCH
from kezekshi.access.models import AccessEvent, Credential, DailyAttendance, Device
from kezekshi.core import bulk
from kezekshi.devices.models import PendingTerminal, Protocol
from kezekshi.edge import mirror, relay
from kezekshi.edge.models import MirrorState, UploadedEvent

logger = logging.getLogger(__name__)

VERSION = "kezekshi-edge/1"
BATCHES_PER_REQUEST = 2  # 2 × 1,000 passes ≈ 0.5 MB, well under the server's body limit
# At most 3,000 passes a request: under Django's 2.5 MB request body limit even with the
# longest record numbers and credentials an event may carry.
MAX_BATCHES_PER_REQUEST = 3


@dataclass(frozen=True)
class UploadShape:
    """How the server takes a backlog best, as it says with each snapshot: a server on
    PostgreSQL stores requests side by side (several connections); one on SQLite has one
    writer at a time, so one request with every batch saves the hand-overs of its lock."""

    connections: int = 4
    batches: int = BATCHES_PER_REQUEST

    @classmethod
    def advised(cls, data: Any) -> UploadShape | None:
        """The shape a snapshot advises (within sane bounds), or None."""
        advice = data.get("upload") if isinstance(data, dict) else None
        if not isinstance(advice, dict):
            return None
        try:
            connections, batches = int(advice["connections"]), int(advice["batches"])
        except (TypeError, KeyError, ValueError):
            return None
        return cls(max(1, min(connections, 8)), max(1, min(batches, MAX_BATCHES_PER_REQUEST)))


@dataclass(frozen=True)
class Synced:
    applied: mirror.Applied
    upload: UploadShape | None


# Errors after which resending the same events can succeed; any other error code is final.
RETRY_CODES = {"batch_too_large"}


# How a request on a kept-alive connection the server has since closed fails.
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class ServerUnavailable(Exception):
    """The server could not be reached or answered with an error; try again later."""


@dataclass
class Server:
    """Signed JSON calls to the server as the gateway's own device, on one keep-alive
    connection (reopened after any failure)."""

    url: str
    device_id: int
    secret: str
    timeout: float = 30.0
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            parts = urlsplit(self.url)
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(parts.netloc, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self, method: str, path: str, payload: Any = None, query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """The status and the decoded JSON answer (or the raw text when it is not JSON);
        raises ``ServerUnavailable`` when the server cannot be reached."""
        full_path = urlsplit(self.url).path.rstrip("/") + path
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = signed_headers(
            device_id=self.device_id, secret=self.secret, method=method, path=full_path, body=body
        )
        headers["Content-Type"] = "application/json"
        target = full_path + (f"?{urlencode(query)}" if query else "")
        reused = self._connection is not None
        try:
            connection = self._open()
            connection.request(method, target, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if reused and isinstance(exc, STALE):
                # A kept-alive connection the server closed meanwhile (it restarted, or
                # timed the connection out): once more on a new one. Every call the
                # gateway makes is safe to repeat.
                return self.request(method, path, payload, query)
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if answer.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            return answer.status, json.loads(data)
        except ValueError:
            return answer.status, data.decode(errors="replace")

    def call(
        self, method: str, path: str, payload: Any = None, query: dict[str, str] | None = None
    ) -> Any:
        """The decoded JSON answer; raises ``ServerUnavailable`` for anything but a 200."""
        status, data = self.request(method, path, payload, query)
        if status != 200:
            raise ServerUnavailable(f"HTTP {status}: {str(data)[:200]}")
        return data


# --- the mirror -----------------------------------------------------------------------


def state() -> MirrorState:
    row = MirrorState.objects.first()
    return row if row is not None else MirrorState.objects.create()


def sync(server: Server) -> Synced:
    """Fetch what changed since the last sync and apply it with the new cursor, in one
    transaction (a crash in between applies the same delta again next time); with the
    upload shape the server advises."""
    current = state()
    data = server.call(
        "GET", "/api/v1/edge/snapshot", query={"since": current.cursor} if current.cursor else None
    )
    with transaction.atomic():
        applied = mirror.apply(data, school_id=int(data["school_id"]))
        # A row written in a transaction that committed long after it was written can
        # slip past the cursor; an id the server lists that is missing here means the
        # next sync starts over.
        cursor = data["cursor"] if not mirror.missing(data) else ""
        MirrorState.objects.filter(pk=current.pk).update(
            cursor=cursor, synced_at=timezone.now(), last_error=""
        )
    return Synced(applied, UploadShape.advised(data))


# --- uploads --------------------------------------------------------------------------


def _as_sent(event: dict[str, Any], values: dict[int, str]) -> dict[str, Any]:
    credential = values.get(event["credential_id"]) if event["credential_id"] else None
    return {
        "record_no": event["record_no"],
        "time": event["occurred_at"].isoformat(),
        "direction": event["direction"],
        "door": event["door_id"],
        "allowed": event["allowed"],
        "reason": event["reason"][:40],
        "credential_kind": event["credential_kind"] or None,
        "credential": credential or event["presented"] or None,
        "person": event["person_id"],
    }


def pending(limit: int) -> list[dict[str, Any]]:
    fields = [
        "pk", "device_id", "record_no", "occurred_at", "direction", "door_id", "allowed",
        "reason", "credential_kind", "credential_id", "presented", "person_id",
    ]  # fmt: skip
    rows = AccessEvent.objects.filter(upload__isnull=True).order_by("pk").values(*fields)
    return [dict(row) for row in rows[:limit]]


@dataclass
class Uploaded:
    sent: int = 0
    stored: int = 0
    refused: int = 0
    retry: int = 0
    interrupted: bool = False  # some requests failed while others were answered


def upload_once(
    servers: Server | Sequence[Server], *, per_request: int = BATCHES_PER_REQUEST
) -> Uploaded:
    """Send the passes not yet answered for — batches of at most 1,000 per device, up to
    ``per_request`` batches a request, one request on each connection in ``servers`` at
    once — and mark what the server stored or refused for good. The answers that came
    are marked even when another request failed (``interrupted``: send again at once);
    when no request got through, ``ServerUnavailable`` is raised."""
    clients = [servers] if isinstance(servers, Server) else list(servers)
    events = pending(len(clients) * per_request * MAX_BATCH)
    result = Uploaded()
    if not events:
        return result
    values = dict(
        Credential.objects.filter(
            pk__in={e["credential_id"] for e in events if e["credential_id"]}
        ).values_list("pk", "value")
    )
    by_device: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_device[event["device_id"]].append(event)
    chunks = [
        rows[start : start + MAX_BATCH]
        for rows in by_device.values()
        for start in range(0, len(rows), MAX_BATCH)
    ]
    # Batches dealt round the connections, so each request carries a share of the devices.
    shares = [chunks[n :: len(clients)] for n in range(len(clients))]
    shares = [share for share in shares if share]

    def send(client: Server, share: list[list[dict[str, Any]]]) -> Any:
        batches = [
            {"device": chunk[0]["device_id"], "events": [_as_sent(e, values) for e in chunk]}
            for chunk in share
        ]
        return client.call("POST", "/api/v1/edge/events", {"batches": batches})

    failure: ServerUnavailable | None = None
    answered: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
    with ThreadPoolExecutor(max_workers=len(shares)) as pool:
        futures = [
            pool.submit(send, client, share) for client, share in zip(clients, shares, strict=False)
        ]
        for future, share in zip(futures, shares, strict=True):
            try:
                answer = future.result()
            except ServerUnavailable as exc:
                failure = exc
                continue
            answered += list(zip(share, answer["batches"], strict=True))
    now = timezone.now()
    done: list[tuple[int, str, dt.datetime]] = []  # (event, refused with, answered at)
    for chunk, reply in answered:
        result.sent += len(chunk)
        if "error" in reply:  # the whole batch refused (a device the server does not know)
            code = str(reply["error"].get("code", "refused"))[:40]
            done += [(e["pk"], code, now) for e in chunk]
            result.refused += len(chunk)
            continue
        for event, outcome in zip(chunk, reply["results"], strict=True):
            if outcome["status"] == "stored":
                done.append((event["pk"], "", now))
                result.stored += 1
                continue
            code = str(outcome.get("error", {}).get("code", "refused"))[:40]
            if code in RETRY_CODES:
                result.retry += 1
                continue
            logger.warning("The server refused pass %s for good: %s", event["pk"], outcome)
            done.append((event["pk"], code, now))
            result.refused += 1
    with transaction.atomic():
        bulk.insert_rows(
            UploadedEvent, ("event_id", "refused", "answered_at"), done, ignore_conflicts=True
        )
    if failure is not None:
        if not answered:
            raise failure
        # The server answers again (a connection opened before it restarted broke): send
        # the rest at once rather than after a back-off.
        result.interrupted = True
    return result


# --- health and disk ------------------------------------------------------------------


def disk_bytes() -> int:
    name = Path(str(settings.DATABASES["default"]["NAME"]))
    return sum(p.stat().st_size for p in name.parent.glob(f"{name.name}*") if p.is_file())


def report_status(server: Server) -> None:
    waiting = AccessEvent.objects.filter(upload__isnull=True)
    oldest = waiting.aggregate(oldest=Min("occurred_at"))["oldest"]
    last = state().synced_at
    server.call(
        "POST",
        "/api/v1/edge/status",
        {
            "backlog": waiting.count(),
            "oldest_pending": oldest.isoformat() if oldest else None,
            "disk_bytes": disk_bytes(),
            "version": VERSION,
            "last_sync": last.isoformat() if last else None,
            "devices": {
                str(pk): seen.isoformat()
                for pk, seen in Device.objects.exclude(pk=server.device_id).values_list(
                    "pk", "last_seen_at"
                )
                if seen is not None
            },
            "waiting": [
                {"serial": serial, "protocol": protocol, "info": _strings(info)}
                for serial, protocol, info in PendingTerminal.objects.exclude(
                    serial_number__in=Device.objects.values("serial_number")
                )
                .order_by("-last_seen_at")
                .values_list("serial_number", "protocol", "info")[:50]
                if protocol in (Protocol.ZKTECO_ACC, Protocol.ZKTECO_ATT)
            ],
        },
    )


def _strings(info: Any) -> dict[str, str]:
    if not isinstance(info, dict):
        return {}
    return {str(k)[:64]: str(v)[:200] for k, v in list(info.items())[:60]}


def relay_commands(server: Server) -> int:
    """Report the terminals' answers to relayed commands, then fetch the commands due
    now (again while the server says there are more). Returns how many were new."""
    done = relay.answers()
    if done:
        server.call("POST", "/api/v1/edge/answers", {"answers": done})
    relay.forget(answer["id"] for answer in done)
    new = 0
    for _round in range(10):
        handed = server.call("POST", "/api/v1/edge/commands", {"holding": relay.holding()})
        new += relay.receive(handed)
        if not handed.get("more"):
            break
    return new


def prune(*, keep_days: int | None = None, max_events: int | None = None) -> int:
    """Delete passes the server answered for more than ``EDGE_KEEP_DAYS`` ago, and the
    oldest answered ones beyond ``EDGE_MAX_EVENTS``. Never a pass still waiting."""
    keep_days = getattr(settings, "EDGE_KEEP_DAYS", 7) if keep_days is None else keep_days
    max_events = getattr(settings, "EDGE_MAX_EVENTS", 500_000) if max_events is None else max_events
    cutoff = timezone.now() - dt.timedelta(days=keep_days)
    answered = AccessEvent.objects.filter(upload__isnull=False)
    doomed = list(answered.filter(upload__answered_at__lt=cutoff).values_list("pk", flat=True))
    excess = AccessEvent.objects.count() - len(doomed) - max_events
    if excess > 0:
        doomed += list(
            answered.exclude(pk__in=doomed).order_by("pk").values_list("pk", flat=True)[:excess]
        )
    for start in range(0, len(doomed), 2000):
        with transaction.atomic():
            AccessEvent.objects.filter(pk__in=doomed[start : start + 2000]).delete()
    DailyAttendance.objects.filter(date__lt=cutoff.date()).delete()
    return len(doomed)


# --- the loop -------------------------------------------------------------------------


# How often the gateway reports terminals' answers and fetches their commands.
RELAY_EVERY = 5.0


class GatewayLoop:
    """The background work of a running gateway: sync every ``sync_every`` seconds,
    upload whenever passes wait, report health, prune — backing off while the server is
    unreachable (1 s doubling to ``max_backoff``)."""

    def __init__(
        self,
        server: Server,
        *,
        sync_every: float = 30.0,
        max_backoff: float = 60.0,
        connections: int = 4,
    ) -> None:
        self.server = server
        # Uploads go on several connections at once (the server's workers ingest in parallel).
        self.uploaders = [server] + [
            Server(server.url, server.device_id, server.secret, server.timeout)
            for _ in range(connections - 1)
        ]
        self.sync_every = sync_every
        self.shape = UploadShape(connections=connections)  # until the server advises
        self.max_backoff = max_backoff
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sync = 0.0
        self._next_relay = 0.0
        self._next_status = 0.0
        self._next_prune = 0.0
        self.backoff = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="edge-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self) -> None:
        while not self.stopping.is_set():
            close_old_connections()
            busy = False
            try:
                busy = self.step()
                self.backoff = 0.0
            except ServerUnavailable as exc:
                self.backoff = min(self.max_backoff, max(1.0, self.backoff * 2))
                self._note(str(exc))
            except Exception as exc:  # a bug must not stop the gateway's uploads for good
                logger.exception("edge link step failed")
                self.backoff = min(self.max_backoff, max(1.0, self.backoff * 2))
                self._note(f"{type(exc).__name__}: {exc}")
            if not busy:
                self.stopping.wait(self.backoff or 0.5)

    def step(self) -> bool:
        """One round; True when passes are still waiting (go on at once)."""
        now = time.monotonic()
        if now >= self._next_sync:
            self.shape = sync(self.server).upload or self.shape
            self._next_sync = now + self.sync_every
        # Terminals behind the gateway: what they answered goes up, new commands come
        # down; Hikvision terminals are called from here (ZKTeco ones poll us).
        if now >= self._next_relay:
            self._next_relay = now + min(RELAY_EVERY, self.sync_every)
            relay_commands(self.server)
            relay.execute_hikvision()
        connections = self.uploaders[: self.shape.connections]
        uploaded = upload_once(connections, per_request=self.shape.batches)
        if now >= self._next_status:
            report_status(self.server)
            self._next_status = now + self.sync_every
        if now >= self._next_prune:
            prune()
            self._next_prune = now + 3600
        full = uploaded.sent >= len(connections) * self.shape.batches * MAX_BATCH
        return full or uploaded.interrupted

    def _note(self, error: str) -> None:
        logger.warning(
            "edge: the server is not reachable (%s); retrying in %.0f s", error, self.backoff
        )
        try:
            MirrorState.objects.filter(pk=state().pk).update(
                last_error=error[:300], last_error_at=timezone.now()
            )
        except Exception:  # the note is best effort
            logger.exception("edge: could not note the error")
