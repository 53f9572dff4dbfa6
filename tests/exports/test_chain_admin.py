"""Export runs in the staff admin: read-only rows, "kør nu", "frigiv"/"afvis" with a reason, and
who may do what (only the SOR-administrator acts; staff with view permission look)."""

import pytest
from django.urls import reverse

from exports.models import ExportRun

from .chain_helpers import DAY

pytest_plugins = ["tests.exports.chain_fixtures"]
S = ExportRun.Status
CHANGELIST = "/admin/exports/exportrun/"
RUN_NOW = "/admin/exports/exportrun/run-now/"


@pytest.fixture
def held(export_root):
    staged = export_root / ".staging" / "run-x" / "publish"
    staged.mkdir(parents=True)
    (staged / "Sor.xml").write_text("<SorTree/>")
    return ExportRun.objects.create(
        snapshot_date=DAY, status=S.HELD, staging_dir=str(staged.parent),
        files={"Sor.xml": {"sha256": "abc", "size": 10}},
        diff={"first_publication": False, "previous_date": "2026-03-01", "held": True,
              "reasons": ["30.0 % af de aktive lokationsnumre er forsvundet (3 af 10; grænse 2.0 %)."],
              "thresholds": {"max_location_loss": 0.02, "max_size_change": 0.05},
              "units": {"previous": 12, "current": 11, "added": 0, "removed": 1, "closed": 0, "reopened": 0,
                        "reparented": 0},
              "location_numbers": {"previous": 10, "current": 7, "added": 0, "removed": 3, "moved": 0,
                                   "loss_ratio": 0.3},
              "files": {"Sor.xml": {"previous": 100, "current": 90, "change": 0.1}},
              "samples": {"units_removed": ["1234"], "location_numbers_removed": [["5790000000012", 1]]}},
    )


@pytest.mark.django_db
def test_sor_admin_sees_runs_with_a_run_now_button_and_no_edit_or_delete(client, sor_admin, held):
    client.force_login(sor_admin)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert RUN_NOW.encode() in page.content
    detail = client.get(reverse("admin:exports_exportrun_change", args=[held.pk]))
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "30.0 % af de aktive lokationsnumre" in text and "1234" in text and "5790000000012" in text
    assert reverse("admin:exports_exportrun_release", args=[held.pk]) in text
    assert reverse("admin:exports_exportrun_reject", args=[held.pk]) in text
    assert f"/filer/run/{held.pk}/Sor.xml" in text
    assert 'name="_save"' not in text
    assert client.get(reverse("admin:exports_exportrun_delete", args=[held.pk])).status_code == 403
    assert client.get("/admin/exports/exportrun/add/").status_code == 403


@pytest.mark.django_db
def test_guest_and_support_see_runs_but_cannot_run_release_or_reject(client, guest, support, held):
    for user in (guest, support):
        client.force_login(user)
        assert client.get(CHANGELIST).status_code == 200
        detail = client.get(reverse("admin:exports_exportrun_change", args=[held.pk])).content.decode()
        assert RUN_NOW not in detail
        assert reverse("admin:exports_exportrun_release", args=[held.pk]) not in detail
        assert client.get(RUN_NOW).status_code == 403
        assert client.post(RUN_NOW, {}).status_code == 403
        url = reverse("admin:exports_exportrun_release", args=[held.pk])
        assert client.post(url, {"reason": "ok"}).status_code == 403
        url = reverse("admin:exports_exportrun_reject", args=[held.pk])
        assert client.post(url, {"reason": "nej"}).status_code == 403
    held.refresh_from_db()
    assert held.status == S.HELD and held.decision == ""
    assert not ExportRun.objects.exclude(pk=held.pk).exists()


@pytest.mark.django_db
def test_outsider_without_view_permission_cannot_see_runs(client, outsider, held):
    client.force_login(outsider)
    assert client.get(CHANGELIST).status_code == 403


