"""A reorganisation as a change-set in a real browser (headless Debian Chromium), issue 13: an
SOR-administrator moves a GP practice from its private owner to a region owner and moves its
location number from the ydernummer unit to the institution; the preview shows the inherited
change on the ydernummer units and the changed file records; a second administrator approves;
the set activates on its date (the nightly activation, time moved forward); the unit's history
shows the set."""

import datetime as dt
import os

import pytest
from django.utils import timezone

from registry.models import ChangeSet, OwnerType, Unit
from registry.personas import ensure_personas
from registry.services.location_numbers import location_number_assign
from tests.factories import CMD, gln, location_codes

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sor_admin_moves_a_practice_to_a_region_owner_with_its_location_number_and_a_second_admin_approves(
        live_server, make_tree, page, monkeypatch):
    from playwright.sync_api import expect

    ensure_personas()
    practice = make_tree(name="Lægerne Torvet")
    region = make_tree(name="Region Nordjylland", owner_type=OwnerType.objects.exclude(name_da="privat").first())
    number = location_number_assign(unit=practice["oe"], gln=gln(41), **location_codes(), **CMD)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    si, oe, leaf = practice["si"], practice["oe"], practice["leaf"]

    log_in(page, live_server, "sor-admin")
    # From the unit list: select the institution, "Tilføj til ændringssæt", move under the region owner.
    page.goto(f"{live_server.url}/admin/registry/unit/?q={si.pk}")
    page.locator(f"input.action-select[value='{si.pk}']").check()
    page.select_option("select[name=action]", "add_to_changeset")
    page.locator("button[name=index]").click()
    expect(page.locator("#sor-chosen-units")).to_contain_text(si.name)
    page.fill("#id_name", "Lægerne Torvet til Region Nordjylland")
    page.fill("#id_reason", "Regionen overtager klinikken (mail fra regionen)")
    page.fill("#id_effective_date", tomorrow.strftime("%d-%m-%Y"))
    page.select_option("#id_kind", "move")
    page.fill("#id_target", str(region["ie"].pk))
    page.locator("input[type=submit].default").click()
    expect(page.locator("ul.messagelist")).to_contain_text("1 ændringer er lagt i ændringssæt")
    cs = ChangeSet.objects.get(name="Lægerne Torvet til Region Nordjylland")

    # From the ydernummer unit's page: its location number moves to the institution, inherited below.
    page.goto(f"{live_server.url}/admin/registry/unit/{oe.pk}/change/")
    page.locator("#sor-add-to-changeset").click()
    page.select_option("#id_changeset", str(cs.pk))
    page.select_option("#id_kind", "move_location_number")
    page.fill("#id_target", str(si.pk))
    page.fill("#id_value", "inherited")
    page.locator("input[type=submit].default").click()
    expect(page.locator("#sor-changeset-changes tbody tr")).to_have_count(2)

    # The preview: the ydernummer units now reach the number through the institution (highlighted).
    expect(page.locator("#sor-changeset-valid")).to_be_visible()
    institution_number = page.locator(f"#sor-preview-units tr.sor-routing[data-sor-id='{si.pk}'][data-key='lokationsnummer']")
    expect(institution_number.locator("td.sor-before")).to_have_text("–")
    expect(institution_number.locator("td.sor-after")).to_have_text(number.gln)
    for unit in (oe, leaf):
        source = page.locator(f"#sor-preview-units tr.sor-routing[data-sor-id='{unit.pk}'][data-key='lokationsnummer fra enhed']")
        expect(source.locator("td.sor-before")).to_have_text(str(oe.pk))
        expect(source.locator("td.sor-after")).to_have_text(str(si.pk))
    leaf_owner = page.locator(f"#sor-preview-units tr[data-sor-id='{leaf.pk}'][data-key='institutionsejer']")
    expect(leaf_owner.locator("td.sor-after")).to_have_text(str(region["ie"].pk))
    records = page.locator("#sor-preview-records")
    for unit in (si, oe, leaf):
        expect(records).to_contain_text(str(unit.pk))
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_changeset_preview.png", full_page=True)
    page.locator("input[name=do-submit]").click()
    expect(page.locator("#sor-changeset-status")).to_have_text("indsendt")
    expect(page.locator("input[name=do-approve]")).to_have_count(0)  # not by its author

    # A second SOR-administrator finds it on the index and approves it; it waits for its date.
    page.context.clear_cookies()
    log_in(page, live_server, "sor-admin2")
    page.locator("#sor-changesets-for-me a", has_text=cs.name).click()
    page.locator("input[name=do-approve]").click()
    expect(page.locator("#sor-changeset-status")).to_have_text("godkendt")
    page.goto(f"{live_server.url}/admin/registry/unit/{si.pk}/change/")
    expect(page.locator(f"#sor-planned-{cs.pk}")).to_contain_text(f"planlagt ændring {tomorrow:%d-%m-%Y}")

    # Its date comes: the nightly activation applies it.
    from exports import activation

    real_now = timezone.now
    monkeypatch.setattr("django.utils.timezone.now", lambda: real_now() + dt.timedelta(days=1))
    summary = activation.run_activators(tomorrow, log=lambda _m: None)
    assert summary["registry.change_sets"]["applied"] == [str(cs.pk)]
    moved = Unit.objects.get(pk=si.pk)
    assert moved.owner_id == region["ie"].pk and moved.from_date == tomorrow

    # The unit's history shows the set.
    page.goto(f"{live_server.url}/admin/registry/unit/{si.pk}/history/")
    expect(page.locator("#change-history tbody tr").first).to_contain_text("Lægerne Torvet til Region Nordjylland")
