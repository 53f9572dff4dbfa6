"""Duplicate clean-up in a real browser (headless Debian Chromium), issue 16: a SOR-administrator
runs the rules, opens the queue, merges two owners sharing a ydernummer (the preview shows the
moved practice), a second administrator approves; the queue no longer holds the group, and the
data-quality finding on the closed owner resolves with the next control run."""

import datetime as dt
import os

import pytest

from registry.audit import audit_context
from registry.models import DuplicateGroup, Unit
from registry.personas import ensure_personas
from registry.quality import control
from registry.services.units import unit_update

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sor_admin_merges_two_owners_sharing_a_ydernummer_and_a_second_admin_approves(
        live_server, make_tree, page, settings):
    from playwright.sync_api import expect

    settings.CELERY_TASK_ALWAYS_EAGER = True
    ensure_personas()
    a, b = make_tree(name="Lægerne Nord"), make_tree(name="Klinik Sydhavn")
    unit_update(unit=b["oe"], changes={"provider_number": a["oe"].provider_number}, override_warnings=True,
                actor=None, reason="testdata", origin="command")
    with audit_context(actor=None, reason="testdata: an owner without phone", origin="command"):
        Unit.objects.filter(pk=b["ie"].pk).update(phone="")
    control.run()
    assert control.open_findings().filter(rule="owner_phone", unit_id=b["ie"].pk).exists()

    log_in(page, live_server, "sor-admin")
    page.goto(f"{live_server.url}/admin/registry/duplicategroup/")
    page.locator("#sor-duplicates-run").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr")).to_contain_text("samme ydernummer hos flere ejere")
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator("#sor-duplicate-reason")).to_contain_text(f"Ydernummer {a['oe'].provider_number}")
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_duplicate_group.png", full_page=True)
    page.locator(f"input[name=survivor][value='{a['ie'].pk}']").check()
    page.locator("input[name=do-merge]").click()

    # The change-set: Klinik Sydhavn's institution moves under Lægerne Nord; the old owner closes.
    expect(page.locator("#sor-changeset-changes tbody tr")).to_have_count(2)
    expect(page.locator("#sor-changeset-changes")).to_contain_text("flyttes under Lægerne Nord")
    owner_row = page.locator(f"#sor-preview-units tr[data-sor-id='{b['si'].pk}'][data-key='institutionsejer']")
    expect(owner_row.locator("td.sor-after")).to_have_text(str(a["ie"].pk))
    page.locator("input[name=do-submit]").click()
    expect(page.locator("#sor-changeset-status")).to_have_text("indsendt")
    expect(page.locator("input[name=do-approve]")).to_have_count(0)

    page.context.clear_cookies()
    log_in(page, live_server, "sor-admin2")
    page.locator("#sor-changesets-for-me a", has_text="Sammenlægning af dubletter").click()
    page.locator("input[name=do-approve]").click()
    expect(page.locator("#sor-changeset-status")).to_have_text("gennemført")

    assert Unit.objects.get(pk=b["si"].pk).owner_id == a["ie"].pk
    assert Unit.objects.get(pk=b["ie"].pk).to_date == dt.date.today() - dt.timedelta(days=1)
    assert DuplicateGroup.objects.get().status == "merged"
    page.goto(f"{live_server.url}/admin/registry/duplicategroup/")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    page.goto(f"{live_server.url}/admin/registry/duplicategroup/?status=merged")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    # The findings: the closed owner's missing phone is no longer a finding after the next run.
    page.goto(f"{live_server.url}/admin/registry/finding/?rule=owner_phone")
    expect(page.locator("#result_list tbody tr")).to_contain_text("Klinik Sydhavn")
    page.locator("#sor-quality-run").click()
    page.goto(f"{live_server.url}/admin/registry/finding/?rule=owner_phone")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_findings.png", full_page=True)
