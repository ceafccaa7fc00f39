"""The SMS backends speak to a real HTTP endpoint; the outbox command; the health check."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from kezekshi.core import sms
from kezekshi.core.models import SmsMessage

pytestmark = pytest.mark.django_db


class Gateway(BaseHTTPRequestHandler):
    """A local stand-in for an SMS aggregator, speaking the JSON shape sms.py documents."""

    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Gateway.received.append({"body": body, "auth": self.headers["Authorization"]})
        self.send_response(Gateway.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": "gw-42"}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway(settings: Any) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Gateway.received = []
    Gateway.status = 200
    settings.SMS_BACKEND = "http"
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.SMS_GATEWAY_TOKEN = "gw-token"
    yield settings.SMS_GATEWAY_URL
    server.shutdown()


def test_the_http_backend_posts_to_the_gateway_and_keeps_no_code(gateway: str) -> None:
    message = sms.deliver(phone="+77011234567", text="Код: 123456", sensitive=True)
    assert Gateway.received == [
        {
            "body": {"to": "+77011234567", "text": "Код: 123456", "sender": "Kezekshi"},
            "auth": "Bearer gw-token",
        }
    ]
    assert message.status == SmsMessage.Status.SENT
    assert message.provider_id == "gw-42"
    assert message.text == sms.REDACTED


def test_a_gateway_failure_is_recorded_not_raised(gateway: str) -> None:
    Gateway.status = 503
    message = sms.deliver(phone="+77011234567", text="Сәлем")
    assert message.status == SmsMessage.Status.FAILED
    assert "503" in message.error


def test_the_outbox_command_prints_the_last_message(capsys: Any) -> None:
    sms.deliver(phone="+77011234567", text="first")
    sms.deliver(phone="+77011234567", text="second")
    call_command("sms_outbox", "8 701 123 45 67")
    out = capsys.readouterr().out
    assert "second" in out and "first" not in out
    with pytest.raises(CommandError, match="No SMS"):
        call_command("sms_outbox", "+77770000000")
    with pytest.raises(CommandError):
        call_command("sms_outbox", "not-a-phone")


def test_health_check_reports_the_database() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_api_schema_and_docs_are_served() -> None:
    client = Client()
    schema = client.get("/api/openapi.json").json()
    assert "/api/v1/auth/otp" in schema["paths"]
    assert "/api/v1/auth/otp/verify" in schema["paths"]
    assert client.get("/api/docs").status_code == 200


def test_static_files_are_served_by_the_web_process(settings: Any) -> None:
    # uvicorn has no static server of its own: whitenoise serves the stylesheet.
    response = Client().get("/static/kezekshi/site.css")
    assert response.status_code == 200
    assert b"--brand" in b"".join(response.streaming_content)  # type: ignore[attr-defined]
