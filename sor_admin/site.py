from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class SorAdminSite(admin.AdminSite):
    """The staff site of the register (Sundhedsdatastyrelsen's SOR administration)."""

    site_header = _("SOR-administration")
    site_title = _("SOR")
    index_title = _("Sundhedsvæsenets Organisationsregister")
