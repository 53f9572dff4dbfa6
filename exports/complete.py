"""`Sor_complete.zip`: SDS's SOR2 CSV package ("alle filer i denne zip-fil kan indeholde historik",
sor-format.md §2.3, §8.2), each member also published on its own.

Members (names exactly as SDS publishes them; consumers match them literally):

- `SOREntity.csv`: one row per validity period of each unit (`registry.selectors.unit_versions`:
  the values that held from one FromDate until the day before the next, as the register knows
  them now). Unlike `SorEntity_daily.csv` a row holds the unit's *own* values, with a
  `HasOwn…` flag per block: a blank value of a block the unit does not own is inherited, so the
  register valid on any past date can be rebuilt from the file (the tree and the own values).
- `SORClassifications.csv`: every code list the files use, with validity and successor.
- `LocationsCodes.csv`: every location number (closed ones included) with its attributes.
- `LocationsCodeEDITypeMap.csv`: location number → MedCom message type (closed numbers included).
- `EDITypes.csv`: the MedCom message types.
- `SHAKSORMap.csv`: SHAK code ↔ SOR-ID with the period it held (a unit's own SHAK, merged over
  consecutive periods with the same code).
- `SORReplacedEntities.csv`: replaced → replacing SOR-ID with the day the replacement applies.
- `Geolocations.csv`: one row per unit (not closed on the date) and address kind of its own.

Semicolon-separated UTF-8 without BOM, CRLF rows, one header row; SOR-IDs as `="<SORID>"` (the
form of `SorEntity_daily.csv`), dates `YYYY-MM-DD`, flags `true`/`false`. Column names: where
SDS's own are evidenced (the `SorEntity_daily.csv` names of §8.2) they are used; the others are
ours in the same style. README "Sor_complete.zip" lists every column and which names are SDS's.

Memory stays flat: every table is streamed from PostgreSQL in chunks; code lists are read once.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import time
from pathlib import Path

from django.db.models import Q

from registry.models import (
    ADDRESS_FIELDS,
    ClinicalSpeciality,
    EdiAdministrator,
    EdiMessageType,
    EntityType,
    LocationMode,
    LocationNumber,
    LocationNumberMessageType,
    Municipality,
    NetworkOperator,
    OwnerType,
    Region,
    SpecialityType,
    SystemSupplier,
    SystemType,
    Unit,
)
from registry.selectors import unit_versions
from registry.status import UnitStatus, status_on

from .csv_format import SPECIALITY_SLOTS, excel_text
from .formats import register

ZIP_NAME = "Sor_complete.zip"
ENTITY = "SOREntity.csv"
CLASSIFICATIONS = "SORClassifications.csv"
LOCATIONS = "LocationsCodes.csv"
EDI_MAP = "LocationsCodeEDITypeMap.csv"
EDI_TYPES = "EDITypes.csv"
SHAK_MAP = "SHAKSORMap.csv"
REPLACED = "SORReplacedEntities.csv"
GEO = "Geolocations.csv"
MEMBERS = (ENTITY, CLASSIFICATIONS, LOCATIONS, EDI_MAP, EDI_TYPES, SHAK_MAP, REPLACED, GEO)
CHUNK = 5000

ADDRESS_KINDS = (("Postal", "postal"), ("Visiting", "visiting"), ("Activity", "activity"))
# The address parts in SorEntity_daily.csv's names (§8.2), then ours for the rest of the block.
ADDRESS_PARTS = (
    ("StreetName", "street_name"), ("StreetBuildingId", "building"), ("FloorId", "floor"), ("SuiteId", "suite"),
    ("PostCodeId", "post_code"), ("DistrictName", "district_name"),
    ("CoordETRS89z32EMeasure", "coord_e"), ("CoordETRS89z32NMeasure", "coord_n"),
    ("MailDeliverySublocationId", "mail_sublocation"), ("StreetNameForAddressingName", "street_name_for_addressing"),
    ("DistrictSubdivisionId", "district_subdivision"), ("PostOfficeBoxId", "po_box"),
    ("StairwayId", "stairway"), ("CountryIdentificationCode", "country_code"),
    ("MunicipalityCode", "municipality_code"), ("StreetCode", "street_code"), ("RegionCode", "region_code"),
)
assert {key for _n, key in ADDRESS_PARTS} <= {suffix for suffix, _l, _f in ADDRESS_FIELDS}
VIRTUAL_PARTS = (("VirtualAddressTelephoneNumber", "phone"), ("VirtualAddressFaxNumber", "fax"),
                 ("VirtualAddressWebsite", "website"), ("VirtualAddressEmailAddress", "email"))
LOCATION_MODE_NAMES = {LocationMode.OWN: "egen", LocationMode.INHERITED: "nedarvet", LocationMode.NONE: "ingen"}

ENTITY_COLUMNS = (
    ["SorId", "SorType", "EntityName", "EntityTypeCode", "EntityTypeName", "FirstFromDate", "FromDate", "ToDate",
     "ValidToDate", "UpdatedAtDate", "ParentSorId", "InstitutionOwnerSorId", "RegionCode", "ShakIdentifier",
     "ProviderIdentifier", "PharmacyIdentifier", "CvrNumberIdentifier", "PNumberIdentifier", "LocalCode",
     "EanLocationCodeInheritance"]
    + [f"PrioritizedEntitySpeciality{i}Code" for i in range(1, SPECIALITY_SLOTS + 1)]
    + ["HasOwnVirtualAddress"] + [name for name, _key in VIRTUAL_PARTS]
    + [col for prefix, _kind in ADDRESS_KINDS
       for col in [f"HasOwn{prefix}Address"] + [f"{prefix}Address{part}" for part, _key in ADDRESS_PARTS]]
)
CLASSIFICATION_COLUMNS = ["ClassificationName", "Code", "NameDanish", "NameEnglish", "FileVersion", "ValidFromDate",
                          "ValidToDate", "Retired", "SuccessorCode"]
LOCATION_COLUMNS = ["EanLocationCode", "SorId", "EntityName", "FirstFromDate", "FromDate", "ToDate", "UpdatedAtDate",
                    "OnlyInternal", "NonActive", "SystemTypeCode", "SystemTypeName", "SystemSupplierCode",
                    "SystemSupplierName", "NetworkOperatorCode", "NetworkOperatorName", "EdiAdministratorCode",
                    "EdiAdministratorName", "RegionCode", "RegionName"]
EDI_MAP_COLUMNS = ["EanLocationCode", "SorId", "EdiStandard", "EdiVersionCode", "LocationCodeFromDate",
                   "LocationCodeToDate"]
EDI_TYPE_COLUMNS = ["EdiStandard", "EdiVersionCode", "MessageGroup", "Syntax", "NameDanish", "NameEnglish", "Urn",
                    "ValidFromDate", "ValidToDate", "Retired", "SuccessorStandard", "SuccessorVersionCode"]
SHAK_COLUMNS = ["ShakIdentifier", "SorId", "FromDate", "ToDate"]
REPLACED_COLUMNS = ["ReplacedSorId", "ReplacingSorId", "ReplacedDate"]
GEO_COLUMNS = (["SorId", "AddressType"] + [f"Address{part}" for part, _key in ADDRESS_PARTS[:6]]
               + ["MunicipalityCode", "StreetCode", "RegionCode", "CoordETRS89z32EMeasure", "CoordETRS89z32NMeasure"])
GEO_KEYS = [key for _part, key in ADDRESS_PARTS[:6]] + ["municipality_code", "street_code", "region_code",
                                                       "coord_e", "coord_n"]

# Code lists in SORClassifications.csv: the name consumers see, and the model.
CLASSIFICATION_LISTS = (
    ("EntityType", EntityType), ("OwnerType", OwnerType), ("ClinicalSpeciality", ClinicalSpeciality),
    ("SpecialityType", SpecialityType), ("Region", Region), ("Municipality", Municipality),
    ("NetworkOperator", NetworkOperator), ("SystemSupplier", SystemSupplier), ("SystemType", SystemType),
    ("EdiAdministrator", EdiAdministrator),
)

COLUMNS = {ENTITY: ENTITY_COLUMNS, CLASSIFICATIONS: CLASSIFICATION_COLUMNS, LOCATIONS: LOCATION_COLUMNS,
           EDI_MAP: EDI_MAP_COLUMNS, EDI_TYPES: EDI_TYPE_COLUMNS, SHAK_MAP: SHAK_COLUMNS, REPLACED: REPLACED_COLUMNS,
           GEO: GEO_COLUMNS}


def _date(value) -> str:
    return value.isoformat() if value else ""


def _flag(value) -> str:
    return "" if value is None else ("true" if value else "false")


def _text(value) -> str:
    return "" if value is None else str(value)


class _Codes:
    """Code rows by primary key, read once per list."""

    def __init__(self, model):
        self.rows = {row.pk: row for row in model.objects.all()}

    def code(self, pk) -> str:
        row = self.rows.get(pk)
        return row.code if row is not None else ""

    def name(self, pk) -> str:
        row = self.rows.get(pk)
        return (row.name_da or row.name_en or "") if row is not None else ""


class _Writer:
    def __init__(self, path: Path, columns):
        self.path = path
        self.fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by close()
        self.csv = csv.writer(self.fh, delimiter=";", lineterminator="\r\n")
        self.csv.writerow(columns)
        self.rows = 0

    def row(self, values):
        self.csv.writerow(values)
        self.rows += 1

    def close(self):
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()


def _entity_fields() -> list[str]:
    fields = ["level", "name", "entity_type_id", "owner_type_id", "first_from_date", "updated_at_date", "parent_id",
              "owner_id", "region_id", "shak", "provider_number", "pharmacy_number", "cvr", "p_number", "local_code",
              "location_mode", "specialities", "virtual_present", *[key for _n, key in VIRTUAL_PARTS]]
    for _prefix, kind in ADDRESS_KINDS:
        fields.append(f"{kind}_present")
        fields += [f"{kind}_{key}" for _part, key in ADDRESS_PARTS]
    return fields


def write_entities(out_dir: Path, progress=None) -> dict:
    """SOREntity.csv and SHAKSORMap.csv in one pass over the units' versions."""
    entity_types, owner_types, regions = _Codes(EntityType), _Codes(OwnerType), _Codes(Region)
    entity = _Writer(out_dir / ENTITY, ENTITY_COLUMNS)
    shak = _Writer(out_dir / SHAK_MAP, SHAK_COLUMNS)
    units: set[int] = set()
    open_shak: list | None = None  # [code, sor_id, from, to] of the unit's current run of one SHAK

    def flush_shak():
        if open_shak is not None:
            shak.row([open_shak[0], excel_text(open_shak[1]), _date(open_shak[2]), _date(open_shak[3])])

    try:
        for values, valid_to in unit_versions(_entity_fields()):
            sor_id = values["sor_id"]
            units.add(sor_id)
            entity.row(_entity_row(values, valid_to, entity_types, owner_types, regions))
            code = values["shak"] or ""
            if open_shak is not None and open_shak[1] == sor_id and open_shak[0] == code and code:
                open_shak[3] = valid_to
                continue
            flush_shak()
            open_shak = [code, sor_id, values["from_date"], valid_to] if code else None
            if progress is not None and entity.rows % CHUNK == 0:
                progress(entity.rows)
        flush_shak()
    finally:
        entity.close()
        shak.close()
    return {"entity_rows": entity.rows, "entity_units": len(units), "shak_rows": shak.rows}


