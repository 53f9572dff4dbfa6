"""Export formats `v2` (the default, SDS's current Sor.xml) and `v1` (SOR XML 1.0.0).

`render` streams the register owner by owner: owners in ascending SOR-ID, read in batches
through `exports.xml.source.owner_tree_rows` (two queries per batch), so memory does
not grow with the register. What "the register on a date" means is documented in
docs/sor-xml-format-choices.md: every unit is written with its own dates (closed units with
their ToDate, future units with their FromDate); the date chooses which location number of a
unit is current and is the file's SnapshotDate."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

from django.utils import timezone

from exports.formats import register

from .builder import SorXmlBuilder

OWNER_BATCH = 1000
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def owner_ids_in_order() -> list[int]:
    from registry.models import Unit

    return list(Unit.objects.filter(level="IE").order_by("sor_id").values_list("sor_id", flat=True))


def _batch(batch):
    from .source import owner_tree_rows

    units, lns = owner_tree_rows(batch)
    children = defaultdict(list)
    owners = {}
    for unit in units:  # ordered by owner, SOR-ID: children lists come out sorted
        if unit.parent_id is None:
            owners[unit.sor_id] = unit
        else:
            children[unit.parent_id].append(unit)
    return [owners[o] for o in batch if o in owners], children, lns, len(units)


def _read_in_thread(batches):
    from django.db import connection

    try:
        yield from (_batch(b) for b in batches)
    finally:
        connection.close()  # the thread's own connection


def iter_owner_batches(owner_ids, snapshot_date, batch_size=OWNER_BATCH, *, prefetch: bool | None = None):
    """Yield (owners, children, location_numbers, n_units) per batch of owners, everything in
    SOR-ID order (two queries per batch, see source.owner_tree_rows).

    With `prefetch` (the default outside a transaction) the next batch is read by a helper
    thread, on its own connection, while this one is written: the database's time overlaps the
    writer's. Inside a transaction (tests, a caller's atomic block) a second connection could not
    see uncommitted rows, so batches are read in line."""
    from django.db import connection

    batches = [owner_ids[i:i + batch_size] for i in range(0, len(owner_ids), batch_size)]
    if prefetch is None:
        prefetch = not connection.in_atomic_block
    if not prefetch or len(batches) < 2:
        for batch in batches:
            yield _batch(batch)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sor-export-read") as pool:
        reader = _read_in_thread(batches)
        try:
            pending = pool.submit(next, reader, None)
            while True:
                item = pending.result()
                if item is None:
                    break
                pending = pool.submit(next, reader, None)
                yield item
        finally:
            # Close the reader in its own thread, so its `finally` closes that thread's connection.
            pool.submit(reader.close).result()


def write_sor_xml(fh, version: str, snapshot_date: dt.date, batches, *, created_at: dt.datetime | None = None,
                  progress=None, total: int | None = None) -> dict:
    """Write a whole SorTree from `batches` (see iter_owner_batches) to the binary file `fh`."""
    from .source import code_maps

    created_at = created_at or timezone.now()
    builder = SorXmlBuilder(fh, version, snapshot_date, code_maps())
    builder.header(created_at.astimezone(COPENHAGEN))
    done = 0
    for owners, children, lns, n_units in batches:
        for owner in owners:
            builder.owner(owner, children, lns)
        done += n_units
        if progress is not None:
            progress(done, total, version)
    builder.close()
    builder.counts["total_units"] = done
    return builder.counts


class _SorXmlFormat:
    identifier = ""
    files = ("Sor.xml",)

    def render(self, snapshot_date: dt.date, out_dir, progress=None, *, created_at: dt.datetime | None = None) -> dict:
        """Write Sor.xml into `out_dir`. `progress(done, total, identifier)` is called after each
        batch with the number of units written so far and the number of units in the register."""
        from registry.models import Unit

        path = Path(out_dir) / "Sor.xml"
        owner_ids = owner_ids_in_order()
        total = Unit.objects.count() if progress is not None else None
        with open(path, "wb") as fh:
            counts = write_sor_xml(fh, self.identifier, snapshot_date, iter_owner_batches(owner_ids, snapshot_date),
                                   created_at=created_at, progress=progress, total=total)
        return {"files": {"Sor.xml": str(path)}, "counts": counts}


@register
class V2Format(_SorXmlFormat):
    identifier = "v2"
    label = "SOR XML 2.0.0"


@register
class V1Format(_SorXmlFormat):
    identifier = "v1"
    label = "SOR XML 1.0.0"
