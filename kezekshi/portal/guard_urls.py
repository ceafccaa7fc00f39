"""The guard's desk: live feed, emergency modes, who is inside, evacuation roll calls."""

from django.urls import URLPattern, path

from kezekshi.portal import guard_views as views

urlpatterns: list[URLPattern] = [
    path("guard/", views.feed, name="guard_feed"),
    path("guard/feed/rows/", views.feed_rows, name="guard_feed_rows"),
    path(
        "guard/feed/<int:school_id>/stream/",
        views.feed_stream,  # type: ignore[arg-type]  # an async view
        name="guard_feed_stream",
    ),
    path("guard/alerts/", views.alerts, name="guard_alerts"),
    path(
        "guard/alerts/<int:alert_id>/acknowledge/",
        views.acknowledge_alert,
        name="guard_acknowledge_alert",
    ),
    path("guard/mode/", views.mode, name="guard_mode"),
    path("guard/inside/", views.inside, name="guard_inside"),
    path("guard/roll-call/", views.open_roll_call, name="guard_roll_call"),
    path("guard/roll-calls/", views.roll_calls, name="guard_roll_calls"),
    path(
        "guard/roll-calls/<int:roll_call_id>/",
        views.roll_call_detail,
        name="guard_roll_call_detail",
    ),
    path(
        "guard/roll-calls/<int:roll_call_id>/lines/",
        views.roll_call_lines,
        name="guard_roll_call_lines",
    ),
    path(
        "guard/roll-calls/<int:roll_call_id>/print/",
        views.roll_call_print,
        name="guard_roll_call_print",
    ),
    path(
        "guard/roll-calls/lines/<int:entry_id>/tick/",
        views.roll_call_tick,
        name="guard_roll_call_tick",
    ),
    path(
        "guard/roll-calls/lines/<int:entry_id>/untick/",
        views.roll_call_untick,
        name="guard_roll_call_untick",
    ),
]
