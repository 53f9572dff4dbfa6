"""Which fields each level carries: the one table the validation, the XML reader and the XML
builder read (v1 XSD; v2 keeps the same placement).

A field not listed here is carried at every level. A value in a field its level does not carry
would be lost in the file, so the validation refuses it, the reader never sets it, and the
builder never writes it."""

from __future__ import annotations

from .models import Level

IE, SI, OE = Level.OWNER, Level.INSTITUTION, Level.UNIT
_SI_OE = frozenset({SI, OE})
_OE = frozenset({OE})
_IE = frozenset({IE})

LEVEL_FIELDS: dict[str, frozenset] = {
    "owner_type": _IE, "cvr": _IE, "p_number": _IE,
    "entity_type": _SI_OE, "shak": _SI_OE, "pharmacy_number": _SI_OE, "geo_parent_relation": _SI_OE,
    "geo_parent_sor_id": _SI_OE, "replaces": _SI_OE, "replaced_by": _SI_OE,
    "local_code": _OE, "provider_number": _OE, "specialities": _OE, "ambulant_activity": _OE,
    "patients_admitted": _OE, "reporting_level": _OE, "local_attribute_1": _OE, "local_attribute_2": _OE,
    "local_attribute_3": _OE, "local_attribute_4": _OE, "local_attribute_5": _OE,
}

# The address blocks each level carries.
LEVEL_ADDRESSES: dict[str, frozenset] = {
    IE: frozenset({"postal"}), SI: frozenset({"postal", "visiting"}), OE: frozenset({"postal", "visiting", "activity"}),
}


def carries(level: str, field: str) -> bool:
    """Whether a unit at `level` carries `field` (an address field: whether it carries the block)."""
    for kind in ("postal", "visiting", "activity"):
        if field.startswith(f"{kind}_"):
            return kind in LEVEL_ADDRESSES[level]
    levels = LEVEL_FIELDS.get(field)
    return levels is None or level in levels


def level_fields(level: str) -> list[str]:
    """The level-bound fields (of `LEVEL_FIELDS`) that `level` carries, in table order."""
    return [name for name, levels in LEVEL_FIELDS.items() if level in levels]
