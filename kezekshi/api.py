"""The JSON API: mounts each app's router and turns refusals into clear JSON errors."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError

from kezekshi.access.api import router as access_router
from kezekshi.accounts.api import router as auth_router
from kezekshi.canteen.api import router as canteen_router
from kezekshi.core.errors import ServiceError
from kezekshi.notifications.api import router as notifications_router
from kezekshi.people.api import router as people_router
from kezekshi.privacy.api import router as privacy_router
from kezekshi.privacy.consent_api import router as consent_router

api = NinjaAPI(
    title="Kezekshi API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
api.add_router("/v1/auth", auth_router)
api.add_router("/v1", people_router)
api.add_router("/v1/privacy", consent_router)
api.add_router("/v1/privacy", privacy_router)
api.add_router("/v1/access", access_router)
api.add_router("/v1/edge", "kezekshi.edge.api.router")
api.add_router("/v1/notifications", notifications_router)
api.add_router("/v1/canteen", canteen_router)


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    body = {"code": exc.code, "message": str(exc.message), **exc.extra}
    response = api.create_response(request, body, status=exc.status)
    if exc.status == 429 and "retry_after" in exc.extra:
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


@api.exception_handler(DjangoValidationError)
def invalid_data(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    """422 ``invalid_<field>``, with the validator's own code as ``reason``."""
    if hasattr(exc, "error_dict"):
        first_field, errors = next(iter(exc.error_dict.items()))
        code = f"invalid_{first_field}"
    else:
        first_field, errors = "__all__", exc.error_list
        code = "invalid"
    body = {
        "code": code,
        "reason": errors[0].code or "invalid",
        "message": next(iter(errors[0])),
        "field": first_field,
        "fields": exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages},
    }
    return api.create_response(request, body, status=422)


@api.exception_handler(SchemaValidationError)
def invalid_schema(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
    fields = {
        ".".join(str(p) for p in error.get("loc", ()) if p not in {"body", "payload"}): error.get(
            "msg", ""
        )
        for error in exc.errors
    }
    body = {
        "code": "invalid_input",
        "message": _("The request is not valid: check the fields named."),
        "fields": fields,
    }
    return api.create_response(request, body, status=422)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        body = {"code": "malformed_body", "message": _("The request body is not valid JSON.")}
    else:
        body = {"code": f"http_{exc.status_code}", "message": str(exc)}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def not_signed_in(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    body = {"code": "not_authenticated", "message": _("Sign in first.")}
    return api.create_response(request, body, status=401)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    body = {"code": "not_found", "message": _("Not found.")}
    return api.create_response(request, body, status=404)
