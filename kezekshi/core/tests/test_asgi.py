"""The web entry point sends live streams to Django's ASGI handler and the rest to WSGI."""

from __future__ import annotations

from kezekshi import asgi


def test_async_views_stream_and_everything_else_runs_on_the_thread_pool() -> None:
    assert asgi.streams("/guard/feed/1/stream/") is True
    assert asgi.streams("/api/v1/access/decide") is False
    assert asgi.streams("/healthz") is False
    assert asgi.streams("/no/such/page/") is False
