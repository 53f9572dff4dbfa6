"""The FHIR façade: R4 Organization resources (validated with fhir.resources, FHIR 4.0.1) with
DK-core's identifier systems."""

import pytest
from fhir.resources import __fhir_version__
from fhir.resources.bundle import Bundle
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.organization import Organization

from registry.services.units import unit_update
from tests.factories import CMD, gln

pytestmark = pytest.mark.django_db

SOR, GLN, YDER, CVR = "urn:oid:1.2.208.176.1.1", "https://www.gs1.org/gln", "urn:oid:1.2.208.176.1.4", "http://cvr.dk"


def fhir_get(api, url, status=200):
    response = api.get(url)
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    return response.json()


def test_the_resources_are_validated_as_fhir_r4():
    assert __fhir_version__ == "4.0.1"


def test_an_organization_has_the_dk_core_identifiers_part_of_its_parent_and_effective_contact(api, tree):
    si = fhir_get(api, f"/fhir/Organization/{tree['si'].pk}")
    Organization.parse_obj(si)
    systems = {i["system"]: i["value"] for i in si["identifier"]}
    assert systems == {SOR: str(tree["si"].pk), GLN: gln(1)}
    assert si["partOf"] == {"reference": f"Organization/{tree['ie'].pk}"} and si["active"] is True
    assert {"system": "phone", "value": "98765432", "use": "work"} in si["telecom"]  # inherited from the owner
    assert si["address"][0]["postalCode"] == "9700" and si["address"][0]["city"] == "Brønderslev"
    assert si["type"][0]["coding"][0] == {"system": "http://snomed.info/sct", "code": "394761003",
                                          "display": "almen lægepraksis"}
    oe = fhir_get(api, f"/fhir/Organization/{tree['oe'].pk}")
    Organization.parse_obj(oe)
    assert {i["system"]: i["value"] for i in oe["identifier"]} == {SOR: str(tree["oe"].pk), YDER: "019062"}
    owner = fhir_get(api, f"/fhir/Organization/{tree['ie'].pk}")
    Organization.parse_obj(owner)
    assert {i["system"]: i["value"] for i in owner["identifier"]}[CVR] == "12345674" and "partOf" not in owner


def test_search_by_identifier_finds_the_unit_for_each_system_as_a_searchset_bundle(api, tree):
    cases = {f"{SOR}|{tree['leaf'].pk}": [tree["leaf"].pk], f"{GLN}|{gln(1)}": [tree["si"].pk],
             f"http://www.gs1.org/gln|{gln(1)}": [tree["si"].pk], f"{YDER}|019062": [tree["oe"].pk],
             f"{YDER}|19062": [tree["oe"].pk], f"{CVR}|12345674": [tree["ie"].pk], "019062": [tree["oe"].pk],
             f"{YDER}|999999": [], "http://example.org/other|019062": []}
    for identifier, expected in cases.items():
        bundle = fhir_get(api, f"/fhir/Organization?identifier={identifier}")
        Bundle.parse_obj(bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == len(expected), identifier
        assert [e["resource"]["id"] for e in bundle.get("entry", [])] == [str(i) for i in expected], identifier


def test_a_closed_unit_is_inactive_and_errors_are_operation_outcomes(api, tree):
    import datetime as dt

    from registry.services.units import unit_close

    unit_close(**CMD, unit=tree["leaf"].pk, to_date=dt.date(2024, 12, 31))
    leaf = fhir_get(api, f"/fhir/Organization/{tree['leaf'].pk}")
    Organization.parse_obj(leaf)
    assert leaf["active"] is False
    for url, status in (("/fhir/Organization/12345678901", 404), ("/fhir/Organization/abc", 404),
                        ("/fhir/Organization", 400), ("/fhir/Organization?identifier=urn:oid:1.2.208.176.1.1|", 400)):
        outcome = fhir_get(api, url, status)
        OperationOutcome.parse_obj(outcome)
        assert outcome["issue"][0]["severity"] == "error" and outcome["issue"][0]["diagnostics"]
    unit_update(**CMD, unit=tree["oe"].pk, changes={"provider_number": ""})
    oe = fhir_get(api, f"/fhir/Organization/{tree['oe'].pk}")
    assert YDER not in {i["system"] for i in oe["identifier"]}


def test_the_capability_statement_says_organization_read_and_search_by_identifier(api, db):
    from fhir.resources.capabilitystatement import CapabilityStatement

    statement = fhir_get(api, "/fhir/metadata")
    CapabilityStatement.parse_obj(statement)
    organization = statement["rest"][0]["resource"][0]
    assert statement["fhirVersion"] == "4.0.1" and organization["type"] == "Organization"
    assert {i["code"] for i in organization["interaction"]} == {"read", "search-type"}
    assert [p["name"] for p in organization["searchParam"]] == ["identifier"]
