"""Scheduled change-sets in the nightly chain (issue 13): an approved set dated later applies
itself as the first step of the run of its date, before the file is built, exactly once, as a
child operation of the run's; a set that fails then is marked failed and the file goes on."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from exports.models import ExportRun
from registry.changesets import engine
from registry.models import Operation, Unit
from registry.roles import SOR_ADMIN
from registry.services.units import unit_close

from .chain_helpers import CMD, nightly

pytest_plugins = ["tests.exports.chain_fixtures"]
S = ExportRun.Status


@pytest.fixture
def clock(monkeypatch):
    """Moves "now" (and so today) forward by whole days: `clock(1)` is tomorrow."""
    real_now, real_localdate = timezone.now, timezone.localdate
    shift = {"delta": dt.timedelta(0)}

    def now():
        return real_now() + shift["delta"]

    def localdate(value=None, timezone=None):
        return real_localdate(value if value is not None else now(), timezone)

    monkeypatch.setattr("django.utils.timezone.now", now)
    monkeypatch.setattr("django.utils.timezone.localdate", localdate)
    return lambda days: shift.update(delta=dt.timedelta(days=days))


@pytest.fixture
def second_admin(personas):
    user = get_user_model().objects.create_user("sor-admin-2", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=SOR_ADMIN))
    return user


def approved(author, approver, text, day, name="Planlagt"):
    cs = engine.changeset_create(actor=author, name=name, reason="omorganisering", effective_date=day,
                                 rows=engine.parse_changes_csv("change;sor_id;target;field;value\n" + text))
    cs = engine.changeset_submit(actor=author, changeset=cs)
    return engine.changeset_approve(actor=approver, changeset=cs)


@pytest.mark.django_db
def test_a_set_dated_tomorrow_applies_in_tomorrows_nightly_run_before_the_file_and_only_once(
        export_root, register, sor_admin, second_admin, clock, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)
    unit = register["trees"][0]["oe"]
    cs = approved(sor_admin, second_admin, f"rename;{unit.pk};;;Lægehuset Torvet\n", tomorrow)
    assert cs.status == "approved"

    run = nightly(today, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED and run.counts["activation"]["registry.change_sets"]["applied"] == []
    assert Unit.objects.get(pk=unit.pk).name != "Lægehuset Torvet"

    clock(1)
    run = nightly(tomorrow, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED, run.error
    assert run.counts["activation"]["registry.change_sets"]["applied"] == [str(cs.pk)]
    cs.refresh_from_db()
    assert cs.status == "applied" and Unit.objects.get(pk=unit.pk).from_date == tomorrow
    # Built after the activation: the new name is in the published file of that date.
    assert "Lægehuset Torvet".encode() in (export_root / "latest" / "Sor.xml").read_bytes()
    # Its own operation, a child of the nightly run's, by the system.
    op = Operation.objects.get(pk=cs.operation_id)
    assert op.parent is not None and "Natlig aktivering" in op.parent.reason and op.actor is None
    assert op.origin == "task" and op.provenance["change_set"] == cs.pk
    # Exactly once: a second activation for the date finds nothing to do.
    assert engine.apply_due(tomorrow, log=lambda _m: None)["applied"] == []
    assert cs.events.filter(code="registry.changeset.applied").count() == 1


@pytest.mark.django_db
def test_a_set_failing_at_activation_is_marked_failed_and_the_other_sets_and_the_file_go_on(
        export_root, register, sor_admin, second_admin, clock, django_capture_on_commit_callbacks):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    first, second = register["trees"][0], register["trees"][1]
    failing = approved(sor_admin, second_admin, f"move;{first['leaf'].pk};{second['si'].pk};;\n", tomorrow, "Flyt")
    fine = approved(sor_admin, second_admin, f"rename;{first['oe'].pk};;;Lægehuset Torvet\n", tomorrow, "Omdøb")
    # Meanwhile the receiving institution closes: the move can no longer be made.
    unit_close(unit=second["si"].pk, to_date=timezone.localdate(), include_descendants=True, **CMD)

    clock(1)
    run = nightly(tomorrow, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED, run.error
    summary = run.counts["activation"]["registry.change_sets"]
    assert summary["failed"] == [str(failing.pk)] and summary["applied"] == [str(fine.pk)]
    failing.refresh_from_db()
    assert failing.status == "failed" and "lukket" in failing.status_reason
    assert str(first["leaf"].pk) in failing.status_reason
    assert Unit.objects.get(pk=first["leaf"].pk).parent_id == first["oe"].pk  # nothing of it written
    assert f"Ændringssæt {failing.pk} fejlede" in run.log
    assert "Lægehuset Torvet".encode() in (export_root / "latest" / "Sor.xml").read_bytes()


@pytest.mark.django_db
def test_an_import_inside_a_freeze_window_waits_and_runs_in_the_first_nightly_run_after_it(
        export_root, register, sor_admin, clock, django_capture_on_commit_callbacks, settings, tmp_path):
    from registry import freeze
    from registry.services.imports import import_sor_xml

    from .xml_helpers import V1_SAMPLES

    settings.IMPORT_UPLOAD_DIR = str(tmp_path / "uploads")
    settings.EXPORT_GATE_MAX_SIZE_CHANGE = 1.0  # the small test register grows by a fifth: no hold
    praksis = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")
    today = timezone.localdate()
    now = timezone.now()
    freeze.freeze_add(actor=sor_admin, starts_at=now - dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=2),
                      reason="Nyt register indlæses")
    # A dry run writes nothing and still runs; the real import waits, its file kept.
    assert import_sor_xml(praksis, actor=sor_admin, reason="prøve", dry_run=True).status == "succeeded"
    job = import_sor_xml(praksis, actor=sor_admin, reason="fra SDS")
    assert job.status == "waiting" and "Nyt register indlæses" in job.summary
    assert not Unit.objects.filter(pk=8321000016007).exists()

    run = nightly(today, django_capture_on_commit_callbacks)  # still inside the window
    assert run.status == S.SUCCEEDED, run.error
    assert run.counts["activation"]["registry.waiting_imports"]["waiting"] == [str(job.pk)]
    assert not Unit.objects.filter(pk=8321000016007).exists()

    clock(1)  # the window has ended
    run = nightly(today + dt.timedelta(days=1), django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED, run.error
    assert run.counts["activation"]["registry.waiting_imports"]["ran"] == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "succeeded" and job.operation.actor == sor_admin
    assert Unit.objects.filter(pk=8321000016007).exists()
    assert b"8321000016007" in (export_root / "latest" / "Sor.xml").read_bytes()  # before the file was built
    # Exactly once: nothing waits any more.
    from registry.services.imports import run_waiting
    assert run_waiting(today, log=lambda _m: None) == {"ran": [], "failed": [], "waiting": []}
