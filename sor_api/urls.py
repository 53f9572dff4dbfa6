"""`/api/v1/` (the read API) and `/fhir/` (the FHIR façade)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import fhir, views

app_name = "api"

urlpatterns = [
    path("", views.ApiRoot.as_view(), name="root"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("units/", views.UnitList.as_view(), name="units"),
    path("units/<str:sor_id>/", views.UnitDetail.as_view(), name="unit"),
    path("units/<str:sor_id>/subtree/", views.UnitSubtree.as_view(), name="unit-subtree"),
    path("units/<str:sor_id>/shak/", views.UnitShak.as_view(), name="unit-shak"),
    path("location-numbers/<str:gln>/", views.LocationNumberDetail.as_view(), name="location-number"),
    path("codes/", views.Codes.as_view(), name="codes"),
    path("codes/<str:code_list>/", views.CodeListView.as_view(), name="code-list"),
    path("changes/", views.Changes.as_view(), name="changes"),
    path("shak-mapping.csv", views.ShakMapping.as_view(), name="shak-mapping"),
    path("shak/<str:code>/", views.ShakUnits.as_view(), name="shak"),
    path("published/", views.Publications.as_view(), name="published"),
    path("published/<str:day>/", views.PublicationDetail.as_view(), name="publication"),
    path("published/<str:day>/units/<str:sor_id>/", views.PublishedUnitView.as_view(), name="published-unit"),
]

fhir_urlpatterns = [
    path("metadata", fhir.Metadata.as_view(), name="fhir-metadata"),
    path("Organization", fhir.OrganizationSearch.as_view(), name="fhir-organization-search"),
    path("Organization/<str:sor_id>", fhir.OrganizationRead.as_view(), name="fhir-organization"),
]
