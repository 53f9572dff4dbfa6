"""Change-set services: create, add, preview, submit, approve, reject, cancel, apply.

The admin, the command line (`manage.py sor_changeset`), correction requests and duplicate
merges call these; nothing else writes a change-set. Applying a set is one operation (kind
`change_set`, provenance {"change_set": id, "name": …}) in one transaction: all or nothing.

Preview and validation apply the set for real inside a transaction that is always rolled back
(the way the admin's forms ask the services, ADR 0007): every change is checked by the same
service code against the register as it will stand after the changes before it, and the
effective values and the v2 file records of the affected owner trees are read before and after.
Nothing of it is committed; the only trace is SOR-IDs a new unit took from the sequence.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
from collections import defaultdict

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from ..audit import Origin, audit_context
from ..errors import DomainError, NotAllowed, ValidationFailed
from ..models import (
    Change,
    ChangeSet,
    ChangeSetEvent,
    ChangeSetStatus,
    OperationKind,
    Risk,
    Unit,
)
from ..permissions import is_sor_admin, is_system
from ..services.units import UnitChangeRefused, unit_update_many
from .types import TYPES, ApplyContext, lookups, prefetch_units

S = ChangeSetStatus
CSV_HEADER = ["change", "sor_id", "target", "field", "value"]
EVENT = "registry.changeset."
_DIGITS = re.compile(r"[0-9]+")


class ChangeRowsInvalid(DomainError):
    """Rows of a changes file that cannot become changes: `errors` is [{"row": n, "message": …}]
    (row 1 is the header). Nothing was created or added."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(_("række %(row)d: %(message)s") % e for e in errors[:10]))


def today() -> dt.date:
    return timezone.localdate()


def _event(cs: ChangeSet, code: str, actor, note: str = "", **data) -> None:
    ChangeSetEvent.objects.create(changeset=cs, code=EVENT + code, actor=actor if getattr(actor, "pk", None) else None,
                                  note=note, data=data)
    if cs.provenance.get("case"):
        # A case's proposal: its timeline and status follow the set (same transaction).
        from registry.cases.services import changeset_event

        changeset_event(cs, code, actor, note)
    if cs.provenance.get("duplicate_group") and code in ("applied", "revert_applied"):
        # A merge of a duplicate group: merged when applied, open again when reverted.
        from registry.quality.duplicates import merge_event

        merge_event(cs, code)


def _locked(changeset) -> ChangeSet:
    return ChangeSet.objects.select_for_update().get(pk=getattr(changeset, "pk", changeset))


def _require(cs: ChangeSet, *statuses) -> None:
    if cs.status not in statuses:
        raise DomainError(_("Ændringssæt %(id)s er %(status)s; det kan kun ske for et sæt, der er %(wanted)s.")
                          % {"id": cs.pk, "status": cs.get_status_display(),
                             "wanted": _(" eller ").join(str(S(s).label) for s in statuses)})


# -- reading changes --------------------------------------------------------------------------------

