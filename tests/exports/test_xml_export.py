"""Export behaviour: XSD validity of a generated register, inheritance by omission, closed and
future units, and what a real-world SAX consumer (qName string matching, Boolean.valueOf) reads."""

import datetime as dt
import xml.sax
from pathlib import Path

import pytest
from django.core.management import call_command
from lxml import etree

from registry.models import Unit
from registry.services.units import unit_close, unit_create
from registry.services.xml_import import import_sor_file

from .xml_helpers import XSD, export_bytes


@pytest.mark.django_db
def test_v1_export_of_generated_register_is_valid_against_the_xsd_and_reimports_unchanged(tmp_path):
    call_command("sor_generate", owners=40, seed=3, no_progress=True)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    data = export_bytes("v1", dt.date(2025, 1, 1))
    assert schema.validate(etree.fromstring(data)), schema.error_log.last_error
    v2 = tmp_path / "Sor.xml"
    v2.write_bytes(export_bytes("v2", dt.date(2025, 1, 1)))
    result = import_sor_file(v2, reason="genimport")
    assert result.ok, result.errors[:3]
    assert result.counts["changed"] == 0 and result.counts["rows_written"] == 0
    assert result.counts["unchanged"] == Unit.objects.count()


@pytest.mark.django_db
def test_inherited_blocks_are_omitted_and_indicator_says_inherited_or_none(make_tree):
    tree = make_tree()
    from registry.services.units import unit_update

    unit_update(actor=None, reason="t", origin="command", unit=tree["leaf"], changes={"location_mode": "none"},
                override_warnings=True)
    raw = export_bytes("v1", dt.date(2024, 1, 1))
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.fromstring(raw)), schema.error_log.last_error
    data = raw.decode("utf-8-sig")
    # The owner's address once only: children inherit it by omission.
    assert data.count("<PostalAddressInformation>") == 1
    assert data.count("<VirtualAddressInformation>") == 1
    assert data.count("<EntityInheritedIndicator>true</EntityInheritedIndicator>") == 2
    assert data.count("<EntityInheritedIndicator>false</EntityInheritedIndicator>") == 1


@pytest.mark.django_db
def test_closed_and_future_units_stay_in_the_file_with_their_dates(make_tree):
    tree = make_tree()
    unit_close(actor=None, reason="t", origin="command", unit=tree["leaf"], to_date=dt.date(2023, 6, 30))
    unit_create(actor=None, reason="t", origin="command", level="OE", parent=tree["si"], name="Fremtidig",
                from_date=dt.date(2030, 1, 1))
    data = export_bytes("v2", dt.date(2024, 1, 1)).decode("utf-8-sig")
    assert "<sor1:ToDate>2023-06-30</sor1:ToDate>" in data
    assert "<sor1:FromDate>2030-01-01</sor1:FromDate>" in data
    assert data.count("<OrganizationalUnitEntity>") == 3


class SaxConsumer(xml.sax.ContentHandler):
    """Written like the SAX consumers of §10: not namespace-aware, qualified-name string matching,
    Boolean.valueOf (only the exact lower-case "true" is true)."""

    def __init__(self, version):
        super().__init__()
        self.p = "sor1:" if version == "v2" else ""
        self.units, self.stack, self.text = [], [], ""

    def startElement(self, name, attrs):
        self.text = ""
        if name in ("InstitutionOwnerEntity", "HealthInstitutionEntity", "OrganizationalUnitEntity"):
            unit = {"parent": self.stack[-1]["id"] if self.stack else None, "flags": []}
            self.stack.append(unit)
            self.units.append(unit)

    def characters(self, content):
        self.text += content

    def endElement(self, name):
        unit = self.stack[-1] if self.stack else None
        if name == f"{self.p}SorIdentifier" and "id" not in unit:
            unit["id"] = int(self.text)
        elif name == f"{self.p}EntityName":
            unit["name"] = self.text
        elif name in ("EntityInheritedIndicator", "EntityInheritanceIndicator"):
            unit["flags"].append(self.text == "true")
        elif name in ("InstitutionOwnerEntity", "HealthInstitutionEntity", "OrganizationalUnitEntity"):
            self.stack.pop()


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_sax_consumer_reads_the_values_we_exported(make_tree, version):
    tree = make_tree(name="A & B <test>")
    handler = SaxConsumer(version)
    xml.sax.parseString(export_bytes(version, dt.date(2024, 1, 1)), handler)
    got = {u["id"]: u for u in handler.units}
    assert set(got) == {u.sor_id for u in tree.values()}
    assert got[tree["ie"].sor_id]["name"] == "A & B <test>"
    assert got[tree["oe"].sor_id]["parent"] == tree["si"].sor_id
    assert got[tree["leaf"].sor_id]["parent"] == tree["oe"].sor_id
    assert got[tree["si"].sor_id]["flags"] == [True]


@pytest.mark.django_db
def test_a_v1_export_writes_a_v2_only_attribute_code_as_it_is_and_counts_it(make_tree, tmp_path):
    import tempfile

    from exports.xml.formats import V1Format, V2Format
    from registry.models import EdiAdministrator, SystemSupplier
    from registry.services.codes import code_create
    from registry.services.location_numbers import location_number_assign
    from tests.factories import gln, location_codes

    tree = make_tree()
    cmd = dict(actor=None, reason="t", origin="command")
    v2_supplier = code_create(**cmd, model=SystemSupplier, code="163", name_da="Leverandør (v2-kode)")
    v1_admin = code_create(**cmd, model=EdiAdministrator, code="106", name_da="EDI (v1-kode)", file_version="v1")
    assert (v2_supplier.file_version, v1_admin.file_version) == ("v2", "v1")
    location_number_assign(**cmd, unit=tree["si"], gln=gln(3),
                           **{**location_codes(), "system_supplier": v2_supplier, "edi_administrator": v1_admin})
    day = dt.date(2025, 1, 1)
    with tempfile.TemporaryDirectory() as tmp:
        result = V1Format().render(day, tmp)
        data = Path(result["files"]["Sor.xml"]).read_bytes()
    assert b"<SystemSupplier>163</SystemSupplier>" in data and b"<EdiAdministrator>106</EdiAdministrator>" in data
    assert result["counts"]["fallback_v2_codes"] == 1  # never a silent drop, counted on the run page
    with tempfile.TemporaryDirectory() as tmp:
        assert V2Format().render(day, tmp)["counts"]["fallback_v2_codes"] == 0
