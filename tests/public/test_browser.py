"""The public SOR browser (/sor/): each search kind and filter, the register on a date, pages
without JavaScript, and nothing beyond what SOR publishes."""

import datetime as dt

import pytest
from django.test import Client
from lxml import html

from registry.models import OwnerType
from registry.selfservice.services import responsible_set
from registry.services.units import unit_close, unit_update
from tests.factories import CMD, gln

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client():
    return Client()


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return html.fromstring(response.content.decode())


def result_ids(client, query) -> list[str]:
    doc = page(client, f"/sor/?{query}")
    return [a.get("href").split("/")[3] for a in doc.xpath("//table[@class='data']/tbody/tr/td[1]/a")]


def test_each_search_kind_finds_the_unit(browser_client, tree, make_tree):
    other = make_tree(name="Klinikken Vesterbro", region_code="1084", postal_post_code="1620",
                      postal_district_name="København V")
    unit_update(**CMD, unit=tree["si"].pk, changes={"shak": "8001"})
    c = browser_client
    ie, si, oe = str(tree["ie"].pk), str(tree["si"].pk), str(tree["oe"].pk)
    assert result_ids(c, "q=019062") == [oe]  # ydernummer
    assert result_ids(c, "q=19062") == [oe]  # ydernummer without its leading zero
    assert result_ids(c, f"q={oe}") == [oe]  # SOR-ID
    assert result_ids(c, f"q={gln(1)}") == [si]  # location number
    assert result_ids(c, "q=8001") == [si]  # SHAK
    assert result_ids(c, "q=12345674") == [ie]  # CVR
    everyone = sorted(str(tree[k].pk) for k in ("ie", "si", "oe", "leaf"))
    # A post code or town: the owner's own address, and the units below it that inherit it.
    assert sorted(result_ids(c, "q=9700")) == everyone
    assert sorted(result_ids(c, "q=brønderslev")) == everyone
    assert sorted(result_ids(c, "q=København V")) == sorted(str(other[k].pk) for k in ("ie", "si", "oe", "leaf"))
    assert result_ids(c, "q=ydernummer Østergade") == [oe]  # every word, in any order
    assert set(result_ids(c, "q=vesterbro")) == {str(other[k].pk) for k in ("ie", "si", "oe", "leaf")}  # name part
    assert result_ids(c, "q=ingen+s%C3%A5dan+enhed") == []


def test_each_filter_narrows_the_results(browser_client, tree, make_tree):
    other = make_tree(name="Klinikken Vesterbro", region_code="1084",
                      owner_type=OwnerType.objects.get(name_da="kommune"))
    unit_close(**CMD, unit=tree["leaf"].pk, to_date=dt.date(2024, 12, 31))
    c = browser_client
    assert set(result_ids(c, "niveau=OE")) == {str(tree["oe"].pk), str(tree["leaf"].pk), str(other["oe"].pk),
                                               str(other["leaf"].pk)}
    assert set(result_ids(c, "type=394761003")) == {str(tree["si"].pk), str(other["si"].pk)}
    assert set(result_ids(c, "region=1084")) == {str(other[k].pk) for k in ("ie", "si", "oe", "leaf")}
    kommune = OwnerType.objects.get(name_da="kommune").code
    assert set(result_ids(c, f"ejertype={kommune}")) == {str(other[k].pk) for k in ("ie", "si", "oe", "leaf")}
    assert result_ids(c, "status=lukket") == [str(tree["leaf"].pk)]
    assert str(tree["leaf"].pk) not in result_ids(c, "status=aaben&q=behandler")
    assert result_ids(c, "q=behandler&niveau=OE&region=1081") == [str(tree["leaf"].pk)]
    refused = browser_client.get("/sor/?niveau=XX")
    assert refused.status_code == 400 and "Niveauet XX findes ikke" in refused.content.decode()


def test_the_unit_page_shows_effective_values_with_links_to_their_source(browser_client, tree):
    doc = page(browser_client, f"/sor/enhed/{tree['oe'].pk}/")
    assert [h.text_content() for h in doc.xpath("//h1")] == ["Lægerne Østergade ydernummer"]
    routing = doc.xpath("//h2[@id='routing']/following-sibling::dl[1]")[0]
    assert gln(1) in routing.text_content()
    source = routing.xpath(".//a")[0]
    assert source.get("href") == f"/sor/enhed/{tree['si'].pk}/#routing" and source.text == "Lægerne Østergade klinik"
    assert "arvet fra" in routing.text_content()
    types = doc.xpath("//h2[@id='routing']/following-sibling::div[1]/table//tbody/tr/td[1]/text()")
    assert sorted(types) == sorted(t.code for t in tree["types"])
    postal = doc.xpath("//h3[text()='Postadresse']/following-sibling::p[1]")[0]
    assert "Østergade 70" in postal.text_content() and "9700 Brønderslev" in postal.text_content()
    assert postal.xpath(".//a/@href") == [f"/sor/enhed/{tree['ie'].pk}/#addresses"]
    crumbs = doc.xpath("//nav[@class='crumbs']//a/@href")
    assert crumbs == [f"/sor/enhed/{tree['ie'].pk}/", f"/sor/enhed/{tree['si'].pk}/"]
    below = doc.xpath("//h2[@id='below']/following-sibling::ul[1]//a/@href")
    assert below == [f"/sor/enhed/{tree['leaf'].pk}/"]


