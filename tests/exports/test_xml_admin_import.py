"""Admin upload of a SOR XML file as background jobs: dry-run preview unit by unit, confirm with a
reason, staff-only, uploads cleaned up."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import ImportJob, Unit
from registry.services.units import unit_create

from .xml_helpers import V1_SAMPLES

PRAKSIS = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")


@pytest.fixture(autouse=True)
def eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


def _upload(client, capture, data=None, name="ONE_PRAKSIS.xml"):
    with capture(execute=True):
        response = client.post("/admin/sor-import/", {"file": SimpleUploadedFile(name, data or PRAKSIS.read_bytes())})
    return response


def _confirm(client, capture, job, reason="indlæsning fra SDS"):
    with capture(execute=True):
        return client.post(f"/admin/sor-import/jobs/{job.pk}/confirm/", {"reason": reason})


def _uploads(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.django_db
def test_sor_admin_previews_in_the_background_then_confirms(client, sor_admin, django_capture_on_commit_callbacks,
                                                          import_upload_dir):
    client.force_login(sor_admin)
    response = _upload(client, django_capture_on_commit_callbacks)
    preview = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/sor-import/jobs/{preview.pk}/"
    assert preview.dry_run and preview.status == "succeeded" and preview.requested_by == sor_admin
    assert Unit.objects.count() == 0  # the preview wrote nothing
    page = client.get(response["Location"]).content.decode()
    created = page.split('id="import-created"')[1].split("</table>")[0]
    for sor_id in ("8321000016007", "8331000016009", "8341000016002"):
        assert sor_id in created
    assert f'action="/admin/sor-import/jobs/{preview.pk}/confirm/"' in page
    assert 'id="import-snapshot-old"' in page and "2010-01-26" in page  # SDS's sample is from 2010
    assert len(_uploads(import_upload_dir)) == 1  # waiting for the confirm step

    done = _confirm(client, django_capture_on_commit_callbacks, preview)
    job = ImportJob.objects.exclude(pk=preview.pk).get()
    assert done["Location"] == f"/admin/sor-import/jobs/{job.pk}/"
    assert job.status == "succeeded" and not job.dry_run and job.preview_of == preview and job.operation is not None
    assert Unit.objects.count() == 3
    row = Unit.history.filter(sor_id=8321000016007).get()
    assert row.history_user == sor_admin and row.origin == "import" and "indlæsning fra SDS" in row.history_change_reason
    assert row.operation_id == job.operation_id
    assert _uploads(import_upload_dir) == []  # imported: the upload is gone
    # A second confirm of the same preview is refused.
    again = _confirm(client, django_capture_on_commit_callbacks, preview)
    assert again.status_code == 302 and ImportJob.objects.count() == 2


@pytest.mark.django_db
def test_preview_of_a_bad_file_shows_its_errors_with_lines_no_confirm_and_drops_the_upload(
        client, sor_admin, django_capture_on_commit_callbacks, import_upload_dir):
    client.force_login(sor_admin)
    bad = PRAKSIS.read_bytes().replace(b"8341000016002", b"8341000016003")
    response = _upload(client, django_capture_on_commit_callbacks, bad, "bad.xml")
    page = client.get(response["Location"]).content.decode()
    errors = page.split('id="import-errors"')[1].split("</ul>")[0]
    assert "linje" in errors and "Verhoeff" in errors
    assert "/confirm/" not in page
    assert ImportJob.objects.get().status == "failed"
    assert _uploads(import_upload_dir) == []


@pytest.mark.django_db
def test_preview_lists_changed_fields_old_and_new(client, sor_admin, django_capture_on_commit_callbacks):
    from registry.services.xml_import import import_sor_file

    assert import_sor_file(PRAKSIS, reason="første").ok
    client.force_login(sor_admin)
    renamed = PRAKSIS.read_bytes().replace(b"Michael Filtenborg &amp; co", "Lægerne Filtenborg".encode(), 1)
    assert renamed != PRAKSIS.read_bytes()
    response = _upload(client, django_capture_on_commit_callbacks, renamed)
    changed = client.get(response["Location"]).content.decode().split('id="import-changed"')[1].split("</table>")[0]
    assert "<td>Michael Filtenborg &amp; co</td><td>Lægerne Filtenborg</td>" in changed
    assert ImportJob.objects.get().counts["changed"] == 1


@pytest.mark.django_db
def test_preview_warns_in_red_when_a_sor_id_names_another_unit(client, sor_admin, django_capture_on_commit_callbacks,
                                                            make_tree):
    # A register whose SOR-ID 8321000016007 is a home-care owner, not ONE_PRAKSIS.xml's GP practice.
    unit_create(actor=None, reason="demo", origin="command", level="IE", name="Hjemmeplejen Nord", sor_id=8321000016007,
                from_date=dt.date(2020, 1, 1), **_owner())
    client.force_login(sor_admin)
    response = _upload(client, django_capture_on_commit_callbacks)
    page = client.get(response["Location"]).content.decode()
    warnings = page.split('id="import-warnings"')[1].split("</table>")[0]
    assert "8321000016007" in warnings and "Hjemmeplejen Nord" in warnings
    assert 'class="sor-import-list sor-import-warning"' in page
    assert ImportJob.objects.get().counts["identity_warnings"] == 1


def _owner():
    from tests.conftest import owner_values

    return owner_values()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["support", "guest", "regional"])
def test_staff_without_sor_admin_rights_cannot_import(client, persona, request, django_capture_on_commit_callbacks,
                                                      import_upload_dir):
    client.force_login(request.getfixturevalue(persona))
    assert _upload(client, django_capture_on_commit_callbacks).status_code == 403
    assert Unit.objects.count() == 0 and ImportJob.objects.count() == 0
    assert _uploads(import_upload_dir) == []


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_shown_as_failed_and_its_upload_removed(client, sor_admin, import_upload_dir):
    from django.utils import timezone

    from registry.services.imports import store_upload

    path = store_upload([PRAKSIS.read_bytes()], "ONE_PRAKSIS.xml")
    # "running", but no process holds the job's lock: its worker was killed.
    job = ImportJob.objects.create(file_name="ONE_PRAKSIS.xml", stored_path=str(path), status="running",
                                   started_at=timezone.now(), requested_by=sor_admin)
    client.force_login(sor_admin)
    page = client.get(f"/admin/sor-import/jobs/{job.pk}/").content.decode()
    job.refresh_from_db()
    assert job.status == "failed" and "stoppede undervejs" in job.summary
    assert "stoppede undervejs" in page and "<progress" not in page
    assert _uploads(import_upload_dir) == []


@pytest.mark.django_db
def test_after_the_import_the_created_units_are_links(client, sor_admin, django_capture_on_commit_callbacks):
    client.force_login(sor_admin)
    _upload(client, django_capture_on_commit_callbacks)
    done = _confirm(client, django_capture_on_commit_callbacks, ImportJob.objects.get())
    page = client.get(done["Location"]).content.decode()
    created = page.split('id="import-created"')[1].split("</table>")[0]
    assert 'href="/admin/registry/unit/8321000016007/change/"' in created
    assert "<h2>Oprettet</h2>" in page

