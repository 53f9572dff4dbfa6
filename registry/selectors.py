"""The shared read path: visibility rules and query shapes live here once."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Q, QuerySet
from django.utils import timezone

from . import identifiers as ids
from .inheritance import Resolved, Resolver
from .models import ChangeEvent, LocationNumber, Unit
from .permissions import region_scope


def unit_list() -> QuerySet[Unit]:
    """Units anyone may read: the whole register (SOR is public data; every staff role reads it)."""
    return Unit.objects.select_related("entity_type", "owner_type", "region", "parent")


def units_maintained_by(user) -> QuerySet[Unit]:
    """Units `user` may change: a regional administrator's region only, nothing without one."""
    qs = unit_list()
    scope = region_scope(user)
    if scope is False:
        return qs.none()
    if scope is not None:
        qs = qs.filter(region=scope)
    return qs


def in_users_region(user, unit) -> bool:
    """Whether `unit` lies where `user` may change things (every unit for a user without a region
    limit). Roles decide *what* they may change; this decides *where*."""
    scope = region_scope(user)
    return scope is None or (scope is not False and unit.region_id == scope.pk)


def default_region(user):
    """The region a user's lists open filtered by (a regional administrator's own), or None."""
    scope = region_scope(user)
    return scope or None


def unit_search_q(term: str, *, with_gln: bool = True) -> Q:
    """Search by SOR-ID, name, ydernummer, GLN, CVR or SHAK, picking the index the term can use
    (`with_gln=False`: not by GLN, for rows without the location-number relation: history)."""
    term = term.strip()
    digits = term.replace(" ", "")
    if ids.is_digits(digits):
        q = Q(provider_number=digits) | Q(cvr=digits) | Q(shak=digits) | Q(p_number=digits)
        if len(digits) <= 6:
            q |= Q(provider_number=digits.zfill(6))
        if len(digits) == 13 and with_gln:
            # The holders first (one indexed query), not a join or a subquery: no DISTINCT needed,
            # and PostgreSQL keeps one index per branch of the OR instead of scanning every unit.
            q |= Q(sor_id__in=list(LocationNumber.objects.filter(gln=digits).values_list("unit_id", flat=True)))
        if len(digits) >= 11:
            q |= Q(sor_id=int(digits))
        return q
    # Names through the trigram index on UPPER(name); a SHAK code (short, no spaces, stored as
    # SDS writes it) through its btree index: `iexact` would need UPPER(shak) and force a scan.
    q = Q(name__icontains=term)
    if " " not in term and len(term) <= 12:
        q |= Q(shak__in=sorted({term, term.upper()}))
    return q


def ancestors_of(unit: Unit) -> list[Unit]:
    """The chain owner → … → parent, in one query."""
    if not unit.ancestors:
        return []
    found = {u.sor_id: u for u in Unit.objects.filter(sor_id__in=unit.ancestors).select_related("entity_type", "owner_type")}
    return [found[pk] for pk in unit.ancestors if pk in found]


def unit_effective_values(unit: Unit, on: dt.date | None = None) -> dict[str, Resolved]:
    """Effective postal/visiting/activity/virtual addresses and location number of one unit,
    with their source: 2 queries whatever the depth."""
    chain = ancestors_of(unit) + [unit]
    units = {u.sor_id: u for u in chain}
    lns = defaultdict(list)
    for ln in LocationNumber.objects.filter(unit_id__in=units).select_related(
        "system_supplier", "system_type", "network_operator", "region", "edi_administrator"
    ):
        lns[ln.unit_id].append(ln)
    return Resolver(units, lns, on).all(unit)


EFFECTIVE_BLOCKS = ("postal", "visiting", "activity", "virtual", "location_number")


def _block_value(resolved: Resolved):
    value = resolved.value
    if isinstance(value, LocationNumber):
        return value.gln
    return value


def subtree_effective_changes(unit: Unit, changes: dict, on: dt.date | None = None) -> list[dict]:
    """The effective (inherited) values of `unit` and of every unit below it, before and after an
    in-memory change of `unit` (attname → value). Nothing is written. Returns one entry per unit
    and block whose effective value or source changes, the unit itself first, then the units below
    in tree order: {"unit", "block", "before", "after", "source_before", "source_after"}; a value is
    a dict of fields (addresses, virtual) or a GLN. Four queries whatever the size of the subtree.
    The admin's "what changes below" and the change-set preview both use it."""
    import copy

    chain = ancestors_of(unit)
    # Units closed on the day receive nothing: they are not said to "inherit the change".
    day = on or timezone.localdate()
    below = list(Unit.objects.filter(ancestors__contains=[unit.sor_id]).exclude(to_date__lt=day).order_by("sor_id"))
    current = Unit.objects.get(pk=unit.pk) if unit.pk else unit
    units = {u.sor_id: u for u in [*chain, current, *below]}
    lns = defaultdict(list)
    for ln in LocationNumber.objects.filter(unit_id__in=list(units)):
        lns[ln.unit_id].append(ln)
    changed = copy.copy(current)
    for attname, value in changes.items():
        setattr(changed, attname, value)
    before = Resolver(units, lns, on)
    after = Resolver({**units, changed.sor_id: changed}, lns, on)
    depth = {u.sor_id: len(u.ancestors) for u in below}
    out = []
    for target in [current, *sorted(below, key=lambda u: (depth[u.sor_id], u.sor_id))]:
        subject_after = changed if target.sor_id == changed.sor_id else target
        then, now = before.all(target), after.all(subject_after)
        for block in EFFECTIVE_BLOCKS:
            old, new = then[block], now[block]
            if _block_value(old) != _block_value(new) or old.source != new.source:
                out.append({"unit": target, "block": block, "before": _block_value(old), "after": _block_value(new),
                            "source_before": old.source, "source_after": new.source})
    return out


