from django.urls import path

from kezekshi.portal import attendance_views as views

urlpatterns = [
    path("attendance/", views.dashboard, name="attendance"),
    path("attendance/day/", views.class_day, name="attendance_day"),
    path("attendance/month/", views.class_month, name="attendance_month"),
    path("attendance/staff/", views.staff_sheet, name="attendance_staff"),
    path("attendance/excuse/", views.excuse, name="attendance_excuse"),
    path("attendance/permits/", views.permits, name="attendance_permits"),
    path(
        "attendance/permits/<int:permit_id>/cancel/",
        views.cancel_permit,
        name="attendance_permit_cancel",
    ),
]
