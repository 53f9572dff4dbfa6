"""Units and location numbers as JSON documents: the one shape the read API, the published-file
view, the FHIR façade and the public browser read.

A unit document has its register data at the top, `own` (what the unit itself registers:
addresses, electronic addresses, its location-number mode and own number) and `effective`
(each block as it applies to the unit, with `source`: the SOR-ID of the unit the value comes
from, and `how`: own, inherited, or taken from the unit's own postal/visiting address). SOR-IDs
are strings. The same field names are used by the change feed (`API_FIELD`).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..inheritance import VIRTUAL_FIELDS, Resolver, address_of, location_number_in_file, location_number_on
from ..models import ADDRESS_FIELDS, LocationMode
from ..status import status_on
from . import state
from .codes import CODE_FIELDS, CodeCache
from .state import View

ADDRESS_BLOCKS = {"postal": "postal_address", "visiting": "visiting_address", "activity": "activity_address"}
BLOCK_NAMES = {**ADDRESS_BLOCKS, "virtual": "virtual_addresses", "location_number": "location_number"}
SOR_ID_FIELDS = {"parent_id", "owner_id", "geo_parent_sor_id", "unit_id"}
SOR_ID_LISTS = {"replaces", "replaced_by"}

# Row attribute -> the name the API uses for it (units and location numbers).
API_FIELD = {
    "parent_id": "parent", "owner_id": "owner", "owner_type_id": "owner_type", "entity_type_id": "entity_type",
    "region_id": "region", "from_date": "valid_from", "to_date": "valid_to", "first_from_date": "first_valid_from",
    "updated_at_date": "updated_at", "geo_parent_relation": "geographical_parent.relation",
    "geo_parent_sor_id": "geographical_parent.sor_id", "virtual_present": "virtual_addresses.present",
    "unit_id": "unit", "system_supplier_id": "system_supplier", "system_type_id": "system_type",
    "network_operator_id": "network_operator", "edi_administrator_id": "edi_administrator",
    "location_number_id": "location_number", "message_type_id": "message_type",
}
for _kind, _block in ADDRESS_BLOCKS.items():
    API_FIELD[f"{_kind}_present"] = f"{_block}.present"
    for _suffix, _label, _factory in ADDRESS_FIELDS:
        API_FIELD[f"{_kind}_{_suffix}"] = f"{_block}.{_suffix}"
for _name in VIRTUAL_FIELDS:
    API_FIELD[_name] = f"virtual_addresses.{_name}"
NOT_PUBLISHED = {"ancestors", "version"}  # derived or a save counter, not register data


def sor_id(value) -> str | None:
    return None if value is None else str(value)


def _address(values: dict | None) -> dict | None:
    if values is None:
        return None
    return {k: (None if v in ("", None) else (str(v) if k == "po_box" else v)) for k, v in values.items()}


def _virtual(unit) -> dict:
    return {name: getattr(unit, name) or None for name in VIRTUAL_FIELDS}


class Documents:
    """Builds documents for rows read under one view (code names read once per list)."""

    def __init__(self, view: View, codes: CodeCache | None = None):
        self.view = view
        self.codes = codes or CodeCache()

    # -- location numbers ---------------------------------------------------------------------
    def location_number(self, ln, message_types: dict) -> dict:
        ids = CODE_FIELDS["locationnumber"]
        doc = {
            "gln": ln.gln, "unit": sor_id(ln.unit_id),
            "valid_from": ln.from_date, "valid_to": ln.to_date, "first_valid_from": ln.first_from_date,
            "updated_at": ln.updated_at_date, "only_internal": ln.only_internal, "non_active": ln.non_active,
            "note": ln.note or None,
        }
        for attname, model_name in ids.items():
            doc[API_FIELD[attname]] = self.codes.ref(model_name, getattr(ln, attname))
        doc["message_types"] = [self.codes.ref("EdiMessageType", pk) for pk in message_types.get(ln.id, [])]
        return doc

    # -- units ---------------------------------------------------------------------------------
    def load(self, ids: Iterable[int], *, rows: dict | None = None):
        """Rows, resolver and message types for `ids` and everything above them."""
        found = rows if rows is not None else state.units(ids, self.view)
        found = state.with_ancestors(found, self.view)
        lns = state.location_numbers(found, self.view)
        mts = state.message_types([ln.id for group in lns.values() for ln in group], self.view)
        return found, Resolver(found, lns, self.view.day), lns, mts

    def units(self, ids: Iterable[int], *, published: bool = False) -> dict[int, dict]:
        """sor_id -> document for each of `ids` that exists in the view."""
        ids = [int(i) for i in ids]
        found, resolver, lns, mts = self.load(ids)
        return {i: self.unit(found[i], found, resolver, lns, mts, published=published) for i in ids if i in found}

    def unit(self, unit, found: dict, resolver: Resolver, lns: dict, mts: dict, *, published: bool = False) -> dict:
        codes = self.codes
        chain = []
        parent = found.get(unit.parent_id) if unit.parent_id else None
        while parent is not None:
            chain.append(parent)
            parent = found.get(parent.parent_id) if parent.parent_id else None
        institution = next((u.sor_id for u in chain if u.level == "SI"), None)
        own_numbers = lns.get(unit.sor_id, [])
        if unit.location_mode == LocationMode.OWN:
            pick = location_number_in_file if published else location_number_on
            own_ln = pick(own_numbers, self.view.day)
        else:
            own_ln = None
        resolved = resolver.all(unit)
        effective = {}
        for block, name in BLOCK_NAMES.items():
            r = resolved[block]
            if r.value is None:
                effective[name] = None
                continue
            if block == "location_number":
                value = self.location_number(r.value, mts)
            elif block == "virtual":
                value = {k: (v or None) for k, v in r.value.items()}
            else:
                value = _address(r.value)
            effective[name] = {"source": sor_id(r.source), "how": r.how, "value": value}
        geo = None
        if unit.geo_parent_sor_id is not None or unit.geo_parent_relation is not None:
            geo = {"relation": unit.geo_parent_relation, "sor_id": sor_id(unit.geo_parent_sor_id)}
        return {
            "sor_id": str(unit.sor_id),
            "level": unit.level,
            "name": unit.name,
            "status": status_on(unit.first_from_date, unit.to_date, self.view.day),
            "parent": sor_id(unit.parent_id),
            "owner": sor_id(unit.owner_id),
            "institution": sor_id(institution) if unit.level == "OE" else None,
            "ancestors": [str(u.sor_id) for u in reversed(chain)],
            "valid_from": unit.from_date,
            "valid_to": unit.to_date,
            "first_valid_from": unit.first_from_date,
            "updated_at": unit.updated_at_date,
            "entity_type": codes.ref("EntityType", unit.entity_type_id),
            "owner_type": codes.ref("OwnerType", unit.owner_type_id),
            "region": codes.ref("Region", unit.region_id),
            "shak": unit.shak or None,
            "provider_number": unit.provider_number or None,
            "pharmacy_number": unit.pharmacy_number or None,
            "cvr": unit.cvr or None,
            "p_number": unit.p_number or None,
            "local_code": unit.local_code or None,
            "local_attributes": [getattr(unit, f"local_attribute_{i}") or None for i in range(1, 6)],
            "specialities": unit.specialities,
            "ambulant_activity": unit.ambulant_activity,
            "patients_admitted": unit.patients_admitted,
            "reporting_level": unit.reporting_level,
            "geographical_parent": geo,
            "replaces": None if unit.replaces is None else [str(i) for i in unit.replaces],
            "replaced_by": None if unit.replaced_by is None else [str(i) for i in unit.replaced_by],
            "own": {
                **{name: (_address(address_of(unit, kind)) if getattr(unit, f"{kind}_present") else None)
                   for kind, name in ADDRESS_BLOCKS.items()},
                "virtual_addresses": _virtual(unit) if unit.virtual_present else None,
                "location_mode": unit.location_mode,
                "location_number": self.location_number(own_ln, mts) if own_ln is not None else None,
            },
            "effective": effective,
        }


def api_value(attname: str, value):
    """A logged or stored value as the API shows it (SOR-IDs as strings)."""
    if value is None:
        return None
    if attname in SOR_ID_FIELDS:
        return str(value)
    if attname in SOR_ID_LISTS and isinstance(value, list):
        return [str(v) for v in value]
    return value
