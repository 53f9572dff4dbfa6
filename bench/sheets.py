"""Bench section `sheets`: the spreadsheet export of the whole register as XLSX.

Prints the export through the admin's resource (`UnitResource`, the project's own streaming XLSX
writer), then the same rows written by the libraries that could replace it: openpyxl in write-only
mode (a dependency) and XlsxWriter in `constant_memory` mode (when installed). ADR 0011: the own
writer stays unless a library comes within 1.5× of it.
"""

from __future__ import annotations

import io
import time

LIMIT = 1.5


def _openpyxl(dataset) -> bytes:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("SOR-enheder")
    sheet.freeze_panes = "B2"
    bold = Font(bold=True)
    header = []
    for title in dataset.headers:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in dataset:
        sheet.append([None if v in ("", None) else str(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsxwriter(dataset) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                     "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("SOR-enheder")
    bold, text = book.add_format({"bold": True}), book.add_format({"num_format": "@"})
    for column, title in enumerate(dataset.headers):
        sheet.set_column(column, column, max(12, min(40, len(title) + 2)), text)
    sheet.freeze_panes(1, 1)
    sheet.write_row(0, 0, dataset.headers, bold)
    for number, row in enumerate(dataset, 1):
        for column, value in enumerate(row):
            if value not in ("", None):
                sheet.write_string(number, column, str(value), text)
    book.close()
    return out.getvalue()


def run(args) -> None:
    from registry.models import Unit
    from registry.sheets import UnitResource, write_xlsx

    started = time.perf_counter()
    dataset = UnitResource().export(Unit.objects.all())
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    own = write_xlsx(dataset)
    own_s = time.perf_counter() - started
    print(f"[bench] sheets: {len(dataset):,} units, {len(dataset.headers)} columns; rows read {read_s:.1f} s")
    print(f"[bench] XLSX, own streaming writer: {own_s:.1f} s, {len(own) / 2**20:.1f} MB")
    best = None
    for name, writer in (("openpyxl write-only", _openpyxl), ("XlsxWriter constant_memory", _xlsxwriter)):
        try:
            started = time.perf_counter()
            data = writer(dataset)
        except ImportError:
            print(f"[bench] XLSX, {name}: not installed")
            continue
        seconds = time.perf_counter() - started
        ratio = seconds / own_s
        best = ratio if best is None else min(best, ratio)
        print(f"[bench] XLSX, {name}: {seconds:.1f} s, {len(data) / 2**20:.1f} MB, {ratio:.1f}× the own writer")
    if best is not None:
        verdict = "keep the own writer" if best > LIMIT else "switch to the library (ADR 0011)"
        print(f"[bench] XLSX: best library {best:.1f}× (limit {LIMIT}×): {verdict}")
