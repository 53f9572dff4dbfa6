"""Clinic self-service in a real browser (headless Debian Chromium), issue 15: a clinic finds its
unit by ydernummer and CVR, proposes a new phone and a new location number, follows the one-time
link from the mail (a real SMTP server on loopback), and the support desk sees the case with both
proposals."""

import datetime as dt
import os
import re
from email import message_from_bytes

import pytest

from registry.models import Case
from registry.personas import ensure_personas
from registry.services.location_numbers import location_number_assign
from tests.factories import CMD, gln, location_codes

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_clinic_proposes_phone_and_location_number_and_support_desk_sees_both(
        live_server, make_tree, page, smtp_server, settings):
    from playwright.sync_api import expect

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SOR_PUBLIC_URL = live_server.url
    ensure_personas()
    tree = make_tree(name="Lægerne Åen", cvr="22370170", email="klinik@aaen.example.dk")
    oe = tree["oe"]
    location_number_assign(unit=oe, gln=gln(4242), from_date=dt.date(2020, 1, 1), **location_codes(), **CMD)
    new_number = gln(4243)

    page.goto(f"{live_server.url}/selvbetjening/")
    expect(page.locator("h1")).to_have_text("Ret jeres oplysninger i SOR")
    page.get_by_label("SOR-ID, ydernummer eller lokationsnummer").fill(oe.provider_number)
    page.get_by_label("CVR-nummer").fill("22370170")
    page.screenshot(path=f"{SCREENSHOT_DIR}/selfservice_start.png", full_page=True)
    page.get_by_role("button", name="Find enheden").click()
    expect(page.locator("h1")).to_have_text(oe.name)
    expect(page.locator('td[data-field="location_number"]')).to_contain_text(gln(4242))

    page.get_by_label("Telefon", exact=True).fill("70 10 20 30")
    page.get_by_label("Lokationsnummer", exact=True).fill(new_number)
    page.get_by_label("Dit navn").fill("Hanne Hansen")
    page.get_by_label("Din e-mail (til spørgsmål; linket sendes ikke hertil)").fill("hanne@privat.example")
    expect(page.get_by_label(re.compile(r"klinik@aaen\.example\.dk \(e-mail i SOR, registreret på Lægerne Åen\)"))).to_be_checked()
    page.screenshot(path=f"{SCREENSHOT_DIR}/selfservice_unit.png", full_page=True)
    page.get_by_role("button", name="Send anmodningen").click()
    expect(page.locator("h1")).to_have_text("Tjek din e-mail")
    assert Case.objects.count() == 0

    assert len(smtp_server.sink.messages) == 1
    mail = message_from_bytes(smtp_server.sink.messages[0])
    assert mail["To"] == "klinik@aaen.example.dk"
    link = re.search(r"(http://\S+/selvbetjening/bekraeft/\S+/)", mail.get_payload(decode=True).decode()).group(1)
    page.goto(link)
    page.get_by_role("button", name="Bekræft og send til SOR-supporten").click()
    expect(page.locator("h1")).to_have_text("Tak – anmodningen er modtaget")
    case = Case.objects.get()
    expect(page.locator("main")).to_contain_text(case.reference)

    page.context.clear_cookies()
    log_in(page, live_server, "support")
    page.goto(f"{live_server.url}/admin/registry/case/?queue=unassigned")
    page.get_by_role("link", name=case.reference).click()
    proposals = page.locator("#sor-case-proposals")
    expect(proposals).to_contain_text("70102030")  # typed in groups, kept as SOR holds phone numbers
    expect(proposals).to_contain_text(new_number)
    expect(proposals).to_contain_text(f"Lokationsnummer {gln(4242)}")
    expect(page.locator("#sor-case-identity")).to_have_text("bekræftet med engangslink")
    page.screenshot(path=f"{SCREENSHOT_DIR}/selfservice_case.png", full_page=True)
