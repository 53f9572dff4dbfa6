"""The case pages of the staff admin (Django's test client against real PostgreSQL)."""

import lxml.html
import pytest
from django.urls import reverse

from registry.cases import services
from registry.cases.intake.ingest import ingest
from registry.models import Case
from tests.cases.conftest import mails

pytestmark = pytest.mark.django_db


def page(client, case):
    response = client.get(reverse("admin:registry_case_change", args=[case.pk]))
    assert response.status_code == 200
    return lxml.html.fromstring(response.content.decode())


def test_html_with_a_script_is_shown_inert_in_a_sandboxed_frame(clinics, support, client, smtp_server):
    case = Case.objects.get(reference=ingest(mails(clinics)["html-only-outlook-cp1252"]).case)
    client.force_login(support)
    doc = page(client, case)
    frames = doc.xpath("//iframe[contains(@class, 'sor-mail-html')]")
    assert len(frames) == 1 and frames[0].get("sandbox") == ""
    shown = frames[0].get("srcdoc")
    assert "Vores lokationsnummer" in shown
    assert "<script" not in shown and "onclick" not in shown and "tracker.example.com" not in shown
    assert not doc.xpath("//script[contains(@src, 'tracker')] | //img[contains(@src, 'tracker')]")


def test_an_attachment_is_downloaded_never_rendered(clinics, support, client, smtp_server):
    case = Case.objects.get(reference=ingest(mails(clinics)["attachments"]).case)
    client.force_login(support)
    link = page(client, case).xpath("//p[@class='sor-attachment']/a")[0]
    response = client.get(link.get("href"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_claiming_and_proposing_a_phone_from_the_case_page_applies_it(clinics, support, client, smtp_server):
    case = Case.objects.get(reference=ingest(mails(clinics)["plain"]).case)
    client.force_login(support)
    unit = clinics[0]["sor_id"]
    client.post(reverse("admin:registry_case_verb", args=[case.pk, "claim"]))
    client.post(reverse("admin:registry_case_verb", args=[case.pk, "propose"]),
                {"change": "set", "sor_id": unit, "field": "virtual_present", "value": "ja"})
    client.post(reverse("admin:registry_case_verb", args=[case.pk, "propose"]),
                {"change": "set", "sor_id": unit, "field": "phone", "value": "98123456"})
    doc = page(client, case)
    assert doc.get_element_by_id("sor-case-assignee").text_content().strip() == "support"
    assert doc.get_element_by_id("sor-case-status").text_content().strip() == "gennemført"
    assert any("98123456" in li.text_content() for li in doc.xpath("//*[@id='sor-case-proposals']//li"))


def test_a_regional_administrator_does_not_see_another_regions_case(clinics, regional, client, make_tree):
    other = services.case_create(actor=None, subject="Ny adresse",
                                 units=[make_tree(region_code="1084", name="Klinik H")["oe"]])
    client.force_login(regional)
    response = client.get(reverse("admin:registry_case_change", args=[other.pk]))
    assert response.status_code == 302
    listing = client.get(reverse("admin:registry_case_changelist")).content.decode()
    assert other.reference not in listing


def test_a_quarantined_mail_is_listed_with_its_reason(clinics, support, client):
    ingest(mails(clinics)["malformed"])
    client.force_login(support)
    doc = lxml.html.fromstring(client.get(reverse("admin:registry_mailintake_changelist") + "?status=quarantined")
                               .content.decode())
    cells = [td.text_content() for td in doc.xpath("//*[@id='result_list']//td[contains(@class, 'field-reason')]")]
    assert len(cells) == 1 and "ikke en mail" in cells[0]


def test_a_guest_sees_no_cases(clinics, guest, client, smtp_server):
    case = Case.objects.get(reference=ingest(mails(clinics)["plain"]).case)
    client.force_login(guest)
    assert client.get(reverse("admin:registry_case_change", args=[case.pk])).status_code in (302, 403)


def test_a_regional_administrator_sees_no_other_regions_mail_and_cannot_retry(clinics, regional, client, smtp_server):
    ingest(mails(clinics)["malformed"])
    ingest(mails(clinics)["plain"])
    client.force_login(regional)
    doc = lxml.html.fromstring(client.get(reverse("admin:registry_mailintake_changelist")).content.decode())
    rows = doc.xpath("//*[@id='result_list']/tbody/tr")
    assert len(rows) == 1  # the Nordjylland case's mail, not the quarantined one
    assert not doc.xpath("//select[@name='action']/option[@value='retry_selected']")


def test_a_case_about_units_in_two_regions_is_worked_by_both(clinics, regional, make_tree, smtp_server):
    other = make_tree(region_code="1084", name="Klinik H")["oe"]
    case = services.case_create(actor=None, subject="To klinikker", units=[other, clinics[0]["tree"]["oe"]])
    assert services.visible_cases(regional).filter(pk=case.pk).exists()
    services.case_claim(actor=regional, case=case)


def test_the_case_list_shows_counts_per_status(clinics, support, client, smtp_server):
    ingest(mails(clinics)["plain"])
    ingest(mails(clinics)["alternative"])
    client.force_login(support)
    doc = lxml.html.fromstring(client.get(reverse("admin:registry_case_changelist")).content.decode())
    counts = doc.get_element_by_id("sor-case-counts").text_content()
    assert "2 ny" in " ".join(counts.split())


def test_a_waiting_location_number_move_is_shown_beside_the_effective_values_and_their_source(
        clinics, support, client, smtp_server):
    case = Case.objects.get(reference=ingest(mails(clinics)["plain"]).case)
    tree = clinics[0]["tree"]
    cs = services.case_propose(actor=support, case=case, rows=[
        {"change": "move_location_number", "sor_id": str(tree["oe"].pk), "target": str(tree["si"].pk),
         "value": "inherited"}])
    client.force_login(support)
    doc = page(client, case)
    rows = doc.xpath(f"//table[@data-changeset='{cs.pk}']//tr[@data-sor-id='{tree['leaf'].pk}']")
    by_key = {r.get("data-key"): (r.xpath("td[@class='sor-before']")[0].text_content(),
                                  r.xpath("td[@class='sor-after']")[0].text_content()) for r in rows}
    # The unit below inherits the number before and after; where it comes from changes.
    assert by_key["lokationsnummer fra enhed"] == (str(tree["oe"].pk), str(tree["si"].pk))


def test_a_quarantined_mails_original_can_be_downloaded_as_received(clinics, support, client):
    raw = mails(clinics)["malformed"]
    outcome = ingest(raw)
    client.force_login(support)
    response = client.get(reverse("admin:registry_mailintake_original", args=[outcome.intake]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == raw
    assert response["Content-Disposition"].startswith("attachment;")


def test_the_admin_index_shows_the_case_queues_with_counts(clinics, support, client, smtp_server):
    mine = Case.objects.get(reference=ingest(mails(clinics)["plain"]).case)
    ingest(mails(clinics)["alternative"])
    services.case_claim(actor=support, case=mine)
    client.force_login(support)
    doc = lxml.html.fromstring(client.get(reverse("admin:index")).content.decode())
    counts = {li.get("data-queue"): li.xpath("strong")[0].text for li in doc.xpath("//*[@id='sor-case-queues']//li")}
    assert counts == {"mine": "1", "unassigned": "1", "approval": "0", "overdue": "0"}
