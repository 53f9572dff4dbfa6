"""The change log: one function records every change, in the transaction that makes it.

`record()` is used by the save/delete signals (one row), the history-aware bulk helpers and the
COPY path (many rows), and the code-list loader of a migration. For each row it writes one
`ChangeEvent` with the changed fields' old and new values (a created row: every value that is
not empty), classified as created, changed, moved, closed, reopened, location number assigned,
moved or closed, message types changed or code retired.

Units whose effective (inherited) values change because something above them changed get
their own `effective_changed` event: before an operation first writes a unit or location number
that can change what a subtree inherits, the subtree's effective values are kept (`watch`); when
the operation ends they are resolved again and every unit whose inherited blocks differ gets an
event listing them (`flush_effective`). A consumer never has to recompute inheritance to learn
that its unit's routing changed.

Sequence numbers are assigned when the outermost operation ends, under a transaction-level
advisory lock that is held until the commit (`assign_sequence`, ADR 0008), so they become
visible in commit order and without gaps; a bulk operation takes the lock at its first bulk
write and numbers at insert from then on (`_numbers_at_insert`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import operator
import uuid

import orjson
from django.db import connection
from django.db.models import Q
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.utils import timezone

from .audit import require_context
from .models.operations import ChangeEvent, EventEntity, EventKind

# pg_advisory_xact_lock key: "SORLOG" in ASCII.
SEQUENCE_LOCK = 0x534F524C4F47
COPY_THRESHOLD = 200
NOT_TRACKED = {"version"}  # a save counter, not register data

# Fields whose change can change what the units below inherit (or the unit's own derived blocks).
_INHERITED_PREFIXES = ("postal_", "visiting_", "activity_", "virtual_")
_INHERITED_FIELDS = {"email", "website", "phone", "fax", "location_mode", "parent_id", "ancestors"}


# -- values ---------------------------------------------------------------------------------------
def jsonable(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


@functools.cache
def tracked_fields(model) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key and f.name not in NOT_TRACKED)


@functools.cache
def tracked_attnames(model) -> tuple[str, ...]:
    return tuple(f.attname for f in tracked_fields(model))


@functools.cache
def _empties(model) -> dict:
    return {f.attname: empty_value(f) for f in tracked_fields(model)}


def empty_value(f):
    """The value a field has when nothing was said: what a created event leaves out (none, empty
    text, false, an empty list). A nullable list keeps [] apart from none: in the file, an empty
    collection element is not the same as no element."""
    if f.null:
        return None
    kind = f.get_internal_type()
    if kind == "BooleanField":
        return False
    if kind in ("CharField", "TextField"):
        return ""
    if kind in ("ArrayField", "JSONField"):
        return []
    return None


def values_of(obj, attnames) -> dict:
    return {name: jsonable(getattr(obj, name)) for name in attnames}


def _entity(model) -> str:
    name = model._meta.model_name
    if name == "unit":
        return EventEntity.UNIT
    if name == "locationnumber":
        return EventEntity.LOCATION_NUMBER
    if name == "locationnumbermessagetype":
        return EventEntity.MESSAGE_TYPE_LINK
    return EventEntity.CODE


def _diff(model, old: dict | None, new: dict | None) -> dict:
    if old is None or new is None:
        side = new if old is None else old
        empties = _empties(model)
        present = {k: v for k, v in side.items() if v != empties.get(k)}
        return {k: [None, v] for k, v in present.items()} if old is None else {k: [v, None] for k, v in present.items()}
    return {k: [old.get(k), v] for k, v in new.items() if k in old and old[k] != v}


def _kind(entity: str, old, new, changes: dict) -> str:
    def went(name, frm_none: bool):
        if name not in changes:
            return False
        before, after = changes[name]
        return (before is None and after is not None) if frm_none else (before is not None and after is None)

    if entity == EventEntity.MESSAGE_TYPE_LINK:
        return EventKind.MESSAGE_TYPES_CHANGED
    if new is None:
        return EventKind.DELETED
    if entity == EventEntity.UNIT:
        if old is None:
            return EventKind.CREATED
        if went("to_date", True):
            return EventKind.CLOSED
        if went("to_date", False):
            return EventKind.REOPENED
        if "parent_id" in changes or "ancestors" in changes:
            return EventKind.MOVED
        return EventKind.CHANGED
    if entity == EventEntity.LOCATION_NUMBER:
        if old is None:
            return EventKind.LOCATION_NUMBER_ASSIGNED
        if "unit_id" in changes:
            return EventKind.LOCATION_NUMBER_MOVED
        if went("to_date", True):
            return EventKind.LOCATION_NUMBER_CLOSED
        if went("to_date", False):
            return EventKind.LOCATION_NUMBER_REOPENED
        return EventKind.CHANGED
    if old is None:
        return EventKind.CREATED
    if changes.get("retired") == [False, True]:
        return EventKind.CODE_RETIRED
    return EventKind.CHANGED


def _unit_ids_for_links(link_rows) -> dict:
    from .models import LocationNumber

    ln_ids = {(new or old).get("location_number_id") for _pk, _u, old, new in link_rows}
    return dict(LocationNumber.objects.filter(pk__in=ln_ids).values_list("pk", "unit_id"))


# -- the one recorder -----------------------------------------------------------------------------
def record(model, rows, *, operation_id: int | None = None, event_model=None) -> int:
    """Append one event per changed row. `rows`: (pk, unit_id or None, old values or None for a
    created row, new values or None for a deleted one), values keyed by attname and JSON-able.
    Returns the number of events written. Outside a migration the open operation is used.
    A model that is not SOR data (`sor_private`, the SOR-responsible person) gets none: the change
    log is public; its history rows and operation are its audit trail."""
    if getattr(model, "sor_private", False):
        return 0
    entity = _entity(model)
    rows = list(rows)
    if entity == EventEntity.MESSAGE_TYPE_LINK and rows and event_model is None:
        unit_of = _unit_ids_for_links(rows)
        rows = [(pk, unit_of.get((new or old).get("location_number_id")), old, new) for pk, _u, old, new in rows]
    label = model._meta.label_lower
    events = []
    for pk, unit_id, old, new in rows:
        changes = _diff(model, old, new)
        if not changes:
            continue
        if entity == EventEntity.UNIT:
            unit_id = pk
        elif entity == EventEntity.LOCATION_NUMBER:
            unit_id = (new or old).get("unit_id", unit_id)  # a bulk update may not touch unit_id
        events.append((entity, label, str(pk), unit_id, _kind(entity, old, new, changes), changes))
    return write_events(events, operation_id=operation_id, event_model=event_model)


def record_created(model, objs) -> int:
    """`record` for rows just created in bulk (the import and the generator: ~180,000 rows): the
    same events, built in one pass over each row's attributes (dates stay dates until the JSON is
    written)."""
    entity = _entity(model)
    label = model._meta.label_lower
    empties = _empties(model)
    names = tuple(empties)
    empty_values = tuple(empties.values())
    getter = operator.itemgetter(*names)
    kind = _kind(entity, None, {}, {})
    unit_ids = None
    if entity == EventEntity.MESSAGE_TYPE_LINK:
        unit_ids = _unit_ids_for_links([(o.pk, None, None, {"location_number_id": o.location_number_id}) for o in objs])
    events = []
    for obj in objs:
        values = getter(obj.__dict__)
        # Compare and pick in C: only the few non-empty values reach the Python loop.
        present = itertools.compress(zip(names, values, strict=True), map(operator.ne, values, empty_values))
        changes = {name: [None, value] for name, value in present}
        if entity == EventEntity.UNIT:
            unit_id = obj.pk
        elif entity == EventEntity.LOCATION_NUMBER:
            unit_id = obj.unit_id
        elif unit_ids is not None:
            unit_id = unit_ids.get(obj.location_number_id)
        else:
            unit_id = None
        events.append((entity, label, str(obj.pk), unit_id, kind, changes))
    return write_events(events)


def write_events(events, *, operation_id: int | None = None, event_model=None, op=None) -> int:
    """events: (entity, model label, object id, unit id, kind, changes). Written under `op` (an
    OperationState), the open operation, or, in a migration, `operation_id`."""
    if not events:
        return 0
    first = now = None
    if operation_id is None:
        op = op or require_context().op
        operation_id = op.mark_written()
        root = op.root or op
        root.events_written = True
        first = _numbers_at_insert(root, len(events))
        if first is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT clock_timestamp()")  # the same clock as assign_sequence
                now = cursor.fetchone()[0]
    event_model = event_model or ChangeEvent
    if len(events) < COPY_THRESHOLD:
        event_model.objects.bulk_create([
            event_model(operation_id=operation_id, entity=e, model=m, object_id=o, unit_id=u, kind=k, changes=c,
                        seq=None if first is None else first + i, sequenced_at=now)
            for i, (e, m, o, u, k, c) in enumerate(events)
        ])
    else:
        table = connection.ops.quote_name(event_model._meta.db_table)
        sql = (f"COPY {table} (operation_id, entity, model, object_id, unit_id, kind, changes, seq, sequenced_at) "
               "FROM STDIN")
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as pipe:
            for i, (e, m, o, u, k, c) in enumerate(events):
                pipe.write_row((operation_id, e, m, o, u, k, orjson.dumps(c).decode(),
                                None if first is None else first + i, now))
    return len(events)


def _numbers_at_insert(root, count: int) -> int | None:
    """The first of `count` sequence numbers for events about to be inserted, or None to number
    them when the operation ends. An operation that writes events in bulk (an import, the
    generator) takes the lock at its first bulk write and numbers from then on at insert: that
    saves rewriting ~180,000 rows at the end, and other writers wait for its commit at their own
    numbering step, as they would for any lock holder (ADR 0008).

    Only at the operation's own level of the transaction: inside a savepoint opened within it
    (a child operation, a caller's atomic block) a rollback would release the lock and leave a
    gap, so events written there are numbered at the end like any others."""
    if len(connection.savepoint_ids) != root.depth:
        return None
    if root.next_seq is None:
        if count < COPY_THRESHOLD:
            return None
        assign_sequence(root.operation_ids)
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(seq), 0) FROM registry_changeevent")
            root.next_seq = cursor.fetchone()[0] + 1
    first = root.next_seq
    root.next_seq += count
    return first


def assign_sequence(operation_ids) -> int:
    """Give this transaction's unsequenced events their sequence numbers, in insertion order.

    The advisory lock is held until the transaction ends, so the next writer reads max(seq) only
    after this one's events are visible: numbers become visible in commit order, with no gaps
    (an aborted transaction's numbers were never visible and are taken again)."""
    if not operation_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCE_LOCK])
        cursor.execute("SELECT coalesce(max(seq), 0) FROM registry_changeevent")
        top = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE registry_changeevent e SET seq = %s + p.n, sequenced_at = clock_timestamp() "
            "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM registry_changeevent "
            "      WHERE seq IS NULL AND operation_id = ANY(%s)) p WHERE e.id = p.id",
            [top, list(operation_ids)],
        )
        return cursor.rowcount