def _entity_row(values: dict, valid_to, entity_types, owner_types, regions) -> list[str]:
    owner_level = values["level"] == "IE"
    type_pk = values["owner_type_id"] if owner_level else values["entity_type_id"]
    types = owner_types if owner_level else entity_types
    specialities = [item.get("code") or "" for item in (values["specialities"] or [])][:SPECIALITY_SLOTS]
    specialities += [""] * (SPECIALITY_SLOTS - len(specialities))
    row = [
        excel_text(values["sor_id"]), values["level"], values["name"], types.code(type_pk), types.name(type_pk),
        _date(values["first_from_date"]), _date(values["from_date"]), _date(values["to_date"]), _date(valid_to),
        _date(values["updated_at_date"]),
        excel_text(values["parent_id"]) if values["parent_id"] else "",
        excel_text(values["owner_id"]) if values["owner_id"] else "",
        regions.code(values["region_id"]), values["shak"], values["provider_number"], values["pharmacy_number"],
        values["cvr"], values["p_number"], values["local_code"],
        LOCATION_MODE_NAMES.get(values["location_mode"], values["location_mode"]),
        *specialities,
        _flag(values["virtual_present"]), *[_text(values[key]) for _n, key in VIRTUAL_PARTS],
    ]
    for _prefix, kind in ADDRESS_KINDS:
        row.append(_flag(values[f"{kind}_present"]))
        row += [_text(values[f"{kind}_{key}"]) for _part, key in ADDRESS_PARTS]
    return row


