"""The engine of the SOR XML import (v1.0.0 or v2.0.0): `import_sor_file`. Callers go through the
service `registry.services.imports` (permission, one import at a time, the job row).

The file is streamed owner by owner; records are collected into batches of whole owner trees,
validated, compared with the existing rows of that batch (loaded in two queries) and written
with the history-aware bulk helpers inside one operation (kind `xml_import`, the file's name,
size and sha256 as its provenance). The whole import is one transaction: any error and
nothing is written, the change log included. Idempotent: a unit or location number equal to the file writes nothing.

What the file governs: every value SOR XML carries (for a v1 file not the v2-only address
extras; for a v2 file not GeographicalParent when absent, since v2 dropped it). What it does not:
the administrative region, P-number, EDI message types, location numbers not in the file, and
units not in the file (reported as "not in file", never deleted).

Administrative region of a NEW unit (existing units keep theirs): an owner takes the region of
its own location number's RegionCode, else of its postal municipality (v2 `cpr:MunicipalityCode`
→ municipality → region), else its postal `kms:RegionCode`; every other unit takes its parent's
region, as `unit_create` does."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import io
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from exports.xml.reader import (
    FileInfo,
    RecordError,
    SorFileError,
    TooManyErrors,
    iter_owners,
    open_xml_stream,
)
from registry import identifiers as ids
from registry.audit import audit_context
from registry.models import (
    ChangeEvent,
    ClinicalSpeciality,
    EdiAdministrator,
    EntityType,
    Level,
    LocationNumber,
    Municipality,
    NetworkOperator,
    OperationKind,
    OwnerType,
    Region,
    SpecialityType,
    SystemSupplier,
    SystemType,
    Unit,
)
from registry.models.codes import VERSIONED_LISTS, usable_codes_q

from .validation import unit_messages

log = logging.getLogger("exports.import")

BATCH_UNITS = 3000
# Small UPDATE batches: bulk_update's CASE WHEN statements grow with rows × fields.
UPDATE_BATCH = 250
MAX_ERRORS = 200
# The preview lists this many units per kind; the counts are always complete.
PREVIEW_LIMIT = 5000

# Unit fields and location-number fields that hold a code (record key → (model, attname)).
UNIT_CODE_FIELDS = {"owner_type_code": (OwnerType, "owner_type_id"), "entity_type_code": (EntityType, "entity_type_id")}
LN_CODE_FIELDS = {
    "system_supplier": SystemSupplier, "system_type": SystemType, "network_operator": NetworkOperator,
    "region": Region, "edi_administrator": EdiAdministrator,
}
LN_FIELDS = ("only_internal", "non_active", "note", "status_present", "from_date", "to_date", "first_from_date",
             "updated_at_date")
_CHAR_LIMITS = {f.attname: f.max_length for f in Unit._meta.concrete_fields if getattr(f, "max_length", None)}


@dataclass
class ImportResult:
    file_name: str = ""
    sha256: str = ""
    version: str = ""
    snapshot_date: dt.date | None = None
    dry_run: bool = False
    operation_id: int | None = None
    counts: dict = field(default_factory=lambda: dict.fromkeys(
        ("units_in_file", "created", "changed", "unchanged", "closed", "not_in_file",
         "location_numbers_created", "location_numbers_changed", "codes_created", "rows_written",
         "events_written"), 0))
    errors: list = field(default_factory=list)
    unknown_codes: dict = field(default_factory=dict)  # model verbose name → sorted codes
    retired_codes: dict = field(default_factory=dict)  # model verbose name → retired codes the file uses
    # What the import does (or would do), unit by unit: see `Plan`.
    plan: dict = field(default_factory=lambda: {"created": [], "changed": [], "closed": [], "not_in_file": [],
                                                "location_numbers": [], "warnings": []})
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        c = self.counts
        head = _("Prøvekørsel") if self.dry_run else _("Import")
        version, day = self.version or "?", self.snapshot_date or "?"
        text = (f"{head} {self.file_name} ({version}, {day}): {c['units_in_file']} enheder i filen, "
                f"{c['created']} oprettet, {c['changed']} ændret, {c['unchanged']} uændret, {c['closed']} lukket, "
                f"{c['not_in_file']} ikke i filen; lokationsnumre {c['location_numbers_created']} oprettet, "
                f"{c['location_numbers_changed']} ændret; {c['codes_created']} ukendte koder; "
                f"{c['rows_written']} rækker skrevet; {c['events_written']} hændelser i ændringsloggen; "
                f"{self.seconds:.1f} s")
        if self.retired_codes:
            text += "; " + _("udgåede koder i filen (beholdt): %(codes)s") % {"codes": "; ".join(
                f"{name} {', '.join(codes)}" for name, codes in sorted(self.retired_codes.items()))}
        if self.operation_id:
            text += f"; operation {self.operation_id}"
        if self.errors:
            text += f"; {len(self.errors)} fejl — intet er gemt"
            if self.stopped_early:
                text += " " + _("(læsningen stoppede ved %(n)d fejl)") % {"n": MAX_ERRORS}
        return text


class _RollBack(Exception):
    """Leaves the operation's transaction without committing (errors, or a dry run)."""


