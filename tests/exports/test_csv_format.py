"""SorEntity_daily.csv and Edityper.csv (sor-format.md §8.2, §7.9)."""

import csv
import datetime as dt

import pytest

from exports.csv_format import EDI_COLUMNS, ENTITY_COLUMNS, CsvFormat
from exports.formats import get_format, identifiers
from registry.models import ClinicalSpeciality, Unit
from registry.services.location_numbers import location_number_close
from registry.services.units import unit_close, unit_create, unit_update

from .chain_helpers import CMD

pytest_plugins = ["tests.exports.chain_fixtures"]

DAY = dt.date(2026, 3, 2)


def render(tmp_path, day=DAY):
    result = CsvFormat().render(day, tmp_path)
    with open(result["files"]["SorEntity_daily.csv"], encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    with open(result["files"]["Edityper.csv"], encoding="utf-8", newline="") as fh:
        edi = list(csv.DictReader(fh, delimiter=";"))
    return result, rows, edi


def by_id(rows):
    return {row["SorId"][2:-1]: row for row in rows}


def test_csv_is_registered_as_format_csv():
    assert "csv" in identifiers()
    assert isinstance(get_format("csv"), CsvFormat)


@pytest.mark.django_db
def test_sor_id_is_written_as_excel_text_formula_and_file_is_semicolon_utf8(tmp_path, make_tree):
    tree = make_tree(name="Tandlæge Æblehaven")
    result, rows, _edi = render(tmp_path)
    raw = (tmp_path / "SorEntity_daily.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    header = raw.split(b"\r\n", 1)[0].decode()
    assert header.split(";") == ENTITY_COLUMNS
    assert header.startswith("SorId;SorType;EntityName;EntityTypeName;")
    # RFC 4180 quoting of the cell ="<SORID>": the form SDS's documentation shows.
    assert f'"=""{tree["ie"].sor_id}"""'.encode() in raw
    assert rows[0]["SorId"] == f'="{tree["ie"].sor_id}"'
    assert "Tandlæge Æblehaven".encode() in raw
    assert result["counts"]["units"] == 4


@pytest.mark.django_db
def test_rows_carry_effective_inherited_addresses_and_institution_columns(tmp_path, make_tree):
    tree = make_tree()
    unit_update(unit=tree["oe"], changes={"visiting_present": True, "visiting_street_name": "Algade",
                                          "visiting_building": "5", "visiting_post_code": "9000",
                                          "visiting_district_name": "Aalborg"}, **CMD)
    _result, rows, _edi = render(tmp_path)
    rows = by_id(rows)
    leaf = rows[str(tree["leaf"].sor_id)]
    # The leaf has no address of its own: postal inherited from the owner, visiting and activity
    # from its own effective postal address (sor-format.md §5).
    assert leaf["PostalAddressStreetName"] == "Østergade"
    assert leaf["PostalAddressPostCodeId"] == "9700"
    assert leaf["VisitingAddressStreetName"] == "Østergade"
    assert leaf["ActivityAddressStreetName"] == "Østergade"
    assert leaf["VirtualAddressTelephoneNumber"] == "98765432"
    assert leaf["VirtualAddressEmailAddress"] == "klinik@example.dk"
    oe = rows[str(tree["oe"].sor_id)]
    assert oe["VisitingAddressStreetName"] == "Algade"
    assert oe["ActivityAddressStreetName"] == "Algade"  # activity falls back to the own visiting address
    assert oe["PostalAddressStreetName"] == "Østergade"
    assert leaf["HealthInstitutionSorId"] == str(tree["si"].sor_id)
    assert leaf["HealthInstitutionEntityName"] == tree["si"].name
    assert leaf["HealthInstitutionEntityTypeName"] == "almen lægepraksis"
    assert leaf["InstitutionOwnerEntityTypeName"] == "privat"
    assert rows[str(tree["ie"].sor_id)]["EntityTypeName"] == "privat"
    assert leaf["SorType"] == "OE" and rows[str(tree["si"].sor_id)]["SorType"] == "SI"
    assert leaf["ParentSorId"] == str(tree["oe"].sor_id)
    assert leaf["FirstFromDate"] == "2020-01-01" and leaf["ToDate"] == ""


@pytest.mark.django_db
def test_closed_units_are_left_out_while_pending_closures_and_future_units_are_included(tmp_path, make_tree):
    closed = make_tree(name="Lukket Klinik")
    closing = make_tree(name="Lukker Snart")
    kept = make_tree(name="Åben Klinik")
    unit_close(unit=closed["ie"], to_date=DAY - dt.timedelta(days=1), include_descendants=True, **CMD)
    unit_close(unit=closing["leaf"], to_date=DAY, **CMD)  # ToDate is inclusive: still valid on DAY
    future = unit_create(level="OE", parent=kept["si"], name="Ny afdeling", from_date=DAY + dt.timedelta(days=30),
                         **CMD)
    _result, rows, _edi = render(tmp_path)
    ids = set(by_id(rows))
    assert not ids & {str(u.sor_id) for u in closed.values()}
    assert str(closing["leaf"].sor_id) in ids
    assert by_id(rows)[str(closing["leaf"].sor_id)]["ToDate"] == DAY.isoformat()
    assert str(future.sor_id) in ids
    assert by_id(rows)[str(future.sor_id)]["FromDate"] == (DAY + dt.timedelta(days=30)).isoformat()
    assert len(rows) == 8 + 1


@pytest.mark.django_db
def test_location_number_columns_and_edi_type_extract(tmp_path, register):
    tree = register["trees"][0]
    _result, rows, edi = render(tmp_path)
    rows = by_id(rows)
    si = rows[str(tree["si"].sor_id)]
    assert si["EanLocationCode"] == register["numbers"][0].gln
    assert si["EanLocationCodeRegionName"] == "Region Nordjylland"
    assert list(edi[0].keys()) == EDI_COLUMNS
    # 9 numbers with 2 message types + the owner's with 1
    assert len(edi) == 19
    first = [row for row in edi if row["Lokationsnummer"] == register["numbers"][0].gln]
    assert {row["SorId"] for row in first} == {f'="{tree["si"].sor_id}"'}
    assert all(row["Standard"] and row["Versionskode"] for row in edi)


@pytest.mark.django_db
def test_closed_location_number_is_neither_effective_nor_in_the_edi_extract(tmp_path, register):
    tree = register["trees"][1]
    number = register["numbers"][3]  # tree 1's SI
    location_number_close(location_number=number, to_date=DAY - dt.timedelta(days=1), **CMD)
    _result, rows, edi = render(tmp_path)
    assert by_id(rows)[str(tree["si"].sor_id)]["EanLocationCode"] == ""
    assert number.gln not in {row["Lokationsnummer"] for row in edi}


@pytest.mark.django_db
def test_specialities_fill_the_prioritised_columns_in_order(tmp_path, make_tree):
    tree = make_tree()
    codes = list(ClinicalSpeciality.objects.order_by("code").values_list("code", "name_da")[:2])
    unit_update(unit=tree["oe"], changes={"specialities": [{"code": c, "type": "51000095001"} for c, _n in reversed(codes)]},
                override_warnings=True, **CMD)
    _result, rows, _edi = render(tmp_path)
    oe = by_id(rows)[str(tree["oe"].sor_id)]
    assert oe["PrioritizedEntitySpeciality1Name"] == codes[1][1]
    assert oe["PrioritizedEntitySpeciality2Name"] == codes[0][1]
    assert oe["PrioritizedEntitySpeciality3Name"] == ""
    assert Unit.objects.count() == 4
