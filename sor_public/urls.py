"""Self-service URLs (mounted at /selvbetjening/)."""

from django.urls import path

from . import selfservice as views

app_name = "selvbetjening"

urlpatterns = [
    path("", views.start, name="start"),
    path("enhed/<int:sor_id>/", views.unit, name="unit"),
    path("bekraeft/<str:token>/", views.confirm, name="confirm"),
    path("opfoelgning/<str:token>/", views.followup_page, name="followup"),
    path("opfoelgning/<str:token>/ret/<int:sor_id>/", views.followup_correct, name="followup-correct"),
]
