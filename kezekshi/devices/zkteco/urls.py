"""ZKTeco PUSH paths under ``/iclock/``, each also with the ``.aspx`` ending older
firmwares use."""

from django.urls import URLPattern, re_path

from kezekshi.devices.zkteco import views

app_name = "zkteco"

ENDPOINTS = {
    "cdata": views.cdata,
    "registry": views.registry,
    "push": views.push,
    "getrequest": views.getrequest,
    "devicecmd": views.devicecmd,
    "querydata": views.querydata,
    "ping": views.ping,
    "rtdata": views.rtdata,
}

urlpatterns: list[URLPattern] = [
    re_path(rf"^{name}(?:\.aspx)?$", view, name=name) for name, view in ENDPOINTS.items()
]
