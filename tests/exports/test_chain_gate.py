"""The publication gate: what holds a run, and release ("frigiv") / reject ("afvis")."""

import datetime as dt

import pytest

from exports import gate, pipeline
from exports.models import ExportRun
from registry.audit import audit_context
from registry.errors import DomainError, NotAllowed
from registry.models import Unit
from registry.services.location_numbers import location_number_close
from registry.services.units import unit_update

from .chain_helpers import CMD, DAY, nightly, snapshot_files

pytest_plugins = ["tests.exports.chain_fixtures"]
S = ExportRun.Status
LIMITS = {"max_location_loss": 0.02, "max_size_change": 0.05}
NEXT = DAY + dt.timedelta(days=1)


def manifest(units=None, gln=None, files=None, day="2026-03-02"):
    units = units if units is not None else {str(i): [None, "active"] for i in range(1, 11)}
    gln = gln if gln is not None else {f"57900000000{i:02d}": i for i in range(1, 11)}
    return {"snapshot_date": day, "units": units, "gln": gln, "files": files or {"Sor.xml": 1000}}


# -- the comparison ---------------------------------------------------------------------------------

def test_first_publication_passes_with_nothing_to_compare():
    result = gate.compare(None, manifest(), limits=LIMITS)
    assert not result.held and result.diff["first_publication"] is True


def test_identical_day_passes():
    result = gate.compare(manifest(), manifest(), limits=LIMITS)
    assert not result.held
    assert result.diff["units"]["removed"] == 0 and result.diff["location_numbers"]["loss_ratio"] == 0


def test_thirty_percent_of_location_numbers_gone_holds_the_run():
    today = manifest(gln={f"57900000000{i:02d}": i for i in range(1, 8)})
    result = gate.compare(manifest(), today, limits=LIMITS)
    assert result.held
    assert result.diff["location_numbers"]["removed"] == 3
    assert result.diff["location_numbers"]["loss_ratio"] == pytest.approx(0.3)
    assert any("30.0 % af de aktive lokationsnumre" in r for r in result.reasons)
    assert [g for g, _u in result.diff["samples"]["location_numbers_removed"]] == [
        "5790000000008", "5790000000009", "5790000000010"]


def test_location_loss_at_the_threshold_passes_and_just_above_holds():
    previous = manifest(gln={f"579{i:010d}": i for i in range(100)})
    two_gone = manifest(gln={f"579{i:010d}": i for i in range(2, 100)})
    three_gone = manifest(gln={f"579{i:010d}": i for i in range(3, 100)})
    assert not gate.compare(previous, two_gone, limits=LIMITS).held
    assert gate.compare(previous, three_gone, limits=LIMITS).held


def test_a_removed_unit_always_holds_even_below_every_threshold():
    units = {str(i): [None, "active"] for i in range(1, 10)}  # unit 10 vanished
    result = gate.compare(manifest(), manifest(units=units), limits=LIMITS)
    assert result.held
    assert result.diff["units"]["removed"] == 1
    assert result.diff["samples"]["units_removed"] == ["10"]
    assert "1 enheder fra sidste publicering mangler" in result.reasons[0]


def test_a_file_size_change_above_the_limit_holds_and_below_passes():
    assert gate.compare(manifest(), manifest(files={"Sor.xml": 1060}), limits=LIMITS).held
    assert not gate.compare(manifest(), manifest(files={"Sor.xml": 1040}), limits=LIMITS).held
    assert gate.compare(manifest(), manifest(files={"Sor.xml": 900}), limits=LIMITS).diff["files"]["Sor.xml"][
        "change"] == pytest.approx(0.1)


def test_closed_reparented_added_units_and_moved_numbers_are_reported_without_holding():
    units = {str(i): [None, "active"] for i in range(1, 12)}
    units["3"] = [None, "closed"]
    units["4"] = [1, "active"]
    gln = {f"57900000000{i:02d}": i for i in range(1, 11)}
    gln["5790000000005"] = 7
    result = gate.compare(manifest(), manifest(units=units, gln=gln), limits=LIMITS)
    assert not result.held
    assert result.diff["units"] == {"previous": 10, "current": 11, "added": 1, "removed": 0, "closed": 1,
                                    "reopened": 0, "reparented": 1}
    assert result.diff["location_numbers"]["moved"] == 1
    assert result.diff["samples"]["units_reparented"] == [["4", None, 1]]


def test_thresholds_come_from_settings(settings):
    settings.EXPORT_GATE_MAX_LOCATION_LOSS = 0.5
    settings.EXPORT_GATE_MAX_SIZE_CHANGE = 0.01
    today = manifest(gln={f"57900000000{i:02d}": i for i in range(1, 8)}, files={"Sor.xml": 1020})
    result = gate.compare(manifest(), today)
    assert result.diff["thresholds"] == {"max_location_loss": 0.5, "max_size_change": 0.01}
    assert len(result.reasons) == 1 and "Sor.xml" in result.reasons[0]


# -- in the chain -----------------------------------------------------------------------------------

def lose_location_numbers_and_a_unit(register):
    """3 of the 10 active location numbers close and one unit disappears (a broken merge)."""
    for number in register["numbers"][:3]:
        location_number_close(location_number=number, to_date=DAY, **CMD)
    leaf = register["trees"][2]["leaf"]
    with audit_context(**CMD):
        for number in leaf.location_numbers.all():
            number.message_type_links.all().delete()
            number.delete()
        Unit.objects.get(pk=leaf.pk).delete()
    return leaf


