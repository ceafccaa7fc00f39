"""The web entry point (uvicorn): async views stream over ASGI, the rest run as WSGI.

Django serves a sync view under ASGI from a new thread per request (and so a new
database connection per request): on a small school server that costs more than most
requests themselves. Only the live feeds need ASGI — long-lived Server-Sent Events
streams from async views. So each request is routed once by its view: an async view goes
to Django's ASGI handler; every other request goes to Django's WSGI handler on a fixed
pool of threads, which keeps its threads and their database connections. Same URLs, same
middleware, same views. ``WEB_THREADS`` sets the pool (default 8).

The hand-over to the pool is one round trip per request (``BufferedWSGI``): the body is
read on the event loop, the response collected on the thread. a2wsgi's middleware
crossed between the loop and the thread for the body, the status and every chunk; on a
small virtual machine each crossing wakes an idle CPU, and a door decision waited ~3 ms
for those wake-ups alone.
"""

import asyncio
import contextvars
import functools
import gc
import io
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from a2wsgi.wsgi import build_environ
from asgiref.sync import iscoroutinefunction
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.urls import Resolver404, resolve

# A body larger than this is refused before it is read into memory (the largest real
# one is a pupils' import of a few MB).
MAX_BODY = int(os.environ.get("WEB_MAX_BODY", str(32 * 1024 * 1024)))


class BufferedWSGI:
    """A WSGI application served to ASGI on a pool of threads, one hand-over a request."""

    def __init__(self, app: Any, *, workers: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="WSGI")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await _answer(send, 413, b"Request body too large.")
                return
        environ: dict[str, Any] = dict(build_environ(scope, io.BytesIO(body)))  # type: ignore[arg-type]
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        call = functools.partial(context.run, self._respond, environ)
        status, headers, content = await loop.run_in_executor(self.executor, call)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _respond(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [int(status.split(" ", 1)[0]), headers]
            return chunks.append

        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            getattr(result, "close", lambda: None)()
        code, headers = started
        encoded = [
            (k.strip().lower().encode("latin1"), v.strip().encode("latin1")) for k, v in headers
        ]
        return code, encoded, b"".join(chunks)


async def _answer(send: Any, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kezekshi.settings")
django_asgi = get_asgi_application()
django_wsgi = BufferedWSGI(get_wsgi_application(), workers=int(os.environ.get("WEB_THREADS", "8")))


def _warm() -> None:
    """Load now what the first requests would otherwise wait for: every URL and its
    views (0.8 s on a small server: after a restart, the first door decision or the
    gateway's first upload waited that long) and the translation catalogues."""
    from django.conf import settings
    from django.urls import get_resolver
    from django.utils import translation

    get_resolver().url_patterns  # noqa: B018 - imports the URL conf and every view
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Not found.")


_warm()
# Everything loaded so far lives as long as the process: keep the collector from walking
# it again and again (the pauses show as the slowest decisions).
gc.freeze()


@lru_cache(maxsize=4096)
def streams(path: str) -> bool:
    """Whether ``path`` is served by an async view (a live stream)."""
    try:
        return iscoroutinefunction(resolve(path).func)
    except Resolver404:
        return False


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and not streams(scope["path"]):
        await django_wsgi(scope, receive, send)
    else:
        await django_asgi(scope, receive, send)
