from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class SorAdminSite(admin.AdminSite):
    """The staff site of the register (Sundhedsdatastyrelsen's SOR administration).

    Nothing in the register is ever deleted (units and location numbers are closed, codes are
    retired), so the bulk delete action is switched off for every model on this site."""

    site_header = _("SOR-administration")
    site_title = _("SOR")
    index_title = _("Sundhedsvæsenets Organisationsregister")
    index_template = "admin/sor/index.html"

    def __init__(self, name="admin"):
        super().__init__(name)
        self.disable_action("delete_selected")
