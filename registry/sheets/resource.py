"""The unit resource: units as spreadsheet rows (django-import-export): export of any unit list, import of corrections.

The column headers are a file format, not UI text: a file exported by one staff member is
imported by another, whatever language their screen is in, so the headers are fixed Danish
strings and are never translated.

Import only corrects existing units, matched by SOR-ID, and only the editable columns. Every
changed row is written by `registry.services.units.unit_update` (roles, regions, field rules
and history all apply per row) inside one audit context, so the whole file is one batch whose
reason names the file and its sha256. The library never saves a model itself (`save_instance`
is replaced) and never uses its bulk mode (which writes no history). A dry run writes through
the services inside a transaction that is rolled back, so the preview shows exactly what the
services will accept; the confirmed run is all-or-nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _
from import_export import resources
from import_export.instance_loaders import BaseInstanceLoader

from ..audit import Origin, audit_context
from ..errors import DomainError, NotAllowed, ValidationFailed
from ..inheritance import Resolver
from ..models import EntityType, LocationMode, LocationNumber, OperationKind, OwnerType, Region, Unit
from ..permissions import CONTACT_FIELDS
from ..services.units import EDITABLE_FIELDS, today, unit_update
from ..services.validation import unit_messages
from .cells import CHUNK, SOR_ID_HEADER, SheetError, _parse_date, batched, cell_text, parse_sor_id
from .fields import (
    CodeWidget,
    DateTextWidget,
    PositiveIntWidget,
    SheetField,
    YesNoWidget,
    _code,
    _readonly,
    _text,
)

# ---------------------------------------------------------------------------------------------
# Instance loading: every unit of the file in a few queries, bad SOR-IDs left to the row


class UnitSheetLoader(BaseInstanceLoader):
    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        wanted = []
        if dataset is not None and dataset.headers and SOR_ID_HEADER in dataset.headers:
            for value in dataset[SOR_ID_HEADER]:
                try:
                    wanted.append(parse_sor_id(value))
                except SheetError:
                    continue
        self.units = {}
        self.with_children: set[int] = set()
        for chunk in batched(sorted(set(wanted)), CHUNK):
            self.units.update(
                (u.pk, u) for u in Unit.objects.filter(pk__in=chunk).select_related("region", "entity_type", "owner_type")
            )
            self.with_children.update(Unit.objects.filter(parent_id__in=chunk).values_list("parent_id", flat=True)
                                      .distinct())

    def get_instance(self, row):
        return self.units.get(row.get("_sor_id"))


# ---------------------------------------------------------------------------------------------
# The resource


class UnitResource(resources.ModelResource):
    """Columns of a unit in a spreadsheet, export and correction import."""

    sor_id = _readonly(SOR_ID_HEADER, "sor_id")
    level = _readonly("Niveau", "level")
    name = _text("Navn", "name")
    entity_type = _code("Enhedstype (kode)", "entity_type", EntityType, "enhedstype")
    owner_type = _code("Ejertype (kode)", "owner_type", OwnerType, "ejertype")
    owner_sor_id = _readonly("Institutionsejer SOR-ID", "owner_id")
    parent_sor_id = _readonly("Overordnet SOR-ID", "parent_id")
    region = _code("Region (kode)", "region", Region, "regionskode")
    provider_number = _text("Ydernummer", "provider_number", zero_pad=6)
    shak = _text("SHAK-kode", "shak")
    cvr = _text("CVR-nummer", "cvr")
    p_number = _text("P-nummer", "p_number")
    virtual_present = SheetField("Egne elektroniske adresser", name="virtual_present", widget=YesNoWidget())
    phone = _text("Telefon", "phone")
    email = _text("E-mail", "email")
    website = _text("Hjemmeside", "website")
    fax = _text("Fax", "fax")
    postal_present = SheetField("Egen postadresse", name="postal_present", widget=YesNoWidget())
    postal_mail_sublocation = _text("Postadresse: stednavn", "postal_mail_sublocation")
    postal_street_name = _text("Postadresse: vejnavn", "postal_street_name")
    postal_building = _text("Postadresse: husnummer", "postal_building")
    postal_floor = _text("Postadresse: etage", "postal_floor")
    postal_suite = _text("Postadresse: side/dør", "postal_suite")
    postal_po_box = SheetField("Postadresse: postboks", name="postal_po_box", widget=PositiveIntWidget())
    postal_post_code = _text("Postadresse: postnummer", "postal_post_code")
    postal_district_name = _text("Postadresse: postdistrikt", "postal_district_name")
    postal_country_code = _text("Postadresse: landekode", "postal_country_code")
    location_number = _readonly("Gældende lokationsnummer", "_sheet_gln")
    from_date = _readonly("Gældende fra", "from_date", DateTextWidget())
    to_date = _readonly("Gældende til og med", "to_date", DateTextWidget())

    # Columns that only inform: a different value in the file is refused (it would otherwise be
    # silently ignored); the location number is derived and simply ignored.
    STRUCTURE_COLUMNS = ("level", "owner_sor_id", "parent_sor_id", "from_date", "to_date")
    FLAG_GROUPS = {
        "virtual_present": ("phone", "email", "website", "fax"),
        "postal_present": ("postal_mail_sublocation", "postal_street_name", "postal_building", "postal_floor",
                           "postal_suite", "postal_po_box", "postal_post_code", "postal_district_name",
                           "postal_country_code"),
    }

    class Meta:
        model = Unit
        fields = (
            "sor_id", "level", "name", "entity_type", "owner_type", "owner_sor_id", "parent_sor_id", "region",
            "provider_number", "shak", "cvr", "p_number", "virtual_present", "phone", "email", "website", "fax",
            "postal_present", "postal_mail_sublocation", "postal_street_name", "postal_building", "postal_floor",
            "postal_suite", "postal_po_box", "postal_post_code", "postal_district_name", "postal_country_code",
            "location_number", "from_date", "to_date",
        )
        import_id_fields = ["sor_id"]
        instance_loader_class = UnitSheetLoader
        use_bulk = False  # the bulk mode writes no history
        use_transactions = True  # the dry run must be rolled back
        skip_diff = True  # the preview lists changed fields itself (see after_import_row)
        skip_unchanged = True
        report_skipped = False
        clean_model_instances = False  # the service validates
        chunk_size = CHUNK

    def __init__(self, *, reason: str = "", sha256: str = "", override_warnings: bool = False,
                 expected_state: str | None = "", **kwargs):
        super().__init__(**kwargs)
        self.reason = (reason or "").strip()
        self.sha256 = sha256
        self.override_warnings = override_warnings
        self.expected_state = expected_state
        self.operation = None
        self._rows_seen: dict[int, int] = {}
        self._last_changes: list[tuple[str, str, str]] = []
        self._export_fields: dict[tuple, list] = {}
        self._last_unit = ""
        self._state = hashlib.sha256()
        self._dry_run = False
        self._loader = None
        # Rows refused only for warnings (the person may import them with "Gem trods advarsler").
        self.warning_only_lines: set[int] = set()
        self._last_below: dict | None = None
        for field in self.fields.values():
            assert field.readonly or field.name in EDITABLE_FIELDS, field.name

    # -- headers -----------------------------------------------------------------------------

    @classmethod
    def headers(cls) -> list[str]:
        return [cls.fields[name].column_name for name in cls._meta.fields]

    @classmethod
    def header_problems(cls, headers) -> list[str]:
        """Why a file's header row cannot be imported (empty list: it can)."""
        known = set(cls.headers())
        problems = []
        if SOR_ID_HEADER not in headers:
            problems.append(_("Kolonnen %(col)s mangler; den bruges til at finde enhederne.") % {"col": SOR_ID_HEADER})
        unknown = [h or _("(tom overskrift)") for h in headers if h not in known]
        if unknown:
            problems.append(_("Ukendte kolonner: %(cols)s. Brug kolonneoverskrifterne fra en eksport af enhederne.")
                            % {"cols": ", ".join(unknown)})
        dupes = sorted({h for h in headers if h and headers.count(h) > 1})
        if dupes:
            problems.append(_("Kolonnerne står flere gange: %(cols)s.") % {"cols": ", ".join(dupes)})
        return problems

    def editable_fields(self):
        return [self.fields[name] for name in self._meta.fields if not self.fields[name].readonly]

    def field_by_name(self, name):
        return self.fields.get(name) or next((f for f in self.fields.values() if f.name == name), None)

    def label_of(self, name: str) -> str:
        """A service's field name as the column header (or the model's label)."""
        if name == NON_FIELD_ERRORS:
            return name
        base = name[:-3] if name.endswith("_id") else name
        field = next((f for f in self.fields.values() if f.name == base), None)
        if field is not None:
            return field.column_name
        try:
            return str(Unit._meta.get_field(base).verbose_name)
        except Exception:
            return name

    # -- export ------------------------------------------------------------------------------

    def filter_export(self, queryset, **kwargs):
        # Only the code lists the columns show: the changelist's own joins (e.g. the parent row)
        # would double the width of every row read.
        # Only the columns the sheet shows are read (a unit row has some 90).
        return (queryset.defer(None).prefetch_related(None).select_related(None)
                .select_related("region", "entity_type", "owner_type").only(*self.export_columns()))

    def export_columns(self) -> list[str]:
        columns = {"sor_id", "parent_id", "ancestors", "location_mode"}
        for field in self.fields.values():
            if isinstance(field.widget, CodeWidget):
                columns.update({field.attname, f"{field.name}__code"})
            elif not field.export_attr.startswith("_"):
                columns.add(field.export_attr)
        return sorted(columns)

    def export_resource(self, instance, selected_fields=None, **kwargs):
        # The library looks the columns up again for every row and every cell; once is enough.
        key = tuple(selected_fields or ())
        fields = self._export_fields.get(key)
        if fields is None:
            fields = self._export_fields[key] = self.get_export_fields(selected_fields)
        return [field.export(instance) for field in fields]

    def iter_queryset(self, queryset):
        if not hasattr(queryset, "iterator"):
            yield from queryset
            return
        gln_of = EffectiveLocationNumbers()
        for chunk in batched(queryset.iterator(chunk_size=CHUNK), CHUNK):
            gln_of.attach(chunk)
            yield from chunk

    # -- import ------------------------------------------------------------------------------

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        if not self.reason or not self.sha256:
            raise ValueError("UnitResource imports need a reason and the file's sha256.")
        file_name = kwargs.get("file_name") or "?"
        reason = self.reason.strip()
        self.audit_reason = reason
        self._dry_run = dry_run
        provenance = {"file_name": file_name, "sha256": self.sha256}
        if kwargs.get("file_size") is not None:
            provenance["size"] = kwargs["file_size"]
        with audit_context(actor=kwargs.get("user"), reason=reason, origin=Origin.IMPORT,
                           kind=OperationKind.SPREADSHEET_IMPORT, provenance=provenance) as ctx:
            self.operation = ctx.op
            # All-or-nothing: a refused row (a ValidationError) rolls back the whole file too.
            result = super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=True,
                                         collect_failed_rows=collect_failed_rows,
                                         rollback_on_validation_errors=True, **kwargs)
        result.sheet_operation_id = self.operation.pk if self.operation is not None and not dry_run else None
        result.sheet_state = self._state.hexdigest()
        result.sheet_reason = reason
        return result

    def before_import(self, dataset, **kwargs):
        problems = self.header_problems(list(dataset.headers or []))
        if problems:
            raise SheetError(" ".join(problems))

    def get_or_init_instance(self, instance_loader, row):
        line = self._line(row)
        try:
            sor_id = parse_sor_id(row.get(SOR_ID_HEADER))
        except SheetError as exc:
            raise ValidationError({SOR_ID_HEADER: [str(exc)]}) from None
        if sor_id in self._rows_seen:
            raise ValidationError({SOR_ID_HEADER: [_("SOR-ID %(id)s står også i række %(line)d; en enhed må kun stå "
                                                     "én gang i filen.") % {"id": sor_id, "line": self._rows_seen[sor_id]}]})
        self._rows_seen[sor_id] = line
        row["_sor_id"] = sor_id
        self._loader = instance_loader
        instance = instance_loader.get_instance(row)
        del row["_sor_id"]
        if instance is None:
            raise ValidationError({SOR_ID_HEADER: [_("Ukendt SOR-ID %(id)s: importen retter kun eksisterende enheder; "
                                                     "nye enheder oprettes i administrationen.") % {"id": sor_id}]})
        self._state.update(f"{instance.pk}:{instance.version};".encode())
        return instance, False

    def init_instance(self, row=None):
        raise ValidationError({SOR_ID_HEADER: [_("Importen opretter ikke enheder.")]})

    def after_init_instance(self, instance, new, row, **kwargs):
        instance._sheet_original = {f.attname: getattr(instance, f.attname) for f in self.editable_fields()}
        instance._sheet_version = instance.version
        self._last_unit = str(instance)  # as registered, before the row's changes

    @staticmethod
    def _line(row) -> int:
        return row.get("_line", 0)

    def import_row(self, row, instance_loader, **kwargs):
        # The spreadsheet's own row number (the header is row 1), as staff see it in Excel.
        row["_line"] = kwargs.get("row_number", 0) + 1
        row_result = super().import_row(row, instance_loader, **kwargs)
        row.pop("_line", None)
        progress = getattr(self, "progress", None)
        if progress is not None and kwargs.get("row_number", 0) % 200 == 0:
            progress(kwargs.get("row_number", 0))
        row_result.sheet_line = kwargs.get("row_number", 0) + 1
        row_result.sheet_sor_id = cell_text(row.get(SOR_ID_HEADER))
        return row_result

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        for field in self.editable_fields():
            if field.column_name not in row:
                continue
            try:
                field.save(instance, row, **kwargs)
            except ValueError as exc:
                errors[field.column_name] = [str(exc)]
        for name in self.STRUCTURE_COLUMNS:
            field = self.fields[name]
            if field.column_name not in row:
                continue
            given = cell_text(row[field.column_name])
            current = field.export(instance)
            same = given == current or (given.upper() == current.upper() if name == "level"
                                        else _parse_date(given) == _parse_date(current))
            if not same:
                errors[field.column_name] = [_("Kan ikke ændres ved import (filen: %(given)s, registeret: %(current)s). "
                                               "Brug administrationen til at flytte eller lukke enheder.")
                                             % {"given": given or "–", "current": current or "–"}]
        if errors:
            # Say at once what the register's rules say of the row's other changes too, so a
            # bad phone number is not told only after the first refusal is fixed.
            changed = {a for a, old in instance._sheet_original.items() if getattr(instance, a) != old}
            rule_errors, _warnings = unit_messages(instance)
            for name, msgs in rule_errors.items():
                if name in changed or f"{name}_id" in changed:
                    errors.setdefault(self.label_of(name), []).extend(msgs)
            raise ValidationError(errors)
        instance._sheet_changes = {
            attname: getattr(instance, attname)
            for attname, old in instance._sheet_original.items() if getattr(instance, attname) != old
        }

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors:
            return False
        return not getattr(instance, "_sheet_changes", None)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        changes = getattr(instance, "_sheet_changes", {})
        for flag, group in self.FLAG_GROUPS.items():
            changed = [self.fields[n].column_name for n in group if self.fields[n].attname in changes]
            has_values = any(getattr(instance, self.fields[n].attname) not in ("", None) for n in group)
            if changed and has_values and not getattr(instance, flag):
                errors.setdefault(self.fields[flag].column_name, []).append(
                    _("%(cols)s er rettet, men %(flag)s er nej, så værdierne ville ikke gælde (de arves). "
                      "Skriv ja i %(flag)s.") % {"cols": ", ".join(changed), "flag": self.fields[flag].column_name})
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        """Write the row's changes through the service (never `instance.save()`)."""
        changes = instance._sheet_changes
        self._last_below = self._impact_below(instance, changes) if self._dry_run else None
        try:
            unit_update(
                actor=kwargs.get("user"), reason=self.audit_reason, origin=Origin.IMPORT, unit=instance.pk,
                changes=changes, expected_version=instance._sheet_version,
                override_warnings=self.override_warnings,
            )
        except ValidationFailed as exc:
            if exc.only_warnings:
                self.warning_only_lines.add(self._line(row))
            errors = defaultdict(list)
            for name, msgs in exc.errors.items():
                errors[self.label_of(name)].extend(msgs)
            for name, msgs in exc.warnings.items():
                errors[self.label_of(name)].extend(_("Advarsel: %(msg)s") % {"msg": m} for m in msgs)
            raise ValidationError(dict(errors)) from None
        except NotAllowed as exc:
            # A role that may correct contact data only: the refusal is told on the columns it
            # may not change (a region refusal concerns the whole row).
            user = kwargs.get("user")
            register_data = [n for n in changes if (n[:-3] if n.endswith("_id") else n) not in CONTACT_FIELDS]
            if register_data and user is not None and not user.has_perm("registry.edit_register_data"):
                raise ValidationError({self.label_of(n): [str(exc)] for n in register_data}) from None
            raise ValidationError({NON_FIELD_ERRORS: [str(exc)]}) from None
        except DomainError as exc:  # ConflictError, structural refusals
            raise ValidationError({NON_FIELD_ERRORS: [str(exc)]}) from None
        self._last_changes = [
            (field.column_name, field.display(instance._sheet_original[field.attname]), field.display(changes[field.attname]))
            for field in self.editable_fields() if field.attname in changes
        ]

    def _impact_below(self, instance, changes) -> dict | None:
        """For the preview: the units below that inherit a changed contact or address block
        ({"count", "names"}), or None. Only units with children are looked at (the shared
        selector, on the register as the rows before this one left it)."""
        if self._loader is None or instance.pk not in getattr(self._loader, "with_children", ()):
            return None
        if not any(name in CONTACT_FIELDS for name in changes):  # the blocks units inherit
            return None
        from ..selectors import subtree_effective_changes

        below = {item["unit"].pk: item["unit"] for item in subtree_effective_changes(instance, changes)
                 if item["unit"].pk != instance.pk and item["block"] != "location_number"}
        if not below:
            return None
        units = list(below.values())
        return {"count": len(units), "names": [str(u) for u in units[:10]]}

    def save_m2m(self, instance, row, **kwargs):
        pass

    def after_import_row(self, row, row_result, **kwargs):
        # Old and new value of each changed column, for the preview (set by save_instance).
        row_result.sheet_changes = self._last_changes if row_result.is_update() else []
        row_result.sheet_unit = self._last_unit
        row_result.sheet_below = self._last_below if row_result.is_update() else None
        self._last_changes = []
        self._last_below = None

    def after_import(self, dataset, result, **kwargs):
        if self.expected_state and self._state.hexdigest() != self.expected_state:
            raise SheetError(_("Mindst én af enhederne i filen er ændret, efter forhåndsvisningen blev vist. "
                               "Intet er gemt: indlæs filen igen for at se de aktuelle forskelle."))