class ImportFailed(Exception):
    def __init__(self, result: ImportResult):
        self.result = result
        super().__init__("; ".join(str(e) for e in result.errors[:5]))


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Codes:
    """Code value → primary key for every code list the file uses; unknown codes are created
    as "imported, unnamed" (only when writing) and reported."""

    def __init__(self, actor, reason, dry_run, result, file_version=lambda: ""):
        self.actor, self.reason, self.dry_run, self.result = actor, reason, dry_run, result
        self.file_version = file_version  # the version of the file being read, once its header is
        self.maps, self.unusable = {}, {}
        self._fake = 0
        self._reverse = {}
        day = timezone.localdate()
        for model in (OwnerType, EntityType, ClinicalSpeciality, SpecialityType, *LN_CODE_FIELDS.values()):
            self.maps[model] = dict(model.objects.values_list("code", "pk"))
            self.unusable[model] = set(model.objects.exclude(usable_codes_q(day)).values_list("code", flat=True))

    def ensure(self, model, code: str):
        if code is None or code == "":
            return None
        pk = self.maps[model].get(code)
        if code in self.unusable[model]:
            # Kept as the file says (it is SDS's data), and reported: staff may not choose it.
            found = self.result.retired_codes.setdefault(str(model._meta.verbose_name), [])
            if code not in found:
                found.append(code)
        if pk is not None or code in self.maps[model]:
            return pk
        from registry.services.codes import code_create

        self.result.unknown_codes.setdefault(str(model._meta.verbose_name), []).append(code)
        self.result.counts["codes_created"] += 1
        if self.dry_run:
            # A stand-in key (never written) so the preview shows the code as a change.
            self._fake -= 1
            self.maps[model][code] = self._fake
            return self._fake
        extra = {"file_version": self.file_version()} if model.__name__ in VERSIONED_LISTS else {}
        obj = code_create(actor=self.actor, reason=self.reason, origin="import", model=model, code=code,
                          imported_unnamed=True, **extra)
        self.result.counts["rows_written"] += 2
        self.maps[model][code] = obj.pk
        return obj.pk

    def code_of(self, model, pk) -> str:
        """The code of a primary key (for the preview), built once per list."""
        if pk is None:
            return ""
        reverse = self._reverse.get(model)
        if reverse is None or pk not in reverse:
            reverse = self._reverse[model] = {v: k for k, v in self.maps[model].items()}
        return reverse.get(pk, str(pk))


_UNIT_LABELS = {f.attname: str(f.verbose_name) for f in Unit._meta.concrete_fields}
_LN_LABELS = {f.attname: str(f.verbose_name) for f in LocationNumber._meta.concrete_fields}
_CHOICES = {f.attname: {k: str(v) for k, v in f.flatchoices} for model in (Unit, LocationNumber)
            for f in model._meta.concrete_fields if f.choices}
_CODE_MODEL = {attname: model for model, attname in UNIT_CODE_FIELDS.values()} | {
    f"{name}_id": model for name, model in LN_CODE_FIELDS.items()}
# Register values the import compares but a person does not read as a change of the unit.
_QUIET = {"version", "ancestors"}


_NO_VALUE = object()
_ORDER: dict = {}


