"""The bad input that used to get through the importer, the service and the publication; each
case failed on main before the import service (issue 9)."""

import datetime as dt
import io
import tracemalloc
import zipfile

import pytest
from django.core.management import call_command

from registry.errors import NotAllowed
from registry.models import ImportJob, LocationNumber, Unit
from registry.services.imports import import_lock, import_sor_xml
from registry.services.xml_import import import_sor_file

from .xml_helpers import V1_SAMPLES

PRAKSIS = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")
V1_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<SorTree xmlns="urn:oio:sundhedsstyrelsen:organisation:1.0.0">\n'
           b"<CreatedAtTime>2010-01-26T00:00:00+01:00</CreatedAtTime>\n<SnapshotDate>2010-01-26</SnapshotDate>\n")


def _edited(tmp_path, old: bytes, new: bytes, name="edited.xml"):
    data = PRAKSIS.read_bytes()
    assert old in data, old
    path = tmp_path / name
    path.write_bytes(data.replace(old, new, 1))
    return path


def _line_of(path, needle: bytes) -> int:
    data = path.read_bytes()
    return data[: data.index(needle)].count(b"\n") + 1


@pytest.mark.django_db
@pytest.mark.parametrize("old,new,line_of", [
    # A location number's error names its own element's line; a unit field's the unit's record.
    (b"<EanLocationCode>5790000141227<", "<EanLocationCode>57900\uff10\uff10141227<".encode(), b"<EanLocationCode>5"),
    (b"<ProviderIdentifier>019062<", "<ProviderIdentifier>0\u24609062<".encode(), b"<SorIdentifier>8341000016002"),
])
def test_identifiers_with_non_ascii_digits_are_refused_by_the_import(tmp_path, old, new, line_of):
    path = _edited(tmp_path, old, new)
    result = import_sor_file(path, reason="t")
    assert not result.ok
    expected = _line_of(path, line_of)
    assert result.errors[0].line in (expected, expected - 1)
    assert "0-9" in result.errors[0].message
    assert Unit.objects.count() == 0 and LocationNumber.objects.count() == 0


@pytest.mark.django_db
def test_a_superscript_digit_is_an_error_with_its_line_not_a_crash(tmp_path):
    path = _edited(tmp_path, b"<GeographicalParentRelation>1<", "<GeographicalParentRelation>\u00b2<".encode())
    result = import_sor_file(path, reason="t")
    assert not result.ok
    assert result.errors[0].line == 53 and "GeographicalParentRelation skal være et tal" in result.errors[0].message


@pytest.mark.django_db
def test_a_flood_of_unknown_elements_stops_at_the_error_bound_with_lines_and_little_python_memory(tmp_path):
    # 300,000 unknown elements inside one owner (a few MB; the zip-bomb variant is the same stream).
    flood = b"<x/>" * 300_000
    data = PRAKSIS.read_bytes().replace(b"<OwnerType>", flood + b"<OwnerType>", 1)
    path = tmp_path / "flood.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Sor.xml", data)
    tracemalloc.start()
    result = import_sor_file(path, reason="t")
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not result.ok and result.stopped_early
    assert "stoppet efter 200 fejl" in result.errors[0].message
    assert len(result.errors) <= 201 and all(e.line for e in result.errors)
    assert "Ukendt element x" in result.errors[1].message
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MiB"  # Python's allocations; the process's in `make bench`
    assert Unit.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_doctype_after_a_comment_is_reported_on_its_own_line(tmp_path, encoding):
    text = (f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n<!-- SDS -->\n<!-- export -->\n<!DOCTYPE x [<!ENTITY a "b">]>\n'
            '<SorTree xmlns="urn:oio:sundhedsstyrelsen:organisation:1.0.0">&a;</SorTree>')
    path = tmp_path / "doctype.xml"
    path.write_bytes(text.encode(encoding))
    result = import_sor_file(path, reason="t")
    assert not result.ok and result.errors[0].line == 4 and "DOCTYPE" in result.errors[0].message


