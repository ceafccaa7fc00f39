"""URLs of the hikvision adapter (filled in by the adapter)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
