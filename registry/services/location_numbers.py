"""Services for location numbers (lokationsnumre) and their EDI message types."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from .. import identifiers as ids
from ..audit import Origin, audit_context
from ..errors import ConflictError, DomainError, ValidationFailed
from ..models import EdiMessageType, LocationMode, LocationNumber, LocationNumberMessageType, Unit
from ..permissions import check_unit_change
from .units import today
from .validation import unusable_code_errors

EDITABLE_FIELDS = frozenset({
    "only_internal", "non_active", "system_supplier", "system_type", "network_operator", "region",
    "edi_administrator", "note", "status_present", "from_date", "to_date", "first_from_date", "updated_at_date",
})


def _refuse_unusable_codes(values: dict, message_types) -> None:
    """Codes chosen for a location number (attname → pk) and message types being added must be
    usable today; those it already has may stay."""
    errors = unusable_code_errors(LocationNumber, values, today())
    for mt in EdiMessageType.objects.filter(pk__in=[mt.pk for mt in message_types]):  # as stored now
        if not mt.usable_on(today()):
            errors.setdefault("message_types", []).append(
                _("EDI-meddelelsestypen %(code)s er udgået og kan ikke tilføjes.") % {"code": mt})
    if errors:
        raise ValidationFailed(errors)


def _check_gln_free(gln: str, *, exclude_pk=None):
    clash = LocationNumber.objects.filter(gln=gln, to_date__isnull=True).exclude(pk=exclude_pk).select_related("unit").first()
    if clash:
        raise ValidationFailed({"gln": [_("Lokationsnummer %(gln)s er allerede aktivt på %(unit)s.")
                                        % {"gln": gln, "unit": clash.unit}]})


@transaction.atomic
def location_number_assign(*, actor, reason: str, origin: str = Origin.ADMIN, unit: Unit | int, gln: str,
                           message_types=(), strict: bool = True, **fields) -> LocationNumber:
    """Give `unit` its own location number (it stops inheriting one)."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        unit = Unit.objects.select_for_update().get(pk=getattr(unit, "pk", unit))
        check_unit_change(actor, unit, ["location_mode"])
        gln = (gln or "").strip()
        errors, _w = ids.check_gln(gln)
        if errors:
            raise ValidationFailed({"gln": errors})
        unknown = set(fields) - EDITABLE_FIELDS
        if unknown:
            raise DomainError(_("Ukendte felter: %(f)s") % {"f": ", ".join(sorted(unknown))})
        if fields.get("to_date") is None:
            _check_gln_free(gln)
        if strict:
            missing = [name for name in ("system_supplier", "system_type", "network_operator", "region", "edi_administrator")
                       if fields.get(name) is None]
            if missing:
                raise ValidationFailed({name: [_("Skal udfyldes, når lokationsnummeret oprettes.")] for name in missing})
        _refuse_unusable_codes(
            {f"{name}_id": getattr(value, "pk", value) for name, value in fields.items()}, message_types)
        fields.setdefault("from_date", today())
        fields.setdefault("first_from_date", fields["from_date"])
        fields.setdefault("updated_at_date", today())
        ln = LocationNumber.objects.create(unit=unit, gln=gln, **fields)
        for message_type in message_types:
            LocationNumberMessageType.objects.create(location_number=ln, message_type=message_type)
        if unit.location_mode != LocationMode.OWN:
            unit.location_mode = LocationMode.OWN
            unit.version += 1
            unit.updated_at_date = today()
            unit.save()
        return ln


@transaction.atomic
def location_number_update(*, actor, reason: str, origin: str = Origin.ADMIN, location_number: LocationNumber | int,
                           changes: dict, expected_version: int | None = None) -> LocationNumber:
    with audit_context(actor=actor, reason=reason, origin=origin):
        ln = LocationNumber.objects.select_for_update().select_related("unit").get(pk=getattr(location_number, "pk", location_number))
        if expected_version is not None and ln.version != expected_version:
            raise ConflictError(_("Lokationsnummer %(gln)s er ændret af en anden, efter du åbnede det. Genindlæs og ret igen.")
                                % {"gln": ln.gln})
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise DomainError(_("Ukendte felter: %(f)s") % {"f": ", ".join(sorted(unknown))})
        changed = {k: v for k, v in changes.items() if getattr(ln, k) != v}
        if not changed:
            return ln
        check_unit_change(actor, ln.unit, ["location_mode"])
        if "to_date" in changed and changed["to_date"] is None:
            _check_gln_free(ln.gln, exclude_pk=ln.pk)
        _refuse_unusable_codes({f"{name}_id": getattr(value, "pk", value) for name, value in changed.items()}, ())
        for key, value in changed.items():
            setattr(ln, key, value)
        ln.version += 1
        ln.save()
        return ln


