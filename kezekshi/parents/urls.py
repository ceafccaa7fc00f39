from django.urls import include, path

from kezekshi.parents import consent_views, privacy_views, views

app_name = "parents"
urlpatterns = [
    path("", views.home, name="home"),
    path("policy/", consent_views.policy, name="policy"),
    path("consent/", consent_views.consent, name="consent"),
    path(
        "children/<int:pupil_id>/biometrics/",
        consent_views.biometrics,
        name="biometrics",
    ),
    path(
        "children/<int:pupil_id>/biometrics/decide/",
        consent_views.decide_biometrics,
        name="decide_biometrics",
    ),
    path("privacy/", privacy_views.index, name="privacy"),
    path("privacy/export.json", privacy_views.family_export, name="privacy_family_export"),
    path("privacy/contact/", privacy_views.contact, name="privacy_contact"),
    path("privacy/<str:subject>/", privacy_views.subject_page, name="privacy_subject"),
    path("privacy/<str:subject>/export.json", privacy_views.export_json, name="privacy_export"),
    path("privacy/<str:subject>/print/", privacy_views.print_page, name="privacy_print"),
    path("privacy/<str:subject>/correct/", privacy_views.correct, name="privacy_correct"),
    path("privacy/<str:subject>/request/", privacy_views.file_request, name="privacy_request"),
    path("privacy/<str:subject>/withdraw/", privacy_views.withdraw, name="privacy_withdraw"),
    path("disclosures/", views.disclosures, name="disclosures"),
    path("code/", views.send_code, name="send_code"),
    path("verify/", views.verify_code, name="verify_code"),
    path("logout/", views.sign_out, name="logout"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("", include("kezekshi.parents.pickup_urls")),
    path("", include("kezekshi.parents.attendance_urls")),
    path("", include("kezekshi.parents.passes_urls")),
    path("", include("kezekshi.parents.wallet_urls")),
    path("", include("kezekshi.parents.canteen_urls")),
]
