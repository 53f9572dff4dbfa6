"""Code lists as the read side names them: a slug per list, and codes by their row id."""

from __future__ import annotations

from django.apps import apps

# slug in URLs and in the change feed -> model name
CODE_LISTS = {
    "owner-types": "OwnerType",
    "entity-types": "EntityType",
    "clinical-specialities": "ClinicalSpeciality",
    "speciality-types": "SpecialityType",
    "regions": "Region",
    "municipalities": "Municipality",
    "postal-districts": "PostalDistrict",
    "network-operators": "NetworkOperator",
    "system-suppliers": "SystemSupplier",
    "system-types": "SystemType",
    "edi-administrators": "EdiAdministrator",
    "edi-message-types": "EdiMessageType",
}
SLUG_OF = {model.lower(): slug for slug, model in CODE_LISTS.items()}

# Foreign keys to code lists on the register's rows: attname -> model name.
CODE_FIELDS = {
    "unit": {"owner_type_id": "OwnerType", "entity_type_id": "EntityType", "region_id": "Region"},
    "locationnumber": {"system_supplier_id": "SystemSupplier", "system_type_id": "SystemType",
                       "network_operator_id": "NetworkOperator", "region_id": "Region",
                       "edi_administrator_id": "EdiAdministrator"},
    "locationnumbermessagetype": {"message_type_id": "EdiMessageType"},
}


def code_model(model_name: str):
    return apps.get_model("registry", model_name)


def code_document(code) -> dict:
    doc = {"code": code.code, "name": code.name_da or None, "name_en": code.name_en or None,
           "retired": code.retired, "valid_from": code.valid_from, "valid_to": code.valid_to,
           "successor": code.successor.code if code.successor_id else None}
    if code._meta.model_name == "edimessagetype":
        doc.update(standard=code.standard, version_code=code.version_code, syntax=code.syntax or None,
                   message_group=code.message_group or None, urn=code.urn or None)
    if getattr(code, "file_version", ""):
        doc["file_version"] = code.file_version
    return doc


class CodeCache:
    """Row id -> (code, Danish name) per list, each list read once (they are small)."""

    def __init__(self):
        self._lists: dict[str, dict[int, tuple[str, str]]] = {}

    def _list(self, model_name: str) -> dict[int, tuple[str, str]]:
        if model_name not in self._lists:
            rows = code_model(model_name).objects.values_list("pk", "code", "name_da")
            self._lists[model_name] = {pk: (code, name) for pk, code, name in rows}
        return self._lists[model_name]

    def code(self, model_name: str, pk) -> str | None:
        if pk is None:
            return None
        found = self._list(model_name).get(int(pk))
        return found[0] if found else str(pk)

    def ref(self, model_name: str, pk) -> dict | None:
        """{"code", "name"} of a code, or None."""
        if pk is None:
            return None
        found = self._list(model_name).get(int(pk))
        if found is None:
            return {"code": str(pk), "name": None}
        return {"code": found[0], "name": found[1] or None}

    def pk_of(self, model_name: str, code: str) -> int | None:
        for pk, (value, _name) in self._list(model_name).items():
            if value == code:
                return pk
        return None
