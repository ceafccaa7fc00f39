from django.urls import path

from kezekshi.parents import attendance_views as views

urlpatterns = [
    path(
        "children/<int:pupil_id>/attendance/",
        views.child_attendance,
        name="child_attendance",
    ),
    path(
        "children/<int:pupil_id>/attendance/excuse/",
        views.child_excuse,
        name="child_excuse",
    ),
    path(
        "children/<int:pupil_id>/attendance/permit/",
        views.child_exit_permit,
        name="child_exit_permit",
    ),
]
