"""A GP practice (IE → SI → OE with ydernummer, a location number on the OE) with a CVR on the
owner and the owner's e-mail klinik@example.dk, the address SOR has registered."""

import datetime as dt
import re

import pytest

from registry.services.location_numbers import location_number_assign
from tests.factories import gln, location_codes

CVR = "22370170"
OTHER_CVR = "12345674"  # a valid CVR that is not the clinic's


@pytest.fixture
def clinic(make_tree, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    tree = make_tree(name="Lægerne Torvet", cvr=CVR, email="klinik@example.dk")
    number = gln(8100)
    location_number_assign(actor=None, reason="testdata", origin="command", unit=tree["oe"], gln=number,
                           from_date=dt.date(2020, 1, 1), **location_codes())
    tree["gln"] = number
    return tree


def link_in(text: str, kind: str = "bekraeft") -> str:
    """The path of the one-time link in a mail's text."""
    match = re.search(rf"https?://[^/\s]+(/selvbetjening/{kind}/[^/\s]+/)", text)
    assert match, text
    return match.group(1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`committed(fn, *args)`: run fn and then what it left for after the commit (the mail task),
    as a real commit would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = fn(*args, **kwargs)
        return result

    return run
