"""Shared builders for the publication-chain tests (fixtures: chain_fixtures.py)."""

import datetime as dt
from pathlib import Path

from exports import tasks
from exports.models import ExportRun
from tests.factories import CMD, gln, location_codes  # noqa: F401  (re-exported for the chain tests)

DAY = dt.date(2026, 3, 2)


def nightly(day, capture) -> ExportRun | None:
    """Trigger the nightly task for `day` (eager) and run what it enqueues after commit."""
    with capture(execute=True):
        result = tasks.nightly.delay(day.isoformat()).get()
    run_id = result.get("run")
    return ExportRun.objects.get(pk=run_id) if run_id else None


def visible_entries(root: Path) -> set[str]:
    """What a reader of EXPORT_ROOT can see: everything not starting with a dot, one level deep."""
    out = set()
    for entry in root.iterdir():
        if entry.name.startswith("."):
            continue
        out.add(entry.name)
        if entry.is_dir():
            out.update(f"{entry.name}/{child.name}" for child in entry.iterdir())
    return out


def snapshot_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}
