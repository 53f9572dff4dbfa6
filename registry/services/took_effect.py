"""Dated changes that come into force on a day without anyone editing anything that day.

A planned unit starts (its first FromDate is the day), a closure takes effect (its ToDate was
yesterday), a location number starts or ends: the register's rows do not change, but what a
consumer sees does. The nightly run's first step (`exports.activation`, activator
`registry.took_effect`, after the scheduled change-sets) writes the change-log events for them,
so that a consumer of the feed never has to watch the calendar:

- `took_effect` on the unit, fields `status` {old, new} (planned → active, active/closing →
  closed);
- `effective_changed` on every unit whose routed location number changes that day (the
  number's holder and the units inheriting from it), fields `effective.location_number…`.

Idempotent per day: the operation records `{"took_effect": "<day>"}` in its provenance, and a day
already recorded is skipped. A run that missed days (the machine was down) catches up from the
day after the last recorded one, at most `CATCH_UP_DAYS` back.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from .. import changelog
from ..audit import Origin, audit_context
from ..models import EventEntity, EventKind, LocationNumber, Operation, Unit
from ..status import status_on

CATCH_UP_DAYS = 7


def _recorded_days(since: dt.date) -> set[dt.date]:
    days = Operation.objects.filter(provenance__has_key="took_effect").values_list("provenance__took_effect", flat=True)
    return {dt.date.fromisoformat(d) for d in days if d and d >= since.isoformat()}


def days_to_record(day: dt.date) -> list[dt.date]:
    earliest = day - dt.timedelta(days=CATCH_UP_DAYS - 1)
    recorded = _recorded_days(earliest)
    last = max(recorded, default=None)
    start = (last + dt.timedelta(days=1)) if last is not None else day
    return [start + dt.timedelta(days=i) for i in range((day - start).days + 1) if start + dt.timedelta(days=i) not in recorded]


def record_took_effect(day: dt.date, *, log=print) -> dict:
    """Write the events for `day` (and missed days before it); returns counts per day."""
    out = {}
    for each in days_to_record(day):
        with audit_context(actor=None, reason=f"Ændringer der træder i kraft {each}", origin=Origin.TASK,
                           provenance={"took_effect": each.isoformat()}):
            out[each.isoformat()] = _record_day(each)
        log(f"I kraft {each}: {out[each.isoformat()]}")
    return out


def _record_day(day: dt.date) -> dict:
    yesterday = day - dt.timedelta(days=1)
    events = []
    starting = Unit.objects.filter(Q(first_from_date=day) | Q(to_date=yesterday)).values_list(
        "sor_id", "first_from_date", "to_date")
    for sor_id, first_from_date, to_date in starting:
        before, after = status_on(first_from_date, to_date, yesterday), status_on(first_from_date, to_date, day)
        if before != after:
            events.append((EventEntity.UNIT, "registry.unit", str(sor_id), sor_id, EventKind.TOOK_EFFECT,
                           {"status": [before, after]}))
    holders = set(LocationNumber.objects.filter(Q(from_date=day) | Q(to_date=yesterday)).values_list("unit_id", flat=True))
    routed = 0
    if holders:
        ids = changelog._subtree_ids(holders)
        then, now = changelog.effective_state(ids, yesterday), changelog.effective_state(ids, day)
        for sor_id in ids:
            (old_src, old_vals), (new_src, new_vals) = then[sor_id]["location_number"], now[sor_id]["location_number"]
            if (old_src, old_vals) == (new_src, new_vals):
                continue
            changes = {k: [old_vals.get(k), new_vals.get(k)] for k in sorted(old_vals.keys() | new_vals.keys())
                       if old_vals.get(k) != new_vals.get(k)}
            if old_src != new_src:
                changes["location_number.source"] = [str(old_src) if old_src else None, str(new_src) if new_src else None]
            events.append((EventEntity.UNIT, "registry.unit", str(sor_id), sor_id, EventKind.EFFECTIVE_CHANGED, changes))
            routed += 1
    changelog.write_events(events)
    return {"status": len(events) - routed, "routing": routed}
