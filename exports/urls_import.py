"""Admin URLs of the SOR XML import upload (mounted under /admin/sor-import/)."""

urlpatterns = []
