from django.urls import path

from kezekshi.parents import canteen_views as views

urlpatterns = [
    path("children/<int:pupil_id>/menu/", views.child_menu, name="child_menu"),
    path("children/<int:pupil_id>/menu/rate/", views.rate, name="child_menu_rate"),
    path("children/<int:pupil_id>/canteen/", views.child_canteen, name="child_canteen"),
]
