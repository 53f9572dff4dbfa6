"""Which register is read: the rows of units, location numbers and their EDI message types under
a `View`.

- `View.now()`: the rows as they are, routed today.
- `View.valid_on(day)`: valid on `day` as the register knows it now: for each unit the version
  whose validity period holds the day (`selectors.unit_version_on`'s rule: the latest FromDate on
  or before the day, its most recent correction); location numbers as they are, routed that day.
- `View.as_registered(day)`: what the register said at the end of `day` (Copenhagen time): the
  last row recorded before midnight, routed on that day.
- `View.at_position(seq, day)`: the register as a transaction that saw the change log up to
  `seq` saw it (a published file's snapshot), routed on `day`. The change log numbers whole
  transactions in commit order (ADR 0008), so a history row belongs to the snapshot exactly when
  its operation's events are numbered at or below `seq` (ADR 0017).

Rows of the history views are historical records; they carry every attribute the inheritance
resolver and the documents read (`parent_id`, addresses, `location_mode`, dates, code ids).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import ChangeEvent, LocationNumber, LocationNumberMessageType, Unit


@dataclass(frozen=True)
class View:
    day: dt.date
    versions: bool = False
    cutoff: dt.datetime | None = None
    position: int | None = None

    @classmethod
    def now(cls) -> View:
        return cls(day=timezone.localdate())

    @classmethod
    def valid_on(cls, day: dt.date) -> View:
        return cls(day=day, versions=True)

    @classmethod
    def as_registered(cls, day: dt.date) -> View:
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
        return cls(day=day, cutoff=timezone.make_aware(midnight))

    @classmethod
    def at_position(cls, position: int, day: dt.date) -> View:
        return cls(day=day, position=position)

    @property
    def historical(self) -> bool:
        return self.cutoff is not None or self.position is not None

    @property
    def current_rows(self) -> bool:
        return not self.historical and not self.versions

    def describe(self) -> dict:
        if self.position is not None:
            return {"mode": "published", "date": self.day, "changelog_position": self.position}
        if self.cutoff is not None:
            return {"mode": "as_registered", "date": self.day}
        if self.versions:
            return {"mode": "valid_on", "date": self.day}
        return {"mode": "now", "date": self.day}


def _recorded(history_qs, view: View):
    """History rows recorded in the view (before its cutoff, or in its snapshot)."""
    if view.cutoff is not None:
        return history_qs.filter(history_date__lt=view.cutoff)
    committed = ChangeEvent.objects.filter(operation_id=OuterRef("operation_id"), seq__isnull=False,
                                           seq__lte=view.position)
    return history_qs.filter(Exists(committed))


def _latest(history_qs, key: str, view: View) -> list:
    rows = (_recorded(history_qs, view).order_by(key, "-history_date", "-history_id").distinct(key))
    return [row for row in rows if row.history_type != "-"]


def units(ids, view: View) -> dict:
    """sor_id -> the unit's row in the view (missing: the unit does not exist there)."""
    ids = [int(i) for i in set(ids)]
    if not ids:
        return {}
    if view.current_rows:
        return {u.sor_id: u for u in Unit.objects.filter(sor_id__in=ids)}
    history = Unit.history.model.objects.filter(sor_id__in=ids)
    if view.historical:
        return {row.sor_id: row for row in _latest(history, "sor_id", view)}
    # Valid on a day as known now (`selectors.unit_version_on`'s rule, for many units at once):
    # units of the register only; a withdrawn unit (never published, its row removed) has none.
    known = history.filter(sor_id__in=Unit.objects.filter(sor_id__in=ids).values("sor_id"))
    rows = (known.filter(from_date__lte=view.day)
            .order_by("sor_id", "-from_date", "-history_date", "-history_id").distinct("sor_id"))
    found = {row.sor_id: row for row in rows}
    # A unit valid that day whose recorded versions all start later (its history began with an
    # import or the generator, after its first FromDate): its earliest known version is the best
    # knowledge of that day.
    missing = set(ids) - set(found)
    if missing:
        earliest = (known.filter(sor_id__in=missing, first_from_date__lte=view.day)
                    .order_by("sor_id", "from_date", "history_date", "history_id").distinct("sor_id"))
        found.update({row.sor_id: row for row in earliest})
    return found


