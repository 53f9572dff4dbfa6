"""The change feed: change-log events as consumers read them (`/api/v1/changes/`).

    {"sequence": 1234, "kind": "changed", "sor_id": "…", "fields": {"name": {"old": …, "new": …}},
     "operation_id": "<uuid>", "committed_at": "2026-12-03T01:02:03.456789Z"}

Unit events name the unit; location-number and EDI message-type events name the unit holding
the number and add `location_number` (the GLN); code events name `code_list` and `code`.
`successor` is set on closures and merges when the unit names what replaces it. Fields use the
documents' names (`documents.API_FIELD`); inherited values changed by an edit above a unit
are `effective.<block>.<field>` (and `effective.<block>.source`). Sequence numbers become
visible in commit order without gaps (ADR 0008): paging with `after=` the last one seen never
misses or repeats an event.
"""

from __future__ import annotations

import datetime as dt

from ..models import ChangeEvent, EventEntity, EventKind, LocationNumber
from .codes import CODE_FIELDS, CODE_LISTS, SLUG_OF, CodeCache
from .documents import API_FIELD, BLOCK_NAMES, NOT_PUBLISHED, api_value

KINDS = [k.value for k in EventKind]
KIND_DESCRIPTIONS = {
    EventKind.CREATED: "a unit, location-number attribute or code was created",
    EventKind.CHANGED: "fields of a unit, location number or code changed",
    EventKind.MOVED: "the unit was moved under another parent",
    EventKind.CLOSED: "the unit got a closing date (valid_to)",
    EventKind.REOPENED: "the unit's closing date was removed",
    EventKind.EFFECTIVE_CHANGED: "values the unit inherits changed because something above it changed",
    EventKind.TOOK_EFFECT: "a dated change took effect without an edit that day: a planned unit started, a "
                           "closure or a location number's dates came into force (written by the nightly run)",
    EventKind.LOCATION_NUMBER_ASSIGNED: "a location number was assigned to the unit",
    EventKind.LOCATION_NUMBER_MOVED: "a location number was moved to the unit",
    EventKind.LOCATION_NUMBER_CLOSED: "one of the unit's location numbers got a closing date",
    EventKind.LOCATION_NUMBER_REOPENED: "one of the unit's location numbers was reopened",
    EventKind.MESSAGE_TYPES_CHANGED: "an EDI message type was added to or removed from a location number",
    EventKind.MERGED_INTO: "the unit was merged into another (successor)",
    EventKind.CODE_RETIRED: "a code was retired",
    EventKind.DELETED: "a row was deleted (register rows are closed, never deleted)",
}
MODEL_NAMES = {name.lower(): name for name in CODE_LISTS.values()}
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


def _field_name(kind: str, attname: str) -> str:
    if kind == EventKind.EFFECTIVE_CHANGED:  # an effective (inherited) value: "<block>[.<field>]"
        block, _sep, rest = attname.partition(".")
        return f"effective.{BLOCK_NAMES.get(block, block)}" + (f".{rest}" if rest else "")
    return API_FIELD.get(attname, attname)


def _code_value(entity_model: str, attname: str, value, codes: CodeCache):
    model_name = CODE_FIELDS.get(entity_model, {}).get(attname)
    if model_name is None or value is None:
        return None
    return codes.code(model_name, value)


def page(after: int = 0, limit: int = DEFAULT_LIMIT) -> tuple[list[dict], int | None]:
    """The events with a sequence number above `after` (at most `limit`), as feed items, and the
    last sequence number among them (None for an empty page)."""
    from ..selectors import change_feed

    events = change_feed(after, limit)
    return items(events), (events[-1].seq if events else None)


def items(events: list[ChangeEvent]) -> list[dict]:
    codes = CodeCache()
    ln_ids = set()
    for e in events:
        if e.entity == EventEntity.LOCATION_NUMBER:
            ln_ids.add(int(e.object_id))
        elif e.entity == EventEntity.MESSAGE_TYPE_LINK:
            ln_ids.update(int(v) for v in e.changes.get("location_number_id", []) if v is not None)
    glns = dict(LocationNumber.objects.filter(pk__in=ln_ids).values_list("pk", "gln")) if ln_ids else {}
    # A closure's successor is what the same operation named in ReplacedBy (a merge, a replacement
    # closed together): an event never changes once published.
    closing = {(e.operation_id, e.unit_id) for e in events
               if e.entity == EventEntity.UNIT and e.kind in (EventKind.CLOSED, EventKind.MERGED_INTO)}
    successors = {}
    if closing:
        named = ChangeEvent.objects.filter(operation_id__in={op for op, _u in closing}, entity=EventEntity.UNIT,
                                           unit_id__in={u for _op, u in closing}, changes__has_key="replaced_by")
        for op_id, unit_id, changes in named.values_list("operation_id", "unit_id", "changes"):
            if (op_id, unit_id) in closing and changes["replaced_by"][1]:
                successors[(op_id, unit_id)] = changes["replaced_by"][1]
    return [_item(e, codes, glns, successors) for e in events]


def _item(e: ChangeEvent, codes: CodeCache, glns: dict, successors: dict) -> dict:
    entity_model = e.model.rsplit(".", 1)[-1]
    item = {"sequence": e.seq, "kind": e.kind}
    if e.entity == EventEntity.CODE:
        item["code_list"] = SLUG_OF.get(entity_model, entity_model)
        logged = e.changes.get("code", [None, None])
        model_name = MODEL_NAMES.get(entity_model)
        item["code"] = logged[1] or logged[0] or (codes.code(model_name, e.object_id) if model_name else e.object_id)
    else:
        item["sor_id"] = None if e.unit_id is None else str(e.unit_id)
    fields = {}
    for attname, (old, new) in e.changes.items():
        if attname in NOT_PUBLISHED:
            continue
        if e.kind == EventKind.EFFECTIVE_CHANGED and attname.startswith("location_number."):
            # An inherited number's attributes: codes by their code, dates by the documents' names.
            inner = attname.removeprefix("location_number.")
            if inner in CODE_FIELDS["locationnumber"]:
                old = _code_value("locationnumber", inner, old, codes)
                new = _code_value("locationnumber", inner, new, codes)
            fields[f"effective.location_number.{API_FIELD.get(inner, inner)}"] = {"old": old, "new": new}
            continue
        if e.entity == EventEntity.MESSAGE_TYPE_LINK and attname == "location_number_id":
            old, new = glns.get(old), glns.get(new)  # the GLN, never the row id
        elif attname in CODE_FIELDS.get(entity_model, {}):
            old, new = _code_value(entity_model, attname, old, codes), _code_value(entity_model, attname, new, codes)
        else:
            old, new = api_value(attname, old), api_value(attname, new)
        fields[_field_name(e.kind, attname)] = {"old": old, "new": new}
    if e.entity == EventEntity.LOCATION_NUMBER:
        logged = e.changes.get("gln") or [None, None]
        item["location_number"] = glns.get(int(e.object_id)) or logged[1] or logged[0]
    elif e.entity == EventEntity.MESSAGE_TYPE_LINK:
        item["location_number"] = fields.get("location_number", {}).get("new") or fields.get(
            "location_number", {}).get("old")
    item["fields"] = fields
    item["operation_id"] = str(e.operation.uuid)
    item["committed_at"] = _utc(e.sequenced_at)
    if e.entity == EventEntity.UNIT and e.kind in (EventKind.CLOSED, EventKind.MERGED_INTO):
        named = e.changes.get("replaced_by", [None, None])[1] or successors.get((e.operation_id, e.unit_id)) or []
        item["successor"] = str(named[0]) if named else None
    return item


def _utc(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
