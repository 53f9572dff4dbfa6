"""Sor_complete.zip and its members (sor-format.md §2.3, §8.2): each file on a generated register
and on SDS's imported samples; SOREntity.csv rebuilds the register valid on past dates as the
history page's "gældende pr. <dato>" shows it."""

import csv
import datetime as dt
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from exports.complete import COLUMNS, ENTITY, MEMBERS, ZIP_NAME, CompleteFormat
from exports.formats import get_format
from exports.manifest import build_manifest
from exports.validate import ExportInvalid, validate_directory
from registry.models import EdiMessageType, Unit
from registry.services.location_numbers import location_number_close
from registry.services.units import unit_close, unit_update
from registry.services.xml_import import import_sor_file

from .chain_helpers import CMD
from .xml_helpers import V1_SAMPLES

pytest_plugins = ["tests.exports.chain_fixtures"]
pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 2)


def act(reason: str) -> dict:
    return {**CMD, "reason": reason}


def render(tmp_path: Path, day=DAY) -> dict:
    result = CompleteFormat().render(day, tmp_path)
    return {name: Path(path) for name, path in result["files"].items()}


def rows_of(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def sor_id(cell: str) -> int:
    assert cell.startswith('="') and cell.endswith('"'), cell
    return int(cell[2:-1])


def test_complete_is_a_format_writing_every_member_and_the_zip_in_order(tmp_path, register):
    files = render(tmp_path)
    assert isinstance(get_format("complete"), CompleteFormat)
    assert list(files) == [*MEMBERS, ZIP_NAME]
    for name in MEMBERS:
        raw = files[name].read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM: the first header stays its name
        header = raw.split(b"\r\n", 1)[0].decode("utf-8").split(";")
        assert header == list(COLUMNS[name]), name
    with zipfile.ZipFile(files[ZIP_NAME]) as archive:
        assert archive.namelist() == list(MEMBERS)
        for name in MEMBERS:
            assert archive.read(name) == files[name].read_bytes()
            assert archive.getinfo(name).date_time[:3] == (DAY.year, DAY.month, DAY.day)


def test_the_zip_bytes_depend_on_the_content_only(tmp_path, register):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = render(tmp_path / "a")[ZIP_NAME], render(tmp_path / "b")[ZIP_NAME]
    assert first.read_bytes() == second.read_bytes()


def test_every_member_passes_the_publication_checks_with_the_manifest(tmp_path, register):
    render(tmp_path)
    results = validate_directory(tmp_path, DAY, build_manifest(DAY))
    assert set(MEMBERS) <= set(results) and results[ZIP_NAME] == {"members": len(MEMBERS)}
    assert results[ENTITY]["rows"] == Unit.objects.count()


def test_a_member_missing_from_the_zip_fails_the_check(tmp_path, register):
    files = render(tmp_path)
    with zipfile.ZipFile(files[ZIP_NAME], "w") as archive:  # rewritten without Geolocations.csv
        for name in MEMBERS[:-1]:
            archive.write(files[name], name)
    with pytest.raises(ExportInvalid, match="Sor_complete.zip: holds"):
        validate_directory(tmp_path, DAY, build_manifest(DAY))


def _history_valid_on(client, unit, day) -> dict:
    response = client.get(f"/admin/registry/unit/{unit.pk}/history/", {"as_of": day.isoformat(), "mode": "valid"})
    assert response.status_code == 200
    record = response.context["as_of_record"]
    return {"name": record.name, "phone": record.phone, "from_date": record.from_date}


def _entity_valid_on(rows, unit, day) -> dict:
    matching = [r for r in rows if sor_id(r["SorId"]) == unit.pk and dt.date.fromisoformat(r["FromDate"]) <= day
                and (not r["ValidToDate"] or day <= dt.date.fromisoformat(r["ValidToDate"]))]
    assert len(matching) == 1, matching
    row = matching[0]
    return {"name": row["EntityName"], "phone": row["VirtualAddressTelephoneNumber"],
            "from_date": dt.date.fromisoformat(row["FromDate"])}


def test_soreentity_rebuilds_the_register_valid_on_past_dates_as_the_history_page_shows_it(
        tmp_path, make_tree, sor_admin):
    tree = make_tree()
    ie = tree["ie"]
    start = ie.from_date
    renamed, rephoned = start + dt.timedelta(days=400), start + dt.timedelta(days=900)
    unit_update(unit=ie, changes={"name": "Lægerne Østergade I/S", "from_date": renamed}, **act("nyt navn"))
    unit_update(unit=ie, changes={"phone": "11223344", "from_date": rephoned}, **act("nyt nummer"))
    # A later correction of the middle period's name (recorded last, same FromDate): it counts.
    unit_update(unit=ie, changes={"name": "Lægerne Østergade ApS", "from_date": renamed, "phone": ie.phone},
                **act("rettelse af navnet for perioden"))
    unit_update(unit=ie, changes={"phone": "11223344", "from_date": rephoned, "name": "Lægerne Østergade ApS"},
                **act("tilbage til seneste version"))

    rows = rows_of(render(tmp_path, day=dt.date.today())[ENTITY])
    own = [r for r in rows if sor_id(r["SorId"]) == ie.pk]
    assert [r["FromDate"] for r in own] == [start.isoformat(), renamed.isoformat(), rephoned.isoformat()]
    assert own[0]["ValidToDate"] == (renamed - dt.timedelta(days=1)).isoformat()
    client = Client()
    client.force_login(sor_admin)
    days = [start + dt.timedelta(days=10), renamed + dt.timedelta(days=10), rephoned + dt.timedelta(days=10)]
    shown = [_history_valid_on(client, ie, day) for day in days]
    assert [s["name"] for s in shown] == [ie.name, "Lægerne Østergade ApS", "Lægerne Østergade ApS"]
    for day, expected in zip(days, shown, strict=True):
        assert _entity_valid_on(rows, ie, day) == expected, day


def test_soreentity_holds_own_values_with_the_flag_that_says_what_is_inherited(tmp_path, make_tree):
    tree = make_tree()  # the SI inherits the owner's electronic addresses
    rows = {sor_id(r["SorId"]): r for r in rows_of(render(tmp_path)[ENTITY])}
    owner, institution = rows[tree["ie"].pk], rows[tree["si"].pk]
    assert (owner["HasOwnVirtualAddress"], owner["VirtualAddressEmailAddress"]) == ("true", tree["ie"].email)
    assert (institution["HasOwnVirtualAddress"], institution["VirtualAddressEmailAddress"]) == ("false", "")
    assert sor_id(institution["ParentSorId"]) == tree["ie"].pk
    assert sor_id(institution["InstitutionOwnerSorId"]) == tree["ie"].pk


def test_location_numbers_closed_ones_included_with_their_message_types(tmp_path, register):
    closed = register["numbers"][0]
    location_number_close(location_number=closed, to_date=DAY - dt.timedelta(days=1), **act("lukket"))
    files = render(tmp_path)
    codes = {r["EanLocationCode"]: r for r in rows_of(files["LocationsCodes.csv"])}
    assert set(codes) == {ln.gln for ln in register["numbers"]}
    assert codes[closed.gln]["ToDate"] == (DAY - dt.timedelta(days=1)).isoformat()
    assert sor_id(codes[closed.gln]["SorId"]) == closed.unit_id
    mapping = rows_of(files["LocationsCodeEDITypeMap.csv"])
    closed_types = {(r["EdiStandard"], r["EdiVersionCode"]) for r in mapping if r["EanLocationCode"] == closed.gln}
    assert closed_types == {(m.standard, m.version_code) for m in closed.message_types.all()} and closed_types
    assert len(mapping) == sum(ln.message_types.count() for ln in register["numbers"])
    types = rows_of(files["EDITypes.csv"])
    assert len(types) == EdiMessageType.objects.count()


def test_shak_map_merges_consecutive_periods_of_one_code_and_ends_with_the_change(tmp_path, make_tree):
    tree = make_tree()
    si = tree["si"]
    start = si.from_date
    unit_update(unit=si, changes={"shak": "1301011"}, **act("SHAK"))
    unit_update(unit=si, changes={"name": "Ny klinik", "from_date": start + dt.timedelta(days=100)}, **act("navn"))
    unit_update(unit=si, changes={"shak": "1301012", "from_date": start + dt.timedelta(days=200)}, **act("ny SHAK"))
    rows = [r for r in rows_of(render(tmp_path)["SHAKSORMap.csv"]) if sor_id(r["SorId"]) == si.pk]
    assert [(r["ShakIdentifier"], r["FromDate"], r["ToDate"]) for r in rows] == [
        ("1301011", start.isoformat(), (start + dt.timedelta(days=199)).isoformat()),
        ("1301012", (start + dt.timedelta(days=200)).isoformat(), ""),
    ]


def test_replaced_entities_from_either_side_once_with_the_closing_day(tmp_path, make_tree):
    old, new = make_tree(name="Gammel")["si"], make_tree(name="Ny")["si"]
    unit_close(unit=old, to_date=DAY, include_descendants=True, **act("lagt sammen"))
    unit_update(unit=old, changes={"replaced_by": [new.pk]}, **act("erstattet"))
    unit_update(unit=new, changes={"replaces": [old.pk]}, **act("erstatter"))
    rows = rows_of(render(tmp_path)["SORReplacedEntities.csv"])
    assert [(sor_id(r["ReplacedSorId"]), sor_id(r["ReplacingSorId"]), r["ReplacedDate"]) for r in rows] == [
        (old.pk, new.pk, DAY.isoformat())]


def test_geolocations_list_own_addresses_only(tmp_path, make_tree):
    tree = make_tree()  # the owner has its own postal address; the units below inherit it
    rows = rows_of(render(tmp_path)["Geolocations.csv"])
    by_unit = {(sor_id(r["SorId"]), r["AddressType"]) for r in rows}
    owner = Unit.objects.get(pk=tree["ie"].pk)
    expected = {(owner.pk, kind) for kind, attr in (("Postal", "postal"), ("Visiting", "visiting"),
                                                    ("Activity", "activity")) if getattr(owner, f"{attr}_present")}
    for key in ("si", "oe", "leaf"):
        unit = Unit.objects.get(pk=tree[key].pk)
        expected |= {(unit.pk, kind) for kind, attr in (("Postal", "postal"), ("Visiting", "visiting"),
                                                        ("Activity", "activity")) if getattr(unit, f"{attr}_present")}
    assert by_unit == expected and (owner.pk, "Postal") in by_unit
    postal = next(r for r in rows if sor_id(r["SorId"]) == owner.pk and r["AddressType"] == "Postal")
    assert postal["AddressPostCodeId"] == owner.postal_post_code


def test_classifications_hold_every_code_list_with_validity_and_successor(tmp_path, make_tree):
    from registry.models import EntityType
    from registry.services.codes import code_retire, code_update

    make_tree()
    old = EntityType.objects.order_by("code").first()
    successor = EntityType.objects.exclude(pk=old.pk).order_by("code").first()
    code_update(obj=old, changes={"valid_to": dt.date(2025, 12, 31)}, **act("udgår"))
    code_retire(obj=old, successor=successor, **act("erstattet"))
    rows = rows_of(render(tmp_path)["SORClassifications.csv"])
    lists = {r["ClassificationName"] for r in rows}
    assert {"EntityType", "OwnerType", "ClinicalSpeciality", "SpecialityType", "Region", "Municipality"} <= lists
    row = next(r for r in rows if r["ClassificationName"] == "EntityType" and r["Code"] == old.code)
    assert (row["ValidToDate"], row["Retired"], row["SuccessorCode"]) == ("2025-12-31", "true", successor.code)


@pytest.mark.parametrize("sample", [p for p in V1_SAMPLES if p.name in ("ONE_SYGEHUS.xml", "ONE_PRAKSIS.xml",
                                                                       "ONE_APOTEK.xml")], ids=lambda p: p.name)
def test_each_file_from_sdss_imported_samples_passes_its_checks(tmp_path, sample):
    assert import_sor_file(sample, reason="SDS-eksempel").ok
    files = render(tmp_path)
    validate_directory(tmp_path, DAY, build_manifest(DAY))
    units = {sor_id(r["SorId"]) for r in rows_of(files[ENTITY])}
    assert units == set(Unit.objects.values_list("sor_id", flat=True))
    glns = {r["EanLocationCode"] for r in rows_of(files["LocationsCodes.csv"])}
    from registry.models import LocationNumber

    assert glns == set(LocationNumber.objects.values_list("gln", flat=True))