def write_classifications(out_dir: Path) -> dict:
    writer = _Writer(out_dir / CLASSIFICATIONS, CLASSIFICATION_COLUMNS)
    try:
        for list_name, model in CLASSIFICATION_LISTS:
            rows = list(model.objects.order_by("code"))
            codes = {row.pk: row.code for row in rows}
            for row in rows:
                writer.row([list_name, row.code, row.name_da, row.name_en, row.file_version, _date(row.valid_from),
                            _date(row.valid_to), _flag(row.retired), codes.get(row.successor_id, "")])
    finally:
        writer.close()
    return {"classification_rows": writer.rows}


def write_location_numbers(out_dir: Path) -> dict:
    """LocationsCodes.csv and LocationsCodeEDITypeMap.csv: every location number, closed ones too."""
    suppliers, systems = _Codes(SystemSupplier), _Codes(SystemType)
    operators, administrators, regions = _Codes(NetworkOperator), _Codes(EdiAdministrator), _Codes(Region)
    message_types = {m.pk: m for m in EdiMessageType.objects.all()}
    types_of: dict[int, list] = {}
    links = LocationNumberMessageType.objects.order_by().values_list("location_number_id", "message_type_id")
    for ln_id, type_id in links.iterator(CHUNK):
        types_of.setdefault(ln_id, []).append(message_types[type_id])
    codes = _Writer(out_dir / LOCATIONS, LOCATION_COLUMNS)
    edi = _Writer(out_dir / EDI_MAP, EDI_MAP_COLUMNS)
    try:
        rows = (LocationNumber.objects.order_by("gln", "from_date", "pk").select_related("unit")
                .only("gln", "unit__sor_id", "unit__name", "first_from_date", "from_date", "to_date", "updated_at_date",
                      "only_internal", "non_active", "system_type_id", "system_supplier_id", "network_operator_id",
                      "edi_administrator_id", "region_id"))
        for ln in rows.iterator(CHUNK):
            sor_id = excel_text(ln.unit.sor_id)
            codes.row([
                ln.gln, sor_id, ln.unit.name, _date(ln.first_from_date), _date(ln.from_date), _date(ln.to_date),
                _date(ln.updated_at_date), _flag(ln.only_internal), _flag(ln.non_active),
                systems.code(ln.system_type_id), systems.name(ln.system_type_id),
                suppliers.code(ln.system_supplier_id), suppliers.name(ln.system_supplier_id),
                operators.code(ln.network_operator_id), operators.name(ln.network_operator_id),
                administrators.code(ln.edi_administrator_id), administrators.name(ln.edi_administrator_id),
                regions.code(ln.region_id), regions.name(ln.region_id),
            ])
            for mt in sorted(types_of.get(ln.pk, []), key=lambda m: (m.standard, m.version_code)):
                edi.row([ln.gln, sor_id, mt.standard, mt.version_code, _date(ln.from_date), _date(ln.to_date)])
    finally:
        codes.close()
        edi.close()
    return {"location_rows": codes.rows, "edi_map_rows": edi.rows}


