from django.urls import path

from kezekshi.portal import setup_views as views

urlpatterns = [
    path("access/setup/", views.overview, name="access_setup"),
    path("access/setup/zones/new/", views.zone_new, name="access_zone_new"),
    path("access/setup/zones/<int:zone_id>/", views.zone_edit, name="access_zone"),
    path("access/setup/doors/new/", views.door_new, name="access_door_new"),
    path("access/setup/doors/<int:door_id>/", views.door_edit, name="access_door"),
    path("access/setup/devices/", views.devices, name="access_devices"),
    path("access/setup/devices/new/", views.device_new, name="access_device_new"),
    path("access/setup/devices/<int:device_id>/", views.device_edit, name="access_device"),
    path(
        "access/setup/devices/<int:device_id>/rotate/",
        views.device_rotate,
        name="access_device_rotate",
    ),
    path(
        "access/setup/devices/<int:device_id>/active/",
        views.device_active,
        name="access_device_active",
    ),
    path("access/setup/groups/new/", views.group_new, name="access_group_new"),
    path("access/setup/groups/<int:group_id>/", views.group_edit, name="access_group"),
    path("access/setup/groups/<int:group_id>/week/", views.group_week, name="access_group_week"),
    path("access/setup/settings/", views.access_settings, name="access_settings"),
    path(
        "access/pupils/<int:pupil_id>/credentials/",
        views.pupil_credentials,
        name="pupil_credentials",
    ),
    path(
        "access/people/<int:person_id>/credentials/",
        views.person_credentials,
        name="person_credentials",
    ),
    path(
        "access/people/<int:person_id>/credentials/card/",
        views.issue_card,
        name="credential_issue_card",
    ),
    path(
        "access/people/<int:person_id>/credentials/pin/",
        views.set_pin,
        name="credential_set_pin",
    ),
    path(
        "access/credentials/<int:credential_id>/block/",
        views.block_credential,
        name="credential_block",
    ),
    path(
        "access/credentials/<int:credential_id>/replace/",
        views.replace_card,
        name="credential_replace",
    ),
]