@pytest.mark.django_db
@pytest.mark.parametrize("element", [b"<OwnerType>550891000005100</OwnerType>", b"<InstitutionType>394761003</InstitutionType>"])
def test_an_owner_or_institution_without_its_type_is_refused_with_its_line(tmp_path, element):
    path = _edited(tmp_path, element, b"")
    result = import_sor_file(path, reason="t")
    assert not result.ok
    name = element[1:element.index(b">")].decode()
    assert any(name in e.message and e.line for e in result.errors), [str(e) for e in result.errors]
    assert Unit.objects.count() == 0


@pytest.mark.django_db
def test_a_changed_location_number_closes_the_old_one_the_day_before(tmp_path):
    assert import_sor_file(PRAKSIS, reason="første").ok
    new = _edited(tmp_path, b"<EanLocationCode>5790000141227<", b"<EanLocationCode>5790000141234<")
    data = new.read_bytes().replace(b"<FromDate>1999-03-25</FromDate>", b"<FromDate>2010-01-01</FromDate>", 1)
    new.write_bytes(data)
    result = import_sor_file(new, reason="nyt lokationsnummer")
    assert result.ok, [str(e) for e in result.errors]
    old = LocationNumber.objects.get(gln="5790000141227")
    fresh = LocationNumber.objects.get(gln="5790000141234")
    assert fresh.to_date is None and fresh.from_date == dt.date(2010, 1, 1)
    assert old.to_date == dt.date(2009, 12, 31)
    assert LocationNumber.objects.filter(unit_id=8321000016007, to_date__isnull=True).count() == 1
    assert any(entry["gln"] == "5790000141227" and entry["action"] == "lukkes"
               for entry in result.plan["location_numbers"])


@pytest.mark.django_db
def test_closing_the_old_location_number_before_its_own_start_is_refused(tmp_path):
    assert import_sor_file(PRAKSIS, reason="første").ok
    new = _edited(tmp_path, b"<EanLocationCode>5790000141227<", b"<EanLocationCode>5790000141234<")
    new.write_bytes(new.read_bytes().replace(b"<FromDate>1999-03-25</FromDate>", b"<FromDate>1990-01-01</FromDate>", 1))
    result = import_sor_file(new, reason="t")
    assert not result.ok and "5790000141227" in result.errors[0].message and "25-03-1999" in result.errors[0].message
    assert LocationNumber.objects.get(gln="5790000141227").to_date is None


@pytest.mark.django_db
def test_the_service_refuses_a_user_without_import_rights_before_reading(personas, tmp_path):
    with pytest.raises(NotAllowed):
        import_sor_xml(PRAKSIS, actor=personas["region-nord"], reason="t")
    assert ImportJob.objects.count() == 0 and Unit.objects.count() == 0


@pytest.mark.django_db
def test_the_service_imports_as_the_given_user(personas):
    job = import_sor_xml(PRAKSIS, actor=personas["sor-admin"], reason="fra SDS")
    assert job.status == "succeeded" and job.operation.actor == personas["sor-admin"]


@pytest.mark.django_db
def test_a_second_import_is_refused_while_one_holds_the_lock(personas, django_db_blocker):
    # Another session holds the import lock: a second real import is refused, naming nothing stale.
    import psycopg
    from django.db import connection

    from registry.services.imports import _LOCK_KEY

    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "dbname", "password")}) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
        job = import_sor_xml(PRAKSIS, actor=None, reason="t")
        assert job.status == "refused" and "én fil ad gangen" in job.summary
        assert Unit.objects.count() == 0
        # A dry run takes no lock.
        assert import_sor_xml(PRAKSIS, actor=None, reason="t", dry_run=True).status == "succeeded"
        # Released explicitly: a closed session's locks go only when its server process has exited.
        other.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    with import_lock() as acquired:
        assert acquired


@pytest.mark.django_db
def test_sor_import_command_takes_user_and_json(personas, capsys):
    import json

    call_command("sor_import", str(PRAKSIS), reason="fra SDS", user="sor-admin", json=True, dry_run=True)
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "succeeded" and out["dry_run"] and out["counts"]["created"] == 3
    assert {e["sor_id"] for e in out["created"]} == {"8321000016007", "8331000016009", "8341000016002"}
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as refused:
        call_command("sor_import", str(PRAKSIS), reason="t", user="guest", json=True)
    assert refused.value.returncode == 1
    assert "SOR-administratorer" in json.loads(capsys.readouterr().out)["error"]

    with pytest.raises(CommandError) as unknown:
        call_command("sor_import", str(PRAKSIS), reason="t", user="nobody")
    assert unknown.value.returncode == 2
    assert Unit.objects.count() == 0


