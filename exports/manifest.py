"""The manifest each run writes next to its files: what the published snapshot contains, in a
form the publication gate compares without re-parsing XML.

    {"version": 2, "snapshot_date": "2026-11-25", "changelog_position": <last event seq in the snapshot>,
     "builder_version": "<exports.BUILDER_VERSION>",
     "units": {"<sor_id>": [<parent sor_id or null>, "planned" | "active" | "closing" | "closed"], ...},
     "gln": {"<active location number>": <sor_id of the unit that owns it>, ...},
     "files": {"<published file name>": <size in bytes>, ...},
     "zip_members": {"Sor_complete.zip": {"<member>": {"size": <bytes>, "sha256": "<hex>"}, ...}}}

Every unit of the register is listed (the XML keeps closed units), with its status on the
snapshot date as `registry.status` defines it.
A location number is active when it is valid on the date and its unit is not closed.
"""

from __future__ import annotations

import datetime as dt

from registry.inheritance import location_number_valid_q
from registry.models import LocationNumber, Unit
from registry.status import UnitStatus, status_on

VERSION = 2  # 2: the four statuses of registry.status (1 had "future" for planned, no "closing")


def build_manifest(day: dt.date) -> dict:
    units = {}
    rows = Unit.objects.order_by().values_list("sor_id", "parent_id", "first_from_date", "to_date")
    for sor_id, parent_id, first_from_date, to_date in rows.iterator(chunk_size=5000):
        units[str(sor_id)] = [parent_id, status_on(first_from_date, to_date, day)]
    gln = {}
    valid = (
        LocationNumber.objects.order_by("gln", "pk")
        .filter(location_number_valid_q(day))
        .values_list("gln", "unit_id")
    )
    for number, unit_id in valid.iterator(chunk_size=5000):
        if units.get(str(unit_id), [None, UnitStatus.CLOSED])[1] != UnitStatus.CLOSED:
            gln[number] = unit_id
    return {"version": VERSION, "snapshot_date": day.isoformat(), "units": units, "gln": gln, "files": {}}


def expected_csv_rows(manifest: dict) -> int:
    """Units in SorEntity_daily.csv: every unit whose closure has not taken effect."""
    return sum(1 for _parent, status in manifest["units"].values() if status != UnitStatus.CLOSED)
