"""Endpoints payment providers call, with the wire formats they fix (plain Django views,
one folder per protocol under ``payments/``). Mounted at ``/payments/``."""

from django.urls import path

from kezekshi.canteen.payments.cloudpayments.views import endpoint as cloudpayments
from kezekshi.canteen.payments.kaspi.views import endpoint as kaspi
from kezekshi.canteen.payments.osmp.views import endpoint as osmp

urlpatterns = [
    path("kaspi/", kaspi, name="payments_kaspi"),
    path("osmp/", osmp, name="payments_osmp"),
    path("cloudpayments/<str:kind>/", cloudpayments, name="payments_cloudpayments"),
]
