"""The support desk's everyday flow in a real browser (headless Debian Chromium):
log in, find a clinic by ydernummer, change its phone number with a reason, and read the change
in the unit's history."""

import os
import re

import pytest

from registry.personas import ensure_personas

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")
@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_support_desk_changes_a_phone_number_and_sees_it_in_the_history(live_server, make_tree, page):
    ensure_personas()
    tree = make_tree()
    oe = tree["oe"]
    from playwright.sync_api import expect

    log_in(page, live_server, "support")

    # Find the unit by its ydernummer from the changelist search.
    page.goto(f"{live_server.url}/admin/registry/unit/")
    page.fill("#searchbar", oe.provider_number)
    page.press("#searchbar", "Enter")
    result_rows = page.locator("#result_list tbody tr")
    expect(result_rows).to_have_count(1)
    result_rows.first.locator("th a").first.click()

    # The support desk edits contact data only: the name is shown but not editable.
    expect(page.locator("#id_name")).to_have_count(0)
    expect(page.locator(".field-name .readonly")).to_contain_text(oe.name)
    page.check("#id_virtual_present")  # the OE gets its own contact data instead of inheriting
    page.fill("#id_phone", "87654321")
    page.fill("#id_email", "ydernummer@example.dk")
    page.fill("#id_reason", "Klinikken ringede og oplyste nyt nummer")
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_support_change_page.png", full_page=True)
    page.locator("input[name=_continue]").click()
    # Before saving, the page says what changes for the unit and for the unit below that inherits it.
    expect(page.locator(".field-virtual_present .errorlist")).to_contain_text("1 enhed nedenunder")
    page.check("#id_override_warnings")
    page.locator("input[name=_continue]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("blev ændret")
    expect(page.locator("#id_phone")).to_have_value("87654321")

    # A second change so the history shows an old and a new number.
    page.fill("#id_phone", "11223344")
    page.fill("#id_reason", "Rettelse af nummeret")
    page.locator("input[name=_continue]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("blev ændret")

    page.locator("a.historylink").click()
    expect(page).to_have_url(re.compile(rf"/admin/registry/unit/{oe.pk}/history/"))
    newest = page.locator("#change-history tbody tr").first
    expect(newest).to_contain_text("Rettelse af nummeret")
    expect(newest).to_contain_text("support")
    expect(newest.locator(".sor-old")).to_have_text("87654321")
    expect(newest.locator(".sor-new")).to_have_text("11223344")
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_support_history_page.png", full_page=True)
