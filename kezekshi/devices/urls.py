"""Protocol endpoints that terminals call with their vendor's fixed paths (not JSON API
shaped, so plain Django views): ZKTeco PUSH at ``/iclock/`` and Hikvision pushes at
``/isapi/``."""

from django.urls import include, path

urlpatterns = [
    path("iclock/", include("kezekshi.devices.zkteco.urls")),
    path("isapi/", include("kezekshi.devices.hikvision.urls")),
]
