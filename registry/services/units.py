"""Services for units: create, update, close, move."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import identifiers as ids
from ..audit import Origin, audit_context
from ..errors import ConflictError, DomainError, NotAllowed, ValidationFailed
from ..models import Level, LocationMode, Unit
from ..permissions import check_perm, check_region, check_unit_change, region_scope
from ..status import UnitStatus, unit_status
from .validation import unit_messages, unusable_code_errors

# Fields a caller may set through unit_create/unit_update. Structure (level, parent, owner,
# ancestors) changes only through unit_move; the SOR-ID never changes.
_FIXED = {"sor_id", "level", "parent", "owner", "ancestors", "version"}
EDITABLE_FIELDS = frozenset(
    f.name for f in Unit._meta.concrete_fields if f.name not in _FIXED
)
_FK_FIELDS = {f.name: f for f in Unit._meta.concrete_fields if f.is_relation and f.name not in _FIXED}
_FK_ATTNAMES = {f.attname for f in _FK_FIELDS.values()}


def _day(day: dt.date) -> str:
    """A date in a message, as the staff pages show dates."""
    return day.strftime("%d-%m-%Y")


def today() -> dt.date:
    return timezone.localdate()


def _normalise(changes: dict) -> dict:
    """Accept field names (FKs as instances, ids or None) and return attname → value."""
    out = {}
    for key, value in changes.items():
        name = key[:-3] if key.endswith("_id") and key[:-3] in _FK_FIELDS else key
        if name not in EDITABLE_FIELDS:
            raise DomainError(_("Feltet %(field)s kan ikke ændres her.") % {"field": key})
        if name in _FK_FIELDS:
            out[_FK_FIELDS[name].attname] = getattr(value, "pk", value)
        else:
            out[name] = value
    return out


def _raise_if_invalid(unit: Unit, *, override_warnings: bool, strict: bool = True, extra_warnings=None):
    errors, warnings = unit_messages(unit, strict=strict)
    for field, msgs in (extra_warnings or {}).items():
        warnings.setdefault(field, []).extend(msgs)
    if errors or (warnings and not override_warnings):
        raise ValidationFailed(errors, warnings)


def _refuse_unusable_codes(unit: Unit, attnames) -> None:
    """A code chosen for a unit must be usable today; one it already has may stay (callers pass
    only what they set)."""
    errors = unusable_code_errors(Unit, {a: getattr(unit, a) for a in attnames}, today())
    if errors:
        raise ValidationFailed(errors)


def _routing_warning(unit: Unit) -> dict:
    """Choosing "inherited" reroutes the unit's messages: say where to, before it is saved."""
    from ..selectors import unit_effective_values

    parent = Unit.objects.get(pk=unit.parent_id) if unit.parent_id else None
    if parent is None:
        return {}
    inherited = unit_effective_values(parent)["location_number"].value
    if inherited is None:
        text = _("Enheden arver så intet lokationsnummer: %(parent)s har intet. Meddelelser kan ikke sendes "
                 "til enheden.") % {"parent": parent}
    else:
        text = _("Enheden arver så lokationsnummer %(gln)s (fra %(source)s): meddelelser til enheden sendes "
                 "dertil fra nu af.") % {"gln": inherited.gln, "source": Unit.objects.get(pk=inherited.unit_id)}
    return {"location_mode": [text]}


def _duplicate_provider_warning(unit: Unit) -> dict:
    if not unit.provider_number:
        return {}
    other = (
        Unit.objects.filter(provider_number=unit.provider_number, to_date__isnull=True)
        .exclude(sor_id=unit.sor_id).exclude(owner_id=unit.owner_id).first()
    )
    if other is None:
        return {}
    return {"provider_number": [_("Ydernummer %(nr)s findes allerede under en anden institutionsejer: %(unit)s.")
                                % {"nr": unit.provider_number, "unit": other}]}


def allocate_sor_id() -> int:
    """Next free SOR-ID from the database sequence; an id is never handed out twice."""
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT nextval('registry_sor_id_seq')")
            sor_id = ids.sor_id_for_sequence(cursor.fetchone()[0])
            # A withdrawn unit's SOR-ID stays used: its history keeps it.
            if not Unit.objects.filter(sor_id=sor_id).exists() and not Unit.history.filter(sor_id=sor_id).exists():
                return sor_id


