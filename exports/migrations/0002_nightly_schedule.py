"""The nightly publication in django-celery-beat's database schedule: 01:00 Europe/Copenhagen.

Stored in the database (not in settings) so SOR staff can move or pause it in the admin
("Periodiske opgaver"); the DatabaseScheduler picks changes up without a restart. Re-running the
migration keeps an existing task (and any time staff gave it)."""

from django.db import migrations

TASK_NAME = "SOR: natlig publicering (aktivering, filer, kontrol, publicering)"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(task="exports.nightly").exists():
        return
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="0", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Europe/Copenhagen",
    )
    PeriodicTask.objects.create(
        name=TASK_NAME, task="exports.nightly", crontab=crontab, enabled=True,
        description="Aktiverer ændringer, der træder i kraft i dag, bygger Sor.xml (v2), Sor_v1.xml og CSV-filerne "
                    "for dagens dato, kontrollerer dem, sammenligner med sidste publicering og publicerer.",
    )
    # Tell a running beat that the schedule changed (the model's signal does not fire here).
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="exports.nightly", name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0001_export_run"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
