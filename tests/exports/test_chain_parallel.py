"""The chain's formats built in parallel processes that adopt the run's exported snapshot
(exports.parallel): same files as building them in line, checks done by the children, a failing
child fails the run, and rows committed after the snapshot was taken are not in any file."""

import datetime as dt
import re
import threading
from pathlib import Path

import pytest
from django.db import connection

from exports import parallel, pipeline, publish
from exports.formats import get_format
from exports.models import ExportRun
from registry.services.units import unit_update

from .chain_helpers import CMD, DAY

pytest_plugins = ["tests.exports.chain_fixtures"]
S = ExportRun.Status
CREATED = re.compile(rb"<(sor1:)?CreatedAtTime>[^<]*</(sor1:)?CreatedAtTime>")


def _run(day: dt.date) -> ExportRun:
    run = ExportRun.objects.create(snapshot_date=day, trigger=ExportRun.Trigger.COMMAND,
                                   parameters={"formats": list(pipeline.DEFAULT_FORMATS)})
    pipeline.execute_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_build_publishes_the_same_files_as_building_in_line(export_root, register, settings, tmp_path,
                                                                    restore_migrated_data_at_session_end):
    settings.EXPORT_BUILD_JOBS = 2
    run = _run(DAY)
    assert run.status == S.SUCCEEDED, run.error
    published = export_root / "latest"
    # The children checked their own files: every per-file check is recorded, none was skipped.
    assert run.counts["checks"]["Sor_v1.xml"]["units"] == 12
    assert run.counts["checks"]["SOREntity.csv"]["rows"] >= 12
    assert "Sor_complete.zip" in run.counts["checks"] and "Sor.zip" in run.counts["checks"]
    for identifier in pipeline.DEFAULT_FORMATS:
        target = tmp_path / f"inline-{identifier}"
        target.mkdir()
        result = get_format(identifier).render(DAY, target)
        for name, path in result["files"].items():
            if name.endswith(".zip"):
                continue  # its members are compared one by one
            theirs = (published / publish.published_name(identifier, name)).read_bytes()
            ours = Path(path).read_bytes()
            assert CREATED.sub(b"", theirs) == CREATED.sub(b"", ours), f"{identifier}: {name} differs"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_children_see_the_snapshot_not_a_later_commit(export_root, register, settings, tmp_path,
                                                     restore_migrated_data_at_session_end):
    """A name committed after the snapshot was exported is in no child's file."""
    unit = register["trees"][0]["leaf"]
    with pipeline.snapshot() as shared:
        assert shared
        done = threading.Event()

        def rename():
            try:
                unit_update(unit=unit.pk, changes={"name": "Efter øjebliksbilledet"}, **CMD)
            finally:
                connection.close()
                done.set()

        threading.Thread(target=rename).start()
        assert done.wait(30)
        manifest = tmp_path / "manifest.json"
        manifest.write_text('{"units": {}}')
        results = parallel.build_parts(formats=["v2", "csv"], day=DAY, work=tmp_path / "work", snapshot_id=shared,
                                       manifest_path=manifest, created_at=dt.datetime(2026, 3, 2, 3, 0,
                                                                                      tzinfo=dt.UTC))
    for identifier in ("v2", "csv"):
        for path in results[identifier]["files"].values():
            text = Path(path).read_bytes()
            assert unit.name.encode() in text
            assert "Efter øjebliksbilledet".encode() not in text
        # The manifest named no units, so each child's own check found the files wrong: the
        # children ran the checks and report them for the parent's validate step.
        assert results[identifier]["invalid"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failing_child_stops_the_build_and_names_its_format(export_root, register, tmp_path,
                                                            restore_migrated_data_at_session_end):
    with pipeline.snapshot() as shared:
        manifest = tmp_path / "manifest.json"
        manifest.write_text('{"units": {}}')
        with pytest.raises(parallel.PartFailed, match="nosuchformat: the build process ended with code 1"):
            parallel.build_parts(formats=["nosuchformat", "v2"], day=DAY, work=tmp_path / "work",
                                 snapshot_id=shared, manifest_path=manifest,
                                 created_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_file_failing_a_childs_check_fails_the_run_in_the_validate_step(export_root, register, settings,
                                                                          monkeypatch,
                                                                          restore_migrated_data_at_session_end):
    settings.EXPORT_BUILD_JOBS = 2
    real = pipeline.build_manifest

    def manifest_missing_a_unit(day):
        manifest = real(day)
        manifest["units"].pop(str(register["trees"][0]["leaf"].pk))
        return manifest

    monkeypatch.setattr(pipeline, "build_manifest", manifest_missing_a_unit)
    run = _run(DAY)
    assert run.status == S.FAILED
    assert run.step == "validate"
    assert "units in the file" in run.error or "not in the register" in run.error
    assert not (export_root / "latest").exists()
