"""Admin URLs of the SOR XML import (mounted under /admin/sor-import/)."""

from django.urls import path

from . import views_import

app_name = "sor_import"

urlpatterns = [
    path("", views_import.upload, name="upload"),
    path("jobs/<int:pk>/", views_import.job, name="job"),
    path("jobs/<int:pk>/status/", views_import.job_status, name="job_status"),
    path("jobs/<int:pk>/confirm/", views_import.confirm, name="confirm"),
    path("jobs/<int:pk>/despite-warnings/", views_import.despite_warnings, name="despite_warnings"),
]
