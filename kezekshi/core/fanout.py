"""Live fan-out for Server-Sent Events: publish a message on a channel, listen from views.

In-process by default (one web process: the quick start, one school on one box). With
``settings.REDIS_URL`` set, messages go through Redis pub/sub instead, so a pass stored
by any web process or worker reaches the pages open on every other one.

The publisher never waits for listeners: a slow browser loses its oldest messages, not
the turnstile its speed. Nor does it fail for them: the live feed is a view of what is
already committed, so a Redis outage costs the screens a message and is logged, while
the pass that caused it stands.

Listening comes in two shapes with the same messages: ``listen`` for async views served
by ASGI (uvicorn), and ``listen_blocking`` for a worker thread of a WSGI server (the
development server, pytest's live server), where Django cannot stream an async iterator.
Both yield ``None`` once as soon as the listener is subscribed — from then on nothing
published is missed — and ``None`` again after every ``heartbeat`` seconds without a
message, so the caller can keep the connection alive (and notice a browser gone).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

QUEUE_SIZE = 500
# A publisher waits at most this long for Redis before it gives the message up.
REDIS_TIMEOUT = 0.5
# How long a listener waits for Redis to confirm its subscription.
SUBSCRIBE_TIMEOUT = 5.0

logger = logging.getLogger(__name__)

Deliver = Callable[[str], None]
_listeners: dict[str, set[Deliver]] = {}
_lock = threading.Lock()


def redis_url() -> str:
    """Where Redis is, or ``""`` for in-process fan-out (read at each call: tests switch)."""
    return str(getattr(settings, "REDIS_URL", "") or "")


def publish(channel: str, message: dict[str, Any]) -> None:
    """Send ``message`` to everyone listening on ``channel`` now; safe from any thread.

    Never raises for a listener or for Redis being unreachable (it logs instead).
    """
    text = json.dumps(message, ensure_ascii=False, default=str)
    url = redis_url()
    if url:
        try:
            _publisher(url).publish(channel, text)
        except redis.RedisError:
            logger.warning("Live message on %s lost: Redis is unreachable", channel, exc_info=True)
        return
    with _lock:
        targets = list(_listeners.get(channel, ()))
    for deliver in targets:
        try:
            deliver(text)
        except RuntimeError:  # the listener's event loop has just closed
            continue


@functools.cache
def _publisher(url: str) -> redis.Redis:
    # One client (a thread-safe connection pool) per process and URL.
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )


@contextmanager
def _subscribed(channel: str, deliver: Deliver) -> Iterator[None]:
    with _lock:
        _listeners.setdefault(channel, set()).add(deliver)
    try:
        yield
    finally:
        with _lock:
            found = _listeners.get(channel)
            if found is not None:
                found.discard(deliver)
                if not found:
                    del _listeners[channel]


def listen(channel: str, *, heartbeat: float = 15.0) -> AsyncIterator[str | None]:
    """Each message published on ``channel`` as JSON text, for an async view.

    ``None`` first once subscribed, then after every ``heartbeat`` seconds idle.
    Unsubscribes when the iteration is closed (the browser went away).
    """
    url = redis_url()
    if url:
        return _listen_redis(channel, url, heartbeat)
    return _listen_here(channel, heartbeat)


def listen_blocking(channel: str, *, heartbeat: float = 15.0) -> Iterator[str | None]:
    """The same as ``listen`` for a thread that may block (a WSGI server's request thread)."""
    url = redis_url()
    if url:
        return _listen_redis_blocking(channel, url, heartbeat)
    return _listen_here_blocking(channel, heartbeat)


# --- in-process ---------------------------------------------------------------------


def _offer(queue_: asyncio.Queue[str], text: str) -> None:
    if queue_.full():
        queue_.get_nowait()
    queue_.put_nowait(text)


async def _listen_here(channel: str, heartbeat: float) -> AsyncIterator[str | None]:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)

    def deliver(text: str) -> None:
        loop.call_soon_threadsafe(_offer, inbox, text)

    with _subscribed(channel, deliver):
        yield None
        while True:
            try:
                yield await asyncio.wait_for(inbox.get(), timeout=heartbeat)
            except TimeoutError:
                yield None


def _listen_here_blocking(channel: str, heartbeat: float) -> Iterator[str | None]:
    inbox: queue.Queue[str] = queue.Queue(QUEUE_SIZE)

    def deliver(text: str) -> None:
        while True:
            try:
                inbox.put_nowait(text)
                return
            except queue.Full:
                with suppress(queue.Empty):
                    inbox.get_nowait()  # drop the oldest, as the async listener does

    with _subscribed(channel, deliver):
        yield None
        while True:
            try:
                yield inbox.get(timeout=heartbeat)
            except queue.Empty:
                yield None


# --- Redis --------------------------------------------------------------------------


def _text(message: dict[str, Any]) -> str:
    data = message["data"]
    return data.decode() if isinstance(data, bytes) else str(data)


async def _listen_redis(channel: str, url: str, heartbeat: float) -> AsyncIterator[str | None]:
    # A connection per listener: pub/sub holds it for the whole life of the page.
    client = aioredis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        while True:  # wait for the confirmation: after it, nothing published is missed
            reply = await pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if reply is not None and reply["type"] == "subscribe":
                break
            if time.monotonic() >= deadline:
                raise redis.TimeoutError(f"Redis did not confirm the subscription to {channel}")
        yield None
        idle_since = time.monotonic()
        while True:
            left = heartbeat - (time.monotonic() - idle_since)
            reply = await pubsub.get_message(ignore_subscribe_messages=True, timeout=max(0.0, left))
            if reply is not None and reply["type"] == "message":
                idle_since = time.monotonic()
                yield _text(reply)
            elif time.monotonic() - idle_since >= heartbeat:
                idle_since = time.monotonic()
                yield None
    finally:
        await pubsub.aclose()
        await client.aclose()


def _listen_redis_blocking(channel: str, url: str, heartbeat: float) -> Iterator[str | None]:
    client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT)
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(channel)
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        while True:
            reply = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if reply is not None and reply["type"] == "subscribe":
                break
            if time.monotonic() >= deadline:
                raise redis.TimeoutError(f"Redis did not confirm the subscription to {channel}")
        yield None
        idle_since = time.monotonic()
        while True:
            left = heartbeat - (time.monotonic() - idle_since)
            reply = pubsub.get_message(ignore_subscribe_messages=True, timeout=max(0.0, left))
            if reply is not None and reply["type"] == "message":
                idle_since = time.monotonic()
                yield _text(reply)
            elif time.monotonic() - idle_since >= heartbeat:
                idle_since = time.monotonic()
                yield None
    finally:
        pubsub.close()
        client.close()
