"""Fixtures of the read-API tests: an anonymous client and a small register with a location number."""

import datetime as dt

import pytest
from django.test import Client

from registry.models import EdiMessageType
from registry.services.location_numbers import location_number_assign
from tests.factories import CMD, gln, location_codes


@pytest.fixture
def api():
    return Client()


@pytest.fixture
def tree(make_tree):
    """IE (postal address, phone, e-mail) → SI (own location number with two EDI types) → OE
    (ydernummer 019062) → leaf; the OE and leaf inherit everything."""
    units = make_tree(cvr="12345674")
    types = list(EdiMessageType.objects.order_by("standard", "version_code")[:2])
    units["ln"] = location_number_assign(unit=units["si"], gln=gln(1), message_types=types, **location_codes(),
                                         from_date=dt.date(2020, 1, 1), **CMD)
    units["types"] = types
    for key in ("ie", "si", "oe", "leaf"):
        units[key].refresh_from_db()
    return units


def get_json(client, url, status=200, **extra):
    response = client.get(url, **extra)
    assert response.status_code == status, (url, response.status_code, response.content[:500])
    return response.json()
