"""Admin upload of a SOR XML file: dry-run preview, confirm with a reason, staff-only."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import Unit

from .xml_helpers import V1_SAMPLES

PRAKSIS = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")


def _upload(client):
    return client.post("/admin/sor-import/", {"file": SimpleUploadedFile("ONE_PRAKSIS.xml", PRAKSIS.read_bytes())})


@pytest.mark.django_db
def test_sor_admin_previews_then_confirms_an_import(client, sor_admin):
    client.force_login(sor_admin)
    response = _upload(client)
    assert response.status_code == 200
    assert Unit.objects.count() == 0  # the preview wrote nothing
    token = response.context["token"]
    assert response.context["result"].counts["created"] == 3
    done = client.post("/admin/sor-import/confirm/", {"token": token, "reason": "indlæsning fra SDS"})
    assert done.status_code == 200 and done.context["result"].ok
    assert Unit.objects.count() == 3
    row = Unit.history.filter(sor_id=8321000016007).get()
    assert row.history_user == sor_admin and row.origin == "import" and "indlæsning fra SDS" in row.history_change_reason


@pytest.mark.django_db
def test_preview_of_a_bad_file_shows_its_errors_and_no_confirm(client, sor_admin):
    client.force_login(sor_admin)
    bad = PRAKSIS.read_bytes().replace(b"8341000016002", b"8341000016003")
    response = client.post("/admin/sor-import/", {"file": SimpleUploadedFile("bad.xml", bad)})
    assert response.status_code == 200
    assert "Verhoeff" in response.content.decode()
    assert 'action="/admin/sor-import/confirm/"' not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["support", "guest", "regional"])
def test_staff_without_sor_admin_rights_cannot_import(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert _upload(client).status_code == 403
    assert Unit.objects.count() == 0
