"""Finding units: the filters of the read API's unit list (and the public browser), paged by
SOR-ID (keyset: stable while the register changes, no page ever skips or repeats a unit)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q

from ..models import ChangeEvent, Unit
from ..selectors import unit_search_q
from ..status import UnitStatus, status_q, valid_q
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
    owner_type: str | None = None  # owner type code (of the unit's owner)
    open: bool | None = None  # True: not closed on the view's day; False: closed
    places: bool = False  # the search also matches a post code or town of the unit's own address


class UnknownCode(ValueError):
    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def _code_pk(codes: CodeCache, model_name: str, code: str, param: str) -> int:
    pk = codes.pk_of(model_name, code)
    if pk is None:
        raise UnknownCode(f"{param}: {code!r} is not a code of the list.", param)
    return pk


def first_seq_since(moment: dt.datetime) -> int | None:
    """The first change-log position sequenced at or after `moment` (None: none yet)."""
    return (ChangeEvent.objects.filter(sequenced_at__gte=moment, seq__isnull=False).order_by("seq")
            .values_list("seq", flat=True).first())


def filter_q(filters: Filters, view: View, codes: CodeCache) -> Q:
    """The filters as one Q on units (or on historical unit rows: the same columns)."""
    q = Q()
    if filters.search:
        found = unit_search_q(filters.search, with_gln=not view.historical)
        words = filters.search.split()
        if filters.places and len(words) > 1:
            # The public search: every word somewhere in the name, in any order.
            every = Q()
            for word in words:
                every &= Q(name__icontains=word)
            found |= every
        q &= (found | place_q(filters.search)) if filters.places else found
    if filters.level:
        q &= Q(level=filters.level)
    if filters.type:
        q &= Q(entity_type_id=_code_pk(codes, "EntityType", filters.type, "type"))
    if filters.region:
        q &= Q(region_id=_code_pk(codes, "Region", filters.region, "region"))
    if filters.owner:
        q &= Q(owner_id=filters.owner)
    if filters.owner_type:
        pk = _code_pk(codes, "OwnerType", filters.owner_type, "owner_type")
        q &= Q(owner_id__in=Unit.objects.filter(level="IE", owner_type_id=pk).values("sor_id"))
    if filters.open is not None:
        closed = status_q(UnitStatus.CLOSED, view.day)
        q &= ~closed if filters.open else closed
    if filters.status:
        q &= status_q(filters.status, view.day)
    elif view.versions:
        q &= valid_q(view.day)  # valid_on without a status: the units valid that day
    if filters.modified_since:
        first = first_seq_since(filters.modified_since)
        if first is None:
            return Q(pk__in=[])
        q &= Q(sor_id__in=ChangeEvent.objects.filter(seq__gte=first, unit_id__isnull=False).values("unit_id"))
    return q


def place_q(term: str) -> Q:
    """A post code (4 digits) or a town (the district name, whole) of the unit's own postal or
    visiting address: a unit without an address of its own is found through the unit it inherits
    it from (the public browser lists that unit)."""
    term = term.strip()
    if len(term) == 4 and term.isascii() and term.isdigit():
        own = Q(postal_present=True, postal_post_code=term) | Q(visiting_present=True, visiting_post_code=term)
    elif term and not any(c.isdigit() for c in term):
        own = (Q(postal_present=True, postal_district_name__iexact=term)
               | Q(visiting_present=True, visiting_district_name__iexact=term))
    else:
        return Q(pk__in=[])
    # The units below that have no address of their own inherit it (a practice under its owner).
    holders = list(Unit.objects.filter(own).values_list("sor_id", flat=True)[:5000])
    return own | Q(postal_present=False, visiting_present=False, ancestors__overlap=holders)


COUNT_CAP = 1000


def search(filters: Filters, view: View, *, offset: int = 0, limit: int = 50) -> tuple[list[int], int]:
    """(SOR-IDs of one page ordered by name, the number of matches up to COUNT_CAP + 1: "more than
    1,000" is what a person needs to know, and counting 60,000 matches of "læge" is not free)."""
    q = filter_q(filters, view, CodeCache())
    rows = Unit.objects.filter(q)
    total = rows.order_by()[:COUNT_CAP + 1].count()
    ids = list(rows.order_by("name", "sor_id").values_list("sor_id", flat=True)[offset:offset + limit])
    return ids, total


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
    found = list(rows.order_by("sor_id").values_list("sor_id", flat=True)[:limit + 1])
    return found[:limit], len(found) > limit
