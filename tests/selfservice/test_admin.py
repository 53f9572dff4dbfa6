"""The staff side: naming a SOR-responsible person in the admin, the overdue list by region and
owner type, and an unconfirmed case's identity confirmed on its page."""

import datetime as dt

import pytest
from django.utils import timezone
from lxml import html

from registry.audit import audit_context
from registry.models import Case, SorResponsible
from registry.selfservice import services

from .conftest import CVR

pytestmark = pytest.mark.django_db


def _rows(response):
    doc = html.fromstring(response.content.decode())
    return [" ".join(tr.xpath(".//td//text() | .//th//text()")) for tr in doc.xpath('//table[@id="result_list"]/tbody/tr')]


def test_support_names_a_responsible_person_in_the_admin_through_the_service(client, make_tree, support):
    owner = make_tree(name="Klinik Admin")["ie"]
    client.force_login(support)
    response = client.post("/admin/registry/sorresponsible/add/", {
        "owner_sor_id": str(owner.pk), "name": "Hanne Hansen", "email": "hanne@example.dk", "phone": "20 30 40 50"})
    assert response.status_code == 302, response.content.decode()[:3000]
    responsible = SorResponsible.objects.get(owner=owner)
    assert responsible.email == "hanne@example.dk"
    assert responsible.history.get().operation.actor == support
    other = make_tree(name="Klinik B")
    bad = client.post("/admin/registry/sorresponsible/add/", {"owner_sor_id": str(other["oe"].pk), "name": "X",
                                                               "email": "x@example.dk"}, follow=True)
    # The mistake is named with the way out: the owner's SOR-ID.
    assert f"ikke en institutionsejer; dens ejer er Klinik B (SOR-ID {other['ie'].pk})" in bad.content.decode()


def test_the_overdue_list_holds_only_overdue_owners_and_filters_by_region(client, make_tree, support):
    late_north = make_tree(name="Klinik Nord Sen", region_code="1081")["ie"]
    late_south = make_tree(name="Klinik Syd Sen", region_code="1083")["ie"]
    fresh = make_tree(name="Klinik Frisk")["ie"]
    for owner in (late_north, late_south, fresh):
        services.responsible_set(actor=None, owner=owner, name=f"P {owner.name}", email="p@example.dk", origin="command")
    with audit_context(actor=None, reason="testdata: named a year ago", origin="command"):
        for owner in (late_north, late_south):
            r = SorResponsible.objects.get(owner=owner)
            r.named_at = timezone.now() - dt.timedelta(days=365)
            r.save(update_fields=["named_at"])
    client.force_login(support)
    rows = _rows(client.get("/admin/registry/sorresponsible/?followup=overdue"))
    assert len(rows) == 2 and all("forfalden" in row for row in rows)
    assert not any("Klinik Frisk" in row for row in rows)
    north = _rows(client.get(f"/admin/registry/sorresponsible/?followup=overdue&owner__region__id__exact="
                             f"{late_north.region_id}"))
    assert len(north) == 1 and "Klinik Nord Sen" in north[0]
    index = html.fromstring(client.get("/admin/").content.decode())
    assert "2 ejere er forfaldne" in " ".join(index.xpath('//*[@id="sor-followup-overdue"]//text()'))


def test_an_unconfirmed_case_is_marked_on_its_page_and_confirmed_there(client, make_tree, support):
    tree = make_tree(name="Klinik Ubekræftet", cvr=CVR)
    case = services.request_submit(services.Request(unit=tree["oe"], new={"phone": "70 20 30 40"}, requester_name="Hanne",
                                                    requester_phone="22 33 44 55"), address_wrong=True).case
    client.force_login(support)
    page = html.fromstring(client.get(f"/admin/registry/case/{case.pk}/change/").content.decode())
    assert page.xpath('string(//*[@id="sor-case-identity"])').strip() == "identitet ikke bekræftet"
    assert page.xpath('//*[@id="sor-case-identity-warning"]')
    listed = html.fromstring(client.get("/admin/registry/case/").content.decode())
    assert listed.xpath('string(//table[@id="result_list"]//strong[@class="sor-identity-unconfirmed"])') == \
        "(identitet ikke bekræftet)"
    client.post(f"/admin/registry/case/{case.pk}/do/confirm_identity/", {"note": "Ringet til 98765432."})
    assert Case.objects.get(pk=case.pk).identity == "verified"
    page = html.fromstring(client.get(f"/admin/registry/case/{case.pk}/change/").content.decode())
    assert page.xpath('string(//*[@id="sor-case-identity"])').strip() == "bekræftet af supporten"
