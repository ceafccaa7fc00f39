"""URLs of the Hikvision adapter, mounted at ``/isapi/``: the push a terminal's HTTP
listening host is set to (``kezekshi.devices.hikvision.push_url``)."""

from django.urls import path

from kezekshi.devices.hikvision import receiver

app_name = "hikvision"

urlpatterns = [
    path("<str:serial>/<str:token>/events", receiver.events, name="events"),
]
