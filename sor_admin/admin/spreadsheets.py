"""Spreadsheet export/import of units (django-import-export), mixed into UnitAdmin.

Owned by the spreadsheet work: export of any filtered unit list to CSV/XLSX, and import of
corrections matched by SOR-ID with a dry-run preview, every row written through the services."""


class UnitSpreadsheetAdminMixin:
    """Placeholder until the spreadsheet work lands; UnitAdmin lists it first among its bases."""
