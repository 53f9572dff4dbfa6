"""SHAK ↔ SOR: which units carry a SHAK code (SygehusAfdelingsklassifikation) on a date, and a
unit's own SHAK code. SHAK is not inherited: a unit below a department with a code has none
unless it registers its own.

"On a date" is the rule of every read: the version valid that day as the register knows it now
(`state.View.valid_on`); without a date, today's rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.utils import timezone

from ..models import Unit
from ..status import valid_on
from . import state
from .codes import CodeCache

CSV_COLUMNS = ["ShakCode", "SorId", "Name", "Level", "EntityType", "ValidFrom", "ValidTo", "ParentSorId", "OwnerSorId"]


def _valid(row, day: dt.date) -> bool:
    return valid_on(row.first_from_date, row.to_date, day)


def _rows_with_shak(day: dt.date | None, code: str | None = None) -> list:
    """Unit rows (current or the version valid on `day`) carrying `code` (any SHAK code when None)."""
    today = timezone.localdate()
    if day is None or day == today:
        qs = Unit.objects.filter(shak=code) if code else Unit.objects.exclude(shak="")
        return [u for u in qs.order_by("sor_id") if _valid(u, day or today)]
    history = Unit.history.model.objects
    candidates = history.filter(shak=code) if code else history.exclude(shak="")
    ids = set(candidates.values_list("sor_id", flat=True).distinct())
    found = state.units(ids, state.View.valid_on(day))
    return sorted((row for row in found.values() if row.shak and (code is None or row.shak == code) and _valid(row, day)),
                  key=lambda r: r.sor_id)


def units_with_shak(code: str, day: dt.date | None = None) -> list[dict]:
    codes = CodeCache()
    return [{"sor_id": str(r.sor_id), "name": r.name, "level": r.level, "shak": r.shak,
             "entity_type": codes.ref("EntityType", r.entity_type_id),
             "valid_from": r.from_date, "valid_to": r.to_date, "parent": str(r.parent_id) if r.parent_id else None,
             "owner": str(r.owner_id)} for r in _rows_with_shak(day, code)]


def unit_shak(sor_id: int, day: dt.date | None = None):
    """(row or None, SHAK code or None): the unit's own code on the day."""
    view = state.View.valid_on(day) if day else state.View.now()
    row = state.units([sor_id], view).get(sor_id)
    if row is None:
        return None, None
    return row, (row.shak or None)


def mapping_csv(day: dt.date | None = None) -> str:
    codes = CodeCache()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in _rows_with_shak(day):
        writer.writerow([r.shak, r.sor_id, r.name, r.level, codes.code("EntityType", r.entity_type_id) or "",
                         r.from_date.isoformat(), r.to_date.isoformat() if r.to_date else "",
                         r.parent_id or "", r.owner_id])
    return out.getvalue()
