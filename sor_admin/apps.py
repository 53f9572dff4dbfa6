from django.contrib.admin.apps import AdminConfig


class SorAdminConfig(AdminConfig):
    """Replaces Django's default admin site with the SOR staff site."""

    default_site = "sor_admin.site.SorAdminSite"
