"""Live fan-out for Server-Sent Events: publish a message on a channel, listen from async views.

In-process by default (one web process: the quick start, one school on one box). The
publisher never waits for listeners: a slow browser loses its oldest messages, not the
turnstile its speed.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

QUEUE_SIZE = 500

_listeners: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[str]]]] = {}
_lock = threading.Lock()


def publish(channel: str, message: dict[str, Any]) -> None:
    """Send ``message`` to everyone listening on ``channel`` now; safe from any thread."""
    text = json.dumps(message, ensure_ascii=False, default=str)
    with _lock:
        targets = list(_listeners.get(channel, ()))
    for loop, queue in targets:
        loop.call_soon_threadsafe(_offer, queue, text)


def _offer(queue: asyncio.Queue[str], text: str) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(text)


async def listen(channel: str, *, heartbeat: float = 15.0) -> AsyncIterator[str | None]:
    """Yield each message published on ``channel``; ``None`` every ``heartbeat`` seconds idle."""
    queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
    entry = (asyncio.get_running_loop(), queue)
    with _lock:
        _listeners.setdefault(channel, set()).add(entry)
    try:
        while True:
            try:
                yield await asyncio.wait_for(queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield None
    finally:
        with _lock:
            _listeners.get(channel, set()).discard(entry)