@pytest.mark.django_db
def test_run_now_starts_and_publishes_todays_files(client, sor_admin, export_root, register,
                                                   django_capture_on_commit_callbacks):
    client.force_login(sor_admin)
    assert "Start kørslen" in client.get(RUN_NOW).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(RUN_NOW, {})
    run = ExportRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/admin/exports/exportrun/{run.pk}/change/")
    run.refresh_from_db()
    assert run.status == S.SUCCEEDED and run.trigger == ExportRun.Trigger.ADMIN and run.requested_by == sor_admin
    assert (export_root / "latest" / "Sor.zip").exists()
    # Again the same day: the form asks for an explicit republication.
    page = client.post(RUN_NOW, {}).content.decode()
    assert "allerede publiceret" in page and "Publicér dagens filer igen" in page
    assert ExportRun.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(RUN_NOW, {"republish": "on"}).status_code == 302
    again = ExportRun.objects.exclude(pk=run.pk).get()
    assert again.status == S.SUCCEEDED and again.parameters["republish"] is True


@pytest.mark.django_db
def test_run_now_admin_action_leads_to_the_run_now_page(client, sor_admin, held):
    client.force_login(sor_admin)
    response = client.post(CHANGELIST, {"action": "run_now_action", "_selected_action": [held.pk]})
    assert response.status_code == 302 and response["Location"] == RUN_NOW


@pytest.mark.django_db
def test_reject_needs_a_reason_and_records_it(client, sor_admin, held):
    client.force_login(sor_admin)
    url = reverse("admin:exports_exportrun_reject", args=[held.pk])
    page = client.get(url).content.decode()
    assert "30.0 % af de aktive lokationsnumre" in page  # the diff is shown where the decision is made
    assert "Skriv en begrundelse" in client.post(url, {"reason": ""}).content.decode()
    held.refresh_from_db()
    assert held.status == S.HELD
    response = client.post(url, {"reason": "Lokationsnumre lukket ved en fejl"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == S.REJECTED and held.decided_by == sor_admin
    assert held.decision_reason == "Lokationsnumre lukket ved en fejl" and held.decided_at is not None


@pytest.mark.django_db
def test_release_from_the_admin_records_the_decision_and_enqueues_publishing(client, sor_admin, held,
                                                                          django_capture_on_commit_callbacks):
    client.force_login(sor_admin)
    url = reverse("admin:exports_exportrun_release", args=[held.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"reason": "Forventet efter sammenlægning"})
    assert response.status_code == 302
    assert len(callbacks) == 1  # the publish task, after commit
    held.refresh_from_db()
    assert held.decision == ExportRun.Decision.RELEASED and held.decided_by == sor_admin
    assert "Forventet efter sammenlægning" in held.log
    detail = client.get(reverse("admin:exports_exportrun_change", args=[held.pk])).content.decode()
    assert "frigivet, publiceres" in detail


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_shown_as_stale(client, guest, export_root):
    ExportRun.objects.create(snapshot_date=DAY, status=S.RUNNING, step="build", worker="gone:1")
    client.force_login(guest)
    page = client.get(CHANGELIST).content.decode()
    assert "arbejderen er stoppet" in page


@pytest.mark.django_db
def test_a_run_page_reads_as_a_person_reads_it(client, sor_admin, export_root, register,
                                               django_capture_on_commit_callbacks):
    client.force_login(sor_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(RUN_NOW, {})
    run = ExportRun.objects.get()
    page = client.get(f"/admin/exports/exportrun/{run.pk}/change/").content.decode()
    main, _sep, technical = page.partition("Teknik (til fejlsøgning)")
    assert technical, "the technical details have their own (collapsed) section"
    assert "Formater: SOR XML v2 (Sor.xml, Sor.zip), SOR XML v1 (Sor_v1.xml)" in main
    assert "institutionsejere" in main and "sundhedsinstitutioner" in main and "sekunder" in main
    for raw in ("fallback_types", "fallback_v2_codes", "{&#x27;formats", "'formats'", "total_units"):
        assert raw not in main, raw
    if run.worker:  # the worker's own id is under "Teknik"; the page says in words how it went
        assert run.worker in technical