def advance_sor_id_sequence() -> None:
    """Move the sequence past every item number in use (after importing SDS's own ids)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max((left(sor_id::text, length(sor_id::text) - 10))::bigint) FROM registry_unit "
            "WHERE sor_id::text LIKE '%%100001600_'"
        )
        highest = cursor.fetchone()[0]
        if highest:
            cursor.execute("SELECT setval('registry_sor_id_seq', greatest(%s, (SELECT last_value FROM registry_sor_id_seq)))",
                           [highest])


_PARENT_LEVEL = {Level.INSTITUTION: {Level.OWNER}, Level.UNIT: {Level.INSTITUTION, Level.UNIT}}


def _check_parent(level: str, parent: Unit | None):
    if level == Level.OWNER:
        if parent is not None:
            raise DomainError(_("En institutionsejer kan ikke have en overordnet enhed."))
        return
    if parent is None:
        raise DomainError(_("En %(level)s skal have en overordnet enhed.") % {"level": Level(level).label})
    if parent.level not in _PARENT_LEVEL[level]:
        raise DomainError(
            _("En %(level)s kan ikke ligge under en %(parent)s.")
            % {"level": Level(level).label, "parent": Level(parent.level).label}
        )


@transaction.atomic
def unit_create(*, actor, reason: str, origin: str = Origin.ADMIN, level: str, parent: Unit | None = None,
                name: str, from_date: dt.date | None = None, first_from_date: dt.date | None = None,
                sor_id: int | None = None, override_warnings: bool = False, strict: bool = True,
                **fields) -> Unit:
    """Create a unit at `level` under `parent`; the SOR-ID is allocated unless given (import)."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        _check_parent(level, parent)
        values = _normalise(fields)
        region_id = values.get("region_id", parent.region_id if parent else None)
        check_perm(actor, "registry.add_unit", _("Du må ikke oprette enheder."), region_id=region_id,
                   check_scope=True)
        if sor_id is not None:
            errors, _w = ids.check_sor_id(sor_id)
            if errors:
                raise ValidationFailed({"sor_id": errors})
            if Unit.objects.filter(sor_id=sor_id).exists():
                raise DomainError(_("SOR-ID %(id)s findes allerede.") % {"id": sor_id})
        else:
            sor_id = allocate_sor_id()
        from_date = from_date or today()
        values.setdefault("region_id", region_id)
        values.setdefault("updated_at_date", today())
        if level == Level.OWNER:
            values.setdefault("location_mode", LocationMode.NONE)
        unit = Unit(
            sor_id=sor_id, level=level, parent=parent,
            owner_id=parent.owner_id if parent else sor_id,
            ancestors=(parent.ancestors + [parent.sor_id]) if parent else [],
            name=name, from_date=from_date, first_from_date=first_from_date or from_date, **values,
        )
        _refuse_unusable_codes(unit, [f.attname for f in _FK_FIELDS.values()])
        _raise_if_invalid(unit, override_warnings=override_warnings, strict=strict,
                          extra_warnings=_duplicate_provider_warning(unit))
        unit.save(force_insert=True)
        return unit


def _conflict(locked: Unit) -> ConflictError:
    last = locked.history.order_by("-history_date").select_related("history_user").first()
    who = getattr(last.history_user, "username", None) or _("en anden") if last else _("en anden")
    when = timezone.localtime(last.history_date).strftime("%d-%m-%Y %H:%M") if last else "?"
    return ConflictError(
        _("%(unit)s er ændret af %(who)s kl. %(when)s, efter du åbnede den. Dine ændringer er ikke gemt: "
          "genindlæs enheden, se ændringen i historikken, og ret igen.")
        % {"unit": locked, "who": who, "when": when}
    )


