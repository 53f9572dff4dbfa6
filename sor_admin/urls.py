from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from sor_api.urls import fhir_urlpatterns

urlpatterns = [
    # The public side starts with the register browser.
    path("", RedirectView.as_view(pattern_name="sor:search", permanent=False)),
    path("sor/", include("sor_public.urls_browser")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/sor-import/", include("exports.urls_import")),
    path("admin/", admin.site.urls),
    path("filer/", include("exports.urls_publish")),
    path("selvbetjening/", include("sor_public.urls")),
    path("api/v1/", include("sor_api.urls")),
    path("fhir/", include((fhir_urlpatterns, "fhir"))),
]

# A refusal in the admin's own look, in Danish, saying what the user's role may do.
handler403 = "sor_admin.views.permission_denied"
