from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/sor-import/", include("exports.urls_import")),
    path("admin/", admin.site.urls),
    path("filer/", include("exports.urls_publish")),
]
