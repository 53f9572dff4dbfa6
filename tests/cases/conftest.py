"""Fixtures of the case tests: three clinics (owner trees) and the sample mails naming them."""

import datetime as dt

import pytest

from registry.cases.samples import sample_mails
from registry.services.location_numbers import location_number_assign
from tests.factories import gln, location_codes


@pytest.fixture
def clinics(make_tree, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    trees = [make_tree(name=f"Lægerne {n}") for n in ("Østergade", "Vestergade", "Nørregade")]
    number = gln(4711)
    location_number_assign(actor=None, reason="testdata", origin="command", unit=trees[0]["oe"], gln=number,
                           from_date=dt.date(2020, 1, 1), **location_codes())
    units = []
    for tree, with_gln in zip(trees, (number, "", ""), strict=True):
        oe = tree["oe"]
        units.append({"sor_id": str(oe.pk), "name": oe.name, "provider_number": oe.provider_number, "gln": with_gln,
                      "phone": "98765432", "email": "", "tree": tree})
    return units



def mails(units):
    return dict(sample_mails(units))
