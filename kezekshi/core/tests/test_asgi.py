"""The web entry point sends live streams to Django's ASGI handler and the rest to WSGI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kezekshi import asgi


def test_async_views_stream_and_everything_else_runs_on_the_thread_pool() -> None:
    assert asgi.streams("/guard/feed/1/stream/") is True
    assert asgi.streams("/api/v1/access/decide") is False
    assert asgi.streams("/healthz") is False
    assert asgi.streams("/no/such/page/") is False


@pytest.mark.django_db(transaction=True)
def test_a_plain_request_is_answered_through_the_wsgi_pool() -> None:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/healthz", "raw_path": b"/healthz", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asgi.application(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
