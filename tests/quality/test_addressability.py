"""The addressability report: each active number with its owner and the units inheriting it; the
problems named; filtered to a regional administrator's region by default; CSV and XLSX."""

import datetime as dt

import pytest
from lxml import html

from registry.models import EdiMessageType
from registry.quality import addressability
from registry.services.location_numbers import location_number_assign
from tests.factories import gln, location_codes

pytestmark = pytest.mark.django_db
CMD = dict(actor=None, reason="testdata", origin="command")


@pytest.fixture
def numbers(make_tree):
    north, south = make_tree(name="Klinik Nord", region_code="1081"), make_tree(name="Klinik Syd", region_code="1083")
    types = list(EdiMessageType.objects.order_by("code")[:1])
    location_number_assign(unit=north["si"], gln=gln(9600), from_date=dt.date(2020, 1, 1), message_types=types,
                           **location_codes(), **CMD)
    location_number_assign(unit=south["oe"], gln=gln(9601), from_date=dt.date(2020, 1, 1), **location_codes(), **CMD)
    return north, south


def test_each_number_names_its_owner_the_units_inheriting_it_and_its_problems(numbers):
    north, south = numbers
    rows = {r["gln"]: r for r in addressability.report()}
    first = rows[gln(9600)]
    assert first["holder"] == str(north["si"].pk) and first["inherited_by_count"] == 2  # the OE and its leaf
    assert set(first["inherited_by"].split()) == {str(north["oe"].pk), str(north["leaf"].pk)}
    assert first["problem"] == "" and first["check"] == "ja" and first["unique"] == "ja"
    second = rows[gln(9601)]
    assert second["problem"] == "ingen EDI-meddelelsestyper" and second["inherited_by_count"] == 1
    assert [r["gln"] for r in addressability.report(problems_only=True)] == [gln(9601)]


def test_the_admin_report_opens_on_the_regional_administrators_region_and_downloads(client, numbers, regional):
    client.force_login(regional)
    page = html.fromstring(client.get("/admin/registry/locationnumber/addressability/").content.decode())
    assert page.xpath('//table[@id="sor-addressability"]/tbody/tr/@data-gln') == [gln(9600)]
    everything = html.fromstring(client.get("/admin/registry/locationnumber/addressability/?region=").content.decode())
    assert sorted(everything.xpath('//table[@id="sor-addressability"]/tbody/tr/@data-gln')) == [gln(9600), gln(9601)]
    csv = client.get("/admin/registry/locationnumber/addressability/?region=&format=csv")
    text = csv.content.decode("utf-8-sig")
    assert csv["Content-Type"].startswith("text/csv") and text.splitlines()[0].startswith("lokationsnummer;kontrolciffer")
    assert gln(9601) in text and "ingen EDI-meddelelsestyper" in text
    xlsx = client.get("/admin/registry/locationnumber/addressability/?format=xlsx")
    assert xlsx.content[:2] == b"PK"
