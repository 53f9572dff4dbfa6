"""The CSV extracts: `SorEntity_daily.csv` (sor-format.md §8.2) and `Edityper.csv` (§7.9).

`SorEntity_daily.csv` holds, for the snapshot date, the active units, the units whose closure
has not yet taken effect (ToDate on or after the date, ToDate being inclusive) and future
units; units whose closure took effect are left out, as SDS describes the file. The SorId cell
is the Excel text formula `="<SORID>"` so Excel keeps it as text; written through the csv
module the cell is quoted and its quotes doubled (RFC 4180), so the file holds `=""<SORID>""`
between the cell's own quotes: the form SDS's documentation shows.

A CSV row cannot say "inherited": every address, electronic address and location-number column
holds the unit's *effective* value (its own, or what it inherits, resolved by
`registry.inheritance.Resolver`), so a consumer cannot tell an own value from an inherited one.
The XML is the interface that keeps that distinction.

Column names are the ones working consumers evidence (§8.2); SDS's own column order is not
public, so the order is ours. The last six columns (ParentSorId … ShakIdentifier) are our
additions, not evidenced in SDS's file. Semicolon-separated, UTF-8 without BOM (a BOM would
turn the first header into "\\ufeffSorId" for a consumer that requires `SorId`), CRLF rows.

`Edityper.csv` lists every location number valid on the date with the MedCom message types it
can receive, one row per (location number, message type); its layout at SDS is unknown [U],
the Danish headers follow the SOR_SHAK set's style.

Memory stays flat: owners are read in batches of light rows (`_LightTrees`).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

from registry.inheritance import Resolver, location_number_valid_on
from registry.models import (
    ClinicalSpeciality,
    EdiMessageType,
    EntityType,
    Level,
    LocationNumber,
    LocationNumberMessageType,
    OwnerType,
    Region,
    Unit,
)
from registry.status import UnitStatus, unit_status

from .formats import register

ENTITY_FILE = "SorEntity_daily.csv"
EDI_FILE = "Edityper.csv"
OWNER_BATCH = 300

ADDRESS_COLUMNS = (
    ("StreetName", "street_name"),
    ("StreetBuildingId", "building"),
    ("FloorId", "floor"),
    ("SuiteId", "suite"),
    ("PostCodeId", "post_code"),
    ("DistrictName", "district_name"),
    ("CoordETRS89z32EMeasure", "coord_e"),
    ("CoordETRS89z32NMeasure", "coord_n"),
)
ADDRESS_KINDS = (("Postal", "postal"), ("Visiting", "visiting"), ("Activity", "activity"))
VIRTUAL_COLUMNS = (
    ("VirtualAddressTelephoneNumber", "phone"),
    ("VirtualAddressFaxNumber", "fax"),
    ("VirtualAddressWebsite", "website"),
    ("VirtualAddressEmailAddress", "email"),
)
SPECIALITY_SLOTS = 8

ENTITY_COLUMNS = (
    ["SorId", "SorType", "EntityName", "EntityTypeName", "FirstFromDate", "FromDate", "ToDate",
     "HealthInstitutionSorId", "HealthInstitutionEntityName", "HealthInstitutionEntityTypeName",
     "InstitutionOwnerEntityTypeName"]
    + [name for name, _attr in VIRTUAL_COLUMNS]
    + ["EanLocationCodeRegionName"]
    + [f"PrioritizedEntitySpeciality{i}Name" for i in range(1, SPECIALITY_SLOTS + 1)]
    + [f"{prefix}Address{suffix}" for prefix, _kind in ADDRESS_KINDS for suffix, _key in ADDRESS_COLUMNS]
    + ["ParentSorId", "InstitutionOwnerSorId", "InstitutionOwnerEntityName", "EanLocationCode",
       "ProviderIdentifier", "ShakIdentifier"]
)

EDI_COLUMNS = ["Lokationsnummer", "SorId", "Enhedsnavn", "Standard", "Versionskode", "Meddelelsesgruppe", "Syntaks"]


def excel_text(sor_id) -> str:
    """The Excel text-formula form SDS uses for SorId (`="11000016002"`)."""
    return f'="{sor_id}"'


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _type_name(code_row) -> str:
    if code_row is None:
        return ""
    return code_row.name_da or code_row.name_en or code_row.code


def included_on(unit: Unit, day: dt.date) -> bool:
    """Planned, active or closing on `day`: everything but units whose closure took effect."""
    return unit_status(unit, day) != UnitStatus.CLOSED


def tree_order(units: list[Unit]) -> list[Unit]:
    """Depth-first (owner, its institutions, their units …), siblings by SOR-ID."""
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    for siblings in children.values():
        siblings.sort(key=lambda u: u.sor_id)
    ordered: list[Unit] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        unit = stack.pop()
        ordered.append(unit)
        stack.extend(reversed(children.get(unit.sor_id, [])))
    return ordered


class _Progress:
    def __init__(self, progress, total):
        self.progress = progress
        self.total = total

    def __call__(self, done):
        if self.progress is not None:
            self.progress(done, self.total, "csv")


class _LightTrees:
    """Whole owner trees as light rows for the CSV (what `registry.selectors.owner_tree` returns,
    without a model instance per unit, code and location number: at national scale building
    those was most of the file's time). Rows carry the model's attribute names, the code rows
    (shared instances, read once) and each location number's message types as a list, so the
    `Resolver` and the row writer read them as they read model instances."""

    UNIT_COLUMNS = [f.attname for f in Unit._meta.concrete_fields]
    LN_COLUMNS = ["id", "gln", "unit_id", "region_id", "from_date", "to_date", "status_present"]

    def __init__(self):
        self.entity_types = {row.pk: row for row in EntityType.objects.all()}
        self.owner_types = {row.pk: row for row in OwnerType.objects.all()}
        self.regions = {row.pk: row for row in Region.objects.all()}
        self.message_types = {row.pk: row for row in EdiMessageType.objects.all()}

    def owner_trees(self, owner_ids, day):
        owner_ids = list(owner_ids)
        units = []
        for values in (Unit.objects.filter(owner_id__in=owner_ids).order_by("owner_id", "sor_id")
                       .values(*self.UNIT_COLUMNS)):
            row = SimpleNamespace(**values)
            row.pk = row.sor_id
            row.entity_type = self.entity_types.get(row.entity_type_id)
            row.owner_type = self.owner_types.get(row.owner_type_id)
            units.append(row)
        by_id = {u.sor_id: u for u in units}
        lns = defaultdict(list)
        by_ln = {}
        # By the owners' ids joined, not by a list of every unit's id: at national scale building and
        # sending lists of thousands of ids per batch cost as much as reading the rows.
        for values in LocationNumber.objects.filter(unit__owner_id__in=owner_ids).values(*self.LN_COLUMNS):
            ln = SimpleNamespace(**values)
            ln.pk = ln.id
            ln.region = self.regions.get(ln.region_id)
            ln.message_types = []
            lns[ln.unit_id].append(ln)
            by_ln[ln.id] = ln
        links = LocationNumberMessageType.objects.filter(location_number__unit__owner_id__in=owner_ids).values_list(
            "location_number_id", "message_type_id")
        for ln_id, type_id in links:
            by_ln[ln_id].message_types.append(self.message_types[type_id])
        return units, Resolver(by_id, lns, day)


@register
class CsvFormat:
    identifier = "csv"
    label = "CSV (SorEntity_daily.csv, Edityper.csv)"
    file_names = (ENTITY_FILE, EDI_FILE)

    def render(self, snapshot_date: dt.date, out_dir, progress=None) -> dict:
        out_dir = Path(out_dir)
        speciality_names = {
            code: name_da or name_en or code
            for code, name_da, name_en in ClinicalSpeciality.objects.values_list("code", "name_da", "name_en")
        }
        owner_ids = list(Unit.objects.filter(level=Level.OWNER).order_by("sor_id").values_list("sor_id", flat=True))
        report = _Progress(progress, len(owner_ids))
        counts = {"units": 0, "owners": 0, "edi_rows": 0, "location_numbers": 0}
        entity_path = out_dir / ENTITY_FILE
        edi_path = out_dir / EDI_FILE
        with open(entity_path, "w", encoding="utf-8", newline="") as entity_fh, \
                open(edi_path, "w", encoding="utf-8", newline="") as edi_fh:
            entity = csv.writer(entity_fh, delimiter=";", lineterminator="\r\n")
            edi = csv.writer(edi_fh, delimiter=";", lineterminator="\r\n")
            entity.writerow(ENTITY_COLUMNS)
            edi.writerow(EDI_COLUMNS)
            light = _LightTrees()
            for start in range(0, len(owner_ids), OWNER_BATCH):
                batch = owner_ids[start:start + OWNER_BATCH]
                units, resolver = light.owner_trees(batch, snapshot_date)
                by_id = resolver.units
                for unit in tree_order(units):
                    if not included_on(unit, snapshot_date):
                        continue
                    entity.writerow(self._entity_row(unit, by_id, resolver, speciality_names))
                    counts["units"] += 1
                    if unit.level == Level.OWNER:
                        counts["owners"] += 1
                    own_numbers = sorted(
                        (ln for ln in resolver.location_numbers.get(unit.sor_id, [])
                         if location_number_valid_on(ln, snapshot_date)),
                        key=lambda ln: ln.gln,
                    )
                    for ln in own_numbers:
                        counts["location_numbers"] += 1
                        for message_type in sorted(ln.message_types, key=lambda m: (m.standard, m.version_code)):
                            edi.writerow([ln.gln, excel_text(unit.sor_id), unit.name, message_type.standard,
                                          message_type.version_code, message_type.message_group,
                                          message_type.syntax])
                            counts["edi_rows"] += 1
                report(min(start + OWNER_BATCH, len(owner_ids)))
            for fh in (entity_fh, edi_fh):
                fh.flush()
                os.fsync(fh.fileno())
        return {"files": {ENTITY_FILE: str(entity_path), EDI_FILE: str(edi_path)}, "counts": counts}

    @staticmethod
    def _entity_row(unit: Unit, by_id: dict, resolver, speciality_names: dict) -> list[str]:
        owner = by_id.get(unit.owner_id)
        if unit.level == Level.INSTITUTION:
            institution = unit
        elif unit.level == Level.UNIT and len(unit.ancestors) > 1:
            institution = by_id.get(unit.ancestors[1])
        else:
            institution = None
        entity_type_name = _type_name(unit.owner_type if unit.level == Level.OWNER else unit.entity_type)

        virtual = resolver.virtual(unit).value or {}
        location = resolver.location_number(unit).value  # only a number valid on the snapshot date
        specialities = [speciality_names.get(item.get("code"), item.get("code") or "")
                        for item in (unit.specialities or [])][:SPECIALITY_SLOTS]
        specialities += [""] * (SPECIALITY_SLOTS - len(specialities))
        addresses = []
        for _prefix, kind in ADDRESS_KINDS:
            value = getattr(resolver, kind)(unit).value or {}
            addresses += [str(value.get(key) or "") for _suffix, key in ADDRESS_COLUMNS]

        return (
            [excel_text(unit.sor_id), unit.level, unit.name, entity_type_name,
             _date(unit.first_from_date), _date(unit.from_date), _date(unit.to_date),
             str(institution.sor_id) if institution else "", institution.name if institution else "",
             _type_name(institution.entity_type) if institution else "",
             _type_name(owner.owner_type) if owner else ""]
            + [virtual.get(attr) or "" for _name, attr in VIRTUAL_COLUMNS]
            + [_type_name(location.region) if location is not None else ""]
            + specialities
            + addresses
            + [str(unit.parent_id or ""), str(unit.owner_id or ""), owner.name if owner else "",
               location.gln if location is not None else "", unit.provider_number, unit.shak]
        )