def write_edi_types(out_dir: Path) -> dict:
    writer = _Writer(out_dir / EDI_TYPES, EDI_TYPE_COLUMNS)
    try:
        rows = list(EdiMessageType.objects.order_by("standard", "version_code"))
        by_pk = {row.pk: row for row in rows}
        for row in rows:
            successor = by_pk.get(row.successor_id)
            writer.row([row.standard, row.version_code, row.message_group, row.syntax, row.name_da, row.name_en,
                        row.urn, _date(row.valid_from), _date(row.valid_to), _flag(row.retired),
                        successor.standard if successor else "", successor.version_code if successor else ""])
    finally:
        writer.close()
    return {"edi_type_rows": writer.rows}


def write_replaced(out_dir: Path) -> dict:
    """Replaced → replacing pairs from both sides of the relation (`replaced_by` of the old unit,
    `replaces` of the new), each once; the date is the replaced unit's ToDate, or else the day
    the replacing unit first applies."""
    pairs: dict[tuple[int, int], None] = {}
    rows = (Unit.objects.order_by("sor_id").filter(Q(replaces__len__gt=0) | Q(replaced_by__len__gt=0))
            .values_list("sor_id", "replaces", "replaced_by"))
    for sor_id, replaces, replaced_by in rows.iterator(CHUNK):
        for new in replaced_by or []:
            pairs[(sor_id, new)] = None
        for old in replaces or []:
            pairs[(old, sor_id)] = None
    involved = {sor_id for pair in pairs for sor_id in pair}
    dates = dict.fromkeys(involved)
    for sor_id, to_date, first_from in Unit.objects.filter(sor_id__in=list(involved)).values_list(
            "sor_id", "to_date", "first_from_date"):
        dates[sor_id] = (to_date, first_from)
    writer = _Writer(out_dir / REPLACED, REPLACED_COLUMNS)
    try:
        for old, new in sorted(pairs):
            old_dates, new_dates = dates.get(old) or (None, None), dates.get(new) or (None, None)
            day = old_dates[0] or new_dates[1]
            writer.row([excel_text(old), excel_text(new), _date(day)])
    finally:
        writer.close()
    return {"replaced_rows": writer.rows}