@transaction.atomic
def unit_update(*, actor, reason: str, origin: str = Origin.ADMIN, unit: Unit | int, changes: dict,
                expected_version: int | None = None, override_warnings: bool = False,
                strict: bool = True, touch: bool = True, from_date: dt.date | None = None) -> Unit:
    """Change a unit's own values. Writes nothing (no history row) when nothing changes.

    `expected_version` is the version the editor saw; a different current version means someone
    else saved in between and raises ConflictError. `touch` sets SorStatus UpdatedAt to today.
    `from_date` is the FromDate of the new version when something changes (a change-set's
    effective date): a consequence of the change, not a field the actor edits, so the actor's
    role is checked for the other fields only."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        pk = getattr(unit, "pk", unit)
        locked = Unit.objects.select_for_update().get(pk=pk)
        if expected_version is not None and locked.version != expected_version:
            raise _conflict(locked)
        values = _normalise(changes)
        changed = {k: v for k, v in values.items() if getattr(locked, k) != v}
        if not changed:
            return locked
        check_unit_change(actor, locked, [k[:-3] if k.endswith("_id") else k for k in changed])
        if from_date is not None and "from_date" not in changed:
            changed["from_date"] = from_date
        if "region_id" in changed and region_scope(actor) is not None:
            check_region(actor, changed["region_id"])
        old_provider = locked.provider_number
        for key, value in changed.items():
            setattr(locked, key, value)
        _refuse_unusable_codes(locked, list(changed))
        if touch and "updated_at_date" not in changed:
            locked.updated_at_date = today()
        locked.version += 1
        extra = _duplicate_provider_warning(locked) if locked.provider_number != old_provider else {}
        if changed.get("location_mode") == LocationMode.INHERITED:
            extra.update(_routing_warning(locked))
        _raise_if_invalid(locked, override_warnings=override_warnings, strict=strict, extra_warnings=extra)
        locked.save()
        return locked


@transaction.atomic
def unit_close(*, actor, reason: str, origin: str = Origin.ADMIN, unit: Unit | int, to_date: dt.date,
               expected_version: int | None = None, include_descendants: bool = False) -> list[Unit]:
    """Close a unit (ToDate, inclusive) and its own open location numbers. Open units below it
    must be closed too: with `include_descendants` they are, in the same batch; otherwise the
    call is refused naming them. Returns the units closed."""
    from .location_numbers import location_number_close

    with audit_context(actor=actor, reason=reason, origin=origin):
        pk = getattr(unit, "pk", unit)
        locked = Unit.objects.select_for_update().get(pk=pk)
        if expected_version is not None and locked.version != expected_version:
            raise _conflict(locked)
        check_perm(actor, "registry.close_unit", _("Du må ikke lukke enheder."), region_id=locked.region_id,
                   check_scope=True)
        if to_date < locked.from_date:
            raise ValidationFailed({"to_date": [_("Lukkedatoen %(date)s ligger før enheden blev gældende (%(from)s).")
                                                % {"date": _day(to_date), "from": _day(locked.from_date)}]})
        open_below = list(
            Unit.objects.select_for_update().filter(ancestors__contains=[locked.sor_id])
            .exclude(to_date__lte=to_date).order_by("sor_id")
        )
        later = [u for u in open_below if u.from_date > to_date]
        if later and include_descendants:
            raise ValidationFailed({"to_date": [
                _("Lukkedatoen %(date)s ligger før %(unit)s under enheden blev gældende (%(from)s); vælg en senere "
                  "lukkedato.") % {"date": _day(to_date), "unit": later[0], "from": _day(later[0].from_date)}]})
        if open_below and not include_descendants:
            names = ", ".join(str(u) for u in open_below[:5]) + (" …" if len(open_below) > 5 else "")
            raise ValidationFailed({"to_date": [
                ngettext("%(n)d underenhed er stadig åben efter %(date)s: %(names)s. Luk den først, eller luk den med.",
                         "%(n)d underenheder er stadig åbne efter %(date)s: %(names)s. Luk dem først, eller luk dem med.",
                         len(open_below))
                % {"n": len(open_below), "date": _day(to_date), "names": names}
            ]})
        closed = []
        for target in [locked, *open_below]:
            if target.region_id != locked.region_id:
                check_region(actor, target.region_id)
            target.to_date = to_date
            target.updated_at_date = today()
            target.version += 1
            target.save()
            for ln in target.location_numbers.filter(to_date__isnull=True):
                location_number_close(actor=actor, reason=reason, origin=origin, location_number=ln, to_date=to_date)
            closed.append(target)
        return closed


@transaction.atomic
def unit_reopen(*, actor, reason: str, origin: str = Origin.ADMIN, unit: Unit | int,
                expected_version: int | None = None) -> list[Unit]:
    """Reopen a closed (or closing) unit: its ToDate goes, and what was closed with it on the same
    day reopens with it: the units below with that ToDate and their own location numbers with it
    (unless the number is active elsewhere by now). Refused under a closed parent. Returns the
    units reopened."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        pk = getattr(unit, "pk", unit)
        locked = Unit.objects.select_for_update().get(pk=pk)
        if expected_version is not None and locked.version != expected_version:
            raise _conflict(locked)
        check_perm(actor, "registry.close_unit", _("Du må ikke lukke eller genåbne enheder."),
                   region_id=locked.region_id, check_scope=True)
        if locked.to_date is None:
            raise ValidationFailed({"to_date": [_("%(unit)s er ikke lukket.") % {"unit": locked}]})
        if locked.parent_id:
            parent = Unit.objects.get(pk=locked.parent_id)
            if parent.to_date is not None:
                raise ValidationFailed({"to_date": [
                    _("Den overordnede enhed %(parent)s er lukket pr. %(date)s; genåbn den først.")
                    % {"parent": parent, "date": _day(parent.to_date)}]})
        day = locked.to_date
        below = list(Unit.objects.select_for_update().filter(ancestors__contains=[locked.sor_id], to_date=day)
                     .order_by("sor_id"))
        from ..models import LocationNumber

        reopened = []
        for target in [locked, *below]:
            if target.region_id != locked.region_id:
                check_region(actor, target.region_id)
            numbers = list(LocationNumber.objects.select_for_update().filter(unit_id=target.pk, to_date=day))
            for ln in numbers:
                if LocationNumber.objects.filter(gln=ln.gln, to_date__isnull=True).exclude(pk=ln.pk).exists():
                    continue  # the number is active on another unit by now: it stays closed here
                ln.to_date = None
                ln.updated_at_date = today()
                ln.version += 1
                ln.save()
                if target.location_mode == LocationMode.NONE:
                    target.location_mode = LocationMode.OWN
            target.to_date = None
            target.updated_at_date = today()
            target.version += 1
            target.save()
            reopened.append(target)
        return reopened


