from django.urls import path

from kezekshi.parents import pickup_views

urlpatterns = [
    path(
        "children/<int:pupil_id>/pick-up/",
        pickup_views.trusted_adults,
        name="pickup_adults",
    ),
    path(
        "children/<int:pupil_id>/pick-up/<int:adult_id>/revoke/",
        pickup_views.revoke,
        name="pickup_revoke",
    ),
]
