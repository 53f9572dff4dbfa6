"""The checks between build and gate: v1 against the XSD, v2 and CSV structure, the zip."""

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest

from exports import validate
from exports.publish import make_zip

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "sor-reference" / "samples" / "v1" / "trifork-sdm" / \
    "ONE_APOTEK.xml"


def sample_manifest(data: bytes) -> tuple[dt.date, dict]:
    day = dt.date.fromisoformat(re.search(rb"SnapshotDate>([0-9-]{10})<", data).group(1).decode())
    ids = re.findall(rb"<(?:InstitutionOwner|HealthInstitution|OrganizationalUnit)>\s*<SorIdentifier>(\d+)<", data)
    return day, {"units": {i.decode(): [None, "active"] for i in ids}, "gln": {}, "files": {}}


def test_a_real_v1_file_passes_the_xsd_and_structure_check(tmp_path):
    data = SAMPLE.read_bytes()
    day, manifest = sample_manifest(data)
    path = tmp_path / "Sor_v1.xml"
    path.write_bytes(data)
    counts = validate.check_v1(path, day, manifest)
    assert counts["units"] == len(manifest["units"]) > 0


def test_a_v1_file_breaking_the_xsd_is_refused_naming_the_element(tmp_path):
    data = SAMPLE.read_bytes()
    day, manifest = sample_manifest(data)
    broken = data.replace(b"<EntityName>", b"<EntityNavn>", 1).replace(b"</EntityName>", b"</EntityNavn>", 1)
    path = tmp_path / "Sor_v1.xml"
    path.write_bytes(broken)
    with pytest.raises(validate.ExportInvalid, match="Sor_v1.xml: .*EntityNavn"):
        validate.check_v1(path, day, manifest)


def test_a_file_missing_a_unit_of_the_register_is_refused(tmp_path):
    data = SAMPLE.read_bytes()
    day, manifest = sample_manifest(data)
    manifest["units"]["11000016002"] = [None, "active"]
    path = tmp_path / "Sor_v1.xml"
    path.write_bytes(data)
    with pytest.raises(validate.ExportInvalid, match="missing e.g. 11000016002"):
        validate.check_v1(path, day, manifest)


def test_wrong_snapshot_date_is_refused(tmp_path):
    data = SAMPLE.read_bytes()
    day, manifest = sample_manifest(data)
    path = tmp_path / "Sor_v1.xml"
    path.write_bytes(data)
    with pytest.raises(validate.ExportInvalid, match="SnapshotDate"):
        validate.check_v1(path, day + dt.timedelta(days=1), manifest)


def test_csv_with_a_plain_sor_id_or_a_closed_unit_is_refused(tmp_path):
    from exports.csv_format import ENTITY_COLUMNS

    manifest = {"units": {"11000016002": [None, "active"], "21000016006": [None, "closed"]}, "gln": {}}
    path = tmp_path / "SorEntity_daily.csv"
    blank = [""] * (len(ENTITY_COLUMNS) - 1)
    path.write_text(";".join(ENTITY_COLUMNS) + "\r\n" + ";".join(["11000016002", *blank]) + "\r\n", encoding="utf-8")
    with pytest.raises(validate.ExportInvalid, match='not written as ="<SOR-ID>"'):
        validate.check_entity_csv(path, dt.date(2026, 3, 2), manifest)
    path.write_text(";".join(ENTITY_COLUMNS) + "\r\n" + ";".join(['"=""21000016006"""', *blank]) + "\r\n",
                    encoding="utf-8")
    with pytest.raises(validate.ExportInvalid, match="closed"):
        validate.check_entity_csv(path, dt.date(2026, 3, 2), manifest)


def test_zip_must_hold_exactly_the_published_sor_xml(tmp_path):
    xml = tmp_path / "Sor.xml"
    xml.write_bytes(b"<SorTree/>")
    make_zip(xml, tmp_path / "Sor.zip", dt.date(2026, 3, 2))
    assert validate.check_zip(tmp_path / "Sor.zip", xml) == {"member_size": 10}
    with zipfile.ZipFile(tmp_path / "Other.zip", "w") as archive:
        archive.writestr("Andet.xml", "<x/>")
    with pytest.raises(validate.ExportInvalid, match="expected exactly"):
        validate.check_zip(tmp_path / "Other.zip", xml)
