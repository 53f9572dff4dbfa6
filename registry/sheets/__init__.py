"""Units as spreadsheet rows (django-import-export): export of any unit list, import of corrections.

Split by concern: `cells` (reading a cell), `fields` (the columns' widgets and fields), `formats`
(CSV, XLSX and the own streaming XLSX writer), `resource` (the unit resource, its instance loader
and the refusals by row). The names the admin, the import service and the tests use are here."""

from .cells import SOR_ID_HEADER, SheetError, cell_text, parse_sor_id
from .formats import SHEET_FORMATS, SheetCSV, SheetXLSX, file_sha256, read_csv, read_xlsx, write_xlsx
from .resource import EffectiveLocationNumbers, UnitResource, row_problems

__all__ = [
    "SHEET_FORMATS", "SOR_ID_HEADER", "EffectiveLocationNumbers", "SheetCSV", "SheetError", "SheetXLSX",
    "UnitResource", "cell_text", "file_sha256", "parse_sor_id", "read_csv", "read_xlsx", "row_problems",
    "write_xlsx",
]
