"""Public download URLs of published files (mounted at /filer/) and staff downloads."""

urlpatterns = []
