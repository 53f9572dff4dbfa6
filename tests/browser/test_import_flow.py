"""An SOR administrator imports SDS's ONE_PRAKSIS.xml in a real browser (headless Chromium): upload,
the background dry run's preview unit by unit, the red warning for a SOR-ID that names another
unit, confirm with a reason, and the finished job with its operation."""

import datetime as dt
import os

import pytest

from registry.models import ImportJob, Unit
from registry.personas import ensure_personas
from registry.services.units import unit_create
from tests.conftest import owner_values
from tests.exports.xml_helpers import V1_SAMPLES

from .helpers import log_in

PRAKSIS = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")
SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sor_admin_uploads_previews_unit_by_unit_and_confirms(live_server, page, settings):
    from playwright.sync_api import expect

    settings.CELERY_TASK_ALWAYS_EAGER = True
    ensure_personas()
    # The register already has SOR-ID 8321000016007 as an unrelated home-care owner.
    unit_create(actor=None, reason="demo", origin="command", level="IE", name="Hjemmeplejen Nord",
                sor_id=8321000016007, from_date=dt.date(2020, 1, 1), **owner_values())
    log_in(page, live_server, "sor-admin")
    page.goto(f"{live_server.url}/admin/sor-import/")
    page.set_input_files("#id_file", str(PRAKSIS))
    page.locator("input[type=submit][value='Prøvekør']").click()

    expect(page.locator("#import-status-value")).to_have_text("færdig", timeout=60000)
    warning = page.locator("#import-warnings tbody tr").first
    expect(warning).to_contain_text("8321000016007")
    expect(warning).to_contain_text("Hjemmeplejen Nord")
    assert page.locator("#import-warnings td").first.evaluate("e => getComputedStyle(e).color") == "rgb(186, 33, 33)"
    changed = page.locator("#import-changed tbody tr")
    expect(changed.first).to_contain_text("Hjemmeplejen Nord")
    expect(changed.first).to_contain_text("Michael Filtenborg")
    created = page.locator("#import-created tbody")
    expect(created).to_contain_text("8331000016009")
    expect(created).to_contain_text("8341000016002")
    assert Unit.objects.get(pk=8321000016007).name == "Hjemmeplejen Nord"  # the preview wrote nothing
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_import_preview.png", full_page=True)

    page.fill("#id_reason", "Indlæsning af SDS' praksisfil (SORpost 4711)")
    page.locator("input[type=submit][value='Importér']").click()
    expect(page.locator("#import-status-value")).to_have_text("færdig", timeout=60000)
    expect(page.locator("#import-counts")).to_contain_text("Operation")
    job = ImportJob.objects.filter(dry_run=False).get()
    assert job.status == "succeeded" and job.reason.startswith("Indlæsning")
    assert Unit.objects.get(pk=8321000016007).name == "Michael Filtenborg" and Unit.objects.count() == 3


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_bad_file_shows_its_errors_with_lines_and_no_confirm(live_server, page, settings, tmp_path):
    from playwright.sync_api import expect

    settings.CELERY_TASK_ALWAYS_EAGER = True
    ensure_personas()
    bad = tmp_path / "bad.xml"
    bad.write_bytes(PRAKSIS.read_bytes().replace(b"<GeographicalParentRelation>1<",
                                                 "<GeographicalParentRelation>\u00b2<".encode()))
    log_in(page, live_server, "sor-admin")
    page.goto(f"{live_server.url}/admin/sor-import/")
    page.set_input_files("#id_file", str(bad))
    page.locator("input[type=submit][value='Prøvekør']").click()
    expect(page.locator("#import-errors")).to_contain_text("linje 53")
    expect(page.locator("#import-errors")).to_contain_text("GeographicalParentRelation")
    assert page.locator("input[type=submit][value='Importér']").count() == 0
    assert Unit.objects.count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_support_desk_corrects_a_phone_number_by_spreadsheet_with_a_preview(live_server, page, settings, tmp_path,
                                                                            make_tree):
    from playwright.sync_api import expect

    settings.CELERY_TASK_ALWAYS_EAGER = True
    ensure_personas()
    tree = make_tree()
    sheet = tmp_path / "rettelser.csv"
    sheet.write_text(f"SOR-ID;Navn;Telefon\n{tree['ie'].pk};{tree['ie'].name};11223344\n", encoding="utf-8")
    log_in(page, live_server, "support")
    page.goto(f"{live_server.url}/admin/registry/unit/import/")
    page.set_input_files("#id_import_file", str(sheet))
    page.fill("#id_reason", "Nyt telefonnummer (SORpost 815)")
    page.locator("#sheet-upload input[type=submit]").click()

    expect(page.locator("#import-status-value")).to_have_text("færdig", timeout=60000)
    row = page.locator("#sheet-changes tbody tr").first
    expect(row).to_contain_text("Telefon")
    expect(row.locator("td.old")).to_have_text("98765432")
    expect(row.locator("td.new")).to_have_text("11223344")
    assert Unit.objects.get(pk=tree["ie"].pk).phone == "98765432"  # nothing saved yet
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_sheet_preview.png", full_page=True)

    page.locator("#sheet-confirm input[type=submit]").click()
    expect(page.locator("#sheet-done")).to_contain_text("1 enhed rettet", timeout=60000)
    assert Unit.objects.get(pk=tree["ie"].pk).phone == "11223344"
    assert ImportJob.objects.get(dry_run=False).requested_by.username == "support"
