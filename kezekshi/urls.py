from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from kezekshi.api import api
from kezekshi.core.views import healthz

# Platform operators reach Django admin only after their TOTP code.
admin.site.__class__ = OTPAdminSite

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("app/", include("kezekshi.parents.urls")),
    path("payments/", include("kezekshi.canteen.payment_urls")),
    path("canteen/", include("kezekshi.canteen.urls")),
    path("", include("kezekshi.devices.urls")),
    path("", include("kezekshi.portal.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
