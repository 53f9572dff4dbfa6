"""The file formats of the unit spreadsheet: CSV (read and written) and XLSX (read with openpyxl,
written by our own streaming writer, ADR 0011)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from xml.sax.saxutils import escape as xml_escape

import tablib
from django.utils.translation import gettext as _
from import_export.formats import base_formats

from .cells import SheetError, cell_text

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



def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
