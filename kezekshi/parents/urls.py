from django.urls import path

from kezekshi.parents import views

app_name = "parents"
urlpatterns = [
    path("", views.home, name="home"),
    path("code/", views.send_code, name="send_code"),
    path("verify/", views.verify_code, name="verify_code"),
    path("logout/", views.sign_out, name="logout"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
]