def was_published(unit: Unit | int) -> bool:
    """Whether a published file can hold the unit: a run published whose snapshot was taken
    (it started) after the unit was first saved."""
    from exports.models import ExportRun

    first = Unit.history.filter(sor_id=getattr(unit, "pk", unit)).order_by("history_date").values_list(
        "history_date", flat=True).first()
    return first is None or ExportRun.objects.filter(published_at__isnull=False, started_at__gt=first).exists()


@transaction.atomic
def unit_withdraw(*, actor, reason: str, origin: str = Origin.ADMIN, unit: Unit | int) -> int:
    """Withdraw a unit that was never in a published file (a unit created by mistake, or by a
    change-set being reverted): the unit and its location numbers are removed, their history
    keeps them, and the SOR-ID is never handed out again. A unit a published file may hold is
    closed instead, never removed; one with units below it cannot be withdrawn. Returns the SOR-ID."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        locked = Unit.objects.select_for_update().get(pk=getattr(unit, "pk", unit))
        check_perm(actor, "registry.add_unit", _("Du må ikke oprette eller trække enheder tilbage."),
                   region_id=locked.region_id, check_scope=True)
        if Unit.objects.filter(parent_id=locked.pk).exists():
            raise ValidationFailed({"unit": [_("%(unit)s har underenheder og kan ikke trækkes tilbage.") % {"unit": locked}]})
        if was_published(locked):
            raise ValidationFailed({"unit": [_("%(unit)s har været med i en publiceret fil og kan ikke trækkes tilbage; "
                                               "luk den i stedet.") % {"unit": locked}]})
        for ln in locked.location_numbers.all():
            ln.delete()
        sor_id = locked.pk
        locked.delete()
        return sor_id


def unit_move(*, actor, reason: str, origin: str = Origin.ADMIN, unit: Unit | int, new_parent: Unit | int,
              expected_version: int | None = None, from_date: dt.date | None = None) -> Unit:
    """Move a unit (and everything below it) under another parent, possibly another owner.
    `from_date` (a change-set's effective date) becomes the FromDate of the moved unit and of the
    units below it whose owner changes (their records change with it)."""
    with audit_context(actor=actor, reason=reason, origin=origin):
        locked = Unit.objects.select_for_update().get(pk=getattr(unit, "pk", unit))
        parent = Unit.objects.get(pk=getattr(new_parent, "pk", new_parent))
        if expected_version is not None and locked.version != expected_version:
            raise _conflict(locked)
        if not (actor is None or getattr(actor, "is_superuser", False) or actor.has_perm("registry.edit_register_data")):
            raise NotAllowed(_("Du må ikke flytte enheder."))
        check_region(actor, locked.region_id)
        check_region(actor, parent.region_id)
        _check_parent(locked.level, parent)
        if parent.sor_id == locked.sor_id or locked.sor_id in parent.ancestors:
            raise DomainError(_("En enhed kan ikke flyttes ind under sig selv."))
        if unit_status(parent, today()) == UnitStatus.CLOSED:
            raise DomainError(_("%(parent)s er lukket; vælg en åben overordnet enhed.") % {"parent": parent})
        if unit_status(locked, today()) == UnitStatus.CLOSED:
            raise DomainError(_("%(unit)s er lukket og kan ikke flyttes; genåbn den først.") % {"unit": locked})
        old_prefix = locked.ancestors + [locked.sor_id]
        locked.parent = parent
        locked.owner_id = parent.owner_id
        locked.ancestors = parent.ancestors + [parent.sor_id]
        locked.updated_at_date = today()
        if from_date is not None:
            locked.from_date = from_date
        locked.version += 1
        locked.save()
        new_prefix = locked.ancestors + [locked.sor_id]
        below = list(Unit.objects.select_for_update().filter(ancestors__contains=[locked.sor_id]).order_by("sor_id"))
        for unit_below in below:
            unit_below.ancestors = new_prefix + unit_below.ancestors[len(old_prefix):]
            if unit_below.owner_id != parent.owner_id:
                unit_below.owner_id = parent.owner_id
                unit_below.version += 1
                if from_date is not None:
                    unit_below.from_date = from_date
                    unit_below.updated_at_date = today()
        if below:  # one history-aware bulk write, not a save per unit (a hospital has hundreds below it)
            from .bulk import copy_update

            fields = ["ancestors", "owner", "version"] + (["from_date", "updated_at_date"] if from_date else [])
            copy_update(Unit, below, fields)
        return locked


class UnitChangeRefused(DomainError):
    """`unit_update_many` refused the change of one unit (`unit`); `cause` says why."""

    def __init__(self, unit: Unit, cause: DomainError):
        self.unit = unit
        self.cause = cause
        super().__init__(str(cause))


@transaction.atomic
def unit_update_many(*, actor, reason: str, origin: str = Origin.ADMIN, updates: dict, strict: bool = True,
                     from_date: dt.date | None = None, warnings: list | None = None) -> list[Unit]:
    """`unit_update` for many units at once (a change-set re-typing 2,000 units): one query locks
    them, each is checked as `unit_update` checks it (the actor's role and region, codes usable
    today, the unit's own rules), then one history-aware bulk write records them with their
    change-log events. `updates` maps SOR-ID → {field: value}. Warnings do not stop it: they are
    appended to `warnings` as (SOR-ID, message) for the caller to show. Raises UnitChangeRefused naming the first unit refused; nothing is
    written then. Returns the units changed."""
    from .bulk import copy_update

    with audit_context(actor=actor, reason=reason, origin=origin):
        locked = {u.pk: u for u in Unit.objects.select_for_update().filter(pk__in=list(updates)).order_by("sor_id")}
        code_errors: dict = {}
        changed_units, fields = [], set()
        for pk, changes in updates.items():
            unit = locked.get(pk)
            if unit is None:
                raise DomainError(_("SOR-ID %(id)s findes ikke.") % {"id": pk})
            try:
                values = _normalise(changes)
                changed = {k: v for k, v in values.items() if getattr(unit, k) != v}
                if not changed:
                    continue
                check_unit_change(actor, unit, [k[:-3] if k.endswith("_id") else k for k in changed])
                if "region_id" in changed and region_scope(actor) is not None:
                    check_region(actor, changed["region_id"])
                for key, value in changed.items():
                    setattr(unit, key, value)
                    if key in _FK_ATTNAMES:  # each code chosen is looked up once
                        if (key, value) not in code_errors:
                            code_errors[(key, value)] = unusable_code_errors(Unit, {key: value}, today())
                        if code_errors[(key, value)]:
                            raise ValidationFailed(code_errors[(key, value)])
                if from_date is not None:
                    unit.from_date = from_date  # before the checks, as unit_update (FromDate ≤ ToDate)
                unit.updated_at_date = today()
                errors, unit_warnings = unit_messages(unit, strict=strict)
                if errors:
                    raise ValidationFailed(errors)
            except DomainError as exc:
                raise UnitChangeRefused(unit, exc) from exc
            if warnings is not None:
                warnings.extend((unit.sor_id, message) for msgs in unit_warnings.values() for message in msgs)
            fields.update(changed)
            unit.version += 1
            changed_units.append(unit)
        if changed_units:
            names = sorted({(k[:-3] if k.endswith("_id") and k[:-3] in _FK_FIELDS else k) for k in fields}
                           | {"from_date", "updated_at_date", "version"})
            copy_update(Unit, changed_units, names)
        return changed_units
