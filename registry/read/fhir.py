"""FHIR R4 Organization resources from unit documents, with the identifier systems of HL7
Denmark's DK-core (`dk-core-organization`): SOR-ID, GLN (the unit's own location number),
ydernummer and CVR. `partOf` is the parent unit; address and telecom are the effective
(inherited) values, as messages to the unit are routed and addressed."""

from __future__ import annotations

from django.db.models import Q

from .. import identifiers as ids
from ..inheritance import location_number_valid_q
from ..models import LocationNumber, Unit

SOR = "urn:oid:1.2.208.176.1.1"
GLN = "https://www.gs1.org/gln"
GLN_ALIASES = (GLN, "http://www.gs1.org/gln")  # DK-core builds have shown both
YDERNUMMER = "urn:oid:1.2.208.176.1.4"
CVR = "http://cvr.dk"
SNOMED = "http://snomed.info/sct"
PROFILE = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-organization"
SYSTEMS = {"sor": SOR, "gln": GLN, "ydernummer": YDERNUMMER, "cvr": CVR}
TELECOM = (("phone", "phone"), ("fax", "fax"), ("email", "email"), ("website", "url"))


def _address(value: dict, kind: str) -> dict:
    street = " ".join(v for v in (value.get("street_name"), value.get("building")) if v)
    rest = ", ".join(v for v in (value.get("floor"), value.get("suite")) if v)
    line = [v for v in (value.get("mail_sublocation"), ", ".join(v for v in (street, rest) if v) or None) if v]
    if value.get("po_box"):
        line.append(f"Postboks {value['po_box']}")
    out = {"use": "work", "type": kind}
    if line:
        out["line"] = line
    for key, fhir_key in (("district_name", "city"), ("post_code", "postalCode"), ("country_code", "country")):
        if value.get(key):
            out[fhir_key] = value[key]
    return out


def organization(doc: dict) -> dict:
    """The R4 Organization of a unit document (`documents.Documents.unit`)."""
    identifier = [{"use": "official", "system": SOR, "value": doc["sor_id"]}]
    own_ln = doc["own"]["location_number"]
    if own_ln is not None:
        identifier.append({"use": "official", "system": GLN, "value": own_ln["gln"]})
    if doc["provider_number"]:
        identifier.append({"system": YDERNUMMER, "value": doc["provider_number"]})
    if doc["cvr"]:
        identifier.append({"use": "official", "system": CVR, "value": doc["cvr"]})
    resource = {
        "resourceType": "Organization",
        "id": doc["sor_id"],
        "meta": {"profile": [PROFILE]},
        "identifier": identifier,
        "active": doc["status"] in ("active", "closing"),
        "name": doc["name"],
    }
    if doc["entity_type"]:
        coding = {"system": SNOMED, "code": doc["entity_type"]["code"]}
        if doc["entity_type"]["name"]:
            coding["display"] = doc["entity_type"]["name"]
        resource["type"] = [{"coding": [coding]}]
    effective = doc["effective"]
    virtual = (effective["virtual_addresses"] or {}).get("value") or {}
    telecom = [{"system": system, "value": virtual[name], "use": "work"} for name, system in TELECOM if virtual.get(name)]
    if telecom:
        resource["telecom"] = telecom
    addresses = []
    postal = effective["postal_address"]
    visiting = effective["visiting_address"]
    if postal:
        addresses.append(_address(postal["value"], "postal"))
    if visiting and (not postal or visiting["value"] != postal["value"]):
        addresses.append(_address(visiting["value"], "physical"))
    elif addresses:
        addresses[0]["type"] = "both"
    if addresses:
        resource["address"] = addresses
    if doc["parent"]:
        resource["partOf"] = {"reference": f"Organization/{doc['parent']}"}
    return resource


def find(system: str | None, value: str) -> list[int] | None:
    """SOR-IDs of the units an identifier names (None: a system this façade does not know)."""
    value = value.strip()
    if system is None or system == "":
        found = set()
        for known in (SOR, GLN, YDERNUMMER, CVR):
            found.update(find(known, value) or [])
        return sorted(found)
    if system == SOR:
        return [int(value)] if ids.is_digits(value) and Unit.objects.filter(sor_id=int(value)).exists() else []
    if system in GLN_ALIASES:
        from django.utils import timezone

        qs = LocationNumber.objects.filter(location_number_valid_q(timezone.localdate()), gln=value)
        return sorted(set(qs.values_list("unit_id", flat=True)))
    if system == YDERNUMMER:
        q = Q(provider_number=value)
        if ids.is_digits(value) and len(value) < 6:
            q |= Q(provider_number=value.zfill(6))  # SDM4-style consumers strip leading zeros
        return list(Unit.objects.filter(q).order_by("sor_id").values_list("sor_id", flat=True))
    if system == CVR:
        return list(Unit.objects.filter(cvr=value).order_by("sor_id").values_list("sor_id", flat=True))
    return None


def operation_outcome(code: str, text: str, severity: str = "error") -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": text}]}
