"""The public SOR browser in a real browser (headless Debian Chromium), issue 18: search a GP
practice by ydernummer, open the unit, follow its inherited location number to the owner, switch
the date to last year; each page checked with axe-core (npm, package-lock.json) for serious
accessibility findings, and photographed for the README."""

import datetime as dt
import os
from pathlib import Path

import pytest

from registry.models import EdiMessageType
from registry.services.location_numbers import location_number_assign
from registry.services.units import unit_update
from tests.factories import CMD, gln, location_codes

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def serious_accessibility_findings(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} – {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_search_by_ydernummer_open_the_unit_follow_its_location_number_to_the_owner_and_go_back_a_year(
        live_server, make_tree, page):
    from playwright.sync_api import expect

    assert AXE.is_file(), "run `npm ci` (make test does) for axe-core"
    today = dt.date.today()
    last_year = today - dt.timedelta(days=365)
    tree = make_tree(name="Lægerne Åboulevarden", provider_number="045756")
    types = list(EdiMessageType.objects.order_by("standard", "version_code")[:2])
    location_number_assign(unit=tree["ie"], gln=gln(7), message_types=types, from_date=dt.date(2020, 1, 1),
                           **location_codes(), **CMD)
    oe = tree["oe"]
    unit_update(**CMD, unit=oe.pk, changes={"name": "Lægehuset Åboulevarden"}, from_date=today - dt.timedelta(days=100))

    page.goto(f"{live_server.url}/sor/")
    expect(page.locator("h1")).to_have_text("Søg i Sundhedsvæsenets Organisationsregister")
    page.get_by_label("Søg", exact=True).fill("045756")
    page.get_by_role("button", name="Søg", exact=True).click()
    expect(page.locator("#results")).to_have_text("1 enhed fundet")
    row = page.locator("table.data tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(4)).to_have_text(f"{gln(7)} (arvet)")  # the number it routes to, inherited
    assert serious_accessibility_findings(page) == []
    page.screenshot(path=f"{SCREENSHOT_DIR}/browser_search.png", full_page=True)

    row.get_by_role("link", name="Lægehuset Åboulevarden").click()
    expect(page.locator("h1")).to_have_text("Lægehuset Åboulevarden")
    routing = page.locator("h2#routing + dl")
    expect(routing).to_contain_text(gln(7))
    expect(routing).to_contain_text("arvet fra Lægerne Åboulevarden")
    assert serious_accessibility_findings(page) == []
    page.screenshot(path=f"{SCREENSHOT_DIR}/browser_unit.png", full_page=True)

    routing.get_by_role("link", name="Lægerne Åboulevarden").click()
    expect(page.locator("h1")).to_have_text("Lægerne Åboulevarden")
    expect(page.locator("h2#routing + dl")).to_contain_text(gln(7))
    expect(page.locator("h2#routing + dl")).to_contain_text("eget")
    expect(page.locator("h2#routing + dl + div.scroll table tbody tr")).to_have_count(2)  # its EDI message types
    assert serious_accessibility_findings(page) == []
    page.screenshot(path=f"{SCREENSHOT_DIR}/browser_owner.png", full_page=True)

    page.go_back()
    expect(page.locator("h1")).to_have_text("Lægehuset Åboulevarden")
    page.get_by_label("Vis enheden pr. dato").fill(last_year.isoformat())
    page.get_by_role("button", name="Vis", exact=True).click()
    expect(page.locator("h1")).to_have_text("Lægerne Åboulevarden ydernummer")  # its name a year ago
    expect(page.locator("main")).to_contain_text("som registret var gældende pr.")
    assert page.url.endswith(f"?dato={last_year.isoformat()}")
    assert serious_accessibility_findings(page) == []
    page.screenshot(path=f"{SCREENSHOT_DIR}/browser_last_year.png", full_page=True)

    # Keyboard: the skip link is the first stop and leads to the content.
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
