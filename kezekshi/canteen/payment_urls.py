"""Endpoints payment providers call, with the wire formats they fix (plain Django views,
one folder per protocol under ``payments/``). Mounted at ``/payments/``."""

from django.urls import re_path

from kezekshi.canteen.payments.cloudpayments.views import endpoint as cloudpayments
from kezekshi.canteen.payments.kaspi.views import endpoint as kaspi
from kezekshi.canteen.payments.osmp.views import endpoint as osmp

# With or without the trailing slash: a redirect would lose a POST's body, and the raw
# request would never be stored.
urlpatterns = [
    re_path(r"^kaspi/?$", kaspi, name="payments_kaspi"),
    re_path(r"^osmp/?$", osmp, name="payments_osmp"),
    re_path(r"^cloudpayments/(?P<kind>[^/]+)/?$", cloudpayments, name="payments_cloudpayments"),
]
