"""The nightly chain in eager Celery: activate → build → validate → gate → publish, idempotency,
lost workers, failures and the "run now" service."""

import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from exports import activation, formats, pipeline, tasks
from exports.models import ExportRun
from registry.errors import DomainError, NotAllowed
from registry.models import ChangeEvent, Operation
from registry.selectors import changelog_position
from registry.services.units import unit_update

from .chain_helpers import DAY, nightly, snapshot_files, visible_entries

pytest_plugins = ["tests.exports.chain_fixtures"]

PUBLISHED = {"Sor.zip", "Sor.xml", "Sor_v1.xml", "SorEntity_daily.csv", "Edityper.csv", "manifest.json", "SHA256SUMS",
             "Sor_complete.zip", "SOREntity.csv", "SORClassifications.csv", "LocationsCodes.csv",
             "LocationsCodeEDITypeMap.csv", "EDITypes.csv", "SHAKSORMap.csv", "SORReplacedEntities.csv",
             "Geolocations.csv"}
S = ExportRun.Status


@pytest.fixture
def extra_format():
    """Register formats only inside a test."""
    added = []

    def add(cls):
        formats.register(cls)
        added.append(cls.identifier)
        return cls

    yield add
    for identifier in added:
        formats._FORMATS.pop(identifier, None)


