from django.contrib.admin.apps import AdminConfig


class SorAdminConfig(AdminConfig):
    """Replaces Django's default admin site with the SOR staff site."""

    default_site = "sor_admin.site.SorAdminSite"

    def ready(self):
        super().ready()
        # This config's name is "django.contrib.admin", so autodiscovery does not find the
        # register's ModelAdmins in `sor_admin.admin`: import them here.
        from . import admin  # noqa: F401
