"""Public download URLs of published files (mounted at /filer/) and staff downloads."""

from django.urls import path, re_path

from . import views_publish as views

app_name = "filer"

urlpatterns = [
    path("", views.index, name="index"),
    path("latest/", views.index, name="latest-index"),
    path("latest/<str:name>", views.latest_file, name="latest"),
    path("run/<int:run_id>/<str:name>", views.run_file, name="run"),
    re_path(r"^(?P<day>\d{4}-\d{2}-\d{2})/(?P<name>[^/]+)$", views.day_file, name="day"),
]
