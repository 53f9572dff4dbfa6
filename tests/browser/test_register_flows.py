"""An SOR administrator's register flows in a real browser (headless Debian Chromium): create an
organisational unit and close it, give an institution a location number and close that, reading
what the register then says on the pages a person sees."""

import datetime as dt
import os
import re

import pytest
from django.utils import timezone

from registry.models import LocationMode, LocationNumber, Unit
from registry.personas import ensure_personas
from tests.factories import gln, location_codes

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


def status_cell(page, live_server, sor_id):
    page.goto(f"{live_server.url}/admin/registry/unit/?q={sor_id}&region=all")
    return page.locator("#result_list tbody tr").first.locator("td.field-status_display")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sor_admin_creates_an_organisational_unit_then_closes_it(live_server, make_tree, page):
    from playwright.sync_api import expect

    ensure_personas()
    si = make_tree()["si"]
    log_in(page, live_server, "sor-admin")

    page.goto(f"{live_server.url}/admin/registry/unit/add/?level=OE&parent={si.pk}")
    page.select_option("#id_level", "OE")
    page.fill("#id_name", "Lægerne Østergade, ny afdeling")
    page.fill("#id_from_date", "01-03-2024")  # it opened in the spring of 2024
    page.fill("#id_reason", "Klinikken åbner en afdeling (SORpost 1234)")
    page.locator("input[name=_save]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("blev tilføjet")
    created = Unit.objects.get(name="Lægerne Østergade, ny afdeling")
    assert created.parent_id == si.pk and created.level == "OE" and created.first_from_date == dt.date(2024, 3, 1)
    expect(status_cell(page, live_server, created.pk)).to_have_text("aktiv")

    page.goto(f"{live_server.url}/admin/registry/unit/{created.pk}/close/")
    last_day = timezone.localdate() - dt.timedelta(days=1)
    page.fill("#id_to_date", last_day.strftime("%d-%m-%Y"))
    page.fill("#id_reason", "Afdelingen er lukket igen")
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_close_unit.png", full_page=True)
    page.locator("#content-main input[type=submit].default").click()
    expect(page.locator("ul.messagelist")).to_be_visible()
    created.refresh_from_db()
    assert created.to_date == last_day
    expect(status_cell(page, live_server, created.pk)).to_have_text("lukket")

    # A date before the unit began is refused with a message that names the problem.
    other = make_tree(name="Klinik Syd")["leaf"]
    page.goto(f"{live_server.url}/admin/registry/unit/{other.pk}/close/")
    page.fill("#id_to_date", "01-01-1999")
    page.fill("#id_reason", "Forkert dato")
    page.locator("#content-main input[type=submit].default").click()
    expect(page.locator(".errornote, .errorlist").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("før enheden blev gældende")
    assert Unit.objects.get(pk=other.pk).to_date is None


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sor_admin_assigns_a_location_number_then_closes_it_and_the_unit_has_none(live_server, make_tree, page):
    from playwright.sync_api import expect

    ensure_personas()
    tree = make_tree()
    si = tree["si"]
    codes = location_codes()
    log_in(page, live_server, "sor-admin")

    page.goto(f"{live_server.url}/admin/registry/locationnumber/add/?unit={si.pk}")
    page.fill("#id_gln", gln(77))
    page.fill("#id_from_date", "01-01-2024")
    for name in ("system_supplier", "system_type", "network_operator", "region", "edi_administrator"):
        page.select_option(f"#id_{name}", str(codes[name].pk))
    page.fill("#id_reason", "Ny EDI-postkasse til klinikken")
    page.locator("input[name=_save]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("blev tilføjet")
    ln = LocationNumber.objects.get(gln=gln(77))
    assert ln.unit_id == si.pk and Unit.objects.get(pk=si.pk).location_mode == LocationMode.OWN

    # The unit below now shows the number as inherited from the institution.
    page.goto(f"{live_server.url}/admin/registry/unit/{tree['leaf'].pk}/change/")
    expect(page.locator("body")).to_contain_text(gln(77))

    page.goto(f"{live_server.url}/admin/registry/locationnumber/{ln.pk}/close/")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    page.fill("#id_to_date", yesterday.strftime("%d-%m-%Y"))
    page.fill("#id_reason", "Postkassen er nedlagt")
    page.locator("#content-main input[type=submit].default").click()
    expect(page.locator("ul.messagelist")).to_be_visible()
    ln.refresh_from_db()
    assert ln.to_date == yesterday
    assert Unit.objects.get(pk=si.pk).location_mode == LocationMode.NONE  # never silently "inherited"
    page.goto(f"{live_server.url}/admin/registry/unit/{tree['leaf'].pk}/change/")
    expect(page.locator("body")).not_to_contain_text(gln(77))
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_closed_location_number.png", full_page=True)
    history = page.goto(f"{live_server.url}/admin/registry/unit/{si.pk}/history/")
    assert history.status == 200
    expect(page.locator("#location-number-history")).to_contain_text(re.compile(gln(77)))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_at_1400_px_every_column_of_the_unit_list_is_on_screen(live_server, make_tree, page):
    ensure_personas()
    tree = make_tree(name="Lægepraksis for almen medicin og vagtlæger")  # + " ydernummer" stays ≤ 60
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, live_server, "sor-admin")
    page.goto(f"{live_server.url}/admin/registry/unit/?region=all")
    row = page.locator("#result_list tbody tr").filter(has_text=str(tree["leaf"].pk)).first
    # Inside what the list shows without scrolling sideways, not merely inside the window.
    area = page.locator("#changelist .results").bounding_box()
    right = min(area["x"] + area["width"], 1400)
    for column in ("field-parent_link", "field-owner_link", "field-region_display", "field-status_display"):
        box = row.locator(f"td.{column}").bounding_box()
        assert box is not None, column
        assert box["x"] + box["width"] <= right + 1, (column, box, right)
    # Names wrap between words, never inside one.
    name_box = row.locator("td.field-name").bounding_box()
    assert name_box["width"] >= 100, name_box
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_unit_list_1400.png", full_page=False)
