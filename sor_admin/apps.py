from django.contrib.admin.apps import AdminConfig


class SorAdminConfig(AdminConfig):
    """Replaces Django's default admin site with the SOR staff site."""

    default_site = "sor_admin.site.SorAdminSite"

    def ready(self):
        super().ready()
        # This config's name is "django.contrib.admin", so autodiscovery does not find the
        # register's ModelAdmins in `sor_admin.admin`: import them here.
        from . import admin  # noqa: F401

        _danish_periodic_tasks(self)


def _danish_periodic_tasks(config) -> None:
    """django-celery-beat's admin under the names the README uses ("Periodiske opgaver"), with only
    what SDS uses: the tasks and their crontab schedules (the nightly run is a crontab). Clocked,
    solar and interval schedules are hidden (the library has no Danish catalog of its own)."""
    from django.apps import apps
    from django.contrib import admin as django_admin
    from django.utils.translation import gettext_lazy as _

    if not apps.is_installed("django_celery_beat"):
        return
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    apps.get_app_config("django_celery_beat").verbose_name = _("Periodiske opgaver")
    PeriodicTask._meta.verbose_name = _("periodisk opgave")
    PeriodicTask._meta.verbose_name_plural = _("periodiske opgaver")
    CrontabSchedule._meta.verbose_name = _("tidsplan (crontab)")
    CrontabSchedule._meta.verbose_name_plural = _("tidsplaner (crontab)")
    site = django_admin.site
    for model in (ClockedSchedule, SolarSchedule, IntervalSchedule):
        if site.is_registered(model):
            site.unregister(model)
