from django.urls import path

from kezekshi.parents import wallet_views as views

urlpatterns = [
    path("children/<int:pupil_id>/wallet/", views.child_wallet, name="child_wallet"),
    path("children/<int:pupil_id>/wallet/live/", views.child_wallet_live, name="child_wallet_live"),
    path(
        "children/<int:pupil_id>/wallet/transfer/",
        views.child_wallet_transfer,
        name="child_wallet_transfer",
    ),
]