def parse_changes_csv(data: bytes | str) -> list[dict]:
    """The rows of a changes file (semicolon-separated UTF-8, a BOM accepted, header
    change;sor_id;target;field;value), each with its row number. Raises ChangeRowsInvalid."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ChangeRowsInvalid([{"row": 0, "message": _("Filen er ikke UTF-8: %(e)s") % {"e": exc}}]) from None
    data = data.lstrip("\ufeff")
    if "\x00" in data:
        line = data[:data.index("\x00")].count("\n") + 1
        raise ChangeRowsInvalid([{"row": line, "message": _("Rækken indeholder et NUL-tegn (0x00); filen er ikke tekst.")}])
    reader = csv.reader(io.StringIO(data), delimiter=";")
    header = [h.strip().lower() for h in next(reader, [])]
    if header != CSV_HEADER:
        raise ChangeRowsInvalid([{"row": 1, "message": _("Overskriften skal være %(want)s, ikke %(got)s.")
                                  % {"want": ";".join(CSV_HEADER), "got": ";".join(header) or _("(tom)")}}])
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(CSV_HEADER):
            rows.append({"row": number, "error": _("%(n)d felter; der skal være %(want)d.")
                         % {"n": len(cells), "want": len(CSV_HEADER)}})
            continue
        rows.append({"row": number, **{k: v.strip() if k != "value" else v for k, v in zip(CSV_HEADER, cells, strict=True)}})
    return rows


def expand_rows(rows: list[dict]):
    """Rows → concrete changes. Every row is read; any bad row raises ChangeRowsInvalid with all of them."""
    concrete, errors = [], []
    with lookups():
        prefetch_units(sorted({int(r["sor_id"]) for r in rows if _DIGITS.fullmatch(r.get("sor_id", ""))}))
        for row in rows:
            _expand_row(row, concrete, errors)
    if errors:
        raise ChangeRowsInvalid(errors)
    return concrete


def _expand_row(row: dict, concrete: list, errors: list) -> None:
    if "error" in row:
        errors.append({"row": row["row"], "message": row["error"]})
        return
    kind = row["change"].strip()
    change_type = TYPES.get(kind)
    if change_type is None:
        errors.append({"row": row["row"], "message": _("Ukendt ændringstype %(k)r (kendte: %(known)s).")
                       % {"k": kind, "known": ", ".join(sorted(TYPES))}})
        return
    try:
        concrete.extend(change_type.expand(row))
    except DomainError as exc:
        errors.append({"row": row["row"], "message": str(exc)})


def _store(cs: ChangeSet, concrete) -> int:
    start = (cs.changes.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    Change.objects.bulk_create([
        Change(changeset=cs, position=start + i, kind=c.kind, unit_id=c.unit_id, target=c.target, field=c.field,
               value=c.value, base_version=c.base_version, description=c.description, group=c.group)
        for i, c in enumerate(concrete)])
    return len(concrete)


def _check_effective(actor, effective: dt.date) -> None:
    if effective < today() and not is_sor_admin(actor):
        raise NotAllowed(_("Et ændringssæt med en dato i fortiden (%(d)s) er en rettelse af det publicerede; "
                           "kun en SOR-administrator må oprette det.") % {"d": effective.strftime("%d-%m-%Y")})


def _check_may_propose(actor) -> None:
    if not (is_system(actor) or actor.is_superuser or actor.has_perm("registry.add_changeset")):
        raise NotAllowed(_("Du må ikke oprette ændringssæt."))


@transaction.atomic
def changeset_create(*, actor, name: str, reason: str, effective_date: dt.date | None = None,
                     rows: list[dict] | None = None, provenance: dict | None = None) -> ChangeSet:
    """A new draft, with the changes of `rows` (see parse_changes_csv); a bad row creates nothing.
    `provenance` (e.g. the case that proposes it) goes into the operation that applies it."""
    _check_may_propose(actor)
    name, reason = (name or "").strip(), (reason or "").strip()
    if not name or not reason:
        raise ValidationFailed({"name" if not name else "reason": [_("Skal udfyldes.")]})
    effective = effective_date or today()
    _check_effective(actor, effective)
    concrete = expand_rows(rows or [])
    cs = ChangeSet.objects.create(name=name, reason=reason, effective_date=effective, provenance=provenance or {},
                                  author=actor if getattr(actor, "pk", None) else None)
    n = _store(cs, concrete)
    cs.risk = set_risk(cs)
    cs.save(update_fields=["risk"])
    _event(cs, "created", actor, changes=n)
    return cs


@transaction.atomic
def changeset_add(*, actor, changeset, rows: list[dict]) -> ChangeSet:
    cs = _locked(changeset)
    _require(cs, S.DRAFT)
    if not is_system(actor) and cs.author_id != actor.pk and not is_sor_admin(actor):
        raise NotAllowed(_("Kun forfatteren eller en SOR-administrator kan tilføje ændringer til sættet."))
    n = _store(cs, expand_rows(rows))
    cs.risk = set_risk(cs)
    cs.save(update_fields=["risk"])
    _event(cs, "changes_added", actor, changes=n)
    return cs


def set_risk(cs: ChangeSet) -> str:
    """The highest risk of the set's changes (the policy table: `types.RISK_POLICY`)."""
    for change in cs.changes.all():
        if TYPES[change.kind].risk(change) == Risk.HIGH:
            return Risk.HIGH
    return Risk.LOW


# -- applying (for real, or on trial) ---------------------------------------------------------------

def _stale(cs: ChangeSet) -> list[dict]:
    """Changes whose unit or number changed since they were drafted."""
    changes = list(cs.changes.all())
    by_unit = [c for c in changes if c.base_version is not None and TYPES[c.kind].versioned_by_unit]
    versions = {}
    ids = sorted({c.unit_id for c in by_unit})
    for start in range(0, len(ids), 5000):
        versions.update(Unit.objects.filter(pk__in=ids[start:start + 5000]).values_list("sor_id", "version"))
    out = []
    for change in changes:
        if change.base_version is None:
            continue
        change_type = TYPES[change.kind]
        current = versions.get(change.unit_id) if change_type.versioned_by_unit else change_type.current_version(change)
        if current != change.base_version:
            out.append({"change": change.position, "unit": str(change.unit_id or change.target),
                        "message": _("Ændring %(n)d (%(d)s): enheden er ændret, siden ændringen blev lavet "
                                     "(version %(then)s, nu %(now)s). Lav ændringen igen.")
                        % {"n": change.position, "d": change.description, "then": change.base_version,
                           "now": current if current is not None else "–"}})
    return out


def _run_changes(cs: ChangeSet, actor, *, record_inverse: bool, warnings: list | None = None,
                 origin: str | None = None, parent=None) -> int:
    """Apply every change in order inside the set's operation (a child of `parent`, e.g. the
    nightly run's, when given); returns the operation's id. Raises _ChangeFailed naming the
    change and the unit at the first refusal. The services' warnings (which do not stop a set)
    are appended to `warnings` as (SOR-ID, message)."""
    ctx = ApplyContext(warnings=warnings if warnings is not None else [], actor=actor,
                       reason=f"{cs.name}: {cs.reason}", effective=cs.effective_date,
                       origin=origin or (Origin.COMMAND if is_system(actor) else Origin.ADMIN))
    with lookups(), audit_context(actor=actor, reason=ctx.reason, origin=ctx.origin, kind=OperationKind.CHANGE_SET,
                                  provenance={**cs.provenance, "change_set": cs.pk, "name": cs.name},
                                  parent=parent) as audit:
        for run in _runs(cs.changes.all()):
            change = run[0]
            change_type = TYPES[change.kind]
            try:
                if change_type.fieldwise:
                    _apply_fieldwise(run, ctx, record_inverse=record_inverse)
                    continue
                if record_inverse and not change_type.inverse_after_apply:
                    Change.objects.filter(pk=change.pk).update(inverse=change_type.inverse(change))
                result = change_type.apply(change, ctx)
                if record_inverse and change_type.inverse_after_apply:
                    Change.objects.filter(pk=change.pk).update(inverse=change_type.inverse(change, result))
            except UnitChangeRefused as exc:
                failed = next(c for c in run if c.unit_id == exc.unit.pk)
                raise _ChangeFailed(failed, exc.cause) from exc
            except DomainError as exc:
                raise _ChangeFailed(change, exc) from exc
            except DatabaseError as exc:  # a database rule no service check caught: still named
                raise _ChangeFailed(change, DomainError(str(exc).splitlines()[0])) from exc
    return audit.op.pk


