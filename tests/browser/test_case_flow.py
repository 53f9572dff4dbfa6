"""A correction request worked in a real browser (headless Debian Chromium), issue 14: a mail
arrives in the SORpost mailbox (real dovecot) and is polled into a case; the support desk claims
it, links the unit, proposes a phone change (applied at once) and a location-number change
(waiting); a second SOR-administrator approves that; the reply goes out over SMTP (a real server on
loopback); the unit's history shows both changes with the case."""

import datetime as dt
import os
from email import message_from_bytes
from email.message import EmailMessage

import pytest

from registry.cases.intake.imap import append, poll
from registry.models import Case, ChangeSet, LocationNumber, Operation, Unit
from registry.personas import ensure_personas
from registry.services.location_numbers import location_number_assign
from tests.factories import CMD, gln, location_codes

from .helpers import log_in

SCREENSHOT_DIR = os.environ.get("SOR_SCREENSHOT_DIR", "/tmp")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_support_desk_works_a_mail_to_an_answer_with_a_second_admin_approving_the_location_number(
        live_server, make_tree, page, imap_server, smtp_server, settings):
    from playwright.sync_api import expect

    settings.CELERY_TASK_ALWAYS_EAGER = True
    ensure_personas()
    tree = make_tree(name="Lægerne Havnen")
    oe, si = tree["oe"], tree["si"]
    number = location_number_assign(unit=oe, gln=gln(77), from_date=dt.date(2020, 1, 1), **location_codes(), **CMD)

    mail = EmailMessage()
    mail["From"], mail["To"] = "Lægerne Havnen <klinik@havnen.example.dk>", "sorpost@sundhedsdata.dk"
    mail["Subject"], mail["Message-ID"] = "Nyt telefonnummer og lokationsnummer", "<havnen-1@klinik.example.dk>"
    mail.set_content("Hej SOR\n\nVi har fået nyt telefonnummer 98 11 22 33, og vores lokationsnummer skal "
                     "ligge på klinikken i stedet for på ydernummeret.\n\nMvh Lægerne Havnen\n")
    append(bytes(mail))
    assert poll()["created"] == 1
    case = Case.objects.get()
    assert case.units.count() == 0  # the mail names no identifier: the desk links the unit

    log_in(page, live_server, "support")
    page.goto(f"{live_server.url}/admin/registry/case/?queue=unassigned")
    page.get_by_role("link", name=case.reference).click()
    page.locator("input[name=do-claim]").click()
    expect(page.locator("#sor-case-assignee")).to_have_text("support")
    page.fill("#sor-link", str(oe.pk))
    page.locator("input[name=do-link]").click()
    expect(page.locator("#sor-case-units")).to_contain_text(oe.name)

    form = page.locator("#sor-case-propose")
    form.locator("select[name=change]").select_option("set")
    form.locator("input[name=field]").fill("virtual_present")
    form.locator("input[name=value]").fill("ja")
    form.locator("input[name=do-propose]").click()
    form.locator("select[name=change]").select_option("set")
    form.locator("input[name=field]").fill("phone")
    form.locator("input[name=value]").fill("98112233")
    form.locator("input[name=do-propose]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("gennemført")
    form.locator("select[name=change]").select_option("move_location_number")
    form.locator("input[name=sor_id]").fill(str(oe.pk))
    form.locator("input[name=target]").fill(str(si.pk))
    form.locator("input[name=field]").fill("")
    form.locator("input[name=value]").fill("inherited")
    form.locator("input[name=do-propose]").click()
    expect(page.locator("ul.messagelist")).to_contain_text("indsendt")
    expect(page.locator("#sor-case-status")).to_have_text("afventer godkendelse")
    assert Unit.objects.get(pk=oe.pk).phone == "98112233"
    assert LocationNumber.objects.get(pk=number.pk).unit_id == oe.pk  # not moved: it waits
    page.screenshot(path=f"{SCREENSHOT_DIR}/sor_case_page.png", full_page=True)

    high = ChangeSet.objects.get(cases=case, risk="high")
    page.context.clear_cookies()
    log_in(page, live_server, "sor-admin2")
    page.goto(f"{live_server.url}/admin/registry/case/?queue=approval")
    page.get_by_role("link", name=case.reference).click()
    page.locator(f"#sor-case-proposals p[data-changeset='{high.pk}'] a").click()
    page.locator("input[name=do-approve]").click()
    expect(page.locator("#sor-changeset-status")).to_contain_text("gennemført")
    assert LocationNumber.objects.get(pk=number.pk).unit_id == si.pk

    page.context.clear_cookies()
    log_in(page, live_server, "support")
    page.goto(f"{live_server.url}/admin/registry/case/{case.pk}/change/?template=done")
    expect(page.locator("#sor-case-status")).to_have_text("gennemført")
    expect(page.locator("#sor-reply-body")).to_contain_text("98112233")
    page.locator("input[name=do-reply]").click()
    expect(page.locator("#sor-case-status")).to_have_text("besvaret")
    sent = [message_from_bytes(raw) for raw in smtp_server.sink.messages]
    answer = [m for m in sent if "behandlet" in m["Subject"]]
    assert len(answer) == 1 and case.reference in answer[0]["Subject"]
    assert answer[0]["To"] == "klinik@havnen.example.dk"

    # The unit's history: both changes, each in an operation that names the case.
    page.goto(f"{live_server.url}/admin/registry/unit/{oe.pk}/history/")
    ops = {Operation.objects.get(pk=cs.operation_id).provenance.get("case") for cs in case.change_sets.all()}
    assert ops == {case.reference}
    expect(page.locator("body")).to_contain_text(case.reference)
