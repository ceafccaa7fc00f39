from django.urls import path

from kezekshi.parents import consent_views, views

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
    path("disclosures/", views.disclosures, name="disclosures"),
    path("code/", views.send_code, name="send_code"),
    path("verify/", views.verify_code, name="verify_code"),
    path("logout/", views.sign_out, name="logout"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
]