@transaction.atomic
def location_number_set_message_types(*, actor, reason: str, origin: str = Origin.ADMIN,
                                      location_number: LocationNumber | int, message_types) -> LocationNumber:
    """Make the set of message types exactly `message_types` (history rows for what changed)."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        ln = LocationNumber.objects.select_for_update().select_related("unit").get(pk=getattr(location_number, "pk", location_number))
        check_unit_change(actor, ln.unit, ["location_mode"])
        wanted = {mt.pk: mt for mt in message_types}
        current = {link.message_type_id: link for link in ln.message_type_links.all()}
        for pk, link in current.items():
            if pk not in wanted:
                link.delete()
        _refuse_unusable_codes({}, [mt for pk, mt in wanted.items() if pk not in current])
        for pk, mt in wanted.items():
            if pk not in current:
                LocationNumberMessageType.objects.create(location_number=ln, message_type=mt)
        return ln


@transaction.atomic
def location_number_close(*, actor, reason: str, origin: str = Origin.ADMIN, location_number: LocationNumber | int,
                          to_date: dt.date) -> LocationNumber:
    """Close a location number (ToDate inclusive). Its unit stays open and, from the day after,
    has no own number: when none of its own numbers is valid today or later, the unit is set to
    "has none" (`location_mode=none`), never to "inherited", which would route its messages to
    the parent without anyone choosing that."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        ln = LocationNumber.objects.select_for_update().select_related("unit").get(pk=getattr(location_number, "pk", location_number))
        check_unit_change(actor, ln.unit, ["location_mode"])
        if ln.from_date and to_date < ln.from_date:
            raise ValidationFailed({"to_date": [_("Lukkedatoen ligger før lokationsnummeret blev gældende.")]})
        ln.to_date = to_date
        ln.updated_at_date = today()
        ln.version += 1
        ln.save()
        unit = Unit.objects.select_for_update().get(pk=ln.unit_id)
        still_own = unit.location_numbers.filter(Q(to_date__isnull=True) | Q(to_date__gte=today())).exists()
        if unit.location_mode == LocationMode.OWN and not still_own:
            unit.location_mode = LocationMode.NONE
            unit.version += 1
            unit.updated_at_date = today()
            unit.save()
        return ln


@transaction.atomic
def location_number_move(*, actor, reason: str, origin: str = Origin.ADMIN, location_number: LocationNumber | int,
                         to_unit: Unit | int, holder_after: str = LocationMode.NONE,
                         from_date: dt.date | None = None) -> LocationNumber:
    """Move an active location number, with its message types, to another unit, which then has it
    as its own. Afterwards the former holder has no number (`holder_after="none"`, the default:
    nobody chose to reroute its messages) or inherits one from its parent (`"inherited"`), unless
    it still has another own number valid today or later. `from_date` (a change-set's effective
    date) becomes the FromDate of the number and of the units whose location mode changes."""
    if holder_after not in (LocationMode.NONE, LocationMode.INHERITED):
        raise DomainError(_("Efter flytningen har den tidligere ejer intet nummer (none) eller arver (inherited), "
                            "ikke %(v)r.") % {"v": holder_after})
    with audit_context(actor=actor, reason=reason, origin=origin):
        ln = LocationNumber.objects.select_for_update().select_related("unit").get(pk=getattr(location_number, "pk", location_number))
        receiver = Unit.objects.select_for_update().get(pk=getattr(to_unit, "pk", to_unit))
        holder = Unit.objects.select_for_update().get(pk=ln.unit_id)
        if receiver.pk == holder.pk:
            raise DomainError(_("Lokationsnummer %(gln)s ligger allerede på %(unit)s.") % {"gln": ln.gln, "unit": holder})
        if ln.to_date is not None and ln.to_date < today():
            raise ValidationFailed({"gln": [_("Lokationsnummer %(gln)s er lukket og kan ikke flyttes.") % {"gln": ln.gln}]})
        if receiver.to_date is not None and receiver.to_date < today():
            raise ValidationFailed({"unit": [_("%(unit)s er lukket og kan ikke få et lokationsnummer.") % {"unit": receiver}]})
        check_unit_change(actor, holder, ["location_mode"])
        check_unit_change(actor, receiver, ["location_mode"])
        ln.unit = receiver
        if from_date is not None:
            ln.from_date = from_date
        ln.updated_at_date = today()
        ln.version += 1
        ln.save()
        if receiver.location_mode != LocationMode.OWN:
            receiver.location_mode = LocationMode.OWN
            receiver.version += 1
            receiver.updated_at_date = today()
            if from_date is not None:
                receiver.from_date = from_date
            receiver.save()
        still_own = holder.location_numbers.filter(Q(to_date__isnull=True) | Q(to_date__gte=today())).exists()
        if not still_own and holder.location_mode == LocationMode.OWN:
            if holder_after == LocationMode.INHERITED and holder.parent_id is None:
                raise ValidationFailed({"location_mode": [
                    _("%(unit)s har ingen overordnet enhed at arve et lokationsnummer fra.") % {"unit": holder}]})
            holder.location_mode = holder_after
            holder.version += 1
            holder.updated_at_date = today()
            if from_date is not None and (holder.to_date is None or from_date <= holder.to_date):
                holder.from_date = from_date
            holder.save()
        return ln