def unit_versions(fields: list[str] | None = None, *, unit_ids=None, chunk_size: int = 5000):
    """Every unit's validity periods as the register knows them now, in (SOR-ID, FromDate) order:
    for each distinct FromDate of a unit, its most recently recorded version with that FromDate
    (a later correction of a period counts; a period's values hold until the day before the
    unit's next FromDate). Yields `(values, valid_to)`: `values` is a dict of `fields` (history
    columns; all when None) plus sor_id and from_date, `valid_to` the period's last day (the
    day before the next FromDate; for the last period the version's own ToDate, or None).
    PostgreSQL picks the versions (DISTINCT ON), so a unit with many corrections costs one row
    per period. `unit_version_on` answers the same question for one unit and one day."""
    # Units of the register only: history of a row that was removed (never done by the services)
    # would name a SOR-ID no consumer can look up.
    history = (Unit.history.model.objects.filter(sor_id__in=Unit.objects.values("sor_id"))
               .order_by("sor_id", "from_date", "-history_date", "-history_id"))
    if unit_ids is not None:
        history = history.filter(sor_id__in=list(unit_ids))
    columns = sorted({"sor_id", "from_date", "to_date", *(fields or [])}) if fields else None
    rows = history.distinct("sor_id", "from_date")
    rows = rows.values(*columns) if columns else rows.values()
    pending = None
    for row in rows.iterator(chunk_size=chunk_size):
        if pending is not None:
            same_unit = pending["sor_id"] == row["sor_id"]
            yield pending, (row["from_date"] - dt.timedelta(days=1)) if same_unit else pending["to_date"]
        pending = row
    if pending is not None:
        yield pending, pending["to_date"]


def unit_version_on(unit_id: int, day: dt.date):
    """The version of a unit valid on `day` as the register knows it now (the rule of
    `unit_versions`): the most recently recorded history row with the latest FromDate on or
    before `day`; None when no recorded version starts that early."""
    return (Unit.history.filter(sor_id=unit_id, from_date__lte=day)
            .order_by("-from_date", "-history_date", "-history_id").first())


def owner_tree(owner_ids, on: dt.date | None = None, *, with_message_types: bool = False):
    """Whole owner trees: (units ordered by depth then SOR-ID, resolver). Three queries at most,
    whatever the number of owners or units, for the export and tree views."""
    units = list(
        Unit.objects.filter(owner_id__in=list(owner_ids))
        .select_related("entity_type", "owner_type")
        .order_by("owner_id", "sor_id")
    )
    by_id = {u.sor_id: u for u in units}
    lns = defaultdict(list)
    qs = LocationNumber.objects.filter(unit_id__in=by_id).select_related(
        "system_supplier", "system_type", "network_operator", "region", "edi_administrator"
    )
    if with_message_types:
        qs = qs.prefetch_related("message_types")
    for ln in qs:
        lns[ln.unit_id].append(ln)
    return units, Resolver(by_id, lns, on)


def unit_as_of(unit_id: int, moment: dt.datetime):
    """The unit's row as it was at `moment` (a historical record), or None before it existed."""
    return Unit.history.filter(sor_id=unit_id, history_date__lte=moment).order_by("-history_date", "-history_id").first()


def change_feed(after: int = 0, limit: int = 1000, *, unit_id: int | None = None) -> list[ChangeEvent]:
    """Change-log events with a sequence number above `after`, in sequence order (at most `limit`).

    Numbers become visible in commit order without gaps (ADR 0008): a reader that asks again
    with the last number it saw never misses an event and never sees one twice."""
    qs = ChangeEvent.objects.filter(seq__gt=after).order_by("seq").select_related("operation")
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    return list(qs[:limit])


def changelog_position() -> int:
    """The highest sequence number visible now (0 for an empty log): inside a snapshot, the
    position of the log that the snapshot shows."""
    last = ChangeEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first()
    return last or 0
