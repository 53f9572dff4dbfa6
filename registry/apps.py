from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Register")

    def ready(self):
        # Infrastructure only: stamps every history row with the audit context.
        from django.db.models.signals import post_migrate

        from . import audit  # noqa: F401
        from .roles import on_post_migrate

        # After every app's permissions exist (registry runs after auth/contenttypes).
        post_migrate.connect(on_post_migrate, dispatch_uid="registry_sync_roles")
