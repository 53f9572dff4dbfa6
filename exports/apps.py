from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = _("Publicering")

    def ready(self):
        from registry.changesets.engine import apply_due
        from registry.services.imports import run_waiting

        from .activation import register_activator

        # The first steps of every nightly run: imports held back by a freeze window that has
        # ended, then the approved change-sets whose date has come (in registration order).
        @register_activator("registry.waiting_imports", own_transactions=True)
        def activate_waiting_imports(day, *, log, parent):
            return run_waiting(day, log=log)

        @register_activator("registry.change_sets", own_transactions=True)
        def activate_change_sets(day, *, log, parent):
            return apply_due(day, log=log, parent=parent)

        # Last: the change-log events of what comes into force today without an edit (a planned
        # unit starts, a closure or a location number's dates take effect), in its own transaction.
        @register_activator("registry.took_effect")
        def activate_took_effect(day, *, log):
            from registry.services.took_effect import record_took_effect

            return record_took_effect(day, log=log)