def test_the_register_on_a_date_before_and_after_a_dated_change(browser_client, tree):
    oe = tree["oe"].pk
    unit_update(**CMD, unit=oe, changes={"name": "Lægehuset ved Åen"}, from_date=dt.date(2025, 1, 1))
    before = page(browser_client, f"/sor/enhed/{oe}/?dato=2024-06-01")
    assert before.xpath("//h1")[0].text_content() == "Lægerne Østergade ydernummer"
    assert "som registret var gældende pr. 1. juni 2024" in before.text_content()
    assert before.xpath("//nav[@class='crumbs']//a/@href")[0].endswith("?dato=2024-06-01")  # the date follows links
    after = page(browser_client, f"/sor/enhed/{oe}/?dato=2025-06-01")
    assert after.xpath("//h1")[0].text_content() == "Lægehuset ved Åen"
    assert page(browser_client, f"/sor/enhed/{oe}/").xpath("//h1")[0].text_content() == "Lægehuset ved Åen"
    not_yet = page(browser_client, f"/sor/enhed/{oe}/?dato=2019-01-01", status=404)
    assert "Enheden var ikke gældende pr. 1. januar 2019" in not_yet.text_content()
    listed = page(browser_client, "/sor/?q=019062&dato=2024-06-01")
    assert [a.text for a in listed.xpath("//table[@class='data']/tbody/tr/td[1]/a")] == ["Lægerne Østergade ydernummer"]
    assert page(browser_client, "/sor/?q=019062&dato=2019-01-01").xpath("//table[@class='data']") == []
    bad = browser_client.get(f"/sor/enhed/{oe}/?dato=2025-13-01")
    assert bad.status_code == 200 and "Datoen 2025-13-01 kan ikke læses" in bad.content.decode()


def test_the_history_lists_published_changes_and_no_staff_or_personal_data(browser_client, tree, sor_admin):
    unit_update(actor=sor_admin, reason="Intern note: ringet til Hanne Jensen", origin="admin", unit=tree["oe"].pk,
                changes={"phone": "11223344", "virtual_present": True, "email": "klinik@example.dk"})
    responsible_set(actor=sor_admin, owner=tree["ie"], name="Hanne Jensen", email="hanne.jensen@example.dk",
                    phone="22334455", reason="SOR-ansvarlig", origin="admin")
    text = page(browser_client, f"/sor/enhed/{tree['oe'].pk}/").text_content()
    history = page(browser_client, f"/sor/enhed/{tree['oe'].pk}/").xpath("//h2[@id='history']/following-sibling::div[1]/table")[0]
    assert "telefon: – → 11223344" in history.text_content() and "ændret" in history.text_content()
    owner_text = page(browser_client, f"/sor/enhed/{tree['ie'].pk}/").text_content()
    for secret in ("Hanne", "hanne.jensen@example.dk", "22334455", "Intern note", "sor-admin"):
        assert secret not in text and secret not in owner_text, secret


def test_pages_work_without_javascript_and_have_one_h1_and_labelled_inputs(browser_client, tree):
    for url in ("/sor/", "/sor/?q=019062", f"/sor/enhed/{tree['oe'].pk}/"):
        response = browser_client.get(url)
        doc = html.fromstring(response.content.decode())
        assert doc.xpath("//script") == []  # nothing needs JavaScript
        assert len(doc.xpath("//h1")) == 1 and doc.get("lang") == "da"
        for field in doc.xpath("//input[not(@type='hidden')] | //select"):
            assert doc.xpath(f"//label[@for='{field.get('id')}']"), (url, field.get("name"))
    # The search is a plain GET form: its results are a link anyone can share.
    form = html.fromstring(browser_client.get("/sor/").content.decode()).xpath("//form[@role='search']")[0]
    assert form.get("method") == "get" and form.get("action") == "/sor/"


def test_the_admins_see_site_link_and_a_units_view_on_site_point_to_the_browser(tree):
    from django.contrib import admin

    assert admin.site.site_url == "/sor/"
    assert tree["oe"].get_absolute_url() == f"/sor/enhed/{tree['oe'].pk}/"
    assert Client().get("/").url == "/sor/"


def test_a_unit_valid_before_its_first_recorded_version_is_shown_with_its_earliest_version(browser_client, tree):
    from django.test import Client as ApiClient

    api = ApiClient()
    from registry.services.units import unit_create

    imported = unit_create(**CMD, level="OE", parent=tree["si"], name="Importeret klinik", from_date=dt.date(2020, 1, 1),
                           first_from_date=dt.date(2010, 1, 1))
    doc = page(browser_client, f"/sor/enhed/{imported.pk}/?dato=2015-01-01")
    assert doc.xpath("//h1")[0].text_content() == "Importeret klinik"
    assert [a.text for a in page(browser_client, "/sor/?q=importeret&dato=2015-01-01").xpath(
        "//table[@class='data']/tbody/tr/td[1]/a")] == ["Importeret klinik"]
    assert api.get(f"/api/v1/units/{imported.pk}/?valid_on=2015-01-01").status_code == 200
    before = page(browser_client, f"/sor/enhed/{imported.pk}/?dato=2009-12-31", status=404)
    assert "Den er gældende fra 1. januar 2010" in before.text_content()


def test_bad_input_gets_a_danish_answer_with_a_way_on(browser_client, tree):
    nul = browser_client.get("/sor/?q=a%00b")
    assert nul.status_code == 400 and "ikke kan søges på" in nul.content.decode()
    for url, text in (("/sor/enhed/abc/", "abc er ikke et SOR-ID"), ("/sor/enhed/12345678901/", "Ingen enhed har SOR-ID 12345678901")):
        doc = page(browser_client, url, status=404)
        assert text in doc.text_content() and doc.xpath("//a[@href='/sor/']"), url
    past = page(browser_client, "/sor/?q=behandler&side=9")
    assert past.xpath("//a[text()='Gå til første side']/@href") == ["?q=behandler"]
    wrong = browser_client.get("/sor/?ejertype=abc")
    assert wrong.status_code == 400 and "Den valgte ejertype findes ikke." in wrong.content.decode()
