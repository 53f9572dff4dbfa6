"""Import behaviour: idempotency, history, dry run, and every bad input refused with nothing written."""

import datetime as dt

import pytest
from django.core.management import call_command

from registry.models import ChangeEvent, LocationNumber, Operation, SystemSupplier, Unit
from registry.services.xml_import import import_sor_file

from .xml_helpers import V1_SAMPLES, v2_sample_without_synthetic_oe

SYGEHUS = next(p for p in V1_SAMPLES if p.name == "ONE_SYGEHUS.xml")
PRAKSIS = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")


def history_rows() -> int:
    return Unit.history.count() + LocationNumber.history.count() + SystemSupplier.history.count()


@pytest.mark.django_db
def test_reimporting_the_same_file_writes_no_rows_no_history_and_no_events():
    first = import_sor_file(PRAKSIS, reason="første")
    assert first.ok and first.counts["created"] == 3
    assert first.counts["events_written"] == ChangeEvent.objects.filter(operation_id=first.operation_id).count() > 3
    before, events, operations = history_rows(), ChangeEvent.objects.count(), Operation.objects.count()
    second = import_sor_file(PRAKSIS, reason="anden")
    assert second.ok
    assert second.counts["unchanged"] == 3 and second.counts["changed"] == 0 and second.counts["rows_written"] == 0
    assert history_rows() == before
    assert (ChangeEvent.objects.count(), Operation.objects.count()) == (events, operations)
    assert second.counts["events_written"] == 0 and second.operation_id is None


@pytest.mark.django_db
def test_changed_file_writes_history_only_for_changed_units_in_one_batch(tmp_path):
    import_sor_file(PRAKSIS, reason="første")
    data = PRAKSIS.read_bytes().replace(b"Michael Filtenborg &amp; co", b"Filtenborg &amp; co")
    changed = tmp_path / "changed.xml"
    changed.write_bytes(data)
    before = Unit.history.count()
    result = import_sor_file(changed, reason="navneændring")
    assert result.ok and result.counts["changed"] == 1 and result.counts["unchanged"] == 2
    rows = list(Unit.history.order_by("-history_id")[: Unit.history.count() - before])
    assert [r.sor_id for r in rows] == [8331000016009]
    assert rows[0].origin == "import" and rows[0].history_change_reason == "navneændring"
    op = Operation.objects.get(pk=rows[0].operation_id)
    assert op.kind == "xml_import" and op.provenance == {
        "file_name": "changed.xml", "size": len(data), "sha256": result.sha256}
    assert Unit.objects.get(pk=8331000016009).name == "Filtenborg & co"
    (event,) = ChangeEvent.objects.filter(operation=op)
    assert (event.kind, event.unit_id) == ("changed", 8331000016009)
    assert event.changes["name"] == ["Michael Filtenborg & co", "Filtenborg & co"]


@pytest.mark.django_db
def test_import_keeps_own_versus_inherited_and_file_dates():
    assert import_sor_file(SYGEHUS, reason="t").ok
    si = Unit.objects.get(pk=347811000016004)
    assert si.postal_present is False and si.virtual_present is False and si.location_mode == "none"
    assert si.updated_at_date == dt.date(2009, 10, 1) and si.from_date == dt.date(2009, 10, 8)
    leaf = Unit.objects.get(pk=347831000016005)
    assert leaf.specialities == [{"code": "394594003", "type": "51000095001"}]
    assert leaf.ambulant_activity is True and leaf.geo_parent_relation == 2
    assert leaf.ancestors == [347801000016001, 347811000016004, 347821000016008]


@pytest.mark.django_db
def test_unknown_codes_are_created_as_imported_unnamed_and_reported():
    result = import_sor_file(PRAKSIS, reason="t")
    assert result.ok
    supplier = SystemSupplier.objects.get(code="641000055002")
    assert supplier.imported_unnamed is True
    assert any("641000055002" in codes for codes in result.unknown_codes.values())


@pytest.mark.django_db
def test_region_of_imported_owner_comes_from_its_location_number():
    import_sor_file(PRAKSIS, reason="t")
    assert {u.region.code for u in Unit.objects.select_related("region")} == {"1084"}


@pytest.mark.django_db
def test_dry_run_counts_and_writes_nothing(capsys):
    before = history_rows()
    call_command("sor_import", str(PRAKSIS), dry_run=True, reason="prøve")
    out = capsys.readouterr().out
    assert "3 oprettet" in out
    assert Unit.objects.count() == 0 and history_rows() == before


