"""The nightly schedule lives in the database (django-celery-beat), and the heartbeat."""

import time

import pytest
from django_celery_beat.models import PeriodicTask

from exports import pipeline
from exports.models import ExportRun
from sor_admin.celery import app

pytest_plugins = ["tests.exports.chain_fixtures"]


@pytest.mark.django_db
def test_nightly_task_is_scheduled_at_one_oclock_copenhagen_time():
    task = PeriodicTask.objects.get(task="exports.nightly")
    assert task.enabled and task.crontab is not None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) == (
        "0", "1", "*", "*", "*")
    assert str(crontab.timezone) == "Europe/Copenhagen"


def test_chain_tasks_have_explicit_names_and_late_acks():
    app.loader.import_default_modules()
    for name in ("exports.nightly", "exports.run_export", "exports.publish_run"):
        assert name in app.tasks
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_heartbeat_stamps_the_running_row_from_its_own_connection(settings, restore_migrated_data_at_session_end):
    settings.EXPORT_RUN_HEARTBEAT_SECONDS = 0.1
    run = ExportRun.objects.create(snapshot_date="2026-03-02", status=ExportRun.Status.RUNNING)
    beat = pipeline._Heartbeat(run.pk)
    beat.progress = "v2: 10/20"
    beat.start()
    time.sleep(0.6)
    beat.stop()
    run.refresh_from_db()
    assert run.heartbeat_at is not None and run.progress == "v2: 10/20"
    assert not beat._thread.is_alive()
