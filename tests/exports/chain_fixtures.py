"""Fixtures of the publication-chain tests; a test module enables them with
`pytest_plugins = ["tests.exports.chain_fixtures"]`."""

import datetime as dt
from pathlib import Path

import pytest

from registry.models import EdiMessageType
from registry.services.location_numbers import location_number_assign

from .chain_helpers import CMD, gln, location_codes


@pytest.fixture
def export_root(settings, tmp_path) -> Path:
    """A private EXPORT_ROOT, eager Celery, no heartbeat thread."""
    root = tmp_path / "exports"
    settings.EXPORT_ROOT = root
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EXPORT_RUN_HEARTBEAT_SECONDS = 0
    settings.EXPORT_KEEP_DAYS = 14
    return root


@pytest.fixture
def register(make_tree):
    """Three owner trees (12 units), ten active location numbers with message types."""
    trees = [make_tree(name=f"Lægerne {name}") for name in ("Østergade", "Vestergade", "Nørregade")]
    codes = location_codes()
    types = list(EdiMessageType.objects.order_by("standard", "version_code")[:2])
    numbers = []
    n = 0
    for tree in trees:
        for key in ("si", "oe", "leaf"):
            n += 1
            numbers.append(location_number_assign(unit=tree[key], gln=gln(n), message_types=types,
                                                  **codes, from_date=dt.date(2020, 1, 1), **CMD))
    numbers.append(location_number_assign(unit=trees[0]["ie"], gln=gln(99), message_types=types[:1], **codes, from_date=dt.date(2020, 1, 1), **CMD))
    return {"trees": trees, "numbers": numbers}
