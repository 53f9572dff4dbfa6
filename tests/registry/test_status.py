"""A unit's status on a day, at every edge: the one function the admin, CSV and manifest use."""

import datetime as dt

import pytest

from registry.status import UnitStatus, status_on

START, END = dt.date(2024, 3, 1), dt.date(2024, 6, 30)


@pytest.mark.parametrize(("day", "to_date", "expected"), [
    (START - dt.timedelta(days=1), None, UnitStatus.PLANNED),  # the day before FirstFromDate
    (START, None, UnitStatus.ACTIVE),  # the day of FirstFromDate
    (START, END, UnitStatus.CLOSING),  # started, closure not yet in force
    (END, END, UnitStatus.CLOSING),  # the day of ToDate: still valid (inclusive)
    (END + dt.timedelta(days=1), END, UnitStatus.CLOSED),  # the day after ToDate
    (START - dt.timedelta(days=1), END, UnitStatus.PLANNED),  # planned with a known end
])
def test_status_on_each_edge(day, to_date, expected):
    assert status_on(START, to_date, day) == expected