def _apply_fieldwise(run: list[Change], ctx: ApplyContext, *, record_inverse: bool) -> None:
    """A run of set/rename/retype changes: one `unit_update_many` for all their units."""
    current = Unit.objects.select_related("entity_type").in_bulk(sorted({c.unit_id for c in run}))
    if record_inverse:
        for change in run:
            change.inverse = TYPES[change.kind].inverse(change, current.get(change.unit_id))
        Change.objects.bulk_update(run, ["inverse"], batch_size=1000)
    updates: dict[int, dict] = {}
    for change in run:
        updates.setdefault(change.unit_id, {}).update(TYPES[change.kind].values(change))
    unit_update_many(actor=ctx.actor, reason=ctx.reason, origin=ctx.origin, updates=updates, from_date=ctx.effective,
                     warnings=ctx.warnings)


def _runs(changes):
    """The changes in order; consecutive field-wise changes (set, rename, retype) together."""
    run = []
    for change in changes:
        if run and TYPES[change.kind].fieldwise and TYPES[run[-1].kind].fieldwise:
            run.append(change)
            continue
        if run:
            yield run
        run = [change]
    if run:
        yield run


class _ChangeFailed(DomainError):
    def __init__(self, change: Change, exc: DomainError):
        self.change = change
        self.cause = exc
        detail = exc
        if isinstance(exc, ValidationFailed):
            detail = "; ".join(f"{m}" for msgs in {**exc.warnings, **exc.errors}.values() for m in msgs)
        self.message = _("Ændring %(n)d (%(d)s), SOR-ID %(unit)s: %(e)s") % {
            "n": change.position, "d": change.description, "unit": change.unit_id or change.target, "e": detail}
        super().__init__(self.message)

    def as_dict(self):
        return {"change": self.change.position, "unit": str(self.change.unit_id or self.change.target),
                "message": self.message}


class _Rollback(Exception):
    pass


def validate(cs: ChangeSet, *, observe=None, warnings: list | None = None) -> list[dict]:
    """Every problem of the set as it would be applied now, nothing written: stale changes, then
    the first change a service refuses (by the register's rules: the role of whoever applies
    the set is checked when it is applied). `observe()` runs after the last change, inside the
    transaction that is rolled back (the preview reads the register "after" there)."""
    errors = _stale(cs)
    if errors:
        return errors
    try:
        with transaction.atomic():
            _run_changes(cs, None, record_inverse=False, warnings=warnings)
            if observe is not None:
                observe()
            raise _Rollback
    except _ChangeFailed as exc:
        errors.append(exc.as_dict())
    except _Rollback:
        pass
    return errors


def _scope(touched) -> set[int]:
    """The units whose values a change of `touched` can change: those and every unit below them."""
    touched = sorted(touched)
    if not touched:
        return set()
    below = Unit.objects.filter(ancestors__overlap=touched).values_list("sor_id", flat=True)
    return set(touched) | set(below)


def _with_ancestors(ids) -> list[Unit]:
    units = list(Unit.objects.filter(sor_id__in=list(ids)).select_related("entity_type"))
    chain = {a for u in units for a in u.ancestors} - set(ids)
    return units + list(Unit.objects.filter(sor_id__in=list(chain)).select_related("entity_type"))


def _sid(sor_id):
    """SOR-IDs are strings in what the preview reports (JSON consumers must not round them)."""
    return None if sor_id is None else str(sor_id)


def _effective(ids, day) -> dict[int, dict]:
    """Per unit of `ids`: what routes its messages and where it sits (its ancestors are read to
    resolve what it inherits; nothing else of the owner trees)."""
    from ..inheritance import Resolver
    from ..models import LocationNumber

    units = _with_ancestors(ids)
    by_id = {u.sor_id: u for u in units}
    lns = defaultdict(list)
    for ln in LocationNumber.objects.filter(unit_id__in=list(by_id)).prefetch_related("message_types"):
        lns[ln.unit_id].append(ln)
    resolver = Resolver(by_id, lns, day)
    out = {}
    for sor_id in ids:
        unit = by_id.get(sor_id)
        if unit is None:
            continue
        values = resolver.all(unit)
        ln = values["location_number"].value
        institution = unit.sor_id if unit.level == "SI" else (unit.ancestors[1] if len(unit.ancestors) > 1 else None)
        out[sor_id] = {
            "location_number": ln.gln if ln is not None else None,
            # The unit whose number routes this unit's messages (itself, or an ancestor it inherits from).
            "location_number_source": _sid(values["location_number"].source if ln is not None else None),
            "message_types": sorted(mt.code for mt in ln.message_types.all()) if ln is not None else [],
            "postal": values["postal"].value, "visiting": values["visiting"].value,
            "activity": values["activity"].value, "virtual": values["virtual"].value,
            "owner": _sid(unit.owner_id), "institution": _sid(institution), "region": unit.region_id,
            "name": unit.name, "entity_type": unit.entity_type_id, "parent": _sid(unit.parent_id),
            "closed": unit.to_date is not None and unit.to_date < day,
        }
    return out