def with_ancestors(found: dict, view: View) -> dict:
    """`found` and every unit above its units, in the view (walking `parent_id`, one query per
    level; for current rows the stored ancestor lists, one query)."""
    found = dict(found)
    if view.current_rows:
        above = {a for u in found.values() for a in u.ancestors} - set(found)
        if above:
            found.update(units(above, view))
        return found
    missing = {u.parent_id for u in found.values() if u.parent_id and u.parent_id not in found}
    while missing:
        more = units(missing, view)
        if view.versions:
            # An ancestor with no version that early (data older than its history): its row now.
            lacking = missing - set(more)
            if lacking:
                more.update(units(lacking, View.now()))
        found.update(more)
        missing = {u.parent_id for u in more.values() if u.parent_id and u.parent_id not in found}
    return found


def location_numbers(unit_ids, view: View) -> dict:
    """unit sor_id -> its location-number rows in the view. Valid on a day: each number's version
    for that day (a number moved with a date belonged to its former holder before it)."""
    unit_ids = list(set(unit_ids))
    out = defaultdict(list)
    if not unit_ids:
        return out
    if view.current_rows:
        rows = LocationNumber.objects.filter(unit_id__in=unit_ids)
    else:
        history = LocationNumber.history.model.objects
        ever = history.filter(unit_id__in=unit_ids).values("id")
        if view.historical:
            picked = _latest(history.filter(id__in=ever), "id", view)
        else:
            current = LocationNumber.objects.filter(id__in=ever).values("id")
            picked = _numbers_on(history.filter(id__in=current), view.day)
        rows = [r for r in picked if r.unit_id in set(unit_ids)]
    for row in rows:
        out[row.unit_id].append(row)
    return out


def _numbers_on(history_qs, day: dt.date) -> list:
    """Per location number: its latest version starting on or before `day` (a number's FromDate
    moves with a dated move), or, when it starts later, its latest row."""
    latest = {}
    for row in history_qs.order_by("id", "-history_date", "-history_id"):
        latest.setdefault(row.id, []).append(row)
    picked = []
    for rows in latest.values():
        dated = [r for r in rows if r.from_date is None or r.from_date <= day]
        row = dated[0] if dated else rows[0]
        if row.history_type != "-":
            picked.append(row)
    return picked


def message_types(ln_ids, view: View) -> dict:
    """location number id -> its EDI message type ids in the view."""
    ln_ids = list(set(ln_ids))
    out = defaultdict(list)
    if not ln_ids:
        return out
    if not view.historical:
        rows = LocationNumberMessageType.objects.filter(location_number_id__in=ln_ids).order_by("message_type_id")
    else:
        history = LocationNumberMessageType.history.model.objects.filter(location_number_id__in=ln_ids)
        rows = sorted(_latest(history, "id", view), key=lambda r: r.message_type_id)
    for row in rows:
        out[row.location_number_id].append(row.message_type_id)
    return out


def subtree_ids(root_id: int, view: View) -> list[int]:
    """The SOR-IDs below `root_id` in the view (not the root), by the parent links of the view's
    rows (valid on a day: each unit's version that day, so a dated move counts from its date)."""
    if view.current_rows:
        return list(Unit.objects.filter(ancestors__contains=[root_id]).order_by("sor_id").values_list("sor_id", flat=True))
    found, frontier = set(), {root_id}
    history = Unit.history.model.objects
    while frontier:
        ever = set(history.filter(parent_id__in=frontier).values_list("sor_id", flat=True).distinct()) - found
        rows = units(ever, view)
        frontier = {r.sor_id for r in rows.values() if r.parent_id in frontier} - found
        found |= frontier
    return sorted(found)
