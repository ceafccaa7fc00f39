"""The live fan-out: in-process by default, through Redis pub/sub when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import uuid
from typing import Any

import pytest
import redis

from kezekshi.core import fanout

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _channel() -> str:
    return f"test:{uuid.uuid4().hex}"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


async def _first_messages(channel: str, count: int, publish: Any) -> list[str | None]:
    """Subscribe, call ``publish`` from another thread, and collect ``count`` items."""
    got: list[str | None] = []
    listener = fanout.listen(channel, heartbeat=5)
    got.append(await anext(listener))  # subscribed
    await asyncio.to_thread(publish)
    while len(got) < count + 1:
        got.append(await asyncio.wait_for(anext(listener), timeout=5))
    await listener.aclose()  # type: ignore[attr-defined]
    return got


def test_an_async_listener_gets_what_another_thread_publishes() -> None:
    channel = _channel()

    got = asyncio.run(
        _first_messages(channel, 1, lambda: fanout.publish(channel, {"type": "events", "ids": [7]}))
    )

    assert got[0] is None
    assert json.loads(got[1] or "") == {"type": "events", "ids": [7]}
    assert channel not in fanout._listeners  # closed: unsubscribed


def test_a_blocking_listener_gets_messages_and_a_heartbeat_when_idle() -> None:
    channel = _channel()
    listener = fanout.listen_blocking(channel, heartbeat=0.2)
    assert next(listener) is None  # subscribed

    threading.Thread(target=fanout.publish, args=(channel, {"type": "mode"})).start()

    assert json.loads(next(listener) or "") == {"type": "mode"}
    assert next(listener) is None  # nothing for a heartbeat's time
    listener.close()  # type: ignore[attr-defined]
    assert channel not in fanout._listeners


def test_a_slow_listener_loses_its_oldest_messages_not_the_publishers_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout, "QUEUE_SIZE", 3)
    channel = _channel()
    listener = fanout.listen_blocking(channel, heartbeat=0.2)
    next(listener)

    for number in range(5):
        fanout.publish(channel, {"n": number})

    kept = [json.loads(next(listener) or "")["n"] for _ in range(3)]
    assert kept == [2, 3, 4]
    listener.close()  # type: ignore[attr-defined]


def test_publishing_with_nobody_listening_is_harmless() -> None:
    fanout.publish(_channel(), {"type": "events", "ids": []})


def test_an_unreachable_redis_costs_a_logged_message_not_an_exception(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    with caplog.at_level(logging.WARNING, logger="kezekshi.core.fanout"):
        fanout.publish(_channel(), {"type": "events", "ids": [1]})

    assert "Redis is unreachable" in caplog.text


def test_with_redis_url_messages_go_through_redis_pub_sub(settings: Any) -> None:
    if not _redis_answers():
        pytest.skip("no Redis at 127.0.0.1:6379 to test the Redis fan-out against")
    settings.REDIS_URL = LOCAL_REDIS
    channel = _channel()
    # Given a listener of each shape, subscribed through Redis
    blocking = fanout.listen_blocking(channel, heartbeat=5)
    assert next(blocking) is None
    assert channel not in fanout._listeners  # not the in-process registry

    # When one message comes from another Redis client (another process) and one from
    # publish() here
    def publish_both() -> None:
        redis.Redis.from_url(LOCAL_REDIS).publish(channel, json.dumps({"from": "elsewhere"}))
        fanout.publish(channel, {"from": "here"})

    got = asyncio.run(_first_messages(channel, 2, publish_both))

    # Then the async listener hears both, in order, and so does the blocking one
    assert [json.loads(text or "") for text in got[1:]] == [{"from": "elsewhere"}, {"from": "here"}]
    assert json.loads(next(blocking) or "") == {"from": "elsewhere"}
    assert json.loads(next(blocking) or "") == {"from": "here"}
    blocking.close()  # type: ignore[attr-defined]
