"""Admin URLs of the SOR XML import upload (mounted under /admin/sor-import/)."""

from django.urls import path

from . import views_import

app_name = "sor_import"

urlpatterns = [
    path("", views_import.upload, name="upload"),
    path("confirm/", views_import.confirm, name="confirm"),
]
