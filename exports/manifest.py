"""The manifest each run writes next to its files: what the published snapshot contains, in a
form the publication gate compares without re-parsing XML.

    {"version": 1, "snapshot_date": "2026-11-25",
     "units": {"<sor_id>": [<parent sor_id or null>, "active" | "closed" | "future"], ...},
     "gln": {"<active location number>": <sor_id of the unit that owns it>, ...},
     "files": {"<published file name>": <size in bytes>, ...}}

Every unit of the register is listed (the XML keeps closed units); a unit is "closed" when its
ToDate (inclusive) lies before the snapshot date, "future" when it first becomes valid after it.
A location number is active when it is valid on the date and its unit is not closed.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from registry.models import LocationNumber, Unit

VERSION = 1


def unit_status(first_from_date: dt.date, to_date: dt.date | None, day: dt.date) -> str:
    if to_date is not None and to_date < day:
        return "closed"
    if first_from_date > day:
        return "future"
    return "active"


def build_manifest(day: dt.date) -> dict:
    units = {}
    rows = Unit.objects.order_by().values_list("sor_id", "parent_id", "first_from_date", "to_date")
    for sor_id, parent_id, first_from_date, to_date in rows.iterator(chunk_size=5000):
        units[str(sor_id)] = [parent_id, unit_status(first_from_date, to_date, day)]
    gln = {}
    valid = (
        LocationNumber.objects.order_by("gln", "pk")
        .filter(Q(from_date__isnull=True) | Q(from_date__lte=day), Q(to_date__isnull=True) | Q(to_date__gte=day))
        .values_list("gln", "unit_id")
    )
    for number, unit_id in valid.iterator(chunk_size=5000):
        if units.get(str(unit_id), [None, "closed"])[1] != "closed":
            gln[number] = unit_id
    return {"version": VERSION, "snapshot_date": day.isoformat(), "units": units, "gln": gln, "files": {}}


def expected_csv_rows(manifest: dict) -> int:
    """Units in SorEntity_daily.csv: every unit whose closure has not taken effect."""
    return sum(1 for _parent, status in manifest["units"].values() if status != "closed")