def _v2_records(ids, day) -> dict[int, bytes]:
    """The v2 file's record of each unit of `ids` (its own element and location numbers, without
    the units below, prefixed by its parent's SOR-ID: a record moved elsewhere in the tree
    counts), as the daily file for `day` writes it. Only these units and their ancestors are
    written."""
    from lxml import etree

    from exports.xml.builder import SorXmlBuilder
    from exports.xml.source import code_maps, owner_tree_rows

    ids = set(ids)
    if not ids:
        return {}
    rows = list(Unit.objects.filter(sor_id__in=list(ids)).values_list("owner_id", "ancestors"))
    owner_ids = sorted({owner for owner, _chain in rows})
    keep = set(ids) | {a for _owner, chain in rows for a in chain}
    units, lns = owner_tree_rows(owner_ids)
    owners, children = {}, defaultdict(list)
    for unit in units:  # ordered by owner, SOR-ID: children lists come out sorted
        if unit.sor_id not in keep:
            continue
        if unit.parent_id is None:
            owners[unit.sor_id] = unit
        else:
            children[unit.parent_id].append(unit)
    buffer = io.BytesIO()
    builder = SorXmlBuilder(buffer, "v2", day, code_maps())
    builder.header(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    for owner_id in owner_ids:
        if owner_id in owners:
            builder.owner(owners[owner_id], children, lns)
    builder.close()
    root = etree.fromstring(buffer.getvalue())
    wrappers = {"InstitutionOwnerEntity", "HealthInstitutionEntity", "OrganizationalUnitEntity"}
    out, seen = {}, {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).localname not in wrappers:
            continue
        record = etree.Element(element.tag)
        sor_id = None
        for child in element:
            if etree.QName(child).localname in wrappers:
                continue
            record.append(copy.deepcopy(child))
            if sor_id is None:
                for item in child.iter():
                    if isinstance(item.tag, str) and etree.QName(item).localname == "SorIdentifier":
                        sor_id = int(item.text)
                        break
        if sor_id is not None:
            seen[element] = sor_id
            if sor_id in ids:
                out[sor_id] = f"{seen.get(element.getparent())}|".encode() + etree.tostring(record, method="c14n")
    return out


# What changes where a unit's messages arrive. Which unit holds the number it inherits
# ("location_number_source") is shown beside it, but the same number from another holder routes
# the same way.
ROUTING_KEYS = {"location_number", "message_types"}


def preview(changeset, *, with_records: bool = True) -> dict:
    """What applying the set now would do, without writing: for every unit whose effective values
    change (descendants included) their before and after; the units whose routing changes; the
    v2 records of the daily file for the effective date that change; and the errors."""
    cs = ChangeSet.objects.get(pk=getattr(changeset, "pk", changeset))
    day = max(cs.effective_date, today())
    touched = set()
    for change in cs.changes.all():
        touched.update(TYPES[change.kind].touched(change))
    scope = _scope(touched)
    before = _effective(scope, day)
    records_before = _v2_records(scope, day) if with_records else {}
    seen = {}

    def observe():
        after_scope = scope | _scope(touched)  # a new unit lies below a touched parent
        seen["after"] = _effective(after_scope, day)
        seen["records"] = _v2_records(after_scope, day) if with_records else {}

    found_warnings: list = []
    errors = validate(cs, observe=observe, warnings=found_warnings)
    after = seen.get("after", before)
    records_after = seen.get("records", records_before)
    units = []
    routing = []
    for sor_id in sorted(set(before) | set(after)):
        old, new = before.get(sor_id), after.get(sor_id)
        if old == new:
            continue
        diff = {key: {"before": (old or {}).get(key), "after": (new or {}).get(key)}
                for key in sorted(set(old or {}) | set(new or {})) if (old or {}).get(key) != (new or {}).get(key)}
        units.append({"sor_id": str(sor_id), "name": (new or old)["name"], "changes": diff})
        if ROUTING_KEYS & set(diff):
            routing.append(str(sor_id))
    changed_records = sorted(str(s) for s in set(records_before) | set(records_after)
                             if records_before.get(s) != records_after.get(s))
    return {
        "id": str(cs.pk), "status": cs.status, "effective_date": cs.effective_date.isoformat(),
        "affected": [u["sor_id"] for u in units], "routing_changed": routing,
        "file_records_changed": len(changed_records), "file_records": changed_records,
        "units": units, "errors": errors,
        "warnings": [{"unit": str(sor_id), "message": message} for sor_id, message in found_warnings],
        "past_effective_date": cs.effective_date < today(),
        "notes": [_("Datoen %(d)s ligger før i dag: sættet retter det registrerede, og filer, der allerede er "
                    "publiceret, afviger fra registeret efter rettelsen.") % {"d": cs.effective_date.strftime("%d-%m-%Y")}]
        if cs.effective_date < today() else [],
    }


# -- the workflow -----------------------------------------------------------------------------------

def _may_make_edits(actor, cs: ChangeSet) -> bool:
    """Whether the author's role may make every change of a (low-risk) set itself."""
    if is_system(actor) or actor.is_superuser:
        return True
    from ..permissions import check_unit_change

    try:
        for change in cs.changes.all():
            unit = Unit.objects.filter(pk=change.unit_id).first()
            if unit is None:
                return False
            check_unit_change(actor, unit, [change.field] if change.field else ["name"])
    except NotAllowed:
        return False
    return True


def changeset_submit(*, actor, changeset) -> ChangeSet:
    """Draft → submitted, after validation; a low-risk set whose author may make its edits is
    approved by the policy at once (recorded as its approval), and applied at once when its
    date has come."""
    with transaction.atomic():
        cs = _locked(changeset)
        _require(cs, S.DRAFT)
        if not is_system(actor) and cs.author_id not in (None, actor.pk):
            raise NotAllowed(_("Kun forfatteren kan indsende sættet."))
        if not cs.changes.exists():
            raise DomainError(_("Ændringssættet har ingen ændringer."))
        if cs.author_id is None and not is_system(actor):
            _check_may_propose(actor)  # a set nobody authored (a clinic's): whoever submits it proposes it
        if cs.provenance.get("case"):
            from ..cases.services import check_work_on_cases, unconfirmed_cases_of

            check_work_on_cases(actor, cs)
            unconfirmed = unconfirmed_cases_of(cs)
            if unconfirmed:
                raise DomainError(_("Anmoderens identitet er ikke bekræftet på sagen %(refs)s: bekræft den på sagen "
                                    "(fx ved opkald til det registrerede telefonnummer), før sættet indsendes.")
                                  % {"refs": ", ".join(unconfirmed)})
    errors = validate(cs)
    if errors:
        raise ValidationFailed({"__all__": [e["message"] for e in errors]})
    with transaction.atomic():
        cs = _locked(cs)
        _require(cs, S.DRAFT)
        cs.risk = set_risk(cs)
        cs.status = S.SUBMITTED
        cs.submitted_at = timezone.now()
        _event(cs, "submitted", actor, risk=cs.risk)
        if cs.risk == Risk.LOW and _may_make_edits(actor, cs) and not _blocking_conflicts(cs):
            cs.status = S.APPROVED
            cs.approval = "policy"
            _event(cs, "approved", actor, note=_("Lav risiko, og forfatteren må selv lave ændringerne (politik)."),
                   approval="policy")
        cs.save()
    return _apply_if_due(cs, actor)


def changeset_approve(*, actor, changeset, note: str = "") -> ChangeSet:
    """Submitted → approved by another SOR-administrator (four eyes), refused while the set
    conflicts with one submitted before it; a set whose date has come is applied at once."""
    with transaction.atomic():
        cs = _locked(changeset)
        _require(cs, S.SUBMITTED)
        if is_system(actor) or not is_sor_admin(actor):
            raise NotAllowed(_("Kun en SOR-administrator kan godkende et ændringssæt."))
        contributed = cs.events.filter(code__in=[EVENT + "created", EVENT + "changes_added", EVENT + "submitted"], actor=actor).exists()
        if cs.author_id == actor.pk or contributed:
            raise NotAllowed(_("Du kan ikke godkende dit eget ændringssæt: en anden SOR-administrator skal godkende det."))
        blocking = _blocking_conflicts(cs)
        if blocking:
            raise DomainError(_("Sættet kan ikke godkendes, før konflikten er løst (det andet sæt annulleres eller "
                                "ændres): %(c)s") % {"c": "; ".join(c["message"] for c in blocking[:5])})
        cs.status = S.APPROVED
        cs.approved_by = actor
        cs.approval = "person"
        cs.save()
        _event(cs, "approved", actor, note=note, approval="person")
    return _apply_if_due(cs, actor)


def _apply_if_due(cs: ChangeSet, actor) -> ChangeSet:
    """An approved set whose date has come applies at once; one the actor may not apply now
    (a freeze window, the actor's role) stays approved for the nightly run."""
    if cs.status != S.APPROVED or cs.effective_date > today():
        return cs
    try:
        return changeset_apply(actor=actor, changeset=cs)
    except NotAllowed:
        return ChangeSet.objects.get(pk=cs.pk)
    except DomainError:
        return ChangeSet.objects.get(pk=cs.pk)  # failed, with its reason on the set


@transaction.atomic
def changeset_reject(*, actor, changeset, note: str = "") -> ChangeSet:
    cs = _locked(changeset)
    _require(cs, S.SUBMITTED, S.APPROVED)
    if is_system(actor) or not is_sor_admin(actor):
        raise NotAllowed(_("Kun en SOR-administrator kan afvise et ændringssæt."))
    if cs.author_id == actor.pk:
        raise NotAllowed(_("Du kan ikke afvise dit eget ændringssæt; annullér det i stedet."))
    cs.status = S.REJECTED
    cs.status_reason = note
    cs.save()
    _event(cs, "rejected", actor, note=note)
    _release_reverted(cs, actor)
    return cs


@transaction.atomic
def changeset_cancel(*, actor, changeset, note: str = "") -> ChangeSet:
    cs = _locked(changeset)
    _require(cs, S.DRAFT, S.SUBMITTED, S.APPROVED)
    # A draft nobody authored (a clinic's, from self-service) may be cancelled by whoever may propose.
    ownerless_draft = cs.author_id is None and cs.status == S.DRAFT and actor is not None \
        and not is_system(actor) and actor.has_perm("registry.add_changeset")
    if not is_system(actor) and cs.author_id != actor.pk and not is_sor_admin(actor) and not ownerless_draft:
        raise NotAllowed(_("Kun forfatteren eller en SOR-administrator kan annullere sættet."))
    if ownerless_draft and cs.provenance.get("case"):
        from ..cases.services import check_work_on_cases

        check_work_on_cases(actor, cs)
    cs.status = S.CANCELLED
    cs.status_reason = note
    cs.save()
    _event(cs, "cancelled", actor, note=note)
    _release_reverted(cs, actor)
    return cs


def _release_reverted(inverse: ChangeSet, actor) -> None:
    """An inverse set that will not be applied: the set it would revert is applied again."""
    if inverse.reverts_id is None:
        return
    original = _locked(inverse.reverts_id)
    if original.status == S.REVERTED:
        original.status = S.APPLIED
        original.save(update_fields=["status"])
        _event(original, "revert_dropped", actor, inverse=str(inverse.pk),
               note=_("Tilbageførslen nr. %(id)s blev %(status)s.") % {"id": inverse.pk, "status": inverse.get_status_display()})


def changeset_apply(*, actor, changeset, day: dt.date | None = None, origin: str | None = None,
                    parent=None) -> ChangeSet:
    """Approved → applied, as one operation (a child of `parent` when given), all or nothing.
    `day` is the date the caller applies for (the nightly run's date; default today): a set
    dated later is refused. A refusal (a stale change, a rule the register as it then stands
    breaks) applies nothing and marks the set failed with the reason naming the change and the
    unit; the applier's rights (and a freeze window) refuse without changing the set."""
    day = day or today()
    with transaction.atomic():
        cs = _locked(changeset)
        _require(cs, S.APPROVED)
        if cs.effective_date > day:
            raise DomainError(_("Sættet gælder fra %(d)s og kan gennemføres fra den dag.")
                              % {"d": cs.effective_date.strftime("%d-%m-%Y")})
        if not is_system(actor) and cs.approval == "policy" and cs.author_id not in (None, actor.pk) and not is_sor_admin(actor):
            raise NotAllowed(_("Sættet er godkendt efter politikken for forfatteren; kun forfatteren eller en "
                               "SOR-administrator kan gennemføre det."))
        if not is_system(actor) and cs.approval == "person" and not is_sor_admin(actor):
            raise NotAllowed(_("Et sæt med høj risiko gennemføres af en SOR-administrator."))
        failure = None
        stale = _stale(cs)
        if stale:
            failure = stale[0]["message"]
        else:
            try:
                with transaction.atomic():
                    operation_id = _run_changes(cs, actor, record_inverse=True, origin=origin, parent=parent)
            except _ChangeFailed as exc:
                if isinstance(exc.cause, NotAllowed):
                    # The person applying may not make this change: refused, the set stays approved.
                    raise NotAllowed(exc.message) from exc
                failure = exc.message
        if failure is not None:
            cs.status = S.FAILED
            cs.status_reason = failure
            cs.save()
            _event(cs, "failed", actor, note=failure)
            _release_reverted(cs, actor)
        else:
            cs.status = S.APPLIED
            cs.applied_at = timezone.now()
            cs.operation_id = operation_id
            cs.save()
            _event(cs, "applied", actor, operation=operation_id)
            if cs.reverts_id is not None:
                _event(_locked(cs.reverts_id), "revert_applied", actor, inverse=str(cs.pk), operation=operation_id)
    if failure is not None:
        raise DomainError(failure)
    return cs


def apply_due(day: dt.date, *, log=print, parent=None) -> dict:
    """The nightly activation: every approved set dated `day` or earlier, oldest date first, each
    in its own transaction and operation (a child of `parent`); a set that fails is marked failed
    and the others go on. Inside a freeze window that does not let scheduled sets through they
    wait for the first run after it. Idempotent: an applied set is not approved any more."""
    from .. import freeze

    due = list(ChangeSet.objects.filter(status=S.APPROVED, effective_date__lte=day)
               .order_by("effective_date", "submitted_at", "pk").values_list("pk", flat=True))
    window = freeze.blocking("scheduled")
    if due and window is not None:
        log(_("%(n)d ændringssæt venter på, at frysevinduet %(w)s slutter.") % {"n": len(due), "w": window})
        return {"applied": [], "failed": [], "waiting": [str(pk) for pk in due]}
    applied, failed = [], []
    for pk in due:
        try:
            changeset_apply(actor=None, changeset=pk, day=day, origin=Origin.TASK, parent=parent)
        except DomainError as exc:
            if ChangeSet.objects.filter(pk=pk, status=S.APPROVED).exists():
                log(_("Ændringssæt %(id)s blev ikke gennemført og venter: %(e)s") % {"id": pk, "e": exc})
                continue
            failed.append(str(pk))
            log(_("Ændringssæt %(id)s fejlede: %(e)s") % {"id": pk, "e": exc})
            continue
        applied.append(str(pk))
        log(_("Ændringssæt %(id)s gennemført.") % {"id": pk})
    return {"applied": applied, "failed": failed, "waiting": []}


# -- conflicts --------------------------------------------------------------------------------------

PENDING = (S.SUBMITTED, S.APPROVED)


def change_keys(change: Change) -> list[tuple[str, str]]:
    """What a change writes, as (thing, field) pairs: two pending sets writing the same pair conflict."""
    kind = change.kind
    unit = str(change.unit_id) if change.unit_id else ""
    if TYPES[kind].fieldwise:
        return [(unit, change.field or {"rename": "name", "retype": "entity_type"}[kind])]
    if kind == "move":
        return [(unit, "parent")]
    if kind in ("close", "reopen"):
        return [(unit, "to_date")]
    if kind == "withdraw":
        return [(unit, "*")]
    if kind == "create":
        return []
    if kind == "assign_location_number":
        return [(f"ln:{change.value}", "unit")]
    if kind == "message_types":
        return [(f"ln:{change.field}", "message_types")]
    if kind == "set_sor_responsible":
        return [(unit, f"sor_responsible.{change.field}")]
    return [(f"ln:{change.field}", "unit")]  # move/close a location number


_FIELD_WORDS = {"parent": _l("placering"), "to_date": _l("lukning"), "*": _l("enheden"), "unit": _l("placering"),
                "message_types": _l("meddelelsestyper")}


def conflicts(changeset) -> list[dict]:
    """The pending sets (submitted or approved, not applied) that write something this set
    writes: per unit (or location number) and field, which set was submitted first. The one
    submitted later cannot be approved until the conflict is resolved."""
    cs = ChangeSet.objects.get(pk=getattr(changeset, "pk", changeset))
    mine = defaultdict(set)
    for change in cs.changes.all():
        for key in change_keys(change):
            mine[key[0]].add(key[1])
    if not mine:
        return []
    unit_ids = [int(k) for k in mine if k.isdigit()]
    glns = [k[3:] for k in mine if k.startswith("ln:")]
    others = (Change.objects.filter(changeset__status__in=PENDING).exclude(changeset=cs)
              .filter(Q(unit_id__in=unit_ids) | Q(field__in=glns) | Q(value__in=glns))
              .select_related("changeset"))
    out, seen = [], set()
    for other in others:
        for thing, field in change_keys(other):
            hit = thing in mine and (field in mine[thing] or "*" in mine[thing] or field == "*")
            if not hit or (other.changeset_id, thing, field) in seen:
                continue
            seen.add((other.changeset_id, thing, field))
            earlier = _submitted_before(other.changeset, cs)
            what = (_("lokationsnummer %(gln)s") % {"gln": thing[3:]}) if thing.startswith("ln:") \
                else (_("SOR-ID %(id)s") % {"id": thing})
            label = _FIELD_WORDS.get(field)
            field_text = str(label) if label else _field_label(field)
            out.append({
                "other": str(other.changeset_id), "other_name": other.changeset.name,
                "other_status": other.changeset.status, "unit": thing, "field": field,
                "blocks": earlier,
                "message": _("%(what)s, %(field)s: også ændret af sæt nr. %(id)s %(name)r (%(status)s), indsendt "
                             "%(when)s") % {"what": what, "field": field_text, "id": other.changeset_id,
                                            "name": other.changeset.name,
                                            "status": other.changeset.get_status_display(),
                                            "when": _("før dette") if earlier else _("efter dette")},
            })
    return out


def _field_label(name: str) -> str:
    try:
        return str(Unit._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a name that is not a field is shown as it is
        return name


def _submitted_before(other: ChangeSet, cs: ChangeSet) -> bool:
    """Whether `other` came first: approved already, or submitted earlier (a draft comes last)."""
    if other.status == S.APPROVED and cs.status != S.APPROVED:
        return True
    if cs.submitted_at is None:
        return True
    if other.submitted_at is None:
        return False
    return (other.submitted_at, other.pk) < (cs.submitted_at, cs.pk)


def _blocking_conflicts(cs: ChangeSet) -> list[dict]:
    return [c for c in conflicts(cs) if c["blocks"]]


def pending_by_unit(ids) -> dict[int, list[ChangeSet]]:
    """Per unit of `ids`: the pending sets (submitted or approved, not applied) with a change
    about it (a new unit counts for its parent), by effective date."""
    ids = [int(i) for i in ids]
    if not ids:
        return {}
    out: dict[int, list[ChangeSet]] = defaultdict(list)
    rows = (Change.objects.filter(changeset__status__in=PENDING)
            .filter(Q(unit_id__in=ids) | Q(kind="create", target__in=[str(i) for i in ids]))
            .select_related("changeset").order_by("changeset__effective_date", "changeset_id"))
    for change in rows:
        unit = change.unit_id if change.unit_id in ids else int(change.target)
        if change.changeset not in out[unit]:
            out[unit].append(change.changeset)
    return dict(out)


# -- revert -----------------------------------------------------------------------------------------

def _changed_since(change: Change) -> str | None:
    """Why the register no longer holds what the change wrote (a later change touched the same
    field), or None. Read before drafting its inverse: a later change is never overwritten."""
    from ..models import LocationNumber

    kind = change.kind
    change_type = TYPES[kind]
    if kind == "create":
        return None
    if kind == "close_location_number":
        return _("Et lukket lokationsnummer (%(gln)s) genåbnes ikke af en tilbageførsel; tildel det igen.") % {
            "gln": change.field}
    if kind in ("move_location_number", "assign_location_number", "message_types"):
        gln = change.value if kind == "assign_location_number" else change.field
        ln = (LocationNumber.objects.filter(gln=gln).filter(Q(to_date__isnull=True) | Q(to_date__gte=today()))
              .prefetch_related("message_types").order_by("-pk").first())
        holder = int(change.target) if kind == "move_location_number" else change.unit_id
        if ln is None or ln.unit_id != holder:
            return _("Lokationsnummer %(gln)s ligger ikke længere, hvor sættet lagde det.") % {"gln": gln}
        if kind == "message_types":
            codes = {mt.code for mt in ln.message_types.all()}
            wanted = change.value.partition(">")[2].strip() if change.target == "replace" else change.value
            present = wanted in codes
            if present != (change.target != "remove"):
                return _("Meddelelsestyperne på %(gln)s er ændret siden.") % {"gln": gln}
        return None
    unit = Unit.objects.filter(pk=change.unit_id).first()
    if unit is None:
        return _("SOR-ID %(id)s findes ikke længere.") % {"id": change.unit_id}
    if change_type.fieldwise:
        for name, value in change_type.values(change).items():
            if getattr(unit, name) != value:
                return _("%(unit)s: %(field)s er ændret siden (nu %(now)r).") % {
                    "unit": unit, "field": _field_label(name), "now": getattr(unit, name)}
        return None
    if kind == "move" and unit.parent_id != int(change.target):
        return _("%(unit)s er flyttet igen siden.") % {"unit": unit}
    if kind == "close" and unit.to_date is None:
        return _("%(unit)s er genåbnet siden.") % {"unit": unit}
    if kind == "reopen" and unit.to_date is not None:
        return _("%(unit)s er lukket igen siden.") % {"unit": unit}
    return None


def changeset_revert(*, actor, changeset, effective_date: dt.date | None = None, reason: str = "") -> ChangeSet:
    """Draft the inverse of an applied set (it needs the same approval as any set): every
    change's stored inverse, last change first. A change a later change has overwritten is left
    out and listed as a conflict (on the inverse's timeline and in `revert_conflicts`). The
    original gets status "reverted" and leads to its inverse; if the inverse is cancelled,
    rejected or fails, the original is applied again. Returns the inverse (a draft)."""
    _check_may_propose(actor)
    with transaction.atomic():
        original = _locked(changeset)
        _require(original, S.APPLIED)
        rows, skipped = [], []
        for change in original.changes.order_by("-position"):
            why = _changed_since(change)
            if why is not None:
                skipped.append({"change": change.position, "description": change.description, "message": why})
                continue
            for row in change.inverse or []:
                rows.append({"row": len(rows) + 2, **row})
        if not rows:
            raise DomainError(_("Intet at tilbageføre: %(why)s") % {
                "why": "; ".join(c["message"] for c in skipped) or _("sættet har ingen ændringer med en modsat ændring.")})
        inverse = changeset_create(
            actor=actor, name=(_("Tilbageførsel af %(name)s") % {"name": original.name})[:200],
            reason=reason or _("Tilbagefører ændringssæt nr. %(id)s (%(reason)s)") % {"id": original.pk,
                                                                                     "reason": original.reason},
            effective_date=effective_date or max(today(), original.effective_date), rows=rows)
        inverse.reverts = original
        inverse.save(update_fields=["reverts"])
        if skipped:
            _event(inverse, "revert_conflicts", actor, note="; ".join(c["message"] for c in skipped), conflicts=skipped)
        original.status = S.REVERTED
        original.save(update_fields=["status"])
        _event(original, "reverted", actor, inverse=str(inverse.pk))
    return inverse


def revert_conflicts(cs: ChangeSet) -> list[dict]:
    """The changes an inverse set leaves out because later changes overwrote them."""
    event = cs.events.filter(code=EVENT + "revert_conflicts").first()
    return list(event.data.get("conflicts", [])) if event else []


def waiting_for(user):
    """Sets submitted by others that `user` may approve ("afventer min godkendelse")."""
    if not is_sor_admin(user) or is_system(user):
        return ChangeSet.objects.none()
    return ChangeSet.objects.filter(status=S.SUBMITTED).exclude(author=user)


def summary(cs: ChangeSet) -> dict:
    """The set as the command line's --json prints it (ids as strings)."""
    groups = defaultdict(int)
    for change in cs.changes.all():
        groups[change.kind] += 1
    return {
        "id": str(cs.pk), "name": cs.name, "reason": cs.reason, "status": cs.status, "risk": cs.risk,
        "effective_date": cs.effective_date.isoformat(), "author": cs.author.username if cs.author else None,
        "approved_by": cs.approved_by.username if cs.approved_by else None, "approval": cs.approval,
        "status_reason": cs.status_reason, "operation": str(cs.operation_id) if cs.operation_id else None,
        "reverts": str(cs.reverts_id) if cs.reverts_id else None,
        "inverse": next((str(i.pk) for i in cs.inverses.order_by("-pk")), None),
        "conflicts": conflicts(cs) if cs.status in (S.DRAFT, *PENDING) else [],
        "revert_conflicts": revert_conflicts(cs),
        "changes": [{"n": c.position, "change": c.kind, "sor_id": str(c.unit_id) if c.unit_id else None,
                     "target": c.target, "field": c.field, "value": c.value, "description": c.description}
                    for c in cs.changes.all()],
        "counts": dict(groups),
        "timeline": [{"event": e.code, "by": e.actor.username if e.actor else None,
                      "at": timezone.localtime(e.at).isoformat(timespec="seconds"), "note": e.note}
                     for e in cs.events.select_related("actor")],
    }
