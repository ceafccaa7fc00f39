"""The web entry point (uvicorn): async views stream over ASGI, the rest run as WSGI.

Django serves a sync view under ASGI from a new thread per request (and so a new
database connection per request): on a small school server that costs more than most
requests themselves. Only the live feeds need ASGI — long-lived Server-Sent Events
streams from async views. So each request is routed once by its view: an async view goes
to Django's ASGI handler; every other request goes to Django's WSGI handler on a fixed
pool of threads (a2wsgi), which keeps its threads and their database connections. Same
URLs, same middleware, same views. ``WEB_THREADS`` sets the pool (default 8).
"""

import gc
import os
from functools import lru_cache
from typing import Any

from a2wsgi import WSGIMiddleware
from asgiref.sync import iscoroutinefunction
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.urls import Resolver404, resolve

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kezekshi.settings")
django_asgi = get_asgi_application()
django_wsgi = WSGIMiddleware(
    get_wsgi_application(),  # type: ignore[arg-type]
    workers=int(os.environ.get("WEB_THREADS", "8")),
)


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
        await django_wsgi(scope, receive, send)  # type: ignore[arg-type]
    else:
        await django_asgi(scope, receive, send)
