"""Units as spreadsheet rows (django-import-export): export of any unit list, import of corrections.

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
import csv
import datetime as dt
import hashlib
import io
import itertools
import re
import zipfile
from collections import defaultdict
from xml.sax.saxutils import escape as xml_escape

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _
from import_export import fields as ie_fields
from import_export import resources, widgets
from import_export.formats import base_formats
from import_export.instance_loaders import BaseInstanceLoader

from . import identifiers as ids
from .audit import Origin, audit_context
from .errors import DomainError, ValidationFailed
from .inheritance import Resolver
from .models import EntityType, LocationMode, LocationNumber, OperationKind, OwnerType, Region, Unit
from .services.units import EDITABLE_FIELDS, today, unit_update

SOR_ID_HEADER = "SOR-ID"
CHUNK = 2000


class SheetError(ValueError):
    """A file that cannot be read as a unit spreadsheet; the message says why (Danish)."""


def batched(iterable, size):
    """itertools.batched (Python 3.12) for Python 3.11."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# ---------------------------------------------------------------------------------------------
# Cell values


def cell_text(value) -> str:
    """A spreadsheet cell as text: XLSX cells may be numbers or dates, CSV cells are strings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def parse_sor_id(value) -> int:
    """The SOR-ID in a cell, or SheetError naming what is wrong with it."""
    text = cell_text(value)
    if not text:
        raise SheetError(_("SOR-ID mangler."))
    if isinstance(value, float) and abs(value) >= 2**53:
        # A spreadsheet number holds 15–16 digits: an 18-digit SOR-ID typed as a number loses its last ones.
        raise SheetError(_("SOR-ID'et %(value)s står som et tal i regnearket og har mistet sine sidste cifre. "
                           "Formatér kolonnen som tekst, og skriv SOR-ID'et igen.") % {"value": text})
    errors, _warnings = ids.check_sor_id(text)
    if errors:
        raise SheetError(" ".join(errors))
    return int(text)


def _parse_date(text: str):
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).date()
        except ValueError:
            continue
    return text


# ---------------------------------------------------------------------------------------------
# Widgets and fields


class TextWidget(widgets.Widget):
    def __init__(self, max_length: int, *, zero_pad: int = 0):
        super().__init__(coerce_to_string=True)
        self.max_length = max_length
        self.zero_pad = zero_pad

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if self.zero_pad and isinstance(value, int | float) and ids.is_digits(text):
            # A spreadsheet program that read "019062" as a number dropped the leading zero.
            text = text.zfill(self.zero_pad)
        if len(text) > self.max_length:
            raise ValueError(_("Højst %(max)d tegn (der er %(n)d).") % {"max": self.max_length, "n": len(text)})
        return text

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class PositiveIntWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return None
        if not ids.is_digits(text) or int(text) > 2_147_483_647:
            raise ValueError(_("Skal være et helt, positivt tal (højst 10 cifre); %(value)r er ikke.") % {"value": text})
        return int(text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class YesNoWidget(widgets.Widget):
    YES = {"ja", "j", "yes", "y", "true", "sand", "1", "x"}
    NO = {"nej", "n", "no", "false", "falsk", "0", ""}

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).lower()
        if text in self.YES:
            return True
        if text in self.NO:
            return False
        raise ValueError(_("Skriv ja eller nej; %(value)r forstås ikke.") % {"value": cell_text(value)})

    def render(self, value, obj=None, **kwargs):
        return "ja" if value else "nej"


class CodeWidget(widgets.Widget):
    """A code list value by its code; the whole (small) code list is read once per import."""

    def __init__(self, model, what):
        super().__init__(coerce_to_string=True)
        self.model = model
        self.what = what
        self._by_code = None

    def _codes(self) -> dict[str, int]:
        if self._by_code is None:
            self._by_code = dict(self.model.objects.values_list("code", "pk"))
        return self._by_code

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return None
        try:
            return self._codes()[text]
        except KeyError:
            raise ValueError(_("Ukendt %(what)s: %(code)s.") % {"what": self.what, "code": text}) from None

    def code_of(self, pk) -> str:
        if pk is None:
            return ""
        by_pk = {v: k for k, v in self._codes().items()}
        return by_pk.get(pk, str(pk))

    def render(self, value, obj=None, **kwargs):
        return getattr(value, "code", "") if value is not None else ""


class SheetField(ie_fields.Field):
    """A column. `name` is the model field it edits (None for derived columns); `attname` is what
    is compared and handed to the service (`region_id` for a code list)."""

    def __init__(self, header, *, name=None, attname=None, readonly=False, export_attr=None, widget=None,
                 display=None):
        self.name = name
        self.attname = attname or name
        self._display = display
        super().__init__(attribute=self.attname, column_name=header, widget=widget or widgets.Widget(),
                         readonly=readonly)
        self.export_attr = export_attr or self.attname
        self._parts = tuple(self.export_attr.split("__"))

    def get_value(self, instance):
        value = instance
        for part in self._parts:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def export(self, instance, **kwargs):
        return self.widget.render(self.get_value(instance))

    def display(self, value) -> str:
        """A stored (attname) value as the preview shows it."""
        if isinstance(self.widget, CodeWidget):
            return self.widget.code_of(value)
        if self._display:
            return self._display(value)
        return self.widget.render(value)


def _text(header, name, *, zero_pad=0):
    return SheetField(header, name=name, widget=TextWidget(Unit._meta.get_field(name).max_length, zero_pad=zero_pad))


def _code(header, name, model, what):
    return SheetField(header, name=name, attname=f"{name}_id", export_attr=name, widget=CodeWidget(model, what))


def _readonly(header, attr, widget=None):
    return SheetField(header, attname=attr, readonly=True, widget=widget or TextWidget(100))


class DateTextWidget(widgets.Widget):
    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


# ---------------------------------------------------------------------------------------------
# Formats: CSV for any tool (semicolon, UTF-8 with BOM, as Danish Excel expects), XLSX streamed.


class SheetCSV(base_formats.CSV):
    """Handled as bytes both ways: the encoding is sniffed on import (UTF-8, or Windows-1252 from
    an older Excel) and the export carries a BOM so Excel reads æ, ø and å right."""

    CONTENT_TYPE = "text/csv; charset=utf-8"

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        return read_csv(in_stream)

    def export_data(self, dataset, **kwargs):
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(dataset.headers)
        writer.writerows(dataset)
        return ("\ufeff" + out.getvalue()).encode("utf-8")


class SheetXLSX(base_formats.XLSX):
    def create_dataset(self, in_stream):
        return read_xlsx(in_stream)

    def export_data(self, dataset, **kwargs):
        return write_xlsx(dataset)


SHEET_FORMATS = [SheetCSV, SheetXLSX]


def read_csv(data) -> tablib.Dataset:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252")  # Excel's "CSV (semikolonsepareret)" on a Danish Windows
    else:
        text = data.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in row)]
    return _dataset(rows)


def read_xlsx(data: bytes) -> tablib.Dataset:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException …
        raise SheetError(_("Filen kan ikke læses som et XLSX-regneark (%(error)s).")
                         % {"error": type(exc).__name__}) from exc
    try:
        rows = [list(r) for r in book.active.iter_rows(values_only=True)
                if any(cell_text(c) for c in r)]
    finally:
        book.close()
    return _dataset(rows)


def _dataset(rows: list[list]) -> tablib.Dataset:
    if not rows:
        raise SheetError(_("Filen er tom."))
    headers = [cell_text(h) for h in rows[0]]
    width = len(headers)
    while width and not headers[width - 1] and not any(cell_text(r[width - 1]) for r in rows[1:] if len(r) >= width):
        width -= 1
    headers = headers[:width]
    dataset = tablib.Dataset(headers=headers)
    for number, row in enumerate(rows[1:], 2):
        row = list(row[:width]) + [""] * (width - len(row))
        extra = [c for c in rows[number - 1][width:] if cell_text(c)]
        if extra:
            raise SheetError(_("Række %(n)d har flere udfyldte celler end der er kolonneoverskrifter.") % {"n": number})
        dataset.append(row)
    if not len(dataset):
        raise SheetError(_("Filen har kolonneoverskrifter, men ingen rækker med enheder."))
    return dataset


_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'),
    "_rels/.rels": (
        f'<Relationships xmlns="{_NS_PKG}"><Relationship Id="rId1" Type="{_NS_REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_NS_PKG}">'
        f'<Relationship Id="rId1" Type="{_NS_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_NS_REL}/styles" Target="styles.xml"/></Relationships>'),
    # Style 1: bold (headers); style 2: text format "@", so a value typed into the sheet later
    # (a ydernummer with a leading zero, an 18-digit SOR-ID) stays text too.
    "xl/styles.xml": (
        f'<styleSheet xmlns="{_NS_MAIN}">'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="49" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyNumberFormat="1"/>'
        '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'),
}
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_cell(ref: str, value, style: int) -> str:
    text = _ILLEGAL_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}" t="inlineStr" s="{style}"><is><t{space}>{xml_escape(text)}</t></is></c>'


def write_xlsx(dataset: tablib.Dataset) -> bytes:
    """A plain XLSX workbook written directly (openpyxl's writer takes a minute for the whole
    register). Every cell is text, so SOR-IDs (up to 18 digits), ydernumre with leading zeros
    and CVR-numre stay exact; the header row is bold and frozen with the SOR-ID column."""
    title = xml_escape(_("SOR-enheder"), {'"': "&quot;"})
    letters = [_column_letter(i) for i in range(len(dataset.headers))]
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{max(12, min(40, len(h) + 2))}" style="2" customWidth="1"/>'
        for i, h in enumerate(dataset.headers, 1))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for name, xml in _XLSX_PARTS.items():
            book.writestr(name, _XML_HEAD + xml)
        book.writestr("xl/workbook.xml", _XML_HEAD + (
            f'<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><sheets>'
            f'<sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        with book.open("xl/worksheets/sheet1.xml", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as sheet:
            sheet.write(_XML_HEAD + f'<worksheet xmlns="{_NS_MAIN}"><sheetViews><sheetView workbookViewId="0">'
                        '<pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" state="frozen"/>'
                        '<selection pane="bottomRight"/></sheetView></sheetViews>'
                        f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols><sheetData>')
            sheet.write('<row r="1">' + "".join(
                _xlsx_cell(f"{letter}1", h, 1) for letter, h in zip(letters, dataset.headers, strict=True)) + "</row>")
            for number, row in enumerate(dataset, 2):
                cells = "".join(_xlsx_cell(f"{letter}{number}", v, 2)
                                for letter, v in zip(letters, row, strict=True) if v not in ("", None))
                sheet.write(f'<row r="{number}">{cells}</row>')
            sheet.write("</sheetData></worksheet>")
    return out.getvalue()


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
        for chunk in batched(sorted(set(wanted)), CHUNK):
            self.units.update(
                (u.pk, u) for u in Unit.objects.filter(pk__in=chunk).select_related("region", "entity_type", "owner_type")
            )

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
        try:
            unit_update(
                actor=kwargs.get("user"), reason=self.audit_reason, origin=Origin.IMPORT, unit=instance.pk,
                changes=changes, expected_version=instance._sheet_version,
                override_warnings=self.override_warnings,
            )
        except ValidationFailed as exc:
            errors = defaultdict(list)
            for name, msgs in exc.errors.items():
                errors[self.label_of(name)].extend(msgs)
            for name, msgs in exc.warnings.items():
                errors[self.label_of(name)].extend(_("Advarsel: %(msg)s") % {"msg": m} for m in msgs)
            raise ValidationError(dict(errors)) from None
        except DomainError as exc:  # NotAllowed, ConflictError, structural refusals
            raise ValidationError({NON_FIELD_ERRORS: [str(exc)]}) from None
        self._last_changes = [
            (field.column_name, field.display(instance._sheet_original[field.attname]), field.display(changes[field.attname]))
            for field in self.editable_fields() if field.attname in changes
        ]

    def save_m2m(self, instance, row, **kwargs):
        pass

    def after_import_row(self, row, row_result, **kwargs):
        # Old and new value of each changed column, for the preview (set by save_instance).
        row_result.sheet_changes = self._last_changes if row_result.is_update() else []
        row_result.sheet_unit = self._last_unit
        self._last_changes = []

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


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