# -- effective (inherited) values -----------------------------------------------------------------
BLOCKS = ("postal", "visiting", "activity", "virtual", "location_number")
_LN_ATTRS = ("only_internal", "non_active", "system_supplier_id", "system_type_id", "network_operator_id",
             "region_id", "edi_administrator_id", "from_date", "to_date")


def _block_values(name, resolved) -> dict:
    value = resolved.value
    if value is None:
        return {}
    if name == "location_number":
        out = {"location_number": value.gln}
        out.update({f"location_number.{a}": jsonable(getattr(value, a)) for a in _LN_ATTRS})
        return out
    return {f"{name}.{k}": jsonable(v) for k, v in value.items() if v not in (None, "")}


def effective_state(sor_ids, day: dt.date | None = None) -> dict:
    """sor_id → {block: (source SOR-ID, flat values)} for the given units, resolved as the register
    routes them on `day` (today by default): the current location number, never a closed one."""
    from collections import defaultdict

    from .inheritance import Resolver
    from .models import LocationNumber, Unit

    sor_ids = list(sor_ids)
    if not sor_ids:
        return {}
    units = {u.sor_id: u for u in Unit.objects.filter(sor_id__in=sor_ids)}
    above = {a for u in units.values() for a in u.ancestors} - set(units)
    if above:
        units.update({u.sor_id: u for u in Unit.objects.filter(sor_id__in=above)})
    lns = defaultdict(list)
    for ln in LocationNumber.objects.filter(unit_id__in=list(units)):
        lns[ln.unit_id].append(ln)
    resolver = Resolver(units, lns, day or timezone.localdate())
    state = {}
    for sor_id in sor_ids:
        unit = units.get(sor_id)
        if unit is None:
            continue
        resolved = resolver.all(unit)
        state[sor_id] = {name: (resolved[name].source, _block_values(name, resolved[name])) for name in BLOCKS}
    return state


