from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Register")

    def ready(self):
        # Infrastructure only: stamps every history row with its operation, guards and logs writes.
        from django.db.models.signals import post_migrate
        from simple_history.models import registered_models

        from . import audit, changelog  # noqa: F401
        from .roles import on_post_migrate

        # Every model with history: refused outside an operation, recorded in the change log.
        changelog.connect([m for m in registered_models.values() if m._meta.app_label == "registry"])

        # After every app's permissions exist (registry runs after auth/contenttypes).
        post_migrate.connect(on_post_migrate, dispatch_uid="registry_sync_roles")
