"""Query parameters, each read with an error that names it."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from registry import identifiers as ids

from .exceptions import BadParameter

# The latest date a view can read: the end of the day after it must still be a date.
LAST_DAY = dt.date(9998, 12, 31)


def parse_date(raw: str, name: str) -> dt.date:
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(f"{name}: {raw!r} is not a date (YYYY-MM-DD).") from None
    if value > LAST_DAY:
        raise BadParameter(f"{name}: {raw} is after {LAST_DAY.isoformat()}.")
    return value


def date(request, name: str) -> dt.date | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    return parse_date(raw, name)


def moment(request, name: str) -> dt.datetime | None:
    """An ISO 8601 time (a time without an offset is Copenhagen time) or a date (its midnight)."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = None
    try:
        value = parse_datetime(raw.replace(" ", "+"))
    except ValueError:
        value = None
    if value is None:
        try:
            value = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time.min)
        except ValueError:
            raise BadParameter(f"{name}: {raw!r} is not a time (ISO 8601, e.g. 2026-12-01T00:00:00Z) or a date.") from None
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def integer(request, name: str, *, default: int | None = None, minimum: int = 0, maximum: int | None = None):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not ids.is_digits(raw) or len(raw) > 18:
        raise BadParameter(f"{name}: {raw!r} is not a whole number (digits only).")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadParameter(f"{name}: {value} is out of range ({bounds}).")
    return value


def sor_id(raw: str, name: str = "sor_id") -> int:
    raw = (raw or "").strip()
    if not ids.is_digits(raw) or len(raw) > 18:
        raise BadParameter(f"{name}: {raw!r} is not a SOR-ID (digits only, up to 18).")
    return int(raw)


def choice(request, name: str, choices) -> str | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if raw not in choices:
        raise BadParameter(f"{name}: {raw!r} is not one of {', '.join(choices)}.")
    return raw


def one_view(request):
    """valid_on / as_registered: at most one of the two."""
    from registry.read.state import View

    valid_on, registered = date(request, "valid_on"), date(request, "as_registered")
    if valid_on and registered:
        raise BadParameter("valid_on and as_registered: give one of them, not both.")
    if registered:
        return View.as_registered(registered)
    if valid_on:
        return View.valid_on(valid_on)
    return View.now()