def _subtree_ids(roots) -> list[int]:
    from .models import Unit

    roots = list(roots)
    return list(Unit.objects.filter(Q(sor_id__in=roots) | Q(ancestors__overlap=roots)).values_list("sor_id", flat=True))


def watch(sor_ids) -> None:
    """Keep the effective values of these units and everything below them, as they are before
    the open operation changes them (units already kept, or created by it, are skipped)."""
    op = require_context().op
    roots = {i for i in sor_ids if i is not None and i not in op.watch and i not in op.created_units}
    if not roots:
        return
    ids = [i for i in _subtree_ids(roots) if i not in op.watch and i not in op.created_units]
    # An enclosing operation that watches some of these units logs what it changed so far, so
    # that each change is logged once, by the operation that made it.
    above = op.parent
    while above is not None:
        overlap = above.watch.keys() & set(ids)
        if overlap:
            _log_effective(above, {i: above.watch[i] for i in overlap})
        above = above.parent
    op.watch.update(effective_state(ids))


def flush_effective(op) -> int:
    """The `effective_changed` events of the units `op` watched; returns how many."""
    if not op.watch:
        return 0
    before, op.watch = op.watch, {}
    return _log_effective(op, before)


def _log_effective(op, before: dict) -> int:
    """Events for the units in `before` whose inherited values differ now; the enclosing
    operations that watch them compare with now from here on."""
    after = effective_state(list(before))
    above = op
    while above is not None:
        for sor_id in before.keys() & above.watch.keys():
            if sor_id in after:
                above.watch[sor_id] = after[sor_id]
        above = above.parent
    events = []
    for sor_id, old_blocks in before.items():
        new_blocks = after.get(sor_id)
        if new_blocks is None:
            continue
        changes = {}
        for name in BLOCKS:
            (old_src, old_vals), (new_src, new_vals) = old_blocks[name], new_blocks[name]
            if (old_src, old_vals) == (new_src, new_vals) or old_src == new_src == sor_id:
                continue  # unchanged, or the unit's own values (its own event says so)
            for key in sorted(old_vals.keys() | new_vals.keys()):
                if old_vals.get(key) != new_vals.get(key):
                    changes[key] = [old_vals.get(key), new_vals.get(key)]
            if old_src != new_src:
                changes[f"{name}.source"] = [str(old_src) if old_src else None, str(new_src) if new_src else None]
        if changes:
            events.append((EventEntity.UNIT, "registry.unit", str(sor_id), sor_id, EventKind.EFFECTIVE_CHANGED, changes))
    return write_events(events, op=op)  # under the operation that changed them


