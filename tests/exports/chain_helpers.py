"""Shared builders for the publication-chain tests (fixtures: chain_fixtures.py)."""

import datetime as dt
from pathlib import Path

from stdnum import ean

from exports import tasks
from exports.models import ExportRun
from registry.audit import audit_context
from registry.models import (
    EdiAdministrator,
    NetworkOperator,
    Region,
    SystemSupplier,
    SystemType,
)

CMD = dict(actor=None, reason="testdata", origin="command")
DAY = dt.date(2026, 3, 2)


def gln(n: int) -> str:
    body = f"579{n:09d}"
    return body + ean.calc_check_digit(body)


def location_codes() -> dict:
    """The code-list values a location number needs to be valid in the v1 XSD."""

    def code(model, value):
        return model.objects.get_or_create(code=value, defaults={"name_da": value})[0]

    with audit_context(**CMD):
        return dict(system_supplier=code(SystemSupplier, "162"), system_type=code(SystemType, "225"),
                    network_operator=NetworkOperator.objects.get(code="41000035001"),
                    region=Region.objects.get(code="1081"), edi_administrator=code(EdiAdministrator, "639"))


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