@pytest.mark.django_db
def test_units_missing_from_a_file_are_reported_not_deleted():
    import_sor_file(PRAKSIS, reason="t")
    result = import_sor_file(SYGEHUS, reason="t")
    assert result.counts["not_in_file"] == 3
    assert Unit.objects.count() == 7


@pytest.mark.django_db
def test_v2_import_matches_the_sample():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Sor.xml"
        path.write_bytes(v2_sample_without_synthetic_oe())
        assert import_sor_file(path, reason="t").ok
    owner = Unit.objects.get(pk=698471000016005)
    assert owner.cvr == "35095748" and owner.postal_coord_n == "6347032.450" and owner.postal_municipality_code == "0810"
    ln = owner.location_numbers.get()
    assert ln.gln == "5790002401473" and ln.region.code == "1081" and ln.to_date is None


BAD = {
    "malformed": (b'<?xml version="1.0"?>\n<SorTree xmlns="urn:oio:sundhedsstyrelsen:organisation:1.0.0">\n<Created>\n</SorTree>',
                  4, "ikke gyldig XML"),
    "namespace": (b'<?xml version="1.0"?>\n<SorTree xmlns="urn:example:other">\n</SorTree>', 2, "navnerum"),
    "doctype": (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>\n'
                b'<SorTree xmlns="urn:oio:sundhedsstyrelsen:organisation:1.0.0">&lol2;</SorTree>', 2, "DOCTYPE"),
    "xxe": (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            b'<SorTree xmlns="urn:oio:sundhedsstyrelsen:organisation:1.0.0">&xxe;</SorTree>', 2, "DOCTYPE"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(BAD))
def test_unreadable_files_are_refused_with_line_and_nothing_written(case, tmp_path):
    data, line, words = BAD[case]
    path = tmp_path / "bad.xml"
    path.write_bytes(data)
    result = import_sor_file(path, reason="t")
    assert not result.ok
    assert result.errors[0].line == line and words in result.errors[0].message
    assert Unit.objects.count() == 0 and Unit.history.count() == 0


def _edited(tmp_path, old: bytes, new: bytes):
    data = SYGEHUS.read_bytes()
    assert old in data
    path = tmp_path / "edited.xml"
    path.write_bytes(data.replace(old, new, 1))
    return path


@pytest.mark.django_db
def test_sor_id_failing_verhoeff_is_refused_with_line(tmp_path):
    path = _edited(tmp_path, b"<SorIdentifier>347821000016008<", b"<SorIdentifier>347821000016009<")
    result = import_sor_file(path, reason="t")
    assert not result.ok and result.errors[0].line == 50 and "Verhoeff" in result.errors[0].message
    assert Unit.objects.count() == 0


@pytest.mark.django_db
def test_gln_failing_mod10_is_refused_and_nothing_written(tmp_path):
    path = tmp_path / "gln.xml"
    path.write_bytes(PRAKSIS.read_bytes().replace(b"5790000141227", b"5790000141228"))
    result = import_sor_file(path, reason="t")
    assert not result.ok and result.errors[0].line == 11 and "modulus 10" in result.errors[0].message
    assert Unit.objects.count() == 0 and LocationNumber.objects.count() == 0


@pytest.mark.django_db
def test_organisational_unit_directly_under_owner_is_refused(tmp_path):
    data = SYGEHUS.read_bytes()
    data = data.replace(b"\t\t<HealthInstitutionEntity>", b"\t\t<OrganizationalUnitEntity>", 1)
    data = data.replace(b"\t\t</HealthInstitutionEntity>", b"\t\t</OrganizationalUnitEntity>", 1)
    path = tmp_path / "nested.xml"
    path.write_bytes(data)
    result = import_sor_file(path, reason="t")
    assert not result.ok
    assert result.errors[0].line == 30 and "direkte under en institutionsejer" in result.errors[0].message
    assert Unit.objects.count() == 0


@pytest.mark.django_db
def test_zip_holding_sor_xml_is_imported_and_export_command_writes_the_file(tmp_path, capsys):
    import zipfile

    archive = tmp_path / "Sor.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Sor.xml", v2_sample_without_synthetic_oe())
    call_command("sor_import", str(archive), reason="zip")
    assert Unit.objects.count() == 3
    out = tmp_path / "out"
    out.mkdir()
    call_command("sor_export", format="v2", date="2019-04-12", output=str(out))
    assert (out / "Sor.xml").read_bytes().count(b"<OrganizationalUnitEntity>") == 1
    assert "Udtræk v2 for 2019-04-12" in capsys.readouterr().out
