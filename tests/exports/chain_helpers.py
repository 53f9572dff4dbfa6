"""Shared fixtures and builders for the publication-chain tests (imported by the test modules)."""

import datetime as dt
from pathlib import Path

import pytest
from stdnum import ean

from exports import tasks
from exports.models import ExportRun
from registry.models import EdiMessageType, Region
from registry.services.location_numbers import location_number_assign

CMD = dict(actor=None, reason="testdata", origin="command")
DAY = dt.date(2026, 3, 2)


def gln(n: int) -> str:
    body = f"579{n:09d}"
    return body + ean.calc_check_digit(body)


@pytest.fixture
def export_root(settings, tmp_path) -> Path:
    """A private EXPORT_ROOT, eager Celery, no heartbeat thread."""
    root = tmp_path / "exports"
    settings.EXPORT_ROOT = root
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EXPORT_RUN_HEARTBEAT_SECONDS = 0
    settings.EXPORT_KEEP_DAYS = 14
    return root


@pytest.fixture
def register(make_tree):
    """Three owner trees (12 units), ten active location numbers with message types."""
    trees = [make_tree(name=f"Lægerne {name}") for name in ("Østergade", "Vestergade", "Nørregade")]
    region = Region.objects.get(code="1081")
    types = list(EdiMessageType.objects.order_by("standard", "version_code")[:2])
    numbers = []
    n = 0
    for tree in trees:
        for key in ("si", "oe", "leaf"):
            n += 1
            numbers.append(location_number_assign(unit=tree[key], gln=gln(n), strict=False, region=region,
                                                  message_types=types, from_date=dt.date(2020, 1, 1), **CMD))
    numbers.append(location_number_assign(unit=trees[0]["ie"], gln=gln(99), strict=False, region=region,
                                          message_types=types[:1], from_date=dt.date(2020, 1, 1), **CMD))
    return {"trees": trees, "numbers": numbers}


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