def test_sor_zip_has_no_zip64_headers_below_four_gigabytes(tmp_path):
    from exports.publish import make_zip

    xml = tmp_path / "Sor.xml"
    xml.write_bytes(PRAKSIS.read_bytes())
    target = tmp_path / "Sor.zip"
    make_zip(xml, target, dt.date(2026, 12, 1))
    data = target.read_bytes()
    assert b"PK\x06\x06" not in data and b"PK\x06\x07" not in data  # no ZIP64 end records
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("Sor.xml")
        assert b"\x01\x00" not in info.extra[:2] and archive.read("Sor.xml") == PRAKSIS.read_bytes()


@pytest.mark.django_db
def test_export_writes_a_five_digit_ydernummer_as_registered(tmp_path):
    from tests.exports.xml_helpers import export_bytes

    path = _edited(tmp_path, b"<ProviderIdentifier>019062<", b"<ProviderIdentifier>19062<")
    assert import_sor_file(path, reason="t").ok
    data = export_bytes("v1", dt.date(2010, 1, 26))
    assert b"<ProviderIdentifier>19062</ProviderIdentifier>" in data


@pytest.mark.django_db
def test_export_refuses_an_owner_without_type(make_tree):
    from exports.xml.builder import MissingTypeError
    from registry.services import bulk

    tree = make_tree()
    owner = tree["ie"]
    from registry.audit import audit_context

    with audit_context(actor=None, reason="test: a legacy row", origin="command"):
        owner.owner_type_id = None
        bulk.bulk_update(Unit, [owner], ["owner_type_id"])
    from tests.exports.xml_helpers import export_bytes

    with pytest.raises(MissingTypeError) as refused:
        export_bytes("v1", dt.date(2026, 12, 1))
    assert str(owner.sor_id) in str(refused.value)


def test_check_deploy_has_no_https_warnings_when_debug_is_off():
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 60 + "-not-a-dev-key-123456789"}
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], env=env, capture_output=True, text=True)
    text = out.stdout + out.stderr
    for code in ("W004", "W008", "W012", "W016"):
        assert code not in text, text


@pytest.mark.django_db
def test_services_refuse_non_ascii_digits(make_tree):
    from registry.errors import ValidationFailed
    from registry.services.location_numbers import location_number_assign
    from registry.services.units import unit_update
    from tests.factories import location_codes

    tree = make_tree()
    with pytest.raises(ValidationFailed) as refused:
        location_number_assign(actor=None, reason="t", origin="command", unit=tree["si"], gln="57900\uff10\uff10141227",
                               from_date=dt.date(2020, 1, 1), **location_codes())
    assert "0-9" in str(refused.value.errors["gln"])
    with pytest.raises(ValidationFailed) as refused:
        unit_update(actor=None, reason="t", origin="command", unit=tree["oe"], changes={"provider_number": "0\u24609062"})
    assert "0-9" in str(refused.value.errors["provider_number"])


@pytest.mark.django_db
def test_sor_check_identifiers_reports_values_stored_before_the_rule(make_tree, capsys):
    import json

    from django.core.management.base import CommandError

    from registry.audit import audit_context
    from registry.services import bulk

    tree = make_tree()
    call_command("sor_check_identifiers", json=True)
    assert json.loads(capsys.readouterr().out)["count"] == 0
    oe = tree["oe"]
    with audit_context(actor=None, reason="test: a value stored before the rule", origin="command"):
        oe.provider_number = "0\u24609062"
        bulk.bulk_update(Unit, [oe], ["provider_number"])
    with pytest.raises(CommandError) as found:
        call_command("sor_check_identifiers", json=True)
    assert found.value.returncode == 1
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 1 and report["problems"][0]["sor_id"] == str(oe.sor_id)
    assert report["problems"][0]["field"] == "provider_number"