def _new(model, values: dict):
    """`model(**values)` by position, twice as fast at national volume (Django's keyword path looks
    every field up); fields not in `values` get their defaults, as with keywords."""
    order = _ORDER.get(model)
    if order is None:
        order = _ORDER[model] = [(f.attname, f) for f in model._meta.concrete_fields]
    row = []
    for attname, model_field in order:
        value = values.get(attname, _NO_VALUE)
        row.append(model_field.get_default() if value is _NO_VALUE else value)
    return model(*row)


def _name_key(name: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", (name or "").casefold()).split())


def names_unrelated(a: str, b: str) -> bool:
    """True when two names of one SOR-ID share nothing a person would see: no word of four or more
    letters in common and under half alike. "Lægerne Vestergade" → "Lægehuset Vestergade" is related;
    "Hjemmeplejen Nord" → "Lægepraksis Jensen" is not."""
    ka, kb = _name_key(a), _name_key(b)
    if not ka or not kb or ka == kb:
        return False
    words_a = {w for w in ka.split() if len(w) >= 4}
    if words_a & {w for w in kb.split() if len(w) >= 4}:
        return False
    return difflib.SequenceMatcher(None, ka, kb).ratio() < 0.5


class _Importer:
    def __init__(self, *, actor, reason, dry_run, result: ImportResult, info: FileInfo):
        self.actor, self.reason, self.dry_run, self.result = actor, reason, dry_run, result
        self.info = info
        self.codes = _Codes(actor, reason, dry_run, result, file_version=lambda: info.version)
        self.seen: set[int] = set()
        self.open_glns: dict[str, int] = {}
        self.municipality_region = dict(Municipality.objects.values_list("code", "region_id"))
        self.region_by_code = dict(Region.objects.values_list("code", "pk"))
        self.writing = not dry_run
        self.plan = result.plan
        self._levels: dict[str, str] = {}

    def error(self, line, message):
        if len(self.result.errors) < MAX_ERRORS:
            self.result.errors.append(RecordError(line, message))
        self.writing = False

    def room(self, kind: str) -> bool:
        """Whether the preview's list `kind` takes another entry (bounded; counts are complete)."""
        return len(self.plan[kind]) < PREVIEW_LIMIT

    def note(self, kind: str, entry: dict) -> None:
        """One line of the preview (bounded per kind)."""
        bucket = self.plan[kind]
        if len(bucket) < PREVIEW_LIMIT:
            bucket.append(entry)

    def level_label(self, level) -> str:
        label = self._levels.get(level)
        if label is None:
            label = self._levels[level] = str(Level(level).label)
        return label

    def show(self, attname: str, value) -> str:
        model = _CODE_MODEL.get(attname)
        if model is not None:
            return self.codes.code_of(model, value)
        if value is None:
            return ""
        if attname in _CHOICES:
            return _CHOICES[attname].get(value, str(value))
        if isinstance(value, bool):
            return _("ja") if value else _("nej")
        if isinstance(value, dt.date):
            return value.strftime("%d-%m-%Y")
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, default=str)
        return str(value)

    # -- validation -------------------------------------------------------------------------------
    def validate(self, rec) -> bool:
        line = rec["_line"]
        before = len(self.result.errors)
        errors, _w = ids.check_sor_id(rec["sor_id"])
        for msg in errors:
            self.error(line, msg)
        if errors:
            return False
        rec["sor_id"] = int(rec["sor_id"])
        if rec["sor_id"] in self.seen:
            self.error(line, _("SOR-ID %(id)s optræder mere end én gang i filen.") % {"id": rec["sor_id"]})
        self.seen.add(rec["sor_id"])
        if not rec["name"]:
            self.error(line, _("Enhed %(id)s mangler navn (EntityName).") % {"id": rec["sor_id"]})
        for key, limit in _CHAR_LIMITS.items():
            value = rec.get(key)
            if value.__class__ is str and len(value) > limit:
                self.error(line, _("%(field)s på %(id)s er for lang (%(n)d tegn, højst %(max)d).")
                           % {"field": key, "id": rec["sor_id"], "n": len(value), "max": limit})
        # The XSD requires the type of an owner and of an institution, and real consumers (NSP's
        # importer among them) abort the whole file without it.
        element = "EntityTypeIdentifier" if self.info.version == "v2" else None
        if rec["level"] == Level.OWNER and not rec.get("owner_type_code"):
            self.error(line, _("Institutionsejer %(id)s mangler sin ejertype (%(el)s).")
                       % {"id": rec["sor_id"], "el": element or "OwnerType"})
        if rec["level"] == Level.INSTITUTION and not rec.get("entity_type_code"):
            self.error(line, _("Sundhedsinstitution %(id)s mangler sin institutionstype (%(el)s).")
                       % {"id": rec["sor_id"], "el": element or "InstitutionType"})
        ln = rec["_ln"]
        if ln is not None:
            errors, _w = ids.check_gln(ln["gln"])
            for msg in errors:
                self.error(ln["_line"], msg)
            if not errors and ln["to_date"] is None:
                other = self.open_glns.get(ln["gln"])
                if other is not None:
                    self.error(ln["_line"], _("Lokationsnummer %(gln)s er aktivt på både %(a)s og %(b)s.")
                               % {"gln": ln["gln"], "a": other, "b": rec["sor_id"]})
                self.open_glns[ln["gln"]] = rec["sor_id"]
        return len(self.result.errors) == before

    def check_unit(self, rec, unit) -> None:
        """The admin's own field rules (`unit_messages`, lenient as SDS's files need), on a unit
        as the file would leave it. Warnings are not errors here: the file is SDS's data."""
        errors, _warnings = unit_messages(unit, strict=False)
        for field_name, messages in errors.items():
            if field_name in ("owner_type", "entity_type"):
                continue  # reported by `validate` with the element's name
            for message in messages:
                self.error(rec["_line"], _("Enhed %(id)s, %(field)s: %(msg)s")
                           % {"id": rec["sor_id"], "field": _UNIT_LABELS.get(field_name, field_name),
                              "msg": message})

    # -- one batch of owner trees ----------------------------------------------------------------
    def process(self, records: list[dict]) -> None:
        valid = [rec for rec in records if self.validate(rec)]
        self.result.counts["units_in_file"] += len(records)
        if len(valid) != len(records) or self.info.errors:
            self.writing = False
            return
        if not valid or self.result.errors:
            return
        # Structure from the nesting.
        for rec in valid:
            parent = rec.pop("_parent")
            if parent is None:
                rec["owner_id"], rec["ancestors"] = rec["sor_id"], []
            else:
                rec["parent_id"] = parent["sor_id"]
                rec["owner_id"], rec["ancestors"] = parent["owner_id"], parent["ancestors"] + [parent["sor_id"]]
        by_id = {rec["sor_id"]: rec for rec in valid}
        existing = Unit.objects.in_bulk(list(by_id))
        names_before = {pk: (u.name, self.level_label(u.level), u.owner_id) for pk, u in existing.items()}
        glns = [rec["_ln"]["gln"] for rec in valid if rec["_ln"]]
        lns_by_unit: dict[int, list] = {}
        lns_by_gln: dict[str, list] = {}
        if glns:
            for ln in LocationNumber.objects.filter(Q(unit_id__in=list(by_id)) | Q(gln__in=glns)):
                lns_by_unit.setdefault(ln.unit_id, []).append(ln)
                lns_by_gln.setdefault(ln.gln, []).append(ln)
        to_create, to_update, update_fields = [], [], set()
        counts = self.result.counts
        for rec in valid:
            values = self.unit_values(rec)
            unit = existing.get(rec["sor_id"])
            if unit is None:
                values["region_id"] = self.region_for(rec, existing, by_id)
                rec["_region_id"] = values["region_id"]
                unit = _new(Unit, {**values, "sor_id": rec["sor_id"], "version": 1})
                self.check_unit(rec, unit)
                to_create.append(unit)
                counts["created"] += 1
                existing[unit.sor_id] = unit
                if self.room("created"):
                    self.note("created", {"sor_id": str(unit.sor_id), "name": unit.name,
                                          "level": self.level_label(unit.level), "parent": str(unit.parent_id or ""),
                                          "line": rec["_line"]})
            else:
                rec["_region_id"] = unit.region_id
                changed = [k for k, v in values.items() if getattr(unit, k) != v]
                if changed:
                    closes = unit.to_date is None and values.get("to_date") is not None
                    if closes:
                        counts["closed"] += 1
                    self.warn_identity(rec, unit, names_before[unit.sor_id])
                    fields = [[_UNIT_LABELS.get(k, k), self.show(k, getattr(unit, k)), self.show(k, values[k])]
                              for k in changed if k not in _QUIET]
                    for k in changed:
                        setattr(unit, k, values[k])
                    self.check_unit(rec, unit)
                    unit.version += 1
                    update_fields.update(changed)
                    to_update.append(unit)
                    counts["changed"] += 1
                    entry = {"sor_id": str(unit.sor_id), "name": unit.name, "level": self.level_label(unit.level),
                             "line": rec["_line"], "fields": fields}
                    self.note("changed", entry)
                    if closes:
                        self.note("closed", {"sor_id": str(unit.sor_id), "name": unit.name,
                                             "to_date": self.show("to_date", unit.to_date), "line": rec["_line"]})
                else:
                    counts["unchanged"] += 1
        ln_create, ln_update, ln_fields = [], [], set()
        matched: set[int] = set()
        planned = []
        for rec in valid:
            ln_rec = rec["_ln"]
            if ln_rec is None:
                continue
            current = self.match_ln(rec["sor_id"], ln_rec["gln"], lns_by_unit, lns_by_gln)
            if current is not None:
                matched.add(current.pk)
            planned.append((rec, ln_rec, current))
        for rec, ln_rec, current in planned:
            values = self.ln_values(ln_rec)
            if current is None:
                ln_create.append(_new(LocationNumber, {**values, "unit_id": rec["sor_id"], "gln": ln_rec["gln"]}))
                counts["location_numbers_created"] += 1
                self.note("location_numbers", {"sor_id": str(rec["sor_id"]), "gln": ln_rec["gln"],
                                               "action": _("oprettes"), "line": ln_rec["_line"], "fields": []})
            else:
                values["unit_id"] = rec["sor_id"]
                changed = [k for k, v in values.items() if getattr(current, k) != v]
                if changed:
                    fields = [[_LN_LABELS.get(k, k), self.show(k, getattr(current, k)), self.show(k, values[k])]
                              for k in changed]
                    for k in changed:
                        setattr(current, k, values[k])
                    current.version += 1
                    ln_fields.update(changed)
                    ln_update.append(current)
                    counts["location_numbers_changed"] += 1
                    self.note("location_numbers", {"sor_id": str(rec["sor_id"]), "gln": ln_rec["gln"],
                                                   "action": _("ændres"), "line": ln_rec["_line"], "fields": fields})
            if ln_rec["to_date"] is None:
                self.close_replaced(rec, ln_rec, lns_by_unit.get(rec["sor_id"], ()), matched, ln_update, ln_fields)
        if not self.writing:
            return
        from registry.services import bulk

        # New rows go in through COPY (national volumes); changed rows through bulk_update. Both
        # write one history row per row, stamped with this import's audit context.
        if to_create:
            bulk.copy_create(Unit, to_create)
        if to_update:
            bulk.bulk_update(Unit, to_update, sorted(update_fields | {"version"}), batch_size=UPDATE_BATCH)
        if ln_create:
            bulk.copy_create(LocationNumber, ln_create)
        if ln_update:
            bulk.bulk_update(LocationNumber, ln_update, sorted(ln_fields | {"version"}), batch_size=UPDATE_BATCH)
        counts["rows_written"] += 2 * (len(to_create) + len(to_update) + len(ln_create) + len(ln_update))

    def warn_identity(self, rec, unit, before) -> None:
        """A SOR-ID of the file that names something else in the register: another level, another
        owner, or a name with nothing in common. Usually a file from another register (or a
        demo register) that reuses the numbers; confirming would overwrite that unit."""
        name_before, level_before, owner_before = before
        problems = []
        if unit.level != rec["level"]:
            problems.append(_("i registeret en %(was)s, i filen en %(now)s")
                            % {"was": level_before, "now": Level(rec["level"]).label})
        if owner_before != rec["owner_id"]:
            problems.append(_("i registeret under ejer %(was)s, i filen under %(now)s")
                            % {"was": owner_before, "now": rec["owner_id"]})
        if names_unrelated(name_before, rec["name"]):
            problems.append(_("i registeret «%(was)s», i filen «%(now)s»") % {"was": name_before, "now": rec["name"]})
        if problems:
            self.result.counts["identity_warnings"] = self.result.counts.get("identity_warnings", 0) + 1
            self.note("warnings", {"sor_id": str(unit.sor_id), "line": rec["_line"], "name": name_before,
                                   "message": _("SOR-ID %(id)s er ikke den samme enhed: %(what)s.")
                                   % {"id": unit.sor_id, "what": "; ".join(problems)}})

    def close_replaced(self, rec, ln_rec, unit_lns, matched, ln_update, ln_fields) -> None:
        """A unit whose file carries a new open location number has its other open ones closed
        the day before the new one starts (the file's SnapshotDate when it has no FromDate);
        refused when that day lies before the old one's own FromDate."""
        start = ln_rec["from_date"] or self.info.snapshot_date
        for old in unit_lns:
            if old.gln == ln_rec["gln"] or old.to_date is not None or old.pk in matched or start is None:
                continue
            close_on = start - dt.timedelta(days=1)
            if old.from_date and close_on < old.from_date:
                self.error(ln_rec["_line"], _(
                    "Lokationsnummer %(old)s på %(id)s skulle lukkes %(close)s, dagen før det nye %(new)s gælder "
                    "fra, men det gælder selv først fra %(from)s. Ret FromDate i filen, eller luk %(old)s i "
                    "administrationen først.") % {"old": old.gln, "id": rec["sor_id"], "new": ln_rec["gln"],
                                                  "close": close_on.strftime("%d-%m-%Y"),
                                                  "from": old.from_date.strftime("%d-%m-%Y")})
                continue
            old.to_date = close_on
            old.version += 1
            ln_fields.add("to_date")
            ln_update.append(old)
            matched.add(old.pk)
            self.result.counts["location_numbers_closed"] = self.result.counts.get("location_numbers_closed", 0) + 1
            self.note("location_numbers", {"sor_id": str(rec["sor_id"]), "gln": old.gln, "action": _("lukkes"),
                                           "line": ln_rec["_line"],
                                           "fields": [[_LN_LABELS["to_date"], "", self.show("to_date", close_on)]],
                                           "note": _("afløses af %(new)s") % {"new": ln_rec["gln"]}})

    def unit_values(self, rec) -> dict:
        values = {key: value for key, value in rec.items() if key[0] != "_"}
        del values["sor_id"]
        for key, (model, attname) in UNIT_CODE_FIELDS.items():
            if key in values:
                values[attname] = self.codes.ensure(model, values.pop(key))
        if rec.get("specialities"):
            for item in rec["specialities"]:
                self.codes.ensure(ClinicalSpeciality, item["code"])
                self.codes.ensure(SpecialityType, item["type"])
        return values

    def ln_values(self, ln_rec) -> dict:
        values = {name: ln_rec[name] for name in LN_FIELDS}
        for name, model in LN_CODE_FIELDS.items():
            values[f"{name}_id"] = self.codes.ensure(model, ln_rec[name])
        return values

    @staticmethod
    def match_ln(unit_id, gln, lns_by_unit, lns_by_gln):
        same_unit = [ln for ln in lns_by_unit.get(unit_id, ()) if ln.gln == gln]
        if same_unit:
            return sorted(same_unit, key=lambda ln: (ln.to_date is None, ln.pk))[-1]
        elsewhere = [ln for ln in lns_by_gln.get(gln, ()) if ln.to_date is None]
        return elsewhere[-1] if elsewhere else None

    def region_for(self, rec, existing, by_id):
        parent_id = rec["parent_id"]
        if parent_id is not None:
            parent_rec = by_id.get(parent_id)
            if parent_rec is not None and "_region_id" in parent_rec:
                return parent_rec["_region_id"]
            parent = existing.get(parent_id)
            return parent.region_id if parent else None
        ln = rec["_ln"]
        if ln and ln.get("region") in self.region_by_code:
            return self.region_by_code[ln["region"]]
        municipality = rec.get("postal_municipality_code")
        if municipality and self.municipality_region.get(municipality):
            return self.municipality_region[municipality]
        return self.region_by_code.get(rec.get("postal_region_code") or "")


