"""The export's read path: whole owner trees as light rows, a fixed number of queries per batch.

`registry.selectors.owner_tree` returns full model instances (with two joins) and a Resolver;
at national scale building those instances cost about five times what writing the XML costs.
The export needs neither the joins (codes come from small dicts loaded once) nor the Resolver
(it writes own values only: inheritance by omission), so it reads the same rows with one plain
query per table into named tuples that carry the model's attribute names. The builder works on
either shape (it only reads attributes)."""

from __future__ import annotations

import json
from collections import defaultdict, namedtuple

import psycopg
from django.db import connection

from registry.models import (
    ADDRESS_FIELDS,
    EdiAdministrator,
    EntityType,
    LocationNumber,
    NetworkOperator,
    OwnerType,
    Region,
    SystemSupplier,
    SystemType,
    Unit,
)

from .builder import V2_ONLY

# Columns the XML does not carry are not read (the ancestors array alone costs a fifth of the load).
_UNIT_SKIP = {"ancestors", "region", "p_number", "version", "level"}
_KINDS = ("postal", "visiting", "activity")
_ADDRESS_ATTS = {f"{kind}_{suffix}" for kind in _KINDS for suffix, _l, _f in ADDRESS_FIELDS}
_BASE_FIELDS = [f for f in Unit._meta.concrete_fields if f.name not in _UNIT_SKIP and f.attname not in _ADDRESS_ATTS]
_ADDRESS_SUFFIXES = [suffix for suffix, _l, _f in ADDRESS_FIELDS]
_PO_BOX = _ADDRESS_SUFFIXES.index("po_box")
_LN_FIELDS = [f for f in LocationNumber._meta.concrete_fields if f.name not in {"version"}]
UnitRow = namedtuple("UnitRow", [f.attname for f in _BASE_FIELDS]
                     + [f"{kind}_{suffix}" for kind in _KINDS for suffix in _ADDRESS_SUFFIXES])
LocationRow = namedtuple("LocationRow", ["pk", *[f.attname for f in _LN_FIELDS]])
_SPECIALITIES = [f.attname for f in _BASE_FIELDS].index("specialities")
# Most units inherit their addresses: an address block travels as ONE text value (its fields
# joined by U+001F, a character XML cannot carry) and only when present, instead of 18 columns.
_SEP = "\x1f"
_ABSENT = tuple(None if suffix == "po_box" else "" for suffix in _ADDRESS_SUFFIXES)


def _packed(kind: str) -> str:
    parts = ", ".join(f"coalesce({kind}_{suffix}::text, '')" for suffix in _ADDRESS_SUFFIXES)
    return f"CASE WHEN {kind}_present THEN concat_ws(E'\\x1f', {parts}) END"


def _select(fields, table, extra="", tail=""):
    qn = connection.ops.quote_name
    return f"SELECT {extra}{', '.join(qn(f.column) for f in fields)}{tail} FROM {qn(table)}"


_UNIT_SQL = (_select(_BASE_FIELDS, Unit._meta.db_table, tail="".join(f", {_packed(k)}" for k in _KINDS))
             + " WHERE owner_id = ANY(%s) ORDER BY owner_id, sor_id")
_LN_SQL = _select(_LN_FIELDS, LocationNumber._meta.db_table, extra="id, ") + " WHERE unit_id = ANY(%s)"
_N_BASE = len(_BASE_FIELDS)


def _address(packed):
    if packed is None:
        return _ABSENT
    values = packed.split(_SEP)
    po_box = values[_PO_BOX]
    values[_PO_BOX] = int(po_box) if po_box else None
    return tuple(values)


def code_maps() -> dict:
    """Primary key → code for every code list the XML writes; under `V2_ONLY`, the primary keys
    of location-number attribute codes that belong to v2 files only."""
    maps = {model: dict(model.objects.values_list("pk", "code"))
            for model in (OwnerType, EntityType, SystemSupplier, SystemType, NetworkOperator, Region, EdiAdministrator)}
    maps[V2_ONLY] = {model: set(model.objects.filter(file_version="v2").values_list("pk", flat=True))
                     for model in (SystemSupplier, SystemType, EdiAdministrator)}
    return maps


def owner_tree_rows(owner_ids: list[int]):
    """(units ordered by owner then SOR-ID, location numbers by unit id) in two queries."""
    connection.ensure_connection()
    # A binary-format psycopg cursor: dates, integers and booleans load without text parsing.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_UNIT_SQL, [list(owner_ids)], binary=True)
        units = []
        for row in cursor.fetchall():
            base = row[:_N_BASE]
            value = base[_SPECIALITIES]
            if isinstance(value, str | bytes):
                base = (*base[:_SPECIALITIES], json.loads(value), *base[_SPECIALITIES + 1:])
            units.append(UnitRow._make(base + _address(row[_N_BASE]) + _address(row[_N_BASE + 1])
                                       + _address(row[_N_BASE + 2])))
        lns = defaultdict(list)
        if not units:
            return units, lns
        cursor.execute(_LN_SQL, [[u.sor_id for u in units]], binary=True)
        for row in cursor.fetchall():
            ln = LocationRow._make(row)
            lns[ln.unit_id].append(ln)
    return units, lns
