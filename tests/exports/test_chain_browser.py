"""The SOR-administrator's publication flow in a real browser (headless Debian Chromium): start a
run, republish the day, see the gate hold it with the diff, release it with a reason."""

import datetime as dt

import pytest

from exports.models import ExportRun
from registry.personas import ensure_personas
from registry.services.location_numbers import location_number_close
from registry.services.units import today

from .chain_helpers import CMD

pytest_plugins = ["tests.exports.chain_fixtures"]
@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sor_admin_runs_the_publication_sees_a_hold_and_releases_it(live_server, page, export_root, register,
                                                                     restore_migrated_data_at_session_end):
    from playwright.sync_api import expect

    ensure_personas()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "sor-admin")
    page.fill("#id_password", "sor-admin")
    page.click("input[type=submit]")

    # Run now: today's files are built and published (eager Celery in this test).
    page.goto(f"{live_server.url}/admin/exports/exportrun/")
    page.click("text=Kør publicering nu")
    page.click("input[type=submit][value='Start kørslen']")
    expect(page.locator(".field-status_badge")).to_contain_text("publiceret")
    assert (export_root / "latest" / "Sor.zip").exists()

    # 3 of 10 location numbers close; republishing the day is held by the gate.
    for number in register["numbers"][:3]:
        location_number_close(location_number=number, to_date=today() - dt.timedelta(days=1), **CMD)
    page.goto(f"{live_server.url}/admin/exports/exportrun/run-now/")
    page.check("#id_republish")
    page.click("input[type=submit][value='Start kørslen']")
    expect(page.locator(".field-status_badge")).to_contain_text("tilbageholdt")
    expect(page.locator(".field-diff_summary")).to_contain_text("af de aktive lokationsnumre er forsvundet")

    # Release with a reason: the files are published and the decision is recorded.
    page.click("#release-run")
    page.fill("#id_reason", "Lukningerne er aftalt med regionen")
    page.click("input[type=submit][value='Frigiv og publicér']")
    expect(page.locator(".field-status_badge")).to_contain_text("publiceret")
    expect(page.locator(".field-decision_reason")).to_contain_text("Lukningerne er aftalt med regionen")
    held = ExportRun.objects.order_by("-pk").first()
    assert held.status == ExportRun.Status.SUCCEEDED and held.decided_by.username == "sor-admin"
    assert held.diff["location_numbers"]["removed"] == 3
