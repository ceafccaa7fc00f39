"""The gateway's URLs: only what terminals call, at the same paths as on the server, so a
terminal can point at the gateway instead of the server with no other change."""

from django.urls import include, path
from ninja import NinjaAPI

from kezekshi.access.api import router as access_router
from kezekshi.api import api as server_api
from kezekshi.core.views import healthz

api = NinjaAPI(
    title="Kezekshi edge gateway",
    version="1",
    urls_namespace="edge_api",
    docs_url=None,
    openapi_url=None,
)
api.add_router("/v1/access", access_router)
# Refusals look exactly as the server's: the same handlers.
for exception, handler in server_api._exception_handlers.items():
    api.add_exception_handler(exception, handler)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("", include("kezekshi.devices.urls")),
]
