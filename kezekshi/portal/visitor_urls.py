from django.urls import path

from kezekshi.portal import visitor_views as views

urlpatterns = [
    path("visitors/", views.visitor_list, name="visitors"),
    path("visitors/new/", views.visitor_new, name="visitor_new"),
    path("visitors/expect/", views.visitor_expect, name="visitor_expect"),
    path("visitors/<int:visitor_id>/pass/", views.visitor_pass, name="visitor_pass"),
    path("visitors/<int:visitor_id>/sign-in/", views.visitor_sign_in, name="visitor_sign_in"),
    path("visitors/<int:visitor_id>/sign-out/", views.visitor_sign_out, name="visitor_sign_out"),
    path("visitors/<int:visitor_id>/cancel/", views.visitor_cancel, name="visitor_cancel"),
    path("watch-list/", views.watch_list, name="watch_list"),
    path("watch-list/new/", views.watch_entry_new, name="watch_entry_new"),
    path("watch-list/<int:entry_id>/", views.watch_entry_edit, name="watch_entry_edit"),
    path(
        "watch-list/<int:entry_id>/deactivate/",
        views.watch_entry_deactivate,
        name="watch_entry_deactivate",
    ),
    path("watch-list/alerts/", views.watch_alerts, name="watch_alerts"),
    path(
        "watch-list/alerts/<int:alert_id>/acknowledge/",
        views.watch_alert_acknowledge,
        name="watch_alert_acknowledge",
    ),
    path("pick-ups/", views.pickup_search, name="pickups"),
    path("pick-ups/log/", views.pickup_log, name="pickup_log"),
    path("pick-ups/<int:pupil_id>/", views.pickup_child, name="pickup_child"),
    path("pick-ups/<int:pupil_id>/record/", views.pickup_record, name="pickup_record"),
]
