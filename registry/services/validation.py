"""Field rules of a unit, shared by create, update and import (one place)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import identifiers as ids
from ..levels import LEVEL_ADDRESSES, LEVEL_FIELDS
from ..models import ADDRESS_KINDS, ClinicalSpeciality, Level, LocationMode, SpecialityType
from ..models.units import ADDRESS_KIND_LABELS

MAX_SPECIALITIES = 8
# The parts every address must have, with their names for a message (translated only when shown).
_REQUIRED_ADDRESS_PARTS = (("street_name", gettext_lazy("vejnavn")), ("post_code", gettext_lazy("postnummer")),
                           ("district_name", gettext_lazy("postdistrikt")))



def _add(bucket: dict, field: str, messages: list[str]):
    if messages:
        bucket.setdefault(field, []).extend(messages)


def unit_messages(unit, *, strict: bool = True) -> tuple[dict, dict]:
    """(errors, warnings) for a unit's own values. `strict=False` for SDS's own files, which
    hold legacy values the admin would not accept as new input."""
    errors: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}

    def run(field, result):
        errs, warns = result
        _add(errors, field, errs)
        _add(warnings, field, warns)

    name = (unit.name or "").strip()
    if not name:
        _add(errors, "name", [_("Enheden skal have et navn.")])
    elif len(name) > 60:
        _add(errors, "name", [_("Navnet må højst være 60 tegn (det er %(n)d).") % {"n": len(name)}])

    if unit.level == Level.OWNER:
        if unit.owner_type_id is None:
            _add(errors, "owner_type", [_("En institutionsejer skal have en ejertype.")])
        if unit.location_mode == LocationMode.INHERITED:
            _add(errors, "location_mode", [_("En institutionsejer kan ikke arve et lokationsnummer.")])
        if strict and not unit.postal_present:
            _add(errors, "postal_present", [_("En institutionsejer skal have en postadresse.")])
        if strict and not unit.virtual_present:
            _add(errors, "virtual_present", [_("En institutionsejer skal have et telefonnummer.")])
    else:
        if unit.level == Level.INSTITUTION and unit.entity_type_id is None:
            _add(errors, "entity_type", [_("En sundhedsinstitution skal have en institutionstype.")])
        if unit.cvr:
            _add(errors, "cvr", [_("CVR-nummer registreres på institutionsejeren, ikke på %(level)s.")
                                 % {"level": unit.get_level_display()}])

    # Fields the SOR file only carries at some levels (v1 XSD): a value elsewhere would be lost.
    for field, levels in LEVEL_FIELDS.items():
        if field in ("owner_type", "entity_type", "cvr"):
            continue  # these have messages of their own above
        value = getattr(unit, field)
        if unit.level not in levels and value not in (None, "", []):
            _add(errors, field, [_("%(field)s kan ikke angives på en %(level)s.")
                                 % {"field": unit._meta.get_field(field).verbose_name, "level": unit.get_level_display()}])
    for kind in ADDRESS_KINDS:
        if getattr(unit, f"{kind}_present") and kind not in LEVEL_ADDRESSES[unit.level]:
            _add(errors, f"{kind}_present", [_("En %(level)s har ingen %(kind)s i SOR-filen.")
                                             % {"level": unit.get_level_display(),
                                                "kind": ADDRESS_KIND_LABELS[kind]}])
    run("cvr", ids.check_cvr(unit.cvr, phone=unit.phone, fax=unit.fax))
    run("p_number", ids.check_p_number(unit.p_number))
    run("provider_number", ids.check_provider_number(unit.provider_number, strict=strict))
    run("shak", ids.check_shak(unit.shak))
    run("pharmacy_number", ids.check_pharmacy_number(unit.pharmacy_number))
    if unit.virtual_present:
        if not (unit.phone or "").strip():
            _add(errors, "phone", [_("Egne elektroniske adresser skal have et telefonnummer.")])
        run("phone", ids.check_phone(unit.phone))
        run("fax", ids.check_phone(unit.fax))
        run("email", ids.check_email(unit.email))
    elif any((getattr(unit, name) or "").strip() for name in ("phone", "email", "website", "fax")):
        _add(warnings, "virtual_present", [_("Telefon, e-mail, hjemmeside eller fax er udfyldt, men enheden har ikke "
                                             "egne elektroniske adresser, så de arves og værdierne bruges ikke. "
                                             "Sæt 'egne elektroniske adresser', eller ryd felterne.")])
    for kind in ADDRESS_KINDS:
        if getattr(unit, f"{kind}_present"):
            for suffix, label in _REQUIRED_ADDRESS_PARTS:
                if not (getattr(unit, f"{kind}_{suffix}") or "").strip():
                    _add(errors, f"{kind}_{suffix}", [_("Adressen mangler %(what)s.") % {"what": label}])
            post_code = getattr(unit, f"{kind}_post_code")
            if strict and post_code and not (ids.is_digits(post_code) and len(post_code) == 4):
                _add(errors, f"{kind}_post_code", [_("Et postnummer har 4 cifre; %(value)r gør ikke.") % {"value": post_code}])
    if unit.geo_parent_sor_id:
        run("geo_parent_sor_id", ids.check_sor_id(unit.geo_parent_sor_id))
    for field in ("replaces", "replaced_by"):
        for sor_id in getattr(unit, field) or []:
            run(field, ids.check_sor_id(sor_id))
    specialities = unit.specialities or []
    if len(specialities) > MAX_SPECIALITIES:
        _add(errors, "specialities", [_("Højst %(max)d kliniske specialer (der er %(n)d).")
                                      % {"max": MAX_SPECIALITIES, "n": len(specialities)}])
    if specialities and strict:
        codes = {s.get("code") for s in specialities}
        types = {s.get("type") for s in specialities}
        known = set(ClinicalSpeciality.objects.filter(code__in=codes).values_list("code", flat=True))
        known_types = set(SpecialityType.objects.filter(code__in=types).values_list("code", flat=True))
        for code in sorted(codes - known, key=str):
            _add(errors, "specialities", [_("Ukendt klinisk speciale: %(code)s.") % {"code": code}])
        for code in sorted(types - known_types, key=str):
            _add(errors, "specialities", [_("Ukendt specialetype: %(code)s.") % {"code": code}])
    if unit.to_date and unit.from_date and unit.to_date < unit.from_date:
        _add(errors, "to_date", [_("Lukkedatoen ligger før gældende-fra-datoen.")])
    return errors, warnings


def unusable_code_errors(model, values: dict, day) -> dict[str, list[str]]:
    """Errors for code-list values (attname → pk) that may not be chosen on `day`: a retired code,
    or one outside its validity, named with its successor when it has one."""
    from ..models import CodeList

    errors: dict[str, list[str]] = {}
    for attname, pk in values.items():
        if pk is None:
            continue
        field = next((f for f in model._meta.concrete_fields if f.attname == attname), None)
        related = getattr(field, "related_model", None)
        if related is None or not issubclass(related, CodeList):
            continue
        code = related._base_manager.select_related("successor").filter(pk=pk).first()
        if code is None or code.usable_on(day):
            continue
        message = _("%(code)s er udgået og kan ikke vælges til nye data.") % {"code": code}
        if code.successor is not None and code.successor.usable_on(day):
            message += " " + _("Brug i stedet %(successor)s.") % {"successor": code.successor}
        errors.setdefault(field.name, []).append(message)
    return errors
