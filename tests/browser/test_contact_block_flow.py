"""A SOR administrator gives an institution its own phone number in a real browser (headless
Chromium): the inherited electronic addresses are there when the block is ticked, the page says
before saving what changes for the unit and for the units below, and the e-mail is kept."""

import os

import pytest

from registry.models import Unit
from registry.personas import ensure_personas

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_own_contact_block_starts_from_inherited_values_and_shows_what_changes_below(live_server, page, make_tree):
    from playwright.sync_api import expect

    ensure_personas()
    tree = make_tree()
    si = tree["si"]
    log_in(page, live_server, "sor-admin")
    page.goto(f"{live_server.url}/admin/registry/unit/{si.pk}/change/")
    expect(page.locator("#id_email")).to_have_value("klinik@example.dk")  # inherited, shown before ticking
    page.check("#id_virtual_present")
    page.fill("#id_phone", "11223344")
    page.fill("#id_reason", "Klinikken har fået eget nummer (SORpost 99)")
    page.locator("input[name=_save]").click()

    warning = page.locator(".field-virtual_present .errorlist li.sor-warning")  # a warning, not an error
    expect(warning).to_contain_text("98765432 → 11223344")
    expect(warning).to_contain_text("2 enheder nedenunder")
    expect(warning).to_contain_text(tree["leaf"].name)
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_contact_block_warning.png", full_page=True)
    assert Unit.objects.get(pk=si.pk).virtual_present is False  # not saved yet

    summary = page.locator("#sor-warning-summary")  # at the top, with the button to save anyway
    expect(summary).to_contain_text("2 enheder nedenunder")
    expect(page.locator(".errornote")).to_have_count(0)
    summary.locator("#sor-save-anyway").click()
    expect(page.locator("ul.messagelist")).to_contain_text("blev ændret")
    saved = Unit.objects.get(pk=si.pk)
    assert (saved.virtual_present, saved.phone, saved.email) == (True, "11223344", "klinik@example.dk")
