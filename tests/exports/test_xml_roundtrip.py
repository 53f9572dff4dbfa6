"""Round trip of SDS's real samples: import, export in the same version with the file's
SnapshotDate, and get the file as SDS delivered it (only CreatedAtTime and the stray
indentation of SDS's cut-outs may differ)."""

import datetime as dt
import re

import pytest
from lxml import etree

from registry.models import Unit
from registry.services.xml_import import import_sor_file

from .xml_helpers import (
    STRAY_INDENT,
    V1_SAMPLES,
    XSD,
    comparable,
    export_bytes,
    v2_sample_without_synthetic_oe,
)


def snapshot_of(data: bytes) -> dt.date:
    return dt.date.fromisoformat(re.search(rb"SnapshotDate>([0-9-]{10})<", data).group(1).decode())


@pytest.mark.django_db
@pytest.mark.parametrize("sample", V1_SAMPLES, ids=lambda p: p.name)
def test_v1_sample_round_trips_byte_for_byte(sample):
    original = sample.read_bytes()
    result = import_sor_file(sample, reason="golden round trip")
    assert result.ok, result.errors
    exported = export_bytes("v1", snapshot_of(original))
    strays = STRAY_INDENT[sample.name]
    assert comparable(exported, strays) == comparable(original, strays)
    assert exported.startswith(b"\xef\xbb\xbf") and exported.endswith(b"</SorTree>")


@pytest.mark.django_db
def test_v2_sample_round_trips_byte_for_byte(tmp_path):
    original = v2_sample_without_synthetic_oe()
    path = tmp_path / "Sor.xml"
    path.write_bytes(original)
    result = import_sor_file(path, reason="golden round trip")
    assert result.ok, result.errors
    assert result.version == "v2"
    exported = export_bytes("v2", snapshot_of(original))
    assert comparable(exported) == comparable(original)
    assert exported.endswith(b"</SorTree>\r\n")


@pytest.mark.django_db
def test_v1_export_of_imported_samples_is_valid_against_the_xsd():
    for sample in V1_SAMPLES:
        assert import_sor_file(sample, reason="xsd").ok
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.fromstring(export_bytes("v1", dt.date(2010, 1, 26)))
    assert schema.validate(doc), schema.error_log
    assert Unit.objects.filter(level="IE").count() == 3
