"""The change types of a change-set: each a small class that reads its row, applies through the
services, describes itself in Danish, says its risk and knows its inverse.

A row is what the changes CSV holds (`change;sor_id;target;field;value`, README "Change-sets").
`expand` turns one row into concrete changes (a selection becomes one change per unit, every new
name listed), each about one unit or one location number whose version is recorded then; `apply`
writes one concrete change inside the set's operation.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from ..errors import DomainError
from ..models import (
    EdiMessageType,
    EntityType,
    Level,
    LocationMode,
    LocationNumber,
    Risk,
    Unit,
)
from ..permissions import CONTACT_FIELDS
from ..services import location_numbers as ln_services
from ..services import units as unit_services

# Fields of a unit whose change routes messages, identifies the unit or changes its type:
# high risk. Contact data (CONTACT_FIELDS) is low; every other field is high too, unless listed
# here as low. One table, shown on every set (README "Risk").
LOW_RISK_FIELDS = frozenset(CONTACT_FIELDS) | {"local_code", "local_attribute_1", "local_attribute_2",
                                               "local_attribute_3", "local_attribute_4", "local_attribute_5"}
RISK_POLICY = [
    (_l("kontaktdata (telefon, e-mail, web, fax, adresser) og lokale felter"), Risk.LOW),
    (_l("lokationsnumre og EDI-meddelelsestyper"), Risk.HIGH),
    (_l("CVR, ydernummer, SHAK, navn og andre registerdata"), Risk.HIGH),
    (_l("hierarki: oprettelse og flytning af enheder"), Risk.HIGH),
    (_l("lukning og genåbning"), Risk.HIGH),
    (_l("enhedstyper og koder"), Risk.HIGH),
]

_SETTABLE = {f.name: f for f in Unit._meta.concrete_fields if f.name in unit_services.EDITABLE_FIELDS}
_DIGITS = re.compile(r"[0-9]+")
_NOT_BY_SET = {"from_date", "to_date", "first_from_date", "updated_at_date", "location_mode", "specialities",
               "replaces", "replaced_by"}


class ChangeInputError(DomainError):
    """A row that cannot become a change: the message names what is wrong."""


@dataclass
class Concrete:
    """One concrete change, before it is stored."""

    kind: str
    unit_id: int | None
    target: str = ""
    field: str = ""
    value: str = ""
    base_version: int | None = None
    description: str = ""
    group: str = ""


@dataclass
class ApplyContext:
    actor: object
    reason: str
    effective: dt.date
    origin: str
    written_units: set = field(default_factory=set)
    warnings: list = field(default_factory=list)


# Units and codes read once per expansion or application (a set of 2,000 rows names 2,000 units
# and one code): `lookups()` opens the cache, `prefetch_units` fills it in one query.
_cache: contextvars.ContextVar[dict | None] = contextvars.ContextVar("changeset_lookups", default=None)


@contextlib.contextmanager
def lookups():
    token = _cache.set({"units": {}, "codes": {}})
    try:
        yield
    finally:
        _cache.reset(token)


def prefetch_units(ids) -> None:
    cache = _cache.get()
    if cache is not None:
        wanted = [i for i in ids if i not in cache["units"]]
        for start in range(0, len(wanted), 5000):
            cache["units"].update(Unit.objects.select_related("entity_type").in_bulk(wanted[start:start + 5000]))


def _unit(sor_id, what: str = "") -> Unit:
    if not _DIGITS.fullmatch(str(sor_id).strip()):
        raise ChangeInputError(_("%(what)sSOR-ID %(id)s findes ikke.") % {"what": what, "id": sor_id})
    pk = int(str(sor_id).strip())
    cache = _cache.get()
    if cache is not None and pk in cache["units"]:
        return cache["units"][pk]
    unit = Unit.objects.filter(pk=pk).first()
    if unit is None:
        raise ChangeInputError(_("%(what)sSOR-ID %(id)s findes ikke.") % {"what": what, "id": sor_id})
    if cache is not None:
        cache["units"][pk] = unit
    return unit


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ChangeInputError(_("%(what)s skal være en dato ÅÅÅÅ-MM-DD, ikke %(v)r.") % {"what": what, "v": text}) from None


def _code(model, code: str, what: str):
    cache = _cache.get()
    key = (model, code.strip())
    if cache is not None and key in cache["codes"]:
        return cache["codes"][key]
    obj = model.objects.filter(code=code.strip()).first()
    if cache is not None and obj is not None:
        cache["codes"][key] = obj
    if obj is None:
        raise ChangeInputError(_("%(what)s: koden %(code)r findes ikke.") % {"what": what, "code": code})
    return obj


def parse_field_value(name: str, text: str):
    """A unit field's value as the CSV writes it: text; ja/nej for yes/no; a code for a code list;
    a whole number. An empty cell empties the field."""
    model_field = _SETTABLE.get(name)
    if model_field is None or name in _NOT_BY_SET:
        raise ChangeInputError(_("Feltet %(f)r kan ikke sættes med en ændring af typen set.") % {"f": name})
    text = (text or "").strip()
    if model_field.is_relation:
        return _code(model_field.related_model, text, name) if text else None
    if isinstance(model_field, models.BooleanField):
        if not text:
            if model_field.null:
                return None
            raise ChangeInputError(_("%(f)s skal være ja eller nej.") % {"f": name})
        lowered = text.lower()
        if lowered in ("ja", "yes", "true", "1"):
            return True
        if lowered in ("nej", "no", "false", "0"):
            return False
        raise ChangeInputError(_("%(f)s skal være ja eller nej, ikke %(v)r.") % {"f": name, "v": text})
    if isinstance(model_field, (models.IntegerField, models.BigIntegerField)):
        if not text:
            return None
        if not _DIGITS.fullmatch(text):
            raise ChangeInputError(_("%(f)s skal være et helt tal, ikke %(v)r.") % {"f": name, "v": text})
        biggest = 32767 if isinstance(model_field, (models.SmallIntegerField, models.PositiveSmallIntegerField)) \
            else 9223372036854775807 if isinstance(model_field, models.BigIntegerField) else 2147483647
        if int(text) > biggest:
            raise ChangeInputError(_("%(f)s må højst være %(max)d, ikke %(v)s.") % {"f": name, "max": biggest, "v": text})
        return int(text)
    return text


def _label(name: str) -> str:
    field_obj = _SETTABLE.get(name)
    return str(field_obj.verbose_name) if field_obj is not None else name


def selection(spec: str):
    """Units chosen by `key=value&key=value` (README): entity_type, owner_type, region (codes),
    level (IE/SI/OE), under (a SOR-ID: every unit below it), owner (a SOR-ID), name (part of
    the name). Only units not closed."""
    qs = Unit.objects.exclude(to_date__lt=unit_services.today())
    if not spec.strip():
        raise ChangeInputError(_("Udvælgelsen er tom: angiv fx entity_type=<kode>&region=<kode>."))
    for part in spec.split("&"):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise ChangeInputError(_("Udvælgelsen %(p)r skal skrives nøgle=værdi.") % {"p": part})
        if key in ("entity_type", "owner_type", "region"):
            qs = qs.filter(**{f"{key}__code": value})
        elif key == "level":
            if value not in Level.values:
                raise ChangeInputError(_("level skal være IE, SI eller OE, ikke %(v)r.") % {"v": value})
            qs = qs.filter(level=value)
        elif key == "under":
            qs = qs.filter(ancestors__contains=[_unit(value).sor_id])
        elif key == "owner":
            qs = qs.filter(owner_id=_unit(value).sor_id)
        elif key == "name":
            qs = qs.filter(name__icontains=value)
        else:
            raise ChangeInputError(_("Ukendt udvælgelse %(k)r (kendte: entity_type, owner_type, region, level, "
                                     "under, owner, name).") % {"k": key})
    return qs.order_by("sor_id")


class ChangeType:
    kind = ""
    label = ""
    # Which unit ids of a concrete change the preview must look at (their owner trees).
    def touched(self, change) -> list[int]:
        ids = [change.unit_id] if change.unit_id else []
        if change.target.isdigit():
            ids.append(int(change.target))
        return ids

    def risk(self, change) -> str:
        return Risk.HIGH

    def expand(self, row: dict) -> list[Concrete]:
        raise NotImplementedError

    def apply(self, change, ctx: ApplyContext):
        raise NotImplementedError

    def inverse(self, change, unit=None) -> list[dict]:
        """The rows that undo the change, as the register stands before it is applied (part 2
        reverts with them). `unit`: the unit as it is now, when the caller has read it."""
        return []

    def current_version(self, change):
        return Unit.objects.filter(pk=change.unit_id).values_list("version", flat=True).first()

    # Whether `base_version` is the version of the unit `unit_id` (read for many changes at once).
    versioned_by_unit = True

    # Whether `inverse` is read after `apply` (given what apply returned) rather than before.
    inverse_after_apply = False

    # Field-wise changes (set, rename, retype) give the unit's new values; the engine applies a
    # run of them on many units in one `unit_update_many`.
    fieldwise = False

    def values(self, change) -> dict:
        raise NotImplementedError


TYPES: dict[str, ChangeType] = {}


def register(cls):
    TYPES[cls.kind] = cls()
    return cls


def _set_concrete(unit: Unit, name: str, text: str, group: str = "", kind: str = "set") -> Concrete:
    parse_field_value(name, text)  # refuses a bad value now
    old = getattr(unit, name)
    old = getattr(old, "code", old)
    return Concrete(kind, unit.sor_id, field=name, value=text, base_version=unit.version, group=group,
                    description=_("%(unit)s: %(field)s %(old)r → %(new)r") % {
                        "unit": unit, "field": _label(name), "old": "" if old is None else old, "new": text})


@register
class SetChange(ChangeType):
    kind = "set"
    label = _l("sæt et felt")
    fieldwise = True

    def values(self, change):
        return {change.field: parse_field_value(change.field, change.value)}

    def risk(self, change):
        return Risk.LOW if change.field in LOW_RISK_FIELDS else Risk.HIGH

    def expand(self, row):
        if not row["sor_id"]:
            raise ChangeInputError(_("set kræver et SOR-ID (brug set_many for en udvælgelse)."))
        return [_set_concrete(_unit(row["sor_id"]), row["field"], row["value"])]

    def apply(self, change, ctx):
        unit_services.unit_update_many(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin,
                                       updates={change.unit_id: self.values(change)}, from_date=ctx.effective)

    def inverse(self, change, unit=None):
        unit = unit or Unit.objects.get(pk=change.unit_id)
        old = getattr(unit, change.field)
        old = getattr(old, "code", old)
        if isinstance(old, bool):
            old = "ja" if old else "nej"
        return [{"change": "set", "sor_id": str(unit.sor_id), "field": change.field,
                 "value": "" if old is None else str(old), "target": ""}]


@register
class SetManyChange(SetChange):
    kind = "set_many"
    label = _l("sæt et felt på en udvælgelse")

    def expand(self, row):
        group = f"set_many {row['field']}={row['value']} ({row['target']})"
        found = [_set_concrete(u, row["field"], row["value"], group, kind="set") for u in selection(row["target"])]
        if not found:
            raise ChangeInputError(_("Udvælgelsen %(s)r finder ingen åbne enheder.") % {"s": row["target"]})
        return found


@register
class RenameChange(ChangeType):
    kind = "rename"
    label = _l("omdøb")
    fieldwise = True

    def values(self, change):
        return {"name": change.value}

    def expand(self, row):
        if row["sor_id"]:
            unit = _unit(row["sor_id"])
            if not row["value"].strip():
                raise ChangeInputError(_("rename kræver det nye navn i kolonnen value."))
            return [self._one(unit, row["value"].strip(), "")]
        try:
            pattern = re.compile(row["field"])
        except re.error as exc:
            raise ChangeInputError(_("Mønsteret %(p)r er ikke et gyldigt regulært udtryk: %(e)s")
                                   % {"p": row["field"], "e": exc}) from None
        units = selection(row["target"]) if row["target"] else Unit.objects.exclude(
            to_date__lt=unit_services.today()).filter(name__regex=row["field"]).order_by("sor_id")
        group = f"rename /{row['field']}/ → {row['value']!r}"
        out = []
        for unit in units:
            if pattern.search(unit.name):
                new = re.sub(r"\s{2,}", " ", pattern.sub(row["value"], unit.name)).strip()
                if new and new != unit.name:
                    out.append(self._one(unit, new, group))
        if not out:
            raise ChangeInputError(_("Ingen åbne enheder har et navn, der matcher %(p)r.") % {"p": row["field"]})
        return out

    def _one(self, unit, new, group):
        return Concrete("rename", unit.sor_id, field="name", value=new, base_version=unit.version, group=group,
                        description=_("%(unit)s omdøbes til %(new)r") % {"unit": unit, "new": new})

    def apply(self, change, ctx):
        unit_services.unit_update(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id,
                                  changes={"name": change.value}, from_date=ctx.effective, override_warnings=True)

    def inverse(self, change, unit=None):
        unit = unit or Unit.objects.get(pk=change.unit_id)
        return [{"change": "rename", "sor_id": str(unit.sor_id), "target": "", "field": "", "value": unit.name}]


@register
class RetypeChange(ChangeType):
    kind = "retype"
    label = _l("ny enhedstype")
    fieldwise = True

    def values(self, change):
        return {"entity_type": _code(EntityType, change.value, "retype")}

    def expand(self, row):
        new = _code(EntityType, row["value"], "retype")
        units = [_unit(row["sor_id"])] if row["sor_id"] else list(selection(row["target"]))
        group = "" if row["sor_id"] else f"retype {row['target']} → {new.code}"
        out = []
        for unit in units:
            if unit.level == Level.OWNER:
                raise ChangeInputError(_("%(unit)s er en institutionsejer; dens type er en ejertype (set owner_type).")
                                       % {"unit": unit})
            if unit.entity_type_id != new.pk:
                out.append(Concrete("retype", unit.sor_id, value=new.code, base_version=unit.version, group=group,
                                    description=_("%(unit)s: enhedstype %(old)s → %(new)s") % {
                                        "unit": unit, "old": unit.entity_type or "–", "new": new}))
        if not out:
            raise ChangeInputError(_("Ingen enheder at give typen %(code)s.") % {"code": new.code})
        return out

    def apply(self, change, ctx):
        unit_services.unit_update(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id,
                                  changes={"entity_type": _code(EntityType, change.value, "retype")},
                                  from_date=ctx.effective, override_warnings=True)

    def inverse(self, change, unit=None):
        unit = unit or Unit.objects.select_related("entity_type").get(pk=change.unit_id)
        return [{"change": "retype", "sor_id": str(unit.sor_id), "target": "", "field": "",
                 "value": unit.entity_type.code if unit.entity_type else ""}]


_CODE_FIELDS = {"entity_type", "owner_type", "region"}


@register
class ReplaceCodeChange(ChangeType):
    kind = "replace_code"
    label = _l("erstat en kode med dens efterfølger")

    def expand(self, row):
        name = row["field"].strip()
        if name not in _CODE_FIELDS:
            raise ChangeInputError(_("replace_code gælder feltet entity_type, owner_type eller region, ikke %(f)r.")
                                   % {"f": name})
        model = _SETTABLE[name].related_model
        old = _code(model, row["target"], name)
        new = _code(model, row["value"], name) if row["value"].strip() else old.successor
        if new is None:
            raise ChangeInputError(_("Koden %(code)s har ingen efterfølger; angiv den nye kode i value.")
                                   % {"code": old.code})
        units = Unit.objects.exclude(to_date__lt=unit_services.today()).filter(**{name: old}).order_by("sor_id")
        group = f"replace_code {name} {old.code} → {new.code}"
        out = [_set_concrete(u, name, new.code, group) for u in units]
        if not out:
            raise ChangeInputError(_("Ingen åbne enheder har %(f)s %(code)s.") % {"f": name, "code": old.code})
        return out


@register
class MoveChange(ChangeType):
    kind = "move"
    label = _l("flyt med underenheder")

    def expand(self, row):
        unit = _unit(row["sor_id"])
        parent = _unit(row["target"], _("Ny overordnet: "))
        return [Concrete("move", unit.sor_id, target=str(parent.sor_id), base_version=unit.version,
                         description=_("%(unit)s flyttes under %(parent)s") % {"unit": unit, "parent": parent})]

    def apply(self, change, ctx):
        unit_services.unit_move(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id,
                                new_parent=int(change.target), from_date=ctx.effective)

    def inverse(self, change, unit=None):
        unit = Unit.objects.get(pk=change.unit_id)
        return [{"change": "move", "sor_id": str(unit.sor_id), "target": str(unit.parent_id), "field": "", "value": ""}]


@register
class CreateChange(ChangeType):
    kind = "create"
    label = _l("opret enhed")
    versioned_by_unit = False

    def touched(self, change):
        return [int(change.target)]

    def expand(self, row):
        parent = _unit(row["target"], _("Overordnet: "))
        name = row["value"].strip()
        if not name:
            raise ChangeInputError(_("create kræver den nye enheds navn i kolonnen value."))
        level = Level.INSTITUTION if parent.level == Level.OWNER else Level.UNIT
        if row["field"].strip():
            _code(EntityType, row["field"], "create")
        elif level == Level.INSTITUTION:
            raise ChangeInputError(_("En sundhedsinstitution kræver en enhedstype (kode i kolonnen field)."))
        return [Concrete("create", None, target=str(parent.sor_id), field=row["field"].strip(), value=name,
                         base_version=parent.version,
                         description=_("Ny %(level)s %(name)r under %(parent)s") % {
                             "level": Level(level).label, "name": name, "parent": parent})]

    def current_version(self, change):
        return Unit.objects.filter(pk=int(change.target)).values_list("version", flat=True).first()

    def apply(self, change, ctx):
        parent = Unit.objects.get(pk=int(change.target))
        level = Level.INSTITUTION if parent.level == Level.OWNER else Level.UNIT
        extra = {"entity_type": _code(EntityType, change.field, "create")} if change.field else {}
        unit = unit_services.unit_create(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, level=level,
                                         parent=parent, name=change.value, from_date=ctx.effective,
                                         override_warnings=True, **extra)
        ctx.written_units.add(unit.sor_id)
        return unit

    # The inverse names the new unit, so it is recorded after the change is applied.
    inverse_after_apply = True

    def inverse(self, change, unit=None):
        return [{"change": "withdraw", "sor_id": str(unit.sor_id), "target": "", "field": "", "value": ""}]


@register
class WithdrawChange(ChangeType):
    """The inverse of `create`: a unit never in a published file is withdrawn (removed, its
    SOR-ID never reused); one a published file may hold is closed instead."""

    kind = "withdraw"
    label = _l("træk ny enhed tilbage")

    def expand(self, row):
        unit = _unit(row["sor_id"])
        return [Concrete("withdraw", unit.sor_id, base_version=unit.version,
                         description=_("%(unit)s trækkes tilbage (lukkes, hvis den har været i en publiceret fil)")
                         % {"unit": unit})]

    def apply(self, change, ctx):
        if not unit_services.was_published(change.unit_id):
            unit_services.unit_withdraw(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id)
            return
        unit = Unit.objects.get(pk=change.unit_id)
        unit_services.unit_close(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=unit,
                                 to_date=max(ctx.effective - dt.timedelta(days=1), unit.from_date),
                                 include_descendants=True)


@register
class CloseChange(ChangeType):
    kind = "close"
    label = _l("luk")

    def expand(self, row):
        unit = _unit(row["sor_id"])
        if row["value"].strip():
            _date(row["value"], "close: value (lukkedato)")
        subtree = row["target"].strip()
        if subtree not in ("", "subtree"):
            raise ChangeInputError(_("close: target er tom eller 'subtree', ikke %(v)r.") % {"v": subtree})
        return [Concrete("close", unit.sor_id, target=subtree, value=row["value"].strip(), base_version=unit.version,
                         description=_("%(unit)s lukkes%(with)s") % {
                             "unit": unit, "with": _(" med alle underenheder") if subtree else ""})]

    def apply(self, change, ctx):
        if change.value:
            to_date = _date(change.value, "close")
        else:  # the day before the set's date, or its date when an earlier change of the set began a version then
            from_date = Unit.objects.filter(pk=change.unit_id).values_list("from_date", flat=True).first()
            to_date = max(ctx.effective - dt.timedelta(days=1), from_date or ctx.effective)
        unit_services.unit_close(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id,
                                 to_date=to_date, include_descendants=change.target == "subtree")

    def inverse(self, change, unit=None):
        return [{"change": "reopen", "sor_id": str(change.unit_id), "target": "", "field": "", "value": ""}]


@register
class ReopenChange(ChangeType):
    kind = "reopen"
    label = _l("genåbn")

    def expand(self, row):
        unit = _unit(row["sor_id"])
        return [Concrete("reopen", unit.sor_id, base_version=unit.version,
                         description=_("%(unit)s genåbnes") % {"unit": unit})]

    def apply(self, change, ctx):
        unit_services.unit_reopen(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id)

    def inverse(self, change, unit=None):
        unit = Unit.objects.get(pk=change.unit_id)
        return [{"change": "close", "sor_id": str(unit.sor_id), "target": "subtree", "field": "",
                 "value": unit.to_date.isoformat() if unit.to_date else ""}]


def _number(unit: Unit, gln: str, *, what: str) -> LocationNumber:
    numbers = list(unit.location_numbers.filter(Q(to_date__isnull=True) | Q(to_date__gte=unit_services.today())))
    if gln.strip():
        numbers = [ln for ln in numbers if ln.gln == gln.strip()]
        if not numbers:
            raise ChangeInputError(_("%(what)s: %(unit)s har ikke lokationsnummer %(gln)s.")
                                   % {"what": what, "unit": unit, "gln": gln})
    if not numbers:
        raise ChangeInputError(_("%(what)s: %(unit)s har intet eget aktivt lokationsnummer.") % {"what": what, "unit": unit})
    if len(numbers) > 1:
        raise ChangeInputError(_("%(what)s: %(unit)s har flere lokationsnumre (%(glns)s); angiv hvilket i kolonnen field.")
                               % {"what": what, "unit": unit, "glns": ", ".join(ln.gln for ln in numbers)})
    return numbers[0]


class _NumberChange(ChangeType):
    """A change about one location number: `field` holds its GLN, `base_version` its version."""

    versioned_by_unit = False

    def current_version(self, change):
        return LocationNumber.objects.filter(unit_id=change.unit_id, gln=change.field).values_list(
            "version", flat=True).order_by("-pk").first()

    def _ln(self, change) -> LocationNumber:
        """The number as the register stands when the change is applied: by its GLN among the
        active numbers (an earlier change of the set may have moved it to another unit)."""
        ln = (LocationNumber.objects.filter(gln=change.field).filter(
            Q(to_date__isnull=True) | Q(to_date__gte=unit_services.today())).order_by("-pk").first())
        if ln is None:
            raise DomainError(_("Lokationsnummer %(gln)s er ikke aktivt.") % {"gln": change.field})
        return ln


@register
class MoveLocationNumberChange(_NumberChange):
    kind = "move_location_number"
    label = _l("flyt lokationsnummer")

    def expand(self, row):
        holder = _unit(row["sor_id"])
        receiver = _unit(row["target"], _("Modtager: "))
        ln = _number(holder, row["field"], what="move_location_number")
        after = (row["value"] or "none").strip()
        if after not in (LocationMode.NONE, LocationMode.INHERITED):
            raise ChangeInputError(_("move_location_number: value er none eller inherited, ikke %(v)r.") % {"v": after})
        return [Concrete("move_location_number", holder.sor_id, target=str(receiver.sor_id), field=ln.gln, value=after,
                         base_version=ln.version,
                         description=_("Lokationsnummer %(gln)s flyttes fra %(holder)s til %(receiver)s; %(holder)s %(after)s")
                         % {"gln": ln.gln, "holder": holder, "receiver": receiver,
                            "after": _("arver derefter fra sin overordnede") if after == LocationMode.INHERITED
                            else _("har derefter intet lokationsnummer")})]

    def apply(self, change, ctx):
        ln_services.location_number_move(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin,
                                         location_number=self._ln(change), to_unit=int(change.target),
                                         holder_after=change.value or LocationMode.NONE, from_date=ctx.effective)

    def inverse(self, change, unit=None):
        # The receiver gets back the way it was reached before (none or inherited).
        mode = Unit.objects.filter(pk=int(change.target)).values_list("location_mode", flat=True).first()
        return [{"change": "move_location_number", "sor_id": change.target, "target": str(change.unit_id),
                 "field": change.field, "value": mode if mode == LocationMode.INHERITED else LocationMode.NONE}]


@register
class AssignLocationNumberChange(_NumberChange):
    kind = "assign_location_number"
    label = _l("tildel lokationsnummer")
    _CODES = {"system_supplier", "system_type", "network_operator", "region", "edi_administrator"}

    def expand(self, row):
        from .. import identifiers as ids

        unit = _unit(row["sor_id"])
        gln = row["value"].strip()
        errors, _w = ids.check_gln(gln)
        if errors:
            raise ChangeInputError(_("assign_location_number: %(gln)r: %(e)s") % {"gln": gln, "e": "; ".join(map(str, errors))})
        codes = self._codes(row["field"])
        description = _("%(unit)s får lokationsnummer %(gln)s") % {"unit": unit, "gln": gln}
        if codes.get("message_types"):
            description += _(" med EDI-meddelelsestyperne %(codes)s") % {
                "codes": ", ".join(mt.code for mt in codes["message_types"])}
        return [Concrete("assign_location_number", unit.sor_id, field=row["field"].strip(), value=gln,
                         base_version=unit.version, description=description)]

    def _codes(self, text: str) -> dict:
        """`system_supplier=…,system_type=…,network_operator=…,region=…,edi_administrator=…`, and
        `message_types=CODE|CODE…` (the EDI message types the new number takes, e.g. those of the
        number it replaces)."""
        out = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _sep, code = part.partition("=")
            key = key.strip()
            if key == "message_types":
                out["message_types"] = [_message_type(c.strip()) for c in code.split("|") if c.strip()]
                continue
            if key not in self._CODES:
                raise ChangeInputError(_("assign_location_number: ukendt felt %(k)r (kendte: %(known)s).")
                                       % {"k": key, "known": ", ".join(sorted(self._CODES))})
            out[key] = _code(LocationNumber._meta.get_field(key).related_model, code, key)
        return out

    versioned_by_unit = True

    def apply(self, change, ctx):
        ln_services.location_number_assign(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, unit=change.unit_id,
                                           gln=change.value, from_date=ctx.effective, **self._codes(change.field))

    def inverse(self, change, unit=None):
        return [{"change": "close_location_number", "sor_id": str(change.unit_id), "target": "",
                 "field": change.value, "value": ""}]


@register
class CloseLocationNumberChange(_NumberChange):
    kind = "close_location_number"
    label = _l("luk lokationsnummer")

    def expand(self, row):
        unit = _unit(row["sor_id"])
        ln = _number(unit, row["field"], what="close_location_number")
        if row["value"].strip():
            _date(row["value"], "close_location_number: value (lukkedato)")
        return [Concrete("close_location_number", unit.sor_id, field=ln.gln, value=row["value"].strip(),
                         base_version=ln.version,
                         description=_("Lokationsnummer %(gln)s på %(unit)s lukkes") % {"gln": ln.gln, "unit": unit})]

    def apply(self, change, ctx):
        to_date = _date(change.value, "close_location_number") if change.value else ctx.effective - dt.timedelta(days=1)
        ln_services.location_number_close(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin,
                                          location_number=self._ln(change), to_date=to_date)


def _message_type(code: str) -> EdiMessageType:
    return _code(EdiMessageType, code, "message_types")


@register
class MessageTypesChange(_NumberChange):
    kind = "message_types"
    label = _l("EDI-meddelelsestyper")

    def expand(self, row):
        action = row["target"].strip()
        if action not in ("add", "remove", "replace"):
            raise ChangeInputError(_("message_types: target er add, remove eller replace, ikke %(v)r.") % {"v": action})
        if action == "replace":
            old_code, sep, new_code = row["value"].partition(">")
            if not sep:
                raise ChangeInputError(_("message_types replace: value skrives GAMMEL>NY, fx XDIS16:XD1631C>XDIS16:XD1633C."))
            old, new = _message_type(old_code.strip()), _message_type(new_code.strip())
        else:
            old = new = _message_type(row["value"].strip())
        if row["sor_id"]:
            numbers = [_number(_unit(row["sor_id"]), row["field"], what="message_types")]
            group = ""
        else:
            if action != "replace":
                raise ChangeInputError(_("message_types uden SOR-ID gælder kun replace (hvert nummer med den gamle version)."))
            numbers = list(LocationNumber.objects.filter(message_types=old).filter(
                Q(to_date__isnull=True) | Q(to_date__gte=unit_services.today())).select_related("unit").order_by("gln"))
            group = f"message_types {old.code} → {new.code}"
            if not numbers:
                raise ChangeInputError(_("Intet aktivt lokationsnummer har meddelelsestypen %(code)s.") % {"code": old.code})
        out = []
        for ln in numbers:
            text = {"add": _("%(gln)s (%(unit)s): tilføj %(new)s"), "remove": _("%(gln)s (%(unit)s): fjern %(old)s"),
                    "replace": _("%(gln)s (%(unit)s): %(old)s → %(new)s")}[action]
            out.append(Concrete("message_types", ln.unit_id, target=action, field=ln.gln, value=row["value"].strip(),
                                base_version=ln.version, group=group,
                                description=text % {"gln": ln.gln, "unit": ln.unit, "old": old.code, "new": new.code}))
        return out

    def _wanted(self, ln, action, value):
        current = {mt.code: mt for mt in ln.message_types.all()}
        if action == "replace":
            old_code, _sep, new_code = value.partition(">")
            if old_code.strip() in current:
                current.pop(old_code.strip())
                current[new_code.strip()] = _message_type(new_code.strip())
        elif action == "add":
            current[value] = _message_type(value)
        else:
            if value not in current:
                raise DomainError(_("Lokationsnummer %(gln)s har ikke meddelelsestypen %(code)s.")
                                  % {"gln": ln.gln, "code": value})
            current.pop(value)
        return list(current.values())

    def apply(self, change, ctx):
        ln = self._ln(change)
        ln_services.location_number_set_message_types(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin,
                                                      location_number=ln,
                                                      message_types=self._wanted(ln, change.target, change.value))

    def inverse(self, change, unit=None):
        if change.target == "replace":
            old, _sep, new = change.value.partition(">")
            return [{"change": "message_types", "sor_id": str(change.unit_id), "target": "replace",
                     "field": change.field, "value": f"{new}>{old}"}]
        return [{"change": "message_types", "sor_id": str(change.unit_id), "field": change.field, "value": change.value,
                 "target": "remove" if change.target == "add" else "add"}]


@register
class SorResponsibleChange(ChangeType):
    """The owner's SOR-responsible person (not SOR data: `registry.selfservice`): `field` is
    name, email or phone. A new e-mail is high risk: follow-up mails and one-time links go there."""

    kind = "set_sor_responsible"
    label = _l("SOR-ansvarlig")
    _FIELDS = {"name": _l("navn"), "email": _l("e-mail"), "phone": _l("telefon")}

    def risk(self, change):
        return Risk.HIGH if change.field == "email" else Risk.LOW

    def expand(self, row):
        from .. import identifiers as ids

        owner = _unit(row["sor_id"])
        name, value = row["field"].strip(), row["value"].strip()
        if owner.level != Level.OWNER:
            raise ChangeInputError(_("set_sor_responsible: %(unit)s er ikke en institutionsejer.") % {"unit": owner})
        if name not in self._FIELDS:
            raise ChangeInputError(_("set_sor_responsible: field er name, email eller phone, ikke %(f)r.") % {"f": name})
        check = {"email": ids.check_email, "phone": ids.check_phone}.get(name)
        errors = check(value)[0] if check else ([] if value else [_("Skal udfyldes.")])
        if errors or not value:
            raise ChangeInputError(_("set_sor_responsible: %(v)r: %(e)s") % {
                "v": value, "e": "; ".join(map(str, errors)) or _("Skal udfyldes.")})
        from ..models import SorResponsible

        old = SorResponsible.objects.filter(owner=owner).values_list(name, flat=True).first() or ""
        return [Concrete("set_sor_responsible", owner.sor_id, field=name, value=value,
                         description=_("%(unit)s: SOR-ansvarlig, %(field)s %(old)r → %(new)r") % {
                             "unit": owner, "field": self._FIELDS[name], "old": old, "new": value})]

    def apply(self, change, ctx):
        from ..selfservice.services import responsible_set

        responsible_set(actor=ctx.actor, owner=change.unit_id, reason=ctx.reason, origin=ctx.origin,
                        **{change.field: change.value})

    def inverse(self, change, unit=None):
        from ..models import SorResponsible

        old = SorResponsible.objects.filter(owner_id=change.unit_id).values_list(change.field, flat=True).first()
        return [{"change": "set_sor_responsible", "sor_id": str(change.unit_id), "field": change.field,
                 "value": old, "target": ""}] if old else []


@register
class ReplacementLinkChange(ChangeType):
    """`sor_id` is replaced by `target`: the duplicate's ReplacedBy names the survivor and the
    survivor's Replaces names the duplicate (both directions, as SDS's files link them)."""

    kind = "replacement_link"
    label = _l("erstattet af")

    def touched(self, change):
        return [change.unit_id, int(change.target)]

    def expand(self, row):
        old, new = _unit(row["sor_id"]), _unit(row["target"], _("Erstattes af: "))
        if old.pk == new.pk:
            raise ChangeInputError(_("replacement_link: en enhed kan ikke erstatte sig selv."))
        return [Concrete("replacement_link", old.sor_id, target=str(new.sor_id), base_version=old.version,
                         description=_("%(old)s erstattes af %(new)s (ReplacedBy/Replaces)") % {"old": old, "new": new})]

    def apply(self, change, ctx):
        old, new = Unit.objects.get(pk=change.unit_id), Unit.objects.get(pk=int(change.target))
        # The survivor's version starts on the set's date; the replaced unit (closed next) keeps its FromDate.
        unit_services.unit_update_many(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin,
                                       updates={new.pk: {"replaces": sorted({*(new.replaces or []), old.pk})}},
                                       from_date=ctx.effective)
        unit_services.unit_update_many(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin,
                                       updates={old.pk: {"replaced_by": sorted({*(old.replaced_by or []), new.pk})}})

    def inverse(self, change, unit=None):
        return [{"change": "replacement_unlink", "sor_id": str(change.unit_id), "target": change.target, "field": "",
                 "value": ""}]


@register
class ReplacementUnlinkChange(ReplacementLinkChange):
    kind = "replacement_unlink"
    label = _l("fjern erstattet af")

    def expand(self, row):
        old, new = _unit(row["sor_id"]), _unit(row["target"], _("Erstattes af: "))
        return [Concrete("replacement_unlink", old.sor_id, target=str(new.sor_id), base_version=old.version,
                         description=_("%(old)s erstattes ikke længere af %(new)s") % {"old": old, "new": new})]

    def apply(self, change, ctx):
        old, new = Unit.objects.get(pk=change.unit_id), Unit.objects.get(pk=int(change.target))
        left = [pk for pk in (old.replaced_by or []) if pk != new.pk]
        right = [pk for pk in (new.replaces or []) if pk != old.pk]
        unit_services.unit_update_many(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, updates={
            old.pk: {"replaced_by": left or None}, new.pk: {"replaces": right or None}})

    def inverse(self, change, unit=None):
        return [{"change": "replacement_link", "sor_id": str(change.unit_id), "target": change.target, "field": "",
                 "value": ""}]


MERGE_FIELDS = ("name", "phone", "email", "website", "fax", "cvr", "p_number", "provider_number", "shak",
                "entity_type", "owner_type")


@register
class MergeChange(ChangeType):
    """Merge the duplicate `sor_id` into the survivor `target` (issue 16). `field`: the fields whose
    value the survivor takes from the duplicate (comma separated, e.g. `phone,email`); `value`:
    `move` (default) or `close` for the duplicate's active location numbers. Expands into the
    changes that do it, each its own reviewable, revertible change: the survivor's chosen values,
    the duplicate's children moved under the survivor, its location numbers moved or closed, the
    ReplacedBy/Replaces link (SI and OE: the file has none on owners), and the duplicate closed
    the day before the set's date. A
    "99"-prefixed ydernummer that only hid the duplicate goes with the closed unit; a survivor
    that carried one gets the plain number."""

    kind = "merge"
    label = _l("læg dubletter sammen")

    def expand(self, row):
        dup, survivor = _unit(row["sor_id"], _("Dublet: ")), _unit(row["target"], _("Bevares: "))
        if dup.pk == survivor.pk:
            raise ChangeInputError(_("merge: dubletten og den, der bevares, er den samme enhed."))
        if dup.level != survivor.level:
            raise ChangeInputError(_("merge: %(dup)s og %(survivor)s er ikke på samme niveau (%(a)s, %(b)s).")
                                   % {"dup": dup, "survivor": survivor, "a": dup.level, "b": survivor.level})
        if survivor.pk in (dup.ancestors or []) or dup.pk in (survivor.ancestors or []):
            raise ChangeInputError(_("merge: den ene enhed ligger under den anden."))
        if dup.to_date is not None and dup.to_date < unit_services.today():
            raise ChangeInputError(_("merge: %(dup)s er allerede lukket.") % {"dup": dup})
        fields = [f.strip() for f in row["field"].split(",") if f.strip()]
        unknown = [f for f in fields if f not in MERGE_FIELDS]
        if unknown:
            raise ChangeInputError(_("merge: ukendte felter %(f)s (kendte: %(known)s).")
                                   % {"f": ", ".join(unknown), "known": ", ".join(MERGE_FIELDS)})
        numbers = (row["value"] or "move").strip()
        if numbers not in ("move", "close"):
            raise ChangeInputError(_("merge: value er move eller close (lokationsnumrene), ikke %(v)r.") % {"v": numbers})
        group = _("sammenlægning: %(dup)s → %(survivor)s") % {"dup": dup.sor_id, "survivor": survivor.sor_id}
        out: list[Concrete] = []

        def sub(kind, **values):
            found = TYPES[kind].expand({"change": kind, "sor_id": "", "target": "", "field": "", "value": "", **values})
            for c in found:
                c.group = group
            out.extend(found)

        plain_from_dup = ""
        if re.fullmatch(r"99[0-9]{6}", survivor.provider_number or "") and dup.provider_number == survivor.provider_number[2:]:
            plain_from_dup = dup.provider_number  # the survivor hid the duplicate: it gets the plain number
        if plain_from_dup and "provider_number" not in fields:
            fields.append("provider_number")
        for name in fields:
            value = getattr(dup, name)
            value = getattr(value, "code", value)
            current = getattr(survivor, name)
            if (getattr(current, "code", current) or "") == (value or "") and name != "provider_number":
                continue  # the survivor has it already
            if name == "provider_number" and re.fullmatch(r"99[0-9]{6}", str(value or "")):
                continue  # a 99-number only hid the duplicate: never carried over
            if name in ("phone", "email", "website", "fax") and not survivor.virtual_present:
                sub("set", sor_id=str(survivor.pk), field="virtual_present", value="ja")
            sub("set", sor_id=str(survivor.pk), field=name, value="" if value is None else str(value))
        for child in Unit.objects.filter(parent=dup).filter(Q(to_date__isnull=True) | Q(to_date__gte=unit_services.today())
                                                            ).order_by("sor_id"):
            sub("move", sor_id=str(child.pk), target=str(survivor.pk))
        active = dup.location_numbers.filter(Q(to_date__isnull=True) | Q(to_date__gte=unit_services.today())).order_by("gln")
        for ln in active:
            if numbers == "move":
                sub("move_location_number", sor_id=str(dup.pk), target=str(survivor.pk), field=ln.gln, value="none")
            else:
                sub("close_location_number", sor_id=str(dup.pk), field=ln.gln)
        if dup.level != Level.OWNER:  # SOR's file links successors on SI and OE only
            sub("replacement_link", sor_id=str(dup.pk), target=str(survivor.pk))
        sub("close", sor_id=str(dup.pk))
        return out
