from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = _("Publicering")

    def ready(self):
        from registry.changesets.engine import apply_due

        from .activation import register_activator

        # The first step of every nightly run: approved change-sets whose date has come.
        @register_activator("registry.change_sets", own_transactions=True)
        def activate_change_sets(day, *, log, parent):
            return apply_due(day, log=log, parent=parent)