def inheritance_relevant(model, changed: set) -> bool:
    name = model._meta.model_name
    if name == "locationnumber":
        return True
    if name != "unit":
        return False
    return any(c.startswith(_INHERITED_PREFIXES) or c in _INHERITED_FIELDS for c in changed)


def watch_for(model, rows) -> None:
    """Before writing `rows` ((pk, old values or None, new values)) of a unit or location number:
    keep the effective values of the subtrees the write can change."""
    name = model._meta.model_name
    if name not in ("unit", "locationnumber"):
        return
    roots = set()
    for pk, old, new in rows:
        if name == "unit":
            if old is not None and inheritance_relevant(model, {k for k in new if old.get(k, new[k]) != new[k]}):
                roots.add(pk)
        else:
            roots.update(v for v in ((old or {}).get("unit_id"), new.get("unit_id")) if v is not None)
    if roots:
        watch(roots)


# -- signals: the one-row path (save, delete) -----------------------------------------------------
def _historied(sender) -> bool:
    return getattr(sender, "_sor_tracked", False)


def _before_save(sender, instance, raw=False, **kwargs):
    # A raw save is a fixture or test-database restore (loaddata, serialized rollback): rows put
    # back as they were, not a change; simple-history writes no history row for it either.
    if not _historied(sender) or raw:
        return
    require_context()  # refuse before anything reaches the database
    attnames = tracked_attnames(sender)
    old = None
    if not instance._state.adding and instance.pk is not None:
        old = sender._base_manager.filter(pk=instance.pk).values(*attnames).first()
        old = {k: jsonable(v) for k, v in old.items()} if old is not None else None
    instance._sor_old = old
    new = values_of(instance, attnames)
    if sender._meta.model_name == "locationnumber" or old is not None:
        watch_for(sender, [(instance.pk, old, new)])


