from django.urls import path

from kezekshi.parents import passes_views as views

urlpatterns = [
    path("children/<int:pupil_id>/pass/", views.child_pass, name="child_pass"),
    path("children/<int:pupil_id>/pass/code/", views.child_pass_code, name="child_pass_code"),
    path("notifications/", views.feed, name="notifications"),
    path("notifications/read/", views.feed_read, name="notifications_read"),
]