def write_geolocations(out_dir: Path, day: dt.date) -> dict:
    fields = ["sor_id", "first_from_date", "to_date"]
    for _prefix, kind in ADDRESS_KINDS:
        fields += [f"{kind}_present"] + [f"{kind}_{key}" for key in GEO_KEYS]
    writer = _Writer(out_dir / GEO, GEO_COLUMNS)
    try:
        for values in Unit.objects.order_by("sor_id").values(*fields).iterator(CHUNK):
            if status_on(values["first_from_date"], values["to_date"], day) == UnitStatus.CLOSED:
                continue
            for prefix, kind in ADDRESS_KINDS:
                if values[f"{kind}_present"]:
                    writer.row([excel_text(values["sor_id"]), prefix]
                               + [_text(values[f"{kind}_{key}"]) for key in GEO_KEYS])
    finally:
        writer.close()
    return {"geolocation_rows": writer.rows}


@register
class CompleteFormat:
    identifier = "complete"
    label = "Sor_complete.zip (SOR2 CSV-pakken med historik)"
    file_names = (*MEMBERS, ZIP_NAME)

    def render(self, snapshot_date: dt.date, out_dir, progress=None) -> dict:
        out = Path(out_dir)
        total = Unit.objects.count()

        def entity_progress(done):
            if progress is not None:
                progress(min(done, total), total, "complete")

        counts = {"step_seconds": {}}
        steps = (
            ("SOREntity.csv+SHAKSORMap.csv", lambda: write_entities(out, entity_progress)),
            (CLASSIFICATIONS, lambda: write_classifications(out)),
            ("LocationsCodes.csv+LocationsCodeEDITypeMap.csv", lambda: write_location_numbers(out)),
            (EDI_TYPES, lambda: write_edi_types(out)),
            (REPLACED, lambda: write_replaced(out)),
            (GEO, lambda: write_geolocations(out, snapshot_date)),
        )
        for label, step in steps:
            started = time.monotonic()
            counts.update(step())
            counts["step_seconds"][label] = round(time.monotonic() - started, 2)
        files = {name: out / name for name in MEMBERS}
        started = time.monotonic()
        from .publish import write_zip  # (publish imports this module's names)

        write_zip([(name, files[name]) for name in MEMBERS], out / ZIP_NAME, snapshot_date)
        counts["step_seconds"][ZIP_NAME] = round(time.monotonic() - started, 2)
        files[ZIP_NAME] = out / ZIP_NAME
        if progress is not None:
            progress(total, total, "complete")
        return {"files": {name: str(path) for name, path in files.items()}, "counts": counts}
