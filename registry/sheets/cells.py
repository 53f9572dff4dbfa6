"""Spreadsheet cells: reading a cell as text, a SOR-ID or a date, and the errors they give."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils.translation import gettext as _

from .. import identifiers as ids

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
