"""A unit's status on a day: the one answer used by the admin, the spreadsheets, the manifest,
the CSV and the XML.

- planned (fremtidig): `first_from_date` after the day;
- active (aktiv): started, no `to_date`;
- closing (lukkes): started, `to_date` on or after the day (ToDate is inclusive; SDS's CSV calls
  these "closures not yet in force");
- closed (lukket): `to_date` before the day.

`from_date` is the date of the latest change (SorStatus FromDate), not the start, and never
decides the status.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UnitStatus(models.TextChoices):
    PLANNED = "planned", _("fremtidig")
    ACTIVE = "active", _("aktiv")
    CLOSING = "closing", _("lukkes")
    CLOSED = "closed", _("lukket")


def status_on(first_from_date: dt.date, to_date: dt.date | None, day: dt.date) -> str:
    """The status of a unit that first applies from `first_from_date` and ends with `to_date`."""
    if to_date is not None and to_date < day:
        return UnitStatus.CLOSED
    if first_from_date > day:
        return UnitStatus.PLANNED
    return UnitStatus.ACTIVE if to_date is None else UnitStatus.CLOSING


def unit_status(unit, day: dt.date) -> str:
    return status_on(unit.first_from_date, unit.to_date, day)


def status_q(status: str, day: dt.date) -> Q:
    """The same rule as a filter on units (or on any model with the two fields)."""
    if status == UnitStatus.CLOSED:
        return Q(to_date__lt=day)
    if status == UnitStatus.PLANNED:
        return Q(first_from_date__gt=day) & (Q(to_date__isnull=True) | Q(to_date__gte=day))
    started = Q(first_from_date__lte=day)
    if status == UnitStatus.ACTIVE:
        return started & Q(to_date__isnull=True)
    if status == UnitStatus.CLOSING:
        return started & Q(to_date__gte=day)
    raise ValueError(f"unknown status {status!r}")



VALID = (UnitStatus.ACTIVE, UnitStatus.CLOSING)  # valid on the day: started and not closed


def valid_on(first_from_date: dt.date, to_date: dt.date | None, day: dt.date) -> bool:
    """Whether a unit is valid on `day` (active or closing): the read side's "on a date"."""
    return status_on(first_from_date, to_date, day) in VALID


def valid_q(day: dt.date) -> Q:
    """`valid_on` as a filter."""
    return status_q(UnitStatus.ACTIVE, day) | status_q(UnitStatus.CLOSING, day)