def _after_save(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
    if not _historied(sender) or raw:
        return
    old = getattr(instance, "_sor_old", None)
    instance._sor_old = None
    if sender._meta.model_name == "unit" and old is None:
        require_context().op.created_units.add(instance.pk)
    attnames = tracked_attnames(sender)
    if update_fields and old is not None:  # only what the UPDATE wrote
        written = {sender._meta.get_field(name).attname for name in update_fields}
        attnames = [a for a in attnames if a in written]
    record(sender, [(instance.pk, getattr(instance, "unit_id", None), old, values_of(instance, attnames))])


def _before_delete(sender, instance, **kwargs):
    if not _historied(sender):
        return
    require_context()
    instance._sor_old = values_of(instance, tracked_attnames(sender))
    if sender._meta.model_name == "locationnumber":
        watch_for(sender, [(instance.pk, instance._sor_old, {"unit_id": instance.unit_id})])


def _after_delete(sender, instance, **kwargs):
    if not _historied(sender):
        return
    record(sender, [(instance.pk, None, getattr(instance, "_sor_old", None), None)])


def _refuse_m2m(sender, action, **kwargs):
    # `ln.message_types.add()` writes link rows without history or events (bulk_create, no
    # save signals): the service writes them one by one instead.
    if action in ("pre_add", "pre_remove", "pre_clear"):
        from .audit import AuditError

        raise AuditError("EDI message types are changed with location_number_set_message_types(), "
                         "not through the many-to-many manager.")


def connect(models) -> None:
    """Track these models (every model with history): guard before the write, event after it."""
    from django.db.models.signals import m2m_changed

    from .models import LocationNumber

    for model in models:
        model._sor_tracked = True
    m2m_changed.connect(_refuse_m2m, sender=LocationNumber.message_types.through, dispatch_uid="sor_refuse_m2m")
    pre_save.connect(_before_save, dispatch_uid="sor_changelog_pre_save")
    post_save.connect(_after_save, dispatch_uid="sor_changelog_post_save")
    pre_delete.connect(_before_delete, dispatch_uid="sor_changelog_pre_delete")
    post_delete.connect(_after_delete, dispatch_uid="sor_changelog_post_delete")
