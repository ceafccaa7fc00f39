from django.urls import include, path

from kezekshi.portal import consent_views, views
from kezekshi.portal.datamap_views import data_map, data_map_export
from kezekshi.portal.people_io import export_people, import_people
from kezekshi.portal.photo_views import person_photo
from kezekshi.portal.privacy_views import audit_export, audit_log
from kezekshi.portal.protection_views import (
    accept_cookie_notice,
    breach_authority_notified,
    breach_notice,
    breach_notify_subjects,
    breaches,
    disclosures,
    new_breach,
)
from kezekshi.portal.requests_views import request_queue, resolve

app_name = "portal"
urlpatterns = [
    path(
        "pupils/<int:pupil_id>/biometrics/",
        consent_views.pupil_biometrics,
        name="pupil_biometrics",
    ),
    path(
        "pupils/<int:pupil_id>/biometrics/child/",
        consent_views.record_child_will,
        name="record_child_will",
    ),
    path("", views.home, name="home"),
    path("login/", views.sign_in, name="login"),
    path("login/2fa/", views.two_factor, name="two_factor"),
    path("logout/", views.sign_out, name="logout"),
    path("school/", views.switch_school, name="switch_school"),
    path("pupils/", views.pupils, name="pupils"),
    path("pupils/<int:pupil_id>/", views.pupil_card, name="pupil_card"),
    path("language/", views.choose_language, name="language"),
    path("people/import/", import_people, name="import_people"),
    path("people/export/", export_people, name="export_people"),
    path("privacy/audit/", audit_log, name="audit_log"),
    path("privacy/audit/export/", audit_export, name="audit_export"),
    path("privacy/requests/", request_queue, name="privacy_requests"),
    path("privacy/requests/resolve/", resolve, name="privacy_request_resolve"),
    path("privacy/data-map/", data_map, name="data_map"),
    path("privacy/data-map/export/", data_map_export, name="data_map_export"),
    path("privacy/disclosures/", disclosures, name="privacy_disclosures"),
    path("privacy/breaches/", breaches, name="privacy_breaches"),
    path("privacy/breaches/new/", new_breach, name="privacy_breach_new"),
    path("privacy/breaches/notice/", breach_notice, name="privacy_breach_notice"),
    path(
        "privacy/breaches/authority-notified/",
        breach_authority_notified,
        name="privacy_breach_authority_notified",
    ),
    path(
        "privacy/breaches/notify-subjects/",
        breach_notify_subjects,
        name="privacy_breach_notify_subjects",
    ),
    path("cookies/", accept_cookie_notice, name="cookie_notice"),
    path("people/<int:person_id>/photo/", person_photo, name="person_photo"),
    path("", include("kezekshi.portal.guard_urls")),
    path("", include("kezekshi.portal.visitor_urls")),
    path("", include("kezekshi.portal.attendance_urls")),
    path("", include("kezekshi.portal.setup_urls")),
    path("", include("kezekshi.portal.device_urls")),
]
