"""One table says which fields a level carries; the services, the XML reader and the builder follow it."""

import pytest

from registry.errors import ValidationFailed
from registry.levels import LEVEL_ADDRESSES, LEVEL_FIELDS, carries
from registry.models import Level, Unit
from registry.services.units import unit_update
from tests.factories import CMD


def test_the_table_matches_the_v1_schema_placement():
    assert carries(Level.UNIT, "provider_number") and not carries(Level.INSTITUTION, "provider_number")
    assert carries(Level.OWNER, "cvr") and not carries(Level.UNIT, "cvr")
    assert carries(Level.INSTITUTION, "visiting_street_name") and not carries(Level.INSTITUTION, "activity_street_name")
    assert not carries(Level.OWNER, "visiting_present") and carries(Level.OWNER, "postal_present")
    assert carries(Level.OWNER, "name") and carries(Level.UNIT, "phone")  # not level-bound
    assert all(Unit._meta.get_field(name) for name in LEVEL_FIELDS)
    assert LEVEL_ADDRESSES[Level.UNIT] == {"postal", "visiting", "activity"}


@pytest.mark.django_db
@pytest.mark.parametrize(("level", "changes", "field"), [
    ("ie", {"visiting_present": True, "visiting_street_name": "Algade"}, "visiting_present"),
    ("si", {"activity_present": True, "activity_street_name": "Algade"}, "activity_present"),
    ("si", {"provider_number": "012345"}, "provider_number"),
    ("ie", {"shak": "1301011"}, "shak"),
])
def test_a_field_the_level_does_not_carry_is_refused_naming_it(make_tree, level, changes, field):
    unit = make_tree()[level]
    with pytest.raises(ValidationFailed) as refused:
        unit_update(**CMD, unit=unit.pk, changes=changes)
    assert field in refused.value.errors
    assert getattr(Unit.objects.get(pk=unit.pk), field) == getattr(unit, field)  # nothing written


def test_the_reader_sets_only_the_fields_a_level_carries():
    from lxml import etree

    from exports.xml.reader import parse_record

    element = etree.fromstring("<HealthInstitution/>")
    record = parse_record(element, "SI", "v1", [])
    assert "shak" in record and "provider_number" not in record and "cvr" not in record
    assert "visiting_present" in record and "activity_present" not in record
