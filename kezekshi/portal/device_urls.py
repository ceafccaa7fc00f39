from django.urls import path

from kezekshi.portal import device_views as views

urlpatterns = [
    path("access/terminals/", views.terminals, name="device_terminals"),
    path("access/terminals/<int:device_id>/", views.terminal, name="device_terminal"),
    path(
        "access/terminals/<int:device_id>/resync/",
        views.terminal_resync,
        name="device_terminal_resync",
    ),
    path(
        "access/terminals/<int:device_id>/open/", views.terminal_open, name="device_terminal_open"
    ),
    path(
        "access/terminals/<int:device_id>/reboot/",
        views.terminal_reboot,
        name="device_terminal_reboot",
    ),
    path(
        "access/terminals/<int:device_id>/pair-again/",
        views.terminal_pair_again,
        name="device_terminal_pair_again",
    ),
    path("access/terminals/claim/", views.pending_claim, name="device_pending_claim"),
    path("access/terminals/claim/forget/", views.pending_forget, name="device_pending_forget"),
]
