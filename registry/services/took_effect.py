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

Idempotent: each day is its own operation with `{"took_effect": "<day>"}` in its provenance, and
an event already written for a unit and day is not written again. Every run also looks at the six
days before its own, so days the chain did not run (the machine was down) are caught up. A unit
or number edited on or after the day gets none: its edit's own events said so.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from .. import changelog
from ..audit import Origin, audit_context
from ..models import ChangeEvent, EventEntity, EventKind, LocationNumber, Unit
from ..status import status_on

CATCH_UP_DAYS = 7
# An edit of the unit itself tells consumers already: no "took effect" for a unit edited on or
# after the day (a unit created with a start date that has come, a closure dated back).
EDITS = (EventKind.CREATED, EventKind.CHANGED, EventKind.CLOSED, EventKind.REOPENED, EventKind.MOVED)
LN_EDITS = (EventKind.LOCATION_NUMBER_ASSIGNED, EventKind.LOCATION_NUMBER_MOVED, EventKind.LOCATION_NUMBER_CLOSED,
            EventKind.LOCATION_NUMBER_REOPENED, EventKind.CHANGED)


def record_took_effect(day: dt.date, *, log=print) -> dict:
    """Write the events for `day` and the CATCH_UP_DAYS - 1 days before it that are still
    missing (a run that did not happen); each day is a child operation with provenance
    {"took_effect": "<day>"}. Returns counts per day that wrote something."""
    out = {}
    for back in range(CATCH_UP_DAYS - 1, -1, -1):
        each = day - dt.timedelta(days=back)
        with audit_context(actor=None, reason=f"Ændringer der træder i kraft {each}", origin=Origin.TASK,
                           child=True, provenance={"took_effect": each.isoformat()}):
            counts = _record_day(each)
        if counts["status"] or counts["routing"]:
            out[each.isoformat()] = counts
            log(f"I kraft {each}: {counts}")
    return out


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _already(day: dt.date) -> set[tuple[int, str]]:
    """(unit, kind) of the events already written for `day` (the chain ran before)."""
    return set(ChangeEvent.objects.filter(operation__provenance__took_effect=day.isoformat())
               .values_list("unit_id", "kind"))


def _record_day(day: dt.date) -> dict:
    yesterday = day - dt.timedelta(days=1)
    done = _already(day)
    since = _start_of(day)
    events = []
    candidates = {sor_id: (first, to) for sor_id, first, to in Unit.objects.filter(
        Q(first_from_date=day) | Q(to_date=yesterday)).values_list("sor_id", "first_from_date", "to_date")}
    edited = set(ChangeEvent.objects.filter(unit_id__in=list(candidates), entity=EventEntity.UNIT, kind__in=EDITS,
                                            sequenced_at__gte=since).values_list("unit_id", flat=True))
    for sor_id, (first_from_date, to_date) in sorted(candidates.items()):
        before, after = status_on(first_from_date, to_date, yesterday), status_on(first_from_date, to_date, day)
        if before != after and sor_id not in edited and (sor_id, EventKind.TOOK_EFFECT) not in done:
            events.append((EventEntity.UNIT, "registry.unit", str(sor_id), sor_id, EventKind.TOOK_EFFECT,
                           {"status": [before, after]}))
    numbers = dict(LocationNumber.objects.filter(Q(from_date=day) | Q(to_date=yesterday)).values_list("pk", "unit_id"))
    touched = set(ChangeEvent.objects.filter(entity=EventEntity.LOCATION_NUMBER, object_id__in=[str(p) for p in numbers],
                                             kind__in=LN_EDITS, sequenced_at__gte=since).values_list("object_id", flat=True))
    holders = {unit_id for pk, unit_id in numbers.items() if str(pk) not in touched}
    routed = 0
    if holders:
        ids = changelog._subtree_ids(holders)
        then, now = changelog.effective_state(ids, yesterday), changelog.effective_state(ids, day)
        for sor_id in ids:
            (old_src, old_vals), (new_src, new_vals) = then[sor_id]["location_number"], now[sor_id]["location_number"]
            if (old_src, old_vals) == (new_src, new_vals) or (sor_id, EventKind.EFFECTIVE_CHANGED) in done:
                continue
            changes = {k: [old_vals.get(k), new_vals.get(k)] for k in sorted(old_vals.keys() | new_vals.keys())
                       if old_vals.get(k) != new_vals.get(k)}
            if old_src != new_src:
                changes["location_number.source"] = [str(old_src) if old_src else None, str(new_src) if new_src else None]
            events.append((EventEntity.UNIT, "registry.unit", str(sor_id), sor_id, EventKind.EFFECTIVE_CHANGED, changes))
            routed += 1
    changelog.write_events(events)
    return {"status": len(events) - routed, "routing": routed}
