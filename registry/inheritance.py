"""Effective (inherited) values: the one place that says what "absent" means (sor-format.md §5).

Pure functions over already-loaded rows, so a single unit (its ancestors loaded in one query)
and a whole owner tree (loaded in two queries) resolve with the same code.

Rules: postal address absent → the parent's effective postal address; visiting absent → the
unit's own effective postal address; activity absent → its effective visiting address; virtual
addresses absent → the parent's, as a block; location number "inherited" → the parent's
effective one, "none"/"unspecified" → none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from .models import ADDRESS_FIELDS, LocationMode

VIRTUAL_FIELDS = ("email", "website", "phone", "fax")


@dataclass(frozen=True)
class Resolved:
    """A value block and where it comes from: `source` is the SOR-ID of the unit that owns it,
    `how` is "own", "inherited" or "postal"/"visiting" (taken from the unit's own other address)."""

    value: object
    source: int | None
    how: str

    @property
    def inherited(self) -> bool:
        return self.how == "inherited"


def address_of(unit, kind: str) -> dict:
    return {suffix: getattr(unit, f"{kind}_{suffix}") for suffix, _l, _f in ADDRESS_FIELDS}


def virtual_of(unit) -> dict:
    return {name: getattr(unit, name) for name in VIRTUAL_FIELDS}


def location_number_valid_on(ln, day: dt.date) -> bool:
    """A location number is valid from its from-date through its to-date (inclusive); a missing
    from-date means "since the unit started"."""
    return (ln.from_date is None or ln.from_date <= day) and (ln.to_date is None or ln.to_date >= day)


def location_number_valid_q(day: dt.date) -> Q:
    """`location_number_valid_on` as a filter on location numbers."""
    return (Q(from_date__isnull=True) | Q(from_date__lte=day)) & (Q(to_date__isnull=True) | Q(to_date__gte=day))


def _newest(location_numbers):
    return sorted(location_numbers, key=lambda ln: ((ln.from_date or dt.date.min), ln.pk))[-1]


def location_number_on(location_numbers, day: dt.date | None):
    """The unit's current own location number on `day` (today when None): the one valid that day
    (the latest to start, if several). None when none is valid: the unit has no own number that
    day (a closed number is never current, nor one that starts later)."""
    day = day or timezone.localdate()
    valid = [ln for ln in location_numbers if location_number_valid_on(ln, day)]
    return _newest(valid) if valid else None


def location_number_in_file(location_numbers, day: dt.date):
    """The own location number the SOR file writes for a unit on `day`: the current one, and when
    none is valid, the newest with its dates (SDS's files show closed numbers that way; the round
    trip of their samples depends on it, see docs/sor-xml-format-choices.md). Only the XML uses
    this; everything that routes or shows the current number uses `location_number_on`."""
    if not location_numbers:
        return None
    return location_number_on(location_numbers, day) or _newest(location_numbers)


class Resolver:
    """Resolves effective values for any unit among `units` (dict sor_id → Unit) whose ancestors
    are all present. `location_numbers` maps sor_id → list of LocationNumber."""

    def __init__(self, units: dict, location_numbers: dict | None = None, day: dt.date | None = None):
        self.units = units
        self.location_numbers = location_numbers or {}
        self.day = day or timezone.localdate()
        self._memo: dict[tuple[str, int], Resolved] = {}

    def _parent(self, unit):
        return self.units.get(unit.parent_id) if unit.parent_id else None

    def _cached(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def postal(self, unit) -> Resolved:
        def compute():
            if unit.postal_present:
                return Resolved(address_of(unit, "postal"), unit.sor_id, "own")
            parent = self._parent(unit)
            if parent is None:
                return Resolved(None, None, "none")
            inherited = self.postal(parent)
            return Resolved(inherited.value, inherited.source, "inherited" if inherited.value else "none")

        return self._cached(("postal", unit.sor_id), compute)

    def visiting(self, unit) -> Resolved:
        def compute():
            if unit.visiting_present:
                return Resolved(address_of(unit, "visiting"), unit.sor_id, "own")
            postal = self.postal(unit)
            return Resolved(postal.value, postal.source, "postal" if postal.value else "none")

        return self._cached(("visiting", unit.sor_id), compute)

    def activity(self, unit) -> Resolved:
        def compute():
            if unit.activity_present:
                return Resolved(address_of(unit, "activity"), unit.sor_id, "own")
            visiting = self.visiting(unit)
            return Resolved(visiting.value, visiting.source, "visiting" if visiting.value else "none")

        return self._cached(("activity", unit.sor_id), compute)

    def virtual(self, unit) -> Resolved:
        def compute():
            if unit.virtual_present:
                return Resolved(virtual_of(unit), unit.sor_id, "own")
            parent = self._parent(unit)
            if parent is None:
                return Resolved(None, None, "none")
            inherited = self.virtual(parent)
            return Resolved(inherited.value, inherited.source, "inherited" if inherited.value else "none")

        return self._cached(("virtual", unit.sor_id), compute)

    def location_number(self, unit) -> Resolved:
        def compute():
            if unit.location_mode == LocationMode.OWN:
                ln = location_number_on(self.location_numbers.get(unit.sor_id, []), self.day)
                return Resolved(ln, unit.sor_id if ln else None, "own" if ln else "none")
            if unit.location_mode == LocationMode.INHERITED:
                parent = self._parent(unit)
                if parent is None:
                    return Resolved(None, None, "none")
                inherited = self.location_number(parent)
                return Resolved(inherited.value, inherited.source, "inherited" if inherited.value else "none")
            return Resolved(None, None, "none")

        return self._cached(("ln", unit.sor_id), compute)

    def all(self, unit) -> dict[str, Resolved]:
        return {
            "postal": self.postal(unit),
            "visiting": self.visiting(unit),
            "activity": self.activity(unit),
            "virtual": self.virtual(unit),
            "location_number": self.location_number(unit),
        }
