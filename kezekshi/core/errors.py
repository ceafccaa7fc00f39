"""One error type for every refusal a service makes, with a code and a translated message."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise


class ServiceError(Exception):
    """A refusal the caller can act on: ``code`` for machines, ``message`` for people.

    ``status`` is the HTTP status the API layer answers with; ``extra`` goes into the
    JSON body as it is (e.g. ``retry_after``).
    """

    status = 400

    def __init__(
        self, code: str, message: str | Promise, *, status: int | None = None, **extra: Any
    ) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403