@pytest.mark.django_db
def test_a_normal_day_passes_the_gate_and_is_published(export_root, register, django_capture_on_commit_callbacks):
    nightly(DAY, django_capture_on_commit_callbacks)
    unit_update(unit=register["trees"][0]["ie"], changes={"phone": "12345678"}, **CMD)
    run = nightly(NEXT, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED, run.diff
    assert run.diff["held"] is False and run.diff["previous_date"] == DAY.isoformat()
    assert (export_root / "latest").resolve().name == NEXT.isoformat()


@pytest.mark.django_db
def test_vanished_location_numbers_and_a_removed_unit_hold_the_run(export_root, register,
                                                                  django_capture_on_commit_callbacks):
    nightly(DAY, django_capture_on_commit_callbacks)
    published = snapshot_files(export_root / "latest")
    leaf = lose_location_numbers_and_a_unit(register)
    run = nightly(NEXT, django_capture_on_commit_callbacks)
    assert run.status == S.HELD
    assert run.diff["units"]["removed"] == 1 and run.diff["samples"]["units_removed"] == [str(leaf.sor_id)]
    assert run.diff["location_numbers"]["removed"] == 4  # 3 closed + the removed unit's own
    assert len(run.diff["reasons"]) >= 2
    assert "Tilbageholdt" in run.log
    # Nothing published: latest still the previous day, the held files wait in staging.
    assert (export_root / "latest").resolve().name == DAY.isoformat()
    assert snapshot_files(export_root / "latest") == published
    assert not (export_root / NEXT.isoformat()).exists()
    assert (export_root / ".staging" / f"run-{run.pk}" / "publish" / "Sor.xml").exists()
    # The nightly trigger does not build the held date again.
    again = nightly(NEXT, django_capture_on_commit_callbacks)
    assert again.pk == run.pk and ExportRun.objects.count() == 2


@pytest.mark.django_db
def test_release_publishes_the_held_files_and_records_who_when_why(export_root, register, sor_admin,
                                                                  django_capture_on_commit_callbacks):
    nightly(DAY, django_capture_on_commit_callbacks)
    lose_location_numbers_and_a_unit(register)
    held = nightly(NEXT, django_capture_on_commit_callbacks)
    staged = snapshot_files(export_root / ".staging" / f"run-{held.pk}" / "publish")
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.release_run(actor=sor_admin, run=held, reason="Sammenlægning af praksis, aftalt med regionen")
    held.refresh_from_db()
    assert held.status == S.SUCCEEDED
    assert held.decision == ExportRun.Decision.RELEASED and held.decided_by == sor_admin
    assert held.decided_at is not None and held.decision_reason.startswith("Sammenlægning")
    assert (export_root / "latest").resolve().name == NEXT.isoformat()
    assert snapshot_files(export_root / "latest") == staged
    assert not (export_root / ".staging" / f"run-{held.pk}").exists()


@pytest.mark.django_db
def test_reject_discards_the_held_files_and_publishes_nothing(export_root, register, sor_admin,
                                                             django_capture_on_commit_callbacks):
    nightly(DAY, django_capture_on_commit_callbacks)
    published = snapshot_files(export_root / "latest")
    lose_location_numbers_and_a_unit(register)
    held = nightly(NEXT, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.reject_run(actor=sor_admin, run=held, reason="Lokationsnumre lukket ved en fejl")
    held.refresh_from_db()
    assert held.status == S.REJECTED and held.decision == ExportRun.Decision.REJECTED
    assert held.decided_by == sor_admin and held.decision_reason == "Lokationsnumre lukket ved en fejl"
    assert (export_root / "latest").resolve().name == DAY.isoformat()
    assert snapshot_files(export_root / "latest") == published
    assert not (export_root / NEXT.isoformat()).exists()
    assert not (export_root / ".staging" / f"run-{held.pk}").exists()
    with pytest.raises(DomainError):
        pipeline.release_run(actor=sor_admin, run=held, reason="alligevel")


@pytest.mark.django_db
def test_only_a_sor_administrator_may_decide_and_a_reason_is_required(export_root, sor_admin, support, guest):
    held = ExportRun.objects.create(snapshot_date=DAY, status=S.HELD)
    for user in (support, guest):
        with pytest.raises(NotAllowed):
            pipeline.release_run(actor=user, run=held, reason="ok")
        with pytest.raises(NotAllowed):
            pipeline.reject_run(actor=user, run=held, reason="nej")
    with pytest.raises(DomainError, match="begrundelse"):
        pipeline.release_run(actor=sor_admin, run=held, reason="  ")
    held.refresh_from_db()
    assert held.status == S.HELD and held.decision == ""


@pytest.mark.django_db
def test_a_held_run_cannot_be_released_after_a_later_day_was_published(export_root, sor_admin):
    held = ExportRun.objects.create(snapshot_date=DAY, status=S.HELD)
    ExportRun.objects.create(snapshot_date=NEXT, status=S.SUCCEEDED)
    with pytest.raises(DomainError, match="afløst"):
        pipeline.release_run(actor=sor_admin, run=held, reason="for sent")
    held.refresh_from_db()
    assert held.decision == ""


@pytest.mark.django_db
def test_the_size_check_covers_sor_complete_zip(export_root, register, django_capture_on_commit_callbacks):
    import json

    nightly(DAY, django_capture_on_commit_callbacks)
    manifest_path = export_root / "latest" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["files"]["Sor_complete.zip"] > 0
    # As if yesterday's package had been three times the size: today's shrank by two thirds.
    manifest["files"]["Sor_complete.zip"] *= 3
    manifest_path.write_text(json.dumps(manifest))
    run = nightly(NEXT, django_capture_on_commit_callbacks)
    assert run.status == S.HELD
    assert any(reason.startswith("Sor_complete.zip har ændret størrelse") for reason in run.diff["reasons"])
    assert [r for r in run.diff["reasons"] if "størrelse" in r and "Sor_complete.zip" not in r] == []
