"""What SOR published on a date: the unit as the file showed it, after the file is gone."""

import shutil

import pytest
from lxml import etree

from exports.models import ExportRun
from registry.services.location_numbers import location_number_close
from registry.services.units import unit_create, unit_update
from tests.exports.chain_helpers import DAY, nightly
from tests.factories import CMD

from .conftest import get_json

pytest_plugins = ["tests.exports.chain_fixtures"]
pytestmark = pytest.mark.django_db


def _name_in_file(path, sor_id) -> str:
    tree = etree.parse(str(path))
    for element in tree.iter():
        if element.tag.endswith("SorIdentifier") and element.text == str(sor_id):
            parent = element.getparent()
            for child in parent:
                if child.tag.endswith("EntityName") or child.tag.endswith("}Name"):
                    return child.text
    raise AssertionError(f"{sor_id} not in {path}")


def test_a_published_unit_is_shown_as_that_days_file_showed_it_after_the_file_was_removed(
        api, export_root, register, django_capture_on_commit_callbacks):
    oe = register["trees"][0]["oe"]
    leaf = register["trees"][0]["leaf"]
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.status == ExportRun.Status.SUCCEEDED, run.error
    day_dir = export_root / DAY.isoformat()
    in_file = _name_in_file(day_dir / "Sor.xml", oe.pk)
    # After the publication: a rename, a closed location number and a new unit.
    unit_update(**CMD, unit=oe.pk, changes={"name": "Omdøbt efter publiceringen"})
    location_number_close(**CMD, location_number=register["numbers"][1].pk, to_date=DAY)
    later = unit_create(**CMD, level="OE", parent=oe, name="Ny efter publiceringen")
    (export_root / "latest").unlink()
    shutil.rmtree(day_dir)

    body = get_json(api, f"/api/v1/published/{DAY.isoformat()}/units/{oe.pk}/")
    assert body["unit"]["name"] == in_file == "Lægerne Østergade ydernummer"
    assert body["unit"]["own"]["location_number"]["gln"] == register["numbers"][1].gln
    assert body["unit"]["own"]["location_number"]["valid_to"] is None  # open in the file
    assert body["unit"]["effective"]["postal_address"]["source"] == str(register["trees"][0]["ie"].pk)
    assert get_json(api, f"/api/v1/published/{DAY.isoformat()}/units/{leaf.pk}/")["unit"]["effective"][
        "location_number"]["value"]["gln"] == register["numbers"][2].gln
    pub = body["publication"]
    assert pub["changelog_position"] == run.changelog_position and pub["files_kept"] is False
    assert pub["builder_version"] == pub["current_builder_version"] and pub["files"]["Sor.xml"]["sha256"]
    assert get_json(api, f"/api/v1/units/{oe.pk}/")["name"] == "Omdøbt efter publiceringen"

    missing = api.get(f"/api/v1/published/{DAY.isoformat()}/units/{later.pk}/")
    assert missing.status_code == 404 and "was not in the SOR file" in missing.json()["error"]
    no_file = api.get(f"/api/v1/published/2026-03-01/units/{oe.pk}/")
    assert no_file.status_code == 404 and no_file.json()["error"] == "No SOR file was published for 2026-03-01."
    listed = get_json(api, "/api/v1/published/")["results"]
    assert [p["date"] for p in listed] == [DAY.isoformat()]
    assert get_json(api, f"/api/v1/published/{DAY.isoformat()}/")["run"] == run.pk
