"""Download URLs: public latest files (no login, ETag/Last-Modified, 304, 404, no traversal) and
staff downloads of kept days and of a run's files."""

import hashlib

import pytest
from django.utils.http import http_date

from exports.models import ExportRun

from .chain_helpers import DAY, nightly

pytest_plugins = ["tests.exports.chain_fixtures"]


@pytest.fixture
def published(export_root, register, django_capture_on_commit_callbacks):
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.status == ExportRun.Status.SUCCEEDED
    return run


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_latest_files_download_without_login_with_sha256_etag(client, published, export_root):
    for name in ("Sor.zip", "Sor.xml", "Sor_v1.xml", "SorEntity_daily.csv", "Edityper.csv", "SHA256SUMS",
                 "Sor_complete.zip", "SOREntity.csv", "SORClassifications.csv", "LocationsCodes.csv",
                 "LocationsCodeEDITypeMap.csv", "EDITypes.csv", "SHAKSORMap.csv", "SORReplacedEntities.csv",
                 "Geolocations.csv"):
        response = client.get(f"/filer/latest/{name}")
        assert response.status_code == 200, name
        assert response.streaming
        data = body(response)
        assert data == (export_root / DAY.isoformat() / name).read_bytes()
        assert response["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        assert response["ETag"] == f'"{published.files[name]["sha256"]}"'
        assert response["Last-Modified"]
        assert response["Content-Length"] == str(len(data))


@pytest.mark.django_db
def test_head_request_gives_the_etag_without_the_body(client, published):
    response = client.head("/filer/latest/Sor.zip")
    assert response.status_code == 200
    assert response["ETag"] == f'"{published.files["Sor.zip"]["sha256"]}"'


@pytest.mark.django_db
def test_content_types(client, published):
    assert client.get("/filer/latest/Sor.zip")["Content-Type"] == "application/zip"
    assert client.get("/filer/latest/Sor.xml")["Content-Type"].startswith("application/xml")
    assert client.get("/filer/latest/SorEntity_daily.csv")["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.django_db
def test_conditional_requests_get_304(client, published):
    first = client.get("/filer/latest/Sor.zip")
    etag, modified = first["ETag"], first["Last-Modified"]
    not_modified = client.get("/filer/latest/Sor.zip", HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified["ETag"] == etag
    assert client.get("/filer/latest/Sor.zip", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    assert client.get("/filer/latest/Sor.zip", HTTP_IF_NONE_MATCH='"other"').status_code == 200
    assert client.get("/filer/latest/Sor.zip", HTTP_IF_MODIFIED_SINCE=http_date(0)).status_code == 200


@pytest.mark.django_db
def test_unknown_names_and_traversal_attempts_are_404(client, published):
    for url in (
        "/filer/latest/Unknown.xml",
        "/filer/latest/..%2F..%2Fsor_admin%2Fsettings.py",
        "/filer/latest/%2e%2e",
        "/filer/latest/.staging",
        "/filer/latest/../2026-03-02/Sor.xml",
        "/filer/2026-03-02/..%2F..%2Fetc%2Fpasswd",
        "/filer/latest/Sor.xml%00.zip",
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_traversal_is_refused_for_logged_in_staff_too(client, published, guest):
    client.force_login(guest)
    for url in ("/filer/2026-03-02/..%2F..%2Fetc%2Fpasswd", "/filer/2026-03-02/.hidden",
                "/filer/2026-03-02/%2e%2e", "/filer/2026-03-02/..", "/filer/2026-13-45/Sor.xml"):
        assert client.get(url).status_code == 404, url


@pytest.mark.django_db
def test_nothing_published_yet_is_404(client, export_root):
    assert client.get("/filer/latest/Sor.zip").status_code == 404
    assert client.get("/filer/").status_code == 200


@pytest.mark.django_db
def test_public_index_lists_the_latest_files(client, published):
    page = client.get("/filer/").content.decode()
    assert DAY.isoformat() in page
    assert "/filer/latest/Sor.zip" in page and published.files["Sor.zip"]["sha256"] in page
    # The manifest is served too (SHA256SUMS lists it; it holds nothing the XML does not).
    assert "/filer/latest/manifest.json" in page


@pytest.mark.django_db
def test_a_kept_day_needs_a_staff_login_with_view_permission(client, published, guest, outsider, export_root):
    url = f"/filer/{DAY.isoformat()}/Sor.xml"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(guest)
    response = client.get(url)
    assert response.status_code == 200
    assert body(response) == (export_root / DAY.isoformat() / "Sor.xml").read_bytes()
    assert client.get(f"/filer/{DAY.isoformat()}/manifest.json").status_code == 200
    assert client.get("/filer/2026-01-01/Sor.xml").status_code == 404


@pytest.mark.django_db
def test_a_held_runs_files_are_downloadable_by_staff_only(client, export_root, guest):
    staged = export_root / ".staging" / "run-1" / "publish"
    staged.mkdir(parents=True)
    (staged / "Sor.xml").write_text("<SorTree/>")
    run = ExportRun.objects.create(snapshot_date=DAY, status=ExportRun.Status.HELD,
                                   staging_dir=str(staged.parent))
    url = f"/filer/run/{run.pk}/Sor.xml"
    assert client.get(url).status_code == 302
    client.force_login(guest)
    response = client.get(url)
    assert response.status_code == 200 and body(response) == b"<SorTree/>"
    assert client.get(f"/filer/run/{run.pk}/..%2F..%2Fx").status_code == 404


@pytest.mark.django_db
def test_the_site_root_and_see_site_lead_to_the_public_browser_and_no_debug_404(client, settings, sor_admin):
    settings.DEBUG = False
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/sor/"
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    body = missing.content.decode()
    assert "Siden findes ikke" in body and "URLconf" not in body and "urlpatterns" not in body
    client.force_login(sor_admin)
    index = client.get("/admin/").content.decode()
    assert 'href="/sor/"' in index


@pytest.mark.django_db
def test_every_file_sha256sums_lists_is_served_so_sha256sum_check_passes(client, published, tmp_path):
    import subprocess

    sums = body(client.get("/filer/latest/SHA256SUMS")).decode()
    names = [line.split("  ", 1)[1] for line in sums.splitlines()]
    assert "manifest.json" in names and "Sor_complete.zip" in names and "SOREntity.csv" in names
    for name in names:
        response = client.get(f"/filer/latest/{name}")
        assert response.status_code == 200, name
        (tmp_path / name).write_bytes(body(response))
    (tmp_path / "SHA256SUMS").write_text(sums)
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.django_db
def test_the_manifest_lists_the_complete_zips_members_with_their_checksums(client, published, tmp_path):
    import io
    import json
    import zipfile

    from exports.complete import MEMBERS

    manifest = json.loads(body(client.get("/filer/latest/manifest.json")))
    members = manifest["zip_members"]["Sor_complete.zip"]
    assert set(members) == set(MEMBERS)  # (the manifest's keys are sorted)
    with zipfile.ZipFile(io.BytesIO(body(client.get("/filer/latest/Sor_complete.zip")))) as archive:
        for name in MEMBERS:
            data = archive.read(name)
            assert members[name] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["files"]["Sor_complete.zip"] == published.files["Sor_complete.zip"]["size"]
