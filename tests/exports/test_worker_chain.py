"""The chain through a REAL Celery worker and Redis: the whole nightly chain, and a worker
SIGKILLed mid-publish that leaves the last published files intact.

The worker is `celery -A sor_admin worker -P solo` started as a subprocess on the test database
(DATABASE_URL of the test connection) and a Redis database of its own (db 5 of the broker's
server, `SOR_TEST_WORKER_REDIS_DB` to change it), flushed before each test. `-P solo` runs the
task in the worker process itself, so SIGKILL of its process group kills the session that holds
the run's advisory lock, as an OOM kill or a lost host would."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from exports import faults, locks
from exports.complete import MEMBERS
from exports.models import ExportRun
from sor_admin.celery import app
from tests.factories import test_database_url

from .chain_helpers import DAY, snapshot_files, visible_entries

pytest_plugins = ["tests.exports.chain_fixtures"]
S = ExportRun.Status
NEXT = DAY + dt.timedelta(days=1)
ROOT = Path(__file__).resolve().parents[2]


def broker_url() -> str:
    parts = urlsplit(settings.CELERY_BROKER_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{os.environ.get('SOR_TEST_WORKER_REDIS_DB', '5')}", "", ""))


class Worker:
    def __init__(self, tmp_path: Path, name: str, export_root: Path, **env):
        self.log_path = tmp_path / f"worker-{name}.log"
        environ = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": broker_url(),
            "CELERY_RESULT_BACKEND": broker_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SOR_EXPORT_ROOT": str(export_root),
            "DJANGO_SETTINGS_MODULE": "sor_admin.settings",
            **env,
        }
        if faults.ENV_BLOCK_AT not in env:
            environ.pop(faults.ENV_BLOCK_AT, None)
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "sor_admin", "worker", "-P", "solo", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"chain-test-{name}@%h"],
            cwd=ROOT, env=environ, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def workers(tmp_path, export_root, settings):
    redis.Redis.from_url(broker_url()).flushdb()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    started = []

    def start(name, **env):
        worker = Worker(tmp_path, name, export_root, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def send_nightly(day: dt.date | None = None):
    with app.connection_for_write(broker_url()) as conn:
        app.send_task("exports.nightly", args=[day.isoformat()] if day else [], connection=conn)


def wait_for(predicate, *, worker, timeout=90.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and worker.proc.poll() is not None:
            pytest.fail(f"worker exited ({worker.proc.returncode}) while waiting for {what}:\n{worker.output()}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n{worker.output() if worker else ''}")


def finished_run(day, exclude=()):
    return ExportRun.objects.filter(
        snapshot_date=day, status__in=[S.SUCCEEDED, S.FAILED, S.HELD]).exclude(pk__in=exclude).first()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_real_worker_runs_the_whole_nightly_chain(register, workers, export_root,
                                                   restore_migrated_data_at_session_end):
    worker = workers("nightly")
    send_nightly()  # as beat sends it: no date, the worker takes today in Europe/Copenhagen
    today = timezone.localdate()
    run = wait_for(lambda: finished_run(today), worker=worker, what="the nightly run")
    assert run.status == S.SUCCEEDED, f"{run.error}\n{worker.output()}"
    assert run.worker.endswith(f":{worker.proc.pid}")
    assert run.task_id
    latest = export_root / "latest"
    assert latest.resolve().name == today.isoformat()
    assert {p.name for p in latest.iterdir()} == {
        "Sor.zip", "Sor.xml", "Sor_v1.xml", "SorEntity_daily.csv", "Edityper.csv", "manifest.json", "SHA256SUMS",
        "Sor_complete.zip", *MEMBERS}
    assert run.counts["checks"]["Sor_v1.xml"]["units"] == 12  # validated against the XSD in the worker
    for step in ("activate", "build", "validate", "gate", "publish"):
        assert f"({step})" in run.log
    # A second trigger for the same date publishes nothing new.
    inode = (export_root / today.isoformat()).stat().st_ino
    send_nightly()
    time.sleep(3)
    assert ExportRun.objects.filter(snapshot_date=today).count() == 1
    assert (export_root / today.isoformat()).stat().st_ino == inode


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_killed_mid_publish_leaves_the_last_published_files_intact(register, workers, export_root, settings,
                                                                        restore_migrated_data_at_session_end):
    # Yesterday's files, published in-process.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from exports import pipeline

    first = pipeline.request_run(actor=None, day=DAY)
    first.refresh_from_db()
    assert first.status == S.SUCCEEDED, first.error
    settings.CELERY_TASK_ALWAYS_EAGER = False
    before = snapshot_files(export_root / "latest")

    # A worker that stops between the staged files and the rename, and is SIGKILLed there.
    doomed = workers("doomed", **{faults.ENV_BLOCK_AT: "publish-before-rename", faults.ENV_BLOCK_SECONDS: "300"})
    send_nightly(NEXT)
    marker = export_root / ".test-blocked-publish-before-rename"
    wait_for(marker.exists, worker=doomed, what="the worker to reach publish-before-rename")
    run = ExportRun.objects.get(snapshot_date=NEXT)
    assert run.status == S.RUNNING and run.step == "publish"
    assert locks.run_is_held_elsewhere(run.pk)
    doomed.kill()
    marker.unlink()

    # PostgreSQL ends the dead session and frees the run's lock.
    wait_for(lambda: not locks.run_is_held_elsewhere(run.pk), worker=None, timeout=30, what="the lock to be freed")
    assert (export_root / "latest").resolve().name == DAY.isoformat()
    assert snapshot_files(export_root / "latest") == before
    visible = visible_entries(export_root)
    assert not any(entry.startswith(NEXT.isoformat()) for entry in visible)
    assert not [entry for entry in visible if entry.endswith(".tmp")]
    run.refresh_from_db()
    assert run.status == S.RUNNING  # until the next run looks at it

    # The next run for that date proceeds on a healthy worker.
    healthy = workers("healthy")
    send_nightly(NEXT)
    retry = wait_for(lambda: finished_run(NEXT, exclude=[run.pk]), worker=healthy, what="the next run")
    assert retry.status == S.SUCCEEDED, f"{retry.error}\n{healthy.output()}"
    run.refresh_from_db()
    assert run.status == S.FAILED and "Arbejderen stoppede" in run.error
    assert (export_root / "latest").resolve().name == NEXT.isoformat()
    assert not (export_root / ".staging" / f"run-{run.pk}").exists()
