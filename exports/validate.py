"""Checks a run's files before the gate: v1 against SDS's XSD, v2 and the CSVs against our own
structural rules, and every file against the run's manifest (same units, same date).

All checks stream (lxml iterparse clearing elements, csv reader), so a national file is checked
in flat memory. A failed check raises `ExportInvalid` naming the file and what is wrong; the run
fails and nothing is published.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import re
import zipfile
from pathlib import Path

from django.conf import settings
from lxml import etree

from .complete import COLUMNS, ENTITY
from .complete import MEMBERS as COMPLETE_MEMBERS
from .csv_format import EDI_COLUMNS, ENTITY_COLUMNS
from .manifest import expected_csv_rows
from .xml.names import V1_NS, V2_NS

V1_XSD = Path(settings.BASE_DIR) / "exports" / "xsd" / "sor-v1.0.0-localized" / "SorTree.xsd"
ENTITY_WRAPPERS = ("InstitutionOwnerEntity", "HealthInstitutionEntity", "OrganizationalUnitEntity")
SOR_ID_CELL = re.compile(r'^="(\d{6,18})"$')
GLN = re.compile(r"^\d{13}$")
MAX_REPORTED = 10


class ExportInvalid(Exception):
    """A produced file failed a check; the message names the file and the problem."""


_schema_cache: dict[str, etree.XMLSchema] = {}


def v1_schema() -> etree.XMLSchema:
    key = str(V1_XSD)
    if key not in _schema_cache:
        if not V1_XSD.exists():
            raise ExportInvalid(f"The v1 XSD is missing ({V1_XSD}); cannot validate Sor_v1.xml")
        _schema_cache[key] = etree.XMLSchema(etree.parse(key))
    return _schema_cache[key]


def check_xml(path: Path, namespace: str, day: dt.date, manifest: dict, *, schema=None) -> dict:
    """Stream the file once: root, SnapshotDate, one wrapper per unit of the manifest, no SOR-ID
    twice; with `schema`, XSD validity too."""
    counts = dict.fromkeys(ENTITY_WRAPPERS, 0)
    wrappers = {f"{{{namespace}}}{name}": name for name in ENTITY_WRAPPERS}
    snapshot_tags = {f"{{{namespace}}}SnapshotDate", f"{{{V1_NS}}}SnapshotDate"}  # v2 uses sor1:SnapshotDate
    sor_id_tag = f"{{{V1_NS}}}SorIdentifier"
    root_tag = f"{{{namespace}}}SorTree"
    record_tags = {f"{{{namespace}}}{name}" for name in ("InstitutionOwner", "HealthInstitution", "OrganizationalUnit")}
    seen: set[str] = set()
    duplicates: list[str] = []
    snapshot = None
    root = None
    try:
        for event, element in etree.iterparse(str(path), events=("start", "end"), schema=schema, huge_tree=True,
                                              remove_blank_text=True):
            if event == "start":
                if root is None:
                    root = element.tag
                continue
            tag = element.tag
            if tag in snapshot_tags:
                snapshot = (element.text or "").strip()
            elif tag == sor_id_tag and element.getparent() is not None and element.getparent().tag in record_tags:
                value = (element.text or "").strip()
                if value in seen:
                    duplicates.append(value)
                seen.add(value)
            elif tag in wrappers:
                counts[wrappers[tag]] += 1
                element.clear(keep_tail=False)
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
    except etree.XMLSyntaxError as exc:
        raise ExportInvalid(f"{path.name}: {exc}") from exc
    if root != root_tag:
        raise ExportInvalid(f"{path.name}: root element is {root}, expected {root_tag}")
    if snapshot != day.isoformat():
        raise ExportInvalid(f"{path.name}: SnapshotDate is {snapshot!r}, expected {day.isoformat()}")
    if duplicates:
        raise ExportInvalid(f"{path.name}: SOR-ID written twice: {', '.join(duplicates[:MAX_REPORTED])}")
    total = sum(counts.values())
    expected = len(manifest["units"])
    if total != expected:
        missing = set(manifest["units"]) - seen
        raise ExportInvalid(
            f"{path.name}: {total} units in the file, {expected} in the register"
            + (f"; missing e.g. {', '.join(sorted(missing)[:MAX_REPORTED])}" if missing else "")
        )
    return {"units": total, **{name: n for name, n in counts.items()}}


def check_v2(path: Path, day: dt.date, manifest: dict) -> dict:
    return check_xml(path, V2_NS, day, manifest)


# Where the XML helpers may provide their own v1 XSD validation (module, function).
_V1_HELPERS = (("exports.xml.xsd", "validate_v1"), ("exports.xml.validate", "validate_v1"),
               ("exports.xml.validation", "validate_v1"))


def _v1_helper():
    for module_name, attr in _V1_HELPERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        helper = getattr(module, attr, None)
        if callable(helper):
            return helper
    return None


def check_v1(path: Path, day: dt.date, manifest: dict) -> dict:
    """XSD validity (the XML package's helper when it has one, else lxml here) and structure."""
    helper = _v1_helper()
    if helper is None:
        return check_xml(path, V1_NS, day, manifest, schema=v1_schema())
    try:
        problems = helper(path)
    except Exception as exc:  # the helper reports invalidity by raising or by returning problems
        raise ExportInvalid(f"{path.name}: {exc}") from exc
    if problems and not isinstance(problems, bool):
        raise ExportInvalid(f"{path.name}: " + "; ".join(str(p) for p in list(problems)[:MAX_REPORTED]))
    if problems is False:
        raise ExportInvalid(f"{path.name}: not valid against the v1 XSD")
    return check_xml(path, V1_NS, day, manifest)


def check_zip(zip_path: Path, xml_path: Path) -> dict:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if names != ["Sor.xml"]:
                raise ExportInvalid(f"{zip_path.name}: holds {names}, expected exactly ['Sor.xml']")
            bad = archive.testzip()
            if bad is not None:
                raise ExportInvalid(f"{zip_path.name}: member {bad} is corrupt")
            size = archive.getinfo("Sor.xml").file_size
    except zipfile.BadZipFile as exc:
        raise ExportInvalid(f"{zip_path.name}: {exc}") from exc
    if size != xml_path.stat().st_size:
        raise ExportInvalid(f"{zip_path.name}: Sor.xml inside is {size} bytes, Sor.xml is {xml_path.stat().st_size}")
    return {"member_size": size}


def _read_csv(path: Path, header: list[str]):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        first = next(reader, None)
        if first != header:
            raise ExportInvalid(f"{path.name}: header differs from the expected columns")
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise ExportInvalid(f"{path.name}: line {line} has {len(row)} fields, expected {len(header)}")
            yield line, row


def check_entity_csv(path: Path, day: dt.date, manifest: dict) -> dict:
    seen: set[str] = set()
    statuses = manifest["units"]
    rows = 0
    for line, row in _read_csv(path, ENTITY_COLUMNS):
        match = SOR_ID_CELL.match(row[0])
        if not match:
            raise ExportInvalid(f'{path.name}: line {line}: SorId {row[0]!r} is not written as ="<SOR-ID>"')
        sor_id = match.group(1)
        if sor_id in seen:
            raise ExportInvalid(f"{path.name}: line {line}: SOR-ID {sor_id} written twice")
        seen.add(sor_id)
        status = statuses.get(sor_id, [None, None])[1]
        if status is None:
            raise ExportInvalid(f"{path.name}: line {line}: SOR-ID {sor_id} is not in the register")
        if status == "closed":
            raise ExportInvalid(f"{path.name}: line {line}: SOR-ID {sor_id} is closed before {day}")
        rows += 1
    expected = expected_csv_rows(manifest)
    if rows != expected:
        raise ExportInvalid(f"{path.name}: {rows} units, expected {expected} (active, closing and future)")
    return {"rows": rows}


def check_edi_csv(path: Path, day: dt.date, manifest: dict) -> dict:
    rows = 0
    for line, row in _read_csv(path, EDI_COLUMNS):
        if not GLN.match(row[0]):
            raise ExportInvalid(f"{path.name}: line {line}: {row[0]!r} is not a 13-digit location number")
        if not SOR_ID_CELL.match(row[1]):
            raise ExportInvalid(f'{path.name}: line {line}: SorId {row[1]!r} is not written as ="<SOR-ID>"')
        if not row[3] or not row[4]:
            raise ExportInvalid(f"{path.name}: line {line}: message standard or version code is empty")
        rows += 1
    return {"rows": rows}


def _complete_check(name: str):
    """A member of Sor_complete.zip: its header, its field count on every row, SOR-IDs as
    `="<SOR-ID>"` of units in the register, location numbers of 13 digits; SOREntity.csv holds
    every unit of the register at least once."""
    columns = COLUMNS[name]
    id_cells = [i for i, c in enumerate(columns) if c.endswith("SorId")]
    gln_cells = [i for i, c in enumerate(columns) if c == "EanLocationCode"]

    def check(path: Path, day: dt.date, manifest: dict) -> dict:
        units = manifest["units"]
        seen: set[str] = set()
        rows = 0
        for line, row in _read_csv(path, list(columns)):
            for i in id_cells:
                if not row[i]:
                    continue
                match = SOR_ID_CELL.match(row[i])
                if not match:
                    raise ExportInvalid(f'{path.name}: line {line}: {columns[i]} {row[i]!r} is not written as ="<SOR-ID>"')
                if i == 0 and name == ENTITY:
                    seen.add(match.group(1))
                if columns[i] == "SorId" and match.group(1) not in units:
                    raise ExportInvalid(f"{path.name}: line {line}: SOR-ID {match.group(1)} is not in the register")
            for i in gln_cells:
                if not GLN.match(row[i]):
                    raise ExportInvalid(f"{path.name}: line {line}: {row[i]!r} is not a 13-digit location number")
            rows += 1
        if name == ENTITY:
            missing = set(units) - seen
            if missing:
                raise ExportInvalid(f"{path.name}: {len(missing)} units of the register have no row "
                                    f"(e.g. {', '.join(sorted(missing)[:3])})")
        return {"rows": rows}

    return check


def check_complete_zip(zip_path: Path, directory: Path) -> dict:
    """Sor_complete.zip holds exactly the members, in order, each as the file published beside it."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if names != list(COMPLETE_MEMBERS):
                raise ExportInvalid(f"{zip_path.name}: holds {names}, expected {list(COMPLETE_MEMBERS)}")
            bad = archive.testzip()
            if bad is not None:
                raise ExportInvalid(f"{zip_path.name}: member {bad} is corrupt")
            for name in COMPLETE_MEMBERS:
                size = archive.getinfo(name).file_size
                beside = (directory / name).stat().st_size if (directory / name).exists() else None
                if size != beside:
                    raise ExportInvalid(f"{zip_path.name}: {name} inside is {size} bytes, beside it {beside}")
    except zipfile.BadZipFile as exc:
        raise ExportInvalid(f"{zip_path.name}: {exc}") from exc
    return {"members": len(names)}


# published file name -> check(path, day, manifest)
CHECKS = {
    "Sor.xml": check_v2,
    "Sor_v1.xml": check_v1,
    "SorEntity_daily.csv": check_entity_csv,
    "Edityper.csv": check_edi_csv,
    **{name: _complete_check(name) for name in COMPLETE_MEMBERS},
}


def validate_directory(directory: Path, day: dt.date, manifest: dict, *, skip=frozenset()) -> dict:
    """Run every check that applies to the files present (except those named in `skip`, checked
    already where they were built); returns name → check counts."""
    results = {}
    for name, check in CHECKS.items():
        path = directory / name
        if path.exists() and name not in skip:
            results[name] = check(path, day, manifest)
    if (directory / "Sor.zip").exists():
        results["Sor.zip"] = check_zip(directory / "Sor.zip", directory / "Sor.xml")
    if (directory / "Sor_complete.zip").exists() and "Sor_complete.zip" not in skip:
        results["Sor_complete.zip"] = check_complete_zip(directory / "Sor_complete.zip", directory)
    return results