class _CountingStream(io.RawIOBase):
    """Counts the bytes read from `stream` (the uncompressed XML) for the progress bar."""

    def __init__(self, stream, report, total: int):
        self.stream, self.report, self.total, self.done = stream, report, total, 0
        self._last = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self.stream.read(len(buffer))
        n = len(chunk)
        buffer[:n] = chunk
        self.done += n
        if self.report and (self.done - self._last >= (1 << 22) or n == 0):
            self._last = self.done
            self.report(self.done, self.total)
        return n

    def close(self):
        self.stream.close()
        super().close()


def _uncompressed_size(path: Path) -> int:
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist() if info.filename.lower().endswith(".xml"))
    return path.stat().st_size


def import_sor_file(path, *, actor=None, reason: str, dry_run: bool = False, origin: str = "import",
                    progress=None, file_name: str | None = None) -> ImportResult:
    """Import an SDS SOR XML file (`.xml`, or a `.zip` holding `Sor.xml`). Returns the result;
    when it has errors nothing was written. `progress(bytes_read, bytes_total)` is called as the
    (uncompressed) XML is read. No permission check and no lock here: use
    `registry.services.imports.import_sor_xml`."""
    started = time.perf_counter()
    path = Path(path)
    result = ImportResult(file_name=file_name or path.name, sha256=file_sha256(path), dry_run=dry_run)
    reason = reason.strip()
    provenance = {"file_name": result.file_name, "size": path.stat().st_size, "sha256": result.sha256}
    info = FileInfo()
    importer = None
    try:
        with audit_context(actor=actor, reason=reason, origin=origin, kind=OperationKind.XML_IMPORT,
                           provenance=provenance) as ctx:
            importer = _Importer(actor=actor, reason=reason, dry_run=dry_run, result=result, info=info)
            batch: list[dict] = []
            with open_xml_stream(path) as raw:
                stream = io.BufferedReader(_CountingStream(raw, progress, _uncompressed_size(path)), 1 << 20)
                for records in iter_owners(stream, info):
                    batch.extend(records)
                    if len(batch) >= BATCH_UNITS:
                        importer.process(batch)
                        batch = []
                        if len(result.errors) >= MAX_ERRORS:
                            result.stopped_early = True
                            break
                if batch and not result.stopped_early:
                    importer.process(batch)
            result.version = info.version
            result.snapshot_date = info.snapshot_date
            for err in info.errors:
                importer.error(err.line, err.message)
            result.errors = sorted(result.errors, key=lambda e: e.line or 0)
            if result.counts["units_in_file"] == 0 and not result.errors:
                importer.error(None, _("Filen indeholder ingen institutionsejere."))
            seen = importer.seen
            missing = 0
            for pk, name in Unit.objects.values_list("sor_id", "name").iterator(10000):
                if pk not in seen:
                    missing += 1
                    importer.note("not_in_file", {"sor_id": str(pk), "name": name})
            result.counts["not_in_file"] = missing
            if result.errors or dry_run:
                raise _RollBack
            from registry.services.units import advance_sor_id_sequence

            advance_sor_id_sequence()
    except _RollBack:
        pass
    except SorFileError as exc:
        # The reader's own record errors first, then what made it stop (all with lines).
        known = sorted(info.errors, key=lambda e: e.line or 0)[:MAX_ERRORS]
        result.errors = [RecordError(exc.line, exc.message), *(e for e in result.errors if e not in known), *known]
        result.stopped_early = isinstance(exc, TooManyErrors)
        result.version = result.version or info.version
    except IntegrityError as exc:
        result.errors.append(RecordError(None, _("Databasen afviste data: %(msg)s") % {"msg": exc}))
    else:
        result.operation_id = ctx.op.pk  # None when the file changed nothing (the operation was removed)
        if result.operation_id:
            result.counts["events_written"] = ChangeEvent.objects.filter(operation_id=result.operation_id).count()
    if result.errors:
        result.counts["rows_written"] = result.counts["events_written"] = 0
    result.seconds = time.perf_counter() - started
    log.info("%s", result.summary())
    return result
