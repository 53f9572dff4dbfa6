"""What SOR published on a date: a unit as that day's file showed it, also after the day's files
are deleted by retention (ADR 0017).

Nothing of the files is needed: a published run keeps its row (`exports.ExportRun`: snapshot date,
the change-log position its snapshot was built from, the builder version, the files' checksums),
and the register's history is never deleted. The unit is read at that log position
(`state.View.at_position`) and resolved on the snapshot date with the file's rule for a unit's
own location number (`inheritance.location_number_in_file`)."""

from __future__ import annotations

import datetime as dt

from ..errors import DomainError
from . import state
from .documents import Documents


class NotPublished(DomainError):
    pass


def run_for(day: dt.date):
    """The run whose files were published for `day` (the last, if the day was published twice)."""
    from exports.models import ExportRun

    run = (ExportRun.objects.filter(snapshot_date=day, status=ExportRun.Status.SUCCEEDED)
           .order_by("-published_at", "-pk").first())
    if run is None:
        raise NotPublished(f"No SOR file was published for {day.isoformat()}.")
    if run.changelog_position is None:
        raise NotPublished(f"The file of {day.isoformat()} was published before runs recorded their change-log "
                           "position; it cannot be rebuilt.")
    return run


def publication(run) -> dict:
    from pathlib import Path

    from exports import BUILDER_VERSION

    kept = bool(run.published_dir) and Path(run.published_dir).is_dir()
    return {
        "date": run.snapshot_date, "run": run.pk, "published_at": run.published_at,
        "changelog_position": run.changelog_position, "builder_version": run.builder_version or None,
        "current_builder_version": BUILDER_VERSION,
        "files": {name: {"sha256": meta.get("sha256"), "size": meta.get("size")} for name, meta in (run.files or {}).items()},
        "files_kept": kept,
    }


def published_unit(day: dt.date, sor_id: int) -> tuple[dict, dict]:
    """(the unit's document as the file of `day` showed it, the publication). Raises
    NotPublished when no file was published that day, LookupError when the unit was not in it."""
    run = run_for(day)
    view = state.View.at_position(run.changelog_position, run.snapshot_date)
    doc = Documents(view).units([sor_id], published=True).get(sor_id)
    if doc is None:
        raise LookupError(f"Unit {sor_id} was not in the SOR file of {day.isoformat()}.")
    return doc, publication(run)