@pytest.mark.django_db
def test_nightly_builds_checks_and_publishes_every_file_with_checksums(export_root, register,
                                                                      django_capture_on_commit_callbacks):
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED, run.error
    assert run.trigger == ExportRun.Trigger.SCHEDULE
    latest = export_root / "latest"
    assert latest.is_symlink() and latest.resolve() == (export_root / DAY.isoformat())
    assert {p.name for p in latest.iterdir()} == PUBLISHED
    sums = dict(line.split("  ")[::-1] for line in (latest / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((latest / name).read_bytes()).hexdigest() == digest
        assert run.files[name]["sha256"] == digest
    with zipfile.ZipFile(latest / "Sor.zip") as archive:
        assert archive.namelist() == ["Sor.xml"]
        assert archive.read("Sor.xml") == (latest / "Sor.xml").read_bytes()
    assert b"urn:oio:nsi:2.0.0" in (latest / "Sor.xml").read_bytes()[:2000]
    assert b"urn:oio:sundhedsstyrelsen:organisation:1.0.0" in (latest / "Sor_v1.xml").read_bytes()[:2000]
    assert run.counts["checks"]["Sor.xml"]["units"] == 12
    assert run.counts["checks"]["Sor_v1.xml"]["units"] == 12
    assert run.counts["checks"]["SorEntity_daily.csv"]["rows"] == 12
    for step in ("activate", "build", "validate", "gate", "publish"):
        assert f"({step})" in run.log
    assert run.diff["first_publication"] is True
    assert run.published_at and run.finished_at and run.started_at
    assert not (export_root / ".staging" / f"run-{run.pk}").exists()


@pytest.mark.django_db
def test_second_nightly_for_the_same_date_does_not_publish_twice(export_root, register,
                                                                django_capture_on_commit_callbacks):
    first = nightly(DAY, django_capture_on_commit_callbacks)
    day_dir = export_root / DAY.isoformat()
    inode, files = day_dir.stat().st_ino, snapshot_files(day_dir)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.nightly.delay(DAY.isoformat()).get()
    assert result == {"date": DAY.isoformat(), "status": "skipped", "reason": "published", "run": first.pk}
    assert ExportRun.objects.count() == 1
    assert day_dir.stat().st_ino == inode and snapshot_files(day_dir) == files


@pytest.mark.django_db
def test_redelivered_task_of_a_finished_run_does_nothing(export_root, register, django_capture_on_commit_callbacks):
    run = nightly(DAY, django_capture_on_commit_callbacks)
    published_at = run.published_at
    result = tasks.run_export.delay(run.pk).get()
    assert result["noop"] is True and result["status"] == S.SUCCEEDED
    run.refresh_from_db()
    assert run.published_at == published_at
    assert ExportRun.objects.count() == 1


@pytest.mark.django_db
def test_run_left_running_by_a_dead_worker_is_failed_and_the_next_run_for_the_date_proceeds(
        export_root, register, django_capture_on_commit_callbacks):
    dead = ExportRun.objects.create(snapshot_date=DAY, status=S.RUNNING, step="build", worker="gone:1")
    run = nightly(DAY, django_capture_on_commit_callbacks)
    dead.refresh_from_db()
    assert dead.status == S.FAILED
    assert "Arbejderen stoppede" in dead.error and "build" in dead.error
    assert run.pk != dead.pk and run.status == S.SUCCEEDED


@pytest.mark.django_db
def test_redelivery_of_a_lost_run_starts_a_new_attempt(export_root, register, django_capture_on_commit_callbacks):
    lost = ExportRun.objects.create(snapshot_date=DAY, status=S.RUNNING, step="publish", parameters={"formats": ["csv"]})
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.run_export.delay(lost.pk).get()
    lost.refresh_from_db()
    assert lost.status == S.FAILED
    successor = ExportRun.objects.get(pk=result["successor"])
    assert successor.previous_attempt == lost and successor.attempt == 2
    assert successor.trigger == ExportRun.Trigger.RETRY
    assert successor.status == S.SUCCEEDED and successor.parameters == {"formats": ["csv"]}


@pytest.mark.django_db
def test_no_new_attempt_after_the_attempt_limit(export_root, register, settings, django_capture_on_commit_callbacks):
    settings.EXPORT_RUN_MAX_ATTEMPTS = 3
    lost = ExportRun.objects.create(snapshot_date=DAY, status=S.RUNNING, attempt=3)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.run_export.delay(lost.pk).get()
    assert result["successor"] is None
    assert ExportRun.objects.count() == 1
    lost.refresh_from_db()
    assert lost.status == S.FAILED and "grænsen på 3 forsøg" in lost.log


@pytest.mark.django_db
def test_a_failing_format_fails_the_run_and_leaves_the_last_publication(export_root, register, extra_format,
                                                                      django_capture_on_commit_callbacks):
    nightly(DAY, django_capture_on_commit_callbacks)
    before = snapshot_files(export_root / "latest")

    @extra_format
    class Broken:
        identifier = "broken-test"

        def render(self, snapshot_date, out_dir, progress=None):
            (Path(out_dir) / "half.txt").write_text("half a file")
            raise RuntimeError("disk full (simulated)")

    next_day = DAY + dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline.request_run(actor=None, day=next_day, formats=["csv", "broken-test"])
    run.refresh_from_db()
    assert run.status == S.FAILED and run.step == "build"
    assert "disk full (simulated)" in run.error
    assert snapshot_files(export_root / "latest") == before
    assert (export_root / "latest").resolve().name == DAY.isoformat()
    assert not (export_root / next_day.isoformat()).exists()
    assert not (export_root / ".staging" / f"run-{run.pk}").exists()


@pytest.mark.django_db
def test_a_file_failing_its_structural_check_is_not_published(export_root, register, extra_format,
                                                             django_capture_on_commit_callbacks):
    @extra_format
    class BadCsv:
        identifier = "badcsv-test"

        def render(self, snapshot_date, out_dir, progress=None):
            path = Path(out_dir) / "SorEntity_daily.csv"
            path.write_text("SorId;Navn\r\n1;x\r\n", encoding="utf-8")
            return {"files": {"SorEntity_daily.csv": str(path)}, "counts": {}}

    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline.request_run(actor=None, day=DAY, formats=["badcsv-test"])
    run.refresh_from_db()
    assert run.status == S.FAILED and run.step == "validate"
    assert "SorEntity_daily.csv: header differs" in run.error
    assert visible_entries(export_root) == set()


@pytest.mark.django_db
def test_a_format_registered_in_a_test_is_published_under_its_own_file_name(export_root, register, extra_format,
                                                                          django_capture_on_commit_callbacks):
    @extra_format
    class Fake:
        identifier = "fake-test"

        def render(self, snapshot_date, out_dir, progress=None):
            progress(1, 1, "fake-test")
            path = Path(out_dir) / "Fake.txt"
            path.write_text(f"snapshot {snapshot_date}\n")
            return {"files": {"Fake.txt": str(path)}, "counts": {"lines": 1}}

    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline.request_run(actor=None, day=DAY, formats=["fake-test"])
    run.refresh_from_db()
    assert run.status == S.SUCCEEDED, run.error
    assert (export_root / "latest" / "Fake.txt").read_text() == f"snapshot {DAY}\n"
    assert run.counts["fake-test"]["lines"] == 1
    assert set(run.files) == {"Fake.txt", "manifest.json", "SHA256SUMS"}


@pytest.mark.django_db
def test_registered_activators_run_before_the_build_and_are_logged(export_root, register,
                                                                   django_capture_on_commit_callbacks):
    unit = register["trees"][0]["oe"]
    calls = []

    def activate_phone(day, *, log):
        calls.append(day)
        unit_update(unit=unit, changes={"virtual_present": True, "phone": "11112222"}, actor=None,
                    reason="planlagt ændring", origin="task")
        log("1 planlagt ændring aktiveret")
        return {"applied": 1}

    activation.register_activator("test.phone")(activate_phone)
    try:
        run = nightly(DAY, django_capture_on_commit_callbacks)
    finally:
        activation.unregister_activator("test.phone")
    assert calls == [DAY]
    assert run.status == S.SUCCEEDED
    assert run.counts["activation"]["test.phone"] == {"applied": 1}
    assert "1 planlagt ændring aktiveret" in run.log
    assert b"11112222" in (export_root / "latest" / "SorEntity_daily.csv").read_bytes()
    history = unit.history.order_by("-history_id").first()
    assert history.origin == "task" and history.history_change_reason == "planlagt ændring"
    # The activator's work is its own operation, a child of the run's operation.
    child = Operation.objects.get(pk=history.operation_id)
    assert child.kind == "task" and child.parent is not None and child.parent.kind == "task"
    assert "Natlig aktivering" in child.parent.reason and child.parent.finished_at is not None
    # The file was built after the activation: its snapshot's log position includes that event.
    assert run.changelog_position >= ChangeEvent.objects.filter(operation=child).order_by("-seq").first().seq


@pytest.mark.django_db
def test_a_run_records_the_change_log_position_of_its_snapshot(export_root, register,
                                                              django_capture_on_commit_callbacks):
    position = changelog_position()
    assert position > 0
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED, run.error
    assert run.changelog_position == position
    manifest = json.loads((export_root / "latest" / "manifest.json").read_text())
    assert manifest["changelog_position"] == position


@pytest.mark.django_db
def test_without_activators_the_step_logs_that_nothing_is_scheduled(export_root, register,
                                                                   django_capture_on_commit_callbacks):
    with activation.suspended():
        run = nightly(DAY, django_capture_on_commit_callbacks)
    assert "ingen aktivatorer" in run.log
    assert run.counts["activation"] == {}


@pytest.mark.django_db
def test_with_no_approved_sets_the_change_set_activator_applies_nothing(export_root, register,
                                                                       django_capture_on_commit_callbacks):
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.counts["activation"]["registry.change_sets"] == {"applied": [], "failed": [], "waiting": []}


@pytest.mark.django_db
def test_only_a_sor_administrator_may_start_a_run(export_root, register, support, guest, sor_admin,
                                                 django_capture_on_commit_callbacks):
    for user in (support, guest):
        with pytest.raises(NotAllowed):
            pipeline.request_run(actor=user, day=DAY)
    assert not ExportRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline.request_run(actor=sor_admin, day=DAY)
    run.refresh_from_db()
    assert run.requested_by == sor_admin and run.status == S.SUCCEEDED


@pytest.mark.django_db
def test_run_now_on_a_published_date_needs_an_explicit_republish(export_root, register, sor_admin,
                                                               django_capture_on_commit_callbacks):
    first = nightly(DAY, django_capture_on_commit_callbacks)
    with pytest.raises(pipeline.AlreadyPublished):
        pipeline.request_run(actor=sor_admin, day=DAY)
    unit_update(unit=register["trees"][0]["ie"], changes={"phone": "22223333"}, actor=None, reason="t",
                origin="command")
    with django_capture_on_commit_callbacks(execute=True):
        second = pipeline.request_run(actor=sor_admin, day=DAY, force=True)
    second.refresh_from_db()
    assert second.status == S.SUCCEEDED and second.parameters["republish"] is True
    day_dir = export_root / DAY.isoformat()
    assert b"22223333" in (day_dir / "SorEntity_daily.csv").read_bytes()
    assert (export_root / "latest").resolve() == day_dir
    assert not [p for p in export_root.iterdir() if p.name.startswith((".replaced", ".trash"))]
    first.refresh_from_db()
    assert first.status == S.SUCCEEDED  # history stays; its files are the replaced set


@pytest.mark.django_db
def test_run_now_is_refused_while_a_run_for_the_date_is_open(export_root, sor_admin):
    ExportRun.objects.create(snapshot_date=DAY, status=S.HELD)
    with pytest.raises(DomainError, match="tilbageholdt"):
        pipeline.request_run(actor=sor_admin, day=DAY)
    assert ExportRun.objects.count() == 1


@pytest.mark.django_db
def test_one_open_run_per_date_is_a_database_rule(export_root):
    from django.db import IntegrityError, transaction

    ExportRun.objects.create(snapshot_date=DAY, status=S.RUNNING)
    for status in (S.PENDING, S.RUNNING, S.HELD):
        with pytest.raises(IntegrityError), transaction.atomic():
            ExportRun.objects.create(snapshot_date=DAY, status=status)
    ExportRun.objects.create(snapshot_date=DAY, status=S.FAILED)
    ExportRun.objects.create(snapshot_date=DAY, status=S.SUCCEEDED)
    ExportRun.objects.create(snapshot_date=DAY + dt.timedelta(days=1), status=S.PENDING)
    assert ExportRun.objects.count() == 4


@pytest.mark.django_db
def test_nightly_reenqueues_a_pending_run_whose_message_was_lost(export_root, register,
                                                                django_capture_on_commit_callbacks):
    pending = ExportRun.objects.create(snapshot_date=DAY, parameters={"formats": ["csv"]})
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.pk == pending.pk and run.status == S.SUCCEEDED
    assert ExportRun.objects.count() == 1
