"""Finding units: the filters of the read API's unit list (and the public browser), paged by
SOR-ID (keyset: stable while the register changes, no page ever skips or repeats a unit)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q

from ..models import ChangeEvent, Unit
from ..selectors import unit_search_q
from ..status import UnitStatus, status_q
from .codes import CodeCache
from .state import View


@dataclass
class Filters:
    search: str | None = None
    level: str | None = None
    type: str | None = None  # entity type code
    region: str | None = None  # region code
    owner: int | None = None
    status: str | None = None
    modified_since: dt.datetime | None = None


class UnknownCode(ValueError):
    pass


def _code_pk(codes: CodeCache, model_name: str, code: str, param: str) -> int:
    pk = codes.pk_of(model_name, code)
    if pk is None:
        raise UnknownCode(f"{param}: {code!r} is not a code of the list.")
    return pk


def first_seq_since(moment: dt.datetime) -> int | None:
    """The first change-log position sequenced at or after `moment` (None: none yet)."""
    return (ChangeEvent.objects.filter(sequenced_at__gte=moment, seq__isnull=False).order_by("seq")
            .values_list("seq", flat=True).first())


def filter_q(filters: Filters, view: View, codes: CodeCache) -> Q:
    """The filters as one Q on units (or on historical unit rows: the same columns)."""
    q = Q()
    if filters.search:
        q &= unit_search_q(filters.search, with_gln=not view.historical)
    if filters.level:
        q &= Q(level=filters.level)
    if filters.type:
        q &= Q(entity_type_id=_code_pk(codes, "EntityType", filters.type, "type"))
    if filters.region:
        q &= Q(region_id=_code_pk(codes, "Region", filters.region, "region"))
    if filters.owner:
        q &= Q(owner_id=filters.owner)
    if filters.status:
        q &= status_q(filters.status, view.day)
    elif view.versions:
        # valid_on without a status: the units valid that day (started, not closed).
        q &= status_q(UnitStatus.ACTIVE, view.day) | status_q(UnitStatus.CLOSING, view.day)
    if filters.modified_since:
        first = first_seq_since(filters.modified_since)
        if first is None:
            return Q(pk__in=[])
        q &= Q(sor_id__in=ChangeEvent.objects.filter(seq__gte=first, unit_id__isnull=False).values("unit_id"))
    return q


def page_ids(filters: Filters, view: View, *, after: int = 0, limit: int = 100) -> tuple[list[int], bool]:
    """(SOR-IDs of the page in SOR-ID order, whether more follow)."""
    codes = CodeCache()
    q = filter_q(filters, view, codes)
    if view.historical:
        from .state import _recorded

        history = Unit.history.model.objects
        latest = (_recorded(history.filter(sor_id__gt=after), view)
                  .order_by("sor_id", "-history_date", "-history_id").distinct("sor_id").values("history_id"))
        rows = history.filter(history_id__in=latest).exclude(history_type="-").filter(q)
    else:
        # Search and filters read the rows as they are now; valid_on picks the units valid then.
        rows = Unit.objects.filter(q, sor_id__gt=after)
        if filters.search:
            rows = rows.distinct()  # a GLN search joins location numbers
    found = list(rows.order_by("sor_id").values_list("sor_id", flat=True)[:limit + 1])
    return found[:limit], len(found) > limit
