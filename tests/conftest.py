"""Shared fixtures: personas and a small register built through the services (never the ORM).

Personas (what each may do):
- sor_admin: SOR-administrator, everything but deleting.
- support: support desk, contact data of any unit; no register data, code lists or closing.
- regional: regional administrator of Region Nordjylland (1081), only units of that region.
- guest: reads everything, changes nothing.
- outsider: logged-in staff user with no role at all.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from registry.models import EntityType, OwnerType, Region
from registry.personas import ensure_personas
from registry.services.units import unit_create


@pytest.fixture
def personas(db):
    users = ensure_personas()
    users["outsider"] = get_user_model().objects.create_user("outsider", password="outsider", is_staff=True)
    return users


@pytest.fixture
def sor_admin(personas):
    return personas["sor-admin"]


@pytest.fixture
def support(personas):
    return personas["support"]


@pytest.fixture
def regional(personas):
    return personas["region-nord"]


@pytest.fixture
def guest(personas):
    return personas["guest"]


@pytest.fixture
def outsider(personas):
    return personas["outsider"]


def owner_values(region_code="1081", **extra):
    values = dict(
        owner_type=OwnerType.objects.get(name_da="privat"),
        region=Region.objects.get(code=region_code),
        postal_present=True, postal_street_name="Østergade", postal_building="70", postal_post_code="9700",
        postal_district_name="Brønderslev", postal_country_code="DK", postal_country_scheme="iso3166-alpha2",
        virtual_present=True, phone="98765432", email="klinik@example.dk",
    )
    values.update(extra)
    return values


@pytest.fixture
def make_tree(db):
    """Builds IE → SI → OE → OE through the services; returns a dict of the four units."""

    numbers = iter(range(19062, 99999))

    def build(region_code="1081", name="Lægerne Østergade", provider_number=None, **owner_extra):
        # The first tree's ydernummer is 019062; later trees get the next numbers (no duplicates).
        provider_number = provider_number or str(next(numbers)).zfill(6)
        kwargs = dict(actor=None, reason="testdata", origin="command", from_date=dt.date(2020, 1, 1))
        ie = unit_create(level="IE", name=name, **owner_values(region_code, **owner_extra), **kwargs)
        si = unit_create(level="SI", parent=ie, name=f"{name} klinik",
                         entity_type=EntityType.objects.get(code="394761003"), **kwargs)
        oe = unit_create(level="OE", parent=si, name=f"{name} ydernummer", provider_number=provider_number, **kwargs)
        leaf = unit_create(level="OE", parent=oe, name=f"{name} behandler", **kwargs)
        return {"ie": ie, "si": si, "oe": oe, "leaf": leaf}

    return build
