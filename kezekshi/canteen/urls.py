"""The canteen's staff pages, mounted at ``/canteen/``."""

from django.urls import path

from kezekshi.canteen import views

app_name = "canteen"
urlpatterns = [
    path("reconciliations/", views.reconciliations, name="reconciliations"),
    path(
        "reconciliations/<int:reconciliation_id>/",
        views.reconciliation,
        name="reconciliation",
    ),
]
