"""The public SOR browser (mounted at /sor/)."""

from django.urls import path

from . import browser

app_name = "sor"

urlpatterns = [
    path("", browser.search, name="search"),
    path("enhed/<str:sor_id>/", browser.unit, name="unit"),
]