def row_problems(result) -> list[dict]:
    """Every refused row of an import result as {line, sor_id, column, message}, in file order,
    plus file-level problems (line None)."""
    problems = []
    for error in result.base_errors:
        problems.append({"line": None, "sor_id": "", "column": "", "message": str(error.error)})
    by_line = []
    for invalid in result.invalid_rows:
        line = invalid.number + 1
        sor_id = ""
        with contextlib.suppress(ValueError, IndexError):
            sor_id = cell_text(invalid.values[result.diff_headers.index(SOR_ID_HEADER)])
        for column, messages in invalid.error_dict.items():
            for message in messages:
                by_line.append({"line": line, "sor_id": sor_id,
                                "column": "" if column == NON_FIELD_ERRORS else column, "message": message})
    for error_row in result.error_rows:
        for error in error_row.errors:
            by_line.append({"line": error_row.number + 1, "sor_id": "", "column": "",
                            "message": _("Uventet fejl: %(error)s") % {"error": error.error}})
    problems.extend(sorted(by_line, key=lambda p: p["line"]))
    return problems


class EffectiveLocationNumbers:
    """Attaches `_sheet_gln` (the location number valid today, own or inherited) to chunks of
    units: two queries per chunk at most, ancestors remembered across chunks."""

    def __init__(self):
        self.day = today()
        self.stubs: dict[int, Unit] = {}
        self.lns: dict[int, list] = defaultdict(list)
        self.loaded_lns: set[int] = set()

    def attach(self, units):
        known = dict(self.stubs)
        known.update((u.sor_id, u) for u in units)
        missing = {a for u in units for a in u.ancestors} - known.keys()
        if missing:
            for stub in Unit.objects.filter(pk__in=missing).only("sor_id", "parent_id", "location_mode", "ancestors"):
                self.stubs[stub.pk] = known[stub.pk] = stub
        need_lns = [pk for pk, u in known.items() if u.location_mode == LocationMode.OWN and pk not in self.loaded_lns]
        if need_lns:
            for ln in LocationNumber.objects.filter(unit_id__in=need_lns).only("gln", "unit_id", "from_date", "to_date"):
                self.lns[ln.unit_id].append(ln)
            self.loaded_lns.update(need_lns)
        resolver = Resolver(known, self.lns, self.day)
        for unit in units:
            resolved = resolver.location_number(unit).value
            unit._sheet_gln = resolved.gln if resolved is not None else ""
        # Units of this chunk are not kept: only ancestors are likely to be needed again.
        for unit in units:
            if unit.sor_id not in self.stubs:
                self.lns.pop(unit.sor_id, None)
                self.loaded_lns.discard(unit.sor_id)
